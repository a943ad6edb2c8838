//! Retention and bounded buffers: keeping disk use in check while a slow
//! consumer catches up.
//!
//! - `logs` keeps records for an hour and at most 256 KiB per partition
//!   (Kafka's `retention.ms` / `retention.bytes`): the cleaner removes whole
//!   segments past either.
//! - `uploads` is a bounded buffer of 256 KiB that rejects sends when full
//!   (`WhenFull::Reject`): the producer gets `BufferFull`, nothing stored is
//!   lost, and room comes back once the consumer commits and the cleaner
//!   removes what every group read (`UntilConsumed`).
//! - the producer itself holds at most 1 MiB of queued records
//!   (`buffer_memory`), whatever their count.
//!
//! A `ManualClock` stands in for time, so the hour passes at once.
//!
//! `cargo run --release --example bounded_buffer`

use std::sync::Arc;
use std::time::Duration;

use larder::clock::{Clock as _, ManualClock};
use larder::{
    AutoOffsetReset, CleanupPolicy, ConsumerConfig, Error, Log, LogOptions, ProducerConfig, ProducerRecord, Result,
    TopicConfig, WhenFull,
};

fn main() -> Result<()> {
    // A directory this run makes (never one that was there already),
    // removed when `dir` is dropped, on an early error too.
    let dir = tempfile::Builder::new().prefix("larder-bounded-").tempdir().expect("a fresh temporary directory");
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let log = Log::open(&dir, LogOptions::default().clock(clock.clone()))?;
    let segments = |config: TopicConfig| config.segment_bytes(32 * 1024);
    log.create_topic("logs", segments(TopicConfig::new(1)).retention_ms(3_600_000).retention_bytes(256 * 1024))?;
    let uploads = TopicConfig::new(1)
        .cleanup_policy(CleanupPolicy::UntilConsumed { groups: vec![] })
        .buffer_bytes(256 * 1024, WhenFull::Reject);
    log.create_topic("uploads", segments(uploads))?;
    let producer = log.producer(ProducerConfig::default().buffer_memory(1 << 20))?;

    let line = [b'x'; 1000];
    for _ in 0..1000 {
        producer.send_direct(&ProducerRecord::new("logs", &line).timestamp(clock.now_ms()))?;
    }
    // The cleaner thread runs as segments roll; a pass now makes sure it is done.
    log.run_cleaner()?;
    let logs = log.partition("logs", 0)?;
    let stats = logs.stats();
    println!(
        "logs: 1000 records of 1 KB written; retention.bytes keeps {} KiB in {} segments, offsets {}..{}",
        stats.size_bytes / 1024,
        stats.segments,
        stats.log_start_offset,
        stats.end_offset
    );
    clock.advance(2 * 3_600_000);
    log.run_cleaner()?;
    let stats = logs.stats();
    println!(
        "two hours later, retention.ms left {} segment (the active one is never removed), offsets {}..{}",
        stats.segments, stats.log_start_offset, stats.end_offset
    );

    let mut accepted = 0;
    let refused = loop {
        match producer.send_direct(&ProducerRecord::new("uploads", &line)) {
            Ok(_) => accepted += 1,
            Err(error @ Error::BufferFull { .. }) => break error,
            Err(other) => return Err(other),
        }
    };
    println!("uploads: {accepted} records accepted, then: {refused}");

    let config = ConsumerConfig::default().group_id("uploader").auto_offset_reset(AutoOffsetReset::Earliest);
    let mut consumer = log.consumer(config.enable_auto_commit(false))?;
    consumer.subscribe(&["uploads"])?;
    let mut drained = 0;
    while drained < accepted {
        drained += consumer.poll(Duration::from_secs(10))?.len();
        consumer.commit()?;
    }
    log.run_cleaner()?;
    let size = log.partition("uploads", 0)?.size_bytes();
    println!("consumer read and committed {drained}; what every group read was removed: {} KiB left", size / 1024);
    producer.send_direct(&ProducerRecord::new("uploads", &line))?;
    println!("room again: the next upload was accepted");

    consumer.close()?;
    drop(producer);
    log.close()?;
    drop(dir);
    Ok(())
}
