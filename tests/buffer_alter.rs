//! A sender blocked on a full buffer keeps the limit it read when it began
//! waiting (`Topic::reserve` reads the config once, before its loop):
//! `alter_topic` raising the buffer wakes it (`alter` calls `space_freed`),
//! but it re-checks against the old limit, waits out its whole
//! `max_block` and fails with `BufferFull` though the topic has room.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use larder::clock::Clock;
use larder::{Error, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig, WhenFull};
use parking_lot::{Condvar, Mutex};

const T0: i64 = 1_700_000_000_000;

/// A clock that tells when the cleaner thread read it after `armed`: the
/// cleaner was woken by a sender that started waiting for space.
#[derive(Debug, Default)]
struct HookClock {
    armed: AtomicBool,
    hit: Mutex<bool>,
    hit_changed: Condvar,
}

impl Clock for HookClock {
    fn now_ms(&self) -> i64 {
        if self.armed.load(Ordering::Acquire) && std::thread::current().name() == Some("larder-cleaner") {
            *self.hit.lock() = true;
            self.hit_changed.notify_all();
        }
        T0
    }
}

#[test]
fn a_blocked_sender_does_not_see_alter_topic_raise_the_buffer() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(HookClock::default());
    let options = LogOptions::default().clock(clock.clone()).cleaner_interval(Duration::from_secs(3600));
    let log = Log::open(dir.path(), options).unwrap();
    let config = TopicConfig::new(1).retention_ms(10 * 86_400_000);
    log.create_topic("t", config.clone().buffer_bytes(4096, WhenFull::Block)).unwrap();
    let value = [5u8; 100];
    // Fill the buffer, failing at once when it is full.
    let filler = log.producer(ProducerConfig::default().max_block(Duration::ZERO)).unwrap();
    let mut sent = 0;
    loop {
        match filler.send_direct(&ProducerRecord::new("t", &value).partition(0)) {
            Ok(_) => sent += 1,
            Err(Error::BufferFull { .. }) => break,
            Err(other) => panic!("{other}"),
        }
    }
    assert!(sent > 10);
    filler.close();
    // Any pass the filling woke is over.
    log.run_cleaner().unwrap();

    clock.armed.store(true, Ordering::Release);
    let sender = {
        let log = log.clone();
        std::thread::spawn(move || {
            let producer = log.producer(ProducerConfig::default().max_block(Duration::from_secs(5))).unwrap();
            let sent = producer.send_direct(&ProducerRecord::new("t", &[6u8; 100]).partition(0));
            producer.close();
            sent
        })
    };
    {
        let mut hit = clock.hit.lock();
        while !*hit {
            assert!(!clock.hit_changed.wait_for(&mut hit, Duration::from_secs(20)).timed_out());
        }
    }
    // The sender waits for space; the topic is given a much larger buffer.
    log.alter_topic("t", config.buffer_bytes(1 << 20, WhenFull::Block)).unwrap();
    let sent = sender.join().unwrap();
    assert!(sent.is_ok(), "the send failed after the buffer was raised to 1 MiB: {sent:?}");
}
