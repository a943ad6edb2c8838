//! A consumer loop stopped cleanly from another thread, and a restart that
//! resumes exactly after what it processed.
//!
//! The loop polls with a long timeout, processes each batch and commits it.
//! A shutdown request (here a timer thread standing in for a signal
//! handler) calls `wakeup` on a `WakeupHandle`: the blocked poll returns
//! `Error::Wakeup`, the loop leaves, commits nothing it did not process,
//! and closes. Reopened, the group resumes after the last commit.
//!
//! `cargo run --release --example graceful_shutdown`

use std::time::Duration;

use larder::{
    AutoOffsetReset, ConsumerConfig, Error, Log, LogOptions, ProducerConfig, ProducerRecord, Result, TopicConfig,
};

fn main() -> Result<()> {
    // A directory this run makes (never one that was there already),
    // removed when `dir` is dropped, on an early error too.
    let dir = tempfile::Builder::new().prefix("larder-shutdown-").tempdir().expect("a fresh temporary directory");
    let log = Log::open(&dir, LogOptions::default())?;
    log.create_topic("jobs", TopicConfig::new(2))?;
    let producer = log.producer(ProducerConfig::default())?;
    for n in 0..1000u32 {
        producer.send(&ProducerRecord::new("jobs", format!("job {n}").as_bytes()))?;
    }
    producer.flush()?;

    let config = ConsumerConfig::default().group_id("workers").auto_offset_reset(AutoOffsetReset::Earliest);
    let mut consumer = log.consumer(config.enable_auto_commit(false).max_poll_records(100))?;
    consumer.subscribe(&["jobs"])?;
    // Whoever decides to stop holds a handle: a signal thread, a health
    // endpoint, a timer.
    let stop = consumer.wakeup_handle();
    let (processed_some, first_batch_done) = std::sync::mpsc::channel();
    let stopper = std::thread::spawn(move || {
        first_batch_done.recv().ok();
        println!("shutdown requested");
        stop.wakeup();
    });

    let mut processed = 0;
    loop {
        let records = match consumer.poll(Duration::from_secs(3600)) {
            Ok(records) => records,
            Err(Error::Wakeup) => break,
            Err(other) => return Err(other),
        };
        processed += records.len(); // "process" the batch
        consumer.commit()?; // only then commit it
        let _ = processed_some.send(());
    }
    consumer.close()?;
    stopper.join().expect("the stopper thread");
    println!("stopped cleanly after processing {processed} jobs");

    // A restart resumes after the last commit: nothing skipped, nothing twice.
    drop(producer);
    log.close()?;
    let log = Log::open(&dir, LogOptions::default())?;
    let lag: u64 = log.describe_group("workers")?.offsets.iter().map(|o| o.lag).sum();
    println!("after restart: {lag} jobs left for the group, {} in all", processed as u64 + lag);
    assert_eq!(processed as u64 + lag, 1000);
    log.close()?;
    drop(dir);
    Ok(())
}
