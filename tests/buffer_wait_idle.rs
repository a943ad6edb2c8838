//! A sender waiting for room in a full `Block` buffer waits: the cleaner
//! runs when something may have freed room (a commit, a roll, its
//! interval), not over and over for as long as the sender waits.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use larder::clock::Clock;
use larder::{CleanupPolicy, Error, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig, WhenFull};

/// The system clock, counting how often the cleaner reads it (once per
/// partition of a topic with `retention_ms`, per pass).
#[derive(Debug, Default)]
struct CountingClock {
    reads: AtomicU64,
}

impl Clock for CountingClock {
    fn now_ms(&self) -> i64 {
        self.reads.fetch_add(1, Ordering::Relaxed);
        larder::clock::SystemClock.now_ms()
    }
}

#[test]
fn a_sender_blocked_on_a_full_buffer_does_not_keep_the_cleaner_running() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(CountingClock::default());
    let options = LogOptions::default().clock(clock.clone()).cleaner_interval(Duration::from_secs(3600));
    let log = Log::open(dir.path(), options).unwrap();
    // Until consumed by a group that never commits: nothing frees room.
    let config = TopicConfig::new(1)
        .cleanup_policy(CleanupPolicy::UntilConsumed { groups: vec!["slow".into()] })
        .retention_ms(3_600_000)
        .segment_bytes(1024)
        .buffer_bytes(4096, WhenFull::Block);
    log.create_topic("t", config).unwrap();
    let filler = log.producer(ProducerConfig::default().max_block(Duration::ZERO)).unwrap();
    while filler.send_direct(&ProducerRecord::new("t", &[0u8; 100])).is_ok() {}
    log.run_cleaner().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let before = clock.reads.load(Ordering::Relaxed);
    let waiting = log.producer(ProducerConfig::default().max_block(Duration::from_millis(1000))).unwrap();
    let sent = waiting.send_direct(&ProducerRecord::new("t", &[1u8; 100]));
    assert!(matches!(sent, Err(Error::BufferFull { .. })), "{sent:?}");
    let passes = clock.reads.load(Ordering::Relaxed) - before;
    assert!(passes < 20, "{passes} cleaner passes while one sender waited a second for room");
}

#[test]
fn delete_records_lets_a_sender_blocked_on_a_full_buffer_through() {
    let dir = tempfile::tempdir().unwrap();
    let options = LogOptions::default().cleaner_interval(Duration::from_secs(3600));
    let log = Arc::new(Log::open(dir.path(), options).unwrap());
    let config = TopicConfig::new(1)
        .cleanup_policy(CleanupPolicy::UntilConsumed { groups: vec!["slow".into()] })
        .segment_bytes(1024)
        .buffer_bytes(4096, WhenFull::Block);
    log.create_topic("t", config).unwrap();
    let filler = log.producer(ProducerConfig::default().max_block(Duration::ZERO)).unwrap();
    while filler.send_direct(&ProducerRecord::new("t", &[0u8; 100])).is_ok() {}
    let waiting = log.producer(ProducerConfig::default().max_block(Duration::from_secs(20))).unwrap();
    let started = std::time::Instant::now();
    let sender = std::thread::spawn(move || waiting.send_direct(&ProducerRecord::new("t", &[1u8; 100])));
    std::thread::sleep(Duration::from_millis(300));
    assert!(!sender.is_finished());
    let end = log.partition("t", 0).unwrap().end_offset();
    log.delete_records("t", 0, end).unwrap();
    let sent = sender.join().unwrap();
    assert_eq!(sent.unwrap().offset, end);
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}
