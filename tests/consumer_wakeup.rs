//! `Consumer::wakeup` ends a blocked poll with `Error::Wakeup` from another
//! thread (or the next poll, if none is blocked), without losing or
//! committing anything; `Log::close` ends a blocked poll with `Closed`; and
//! wakeups raced against closing, deleting the topic and rebalancing never
//! leave a poll hanging. Every poll here waits up to an hour, so a poll
//! that returns was ended by the event under test, not by its timeout.

use std::time::Duration;

use larder::{AutoOffsetReset, ConsumerConfig, Error, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

const HOUR: Duration = Duration::from_secs(3600);

fn log_with_topic() -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("events", TopicConfig::new(2)).unwrap();
    (dir, log)
}

fn config() -> ConsumerConfig {
    ConsumerConfig::default().group_id("g").auto_offset_reset(AutoOffsetReset::Earliest).enable_auto_commit(false)
}

#[test]
fn a_wakeup_from_another_thread_ends_a_blocked_poll() {
    let (_dir, log) = log_with_topic();
    let mut consumer = log.consumer(config()).unwrap();
    consumer.subscribe(&["events"]).unwrap();
    let handle = consumer.wakeup_handle();
    let waker = std::thread::spawn(move || handle.wakeup());
    let outcome = consumer.poll(HOUR);
    assert!(matches!(outcome, Err(Error::Wakeup)), "{outcome:?}");
    waker.join().unwrap();
    // The consumer goes on as before.
    assert!(consumer.poll(Duration::ZERO).unwrap().is_empty());
}

#[test]
fn a_wakeup_before_a_poll_ends_that_poll_only_and_loses_nothing() {
    let (_dir, log) = log_with_topic();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for n in 0..4u32 {
        producer.send_direct(&ProducerRecord::new("events", b"v").partition(n % 2)).unwrap();
    }
    let mut consumer = log.consumer(config()).unwrap();
    consumer.subscribe(&["events"]).unwrap();
    consumer.wakeup();
    consumer.wakeup(); // several wakeups end one poll
    assert!(matches!(consumer.poll(HOUR), Err(Error::Wakeup)));
    let records = consumer.poll(HOUR).unwrap();
    assert_eq!(records.len(), 4);
    consumer.commit().unwrap();
    // A wakeup pending at commit time changes nothing committed.
    consumer.wakeup();
    let tp = larder::TopicPartition::new("events", 0);
    assert_eq!(consumer.committed(&tp).unwrap(), Some(2));
    assert!(matches!(consumer.poll(Duration::ZERO), Err(Error::Wakeup)));
    consumer.close().unwrap();
}

#[test]
fn a_wakeup_ends_the_iterator_with_an_error_item() {
    let (_dir, log) = log_with_topic();
    let mut consumer = log.consumer(config()).unwrap();
    consumer.subscribe(&["events"]).unwrap();
    let handle = consumer.wakeup_handle();
    let waker = std::thread::spawn(move || handle.wakeup());
    let first = consumer.iter().next();
    assert!(matches!(first, Some(Err(Error::Wakeup))), "{first:?}");
    waker.join().unwrap();
}

#[test]
fn a_wakeup_handle_outliving_its_consumer_and_log_does_nothing() {
    let (_dir, log) = log_with_topic();
    let consumer = log.consumer(config()).unwrap();
    let handle = consumer.wakeup_handle();
    drop(consumer);
    log.close().unwrap();
    handle.wakeup();
    handle.clone().wakeup();
}

#[test]
fn closing_the_log_ends_a_blocked_poll_with_closed() {
    let (_dir, log) = log_with_topic();
    let mut consumer = log.consumer(config()).unwrap();
    consumer.subscribe(&["events"]).unwrap();
    // The first poll joins the group and takes its partitions.
    assert!(consumer.poll(Duration::ZERO).unwrap().is_empty());
    let closer = {
        let log = log.clone();
        std::thread::spawn(move || log.close())
    };
    let outcome = consumer.poll(HOUR);
    assert!(matches!(outcome, Err(Error::Closed { .. })), "{outcome:?}");
    closer.join().unwrap().unwrap();
}

#[test]
fn wakeups_raced_against_close_delete_and_rebalance_never_hang_a_poll() {
    for round in 0..24 {
        let (_dir, log) = log_with_topic();
        let mut consumer = log.consumer(config()).unwrap();
        consumer.subscribe(&["events"]).unwrap();
        assert!(consumer.poll(Duration::ZERO).unwrap().is_empty());
        let handle = consumer.wakeup_handle();
        let other = {
            let log = log.clone();
            std::thread::spawn(move || match round % 3 {
                0 => drop(log.close()),
                1 => drop(log.delete_topic("events")),
                _ => {
                    // A second member joins: a rebalance.
                    let mut second = log.consumer(config()).unwrap();
                    second.subscribe(&["events"]).unwrap();
                    let _ = second.poll(Duration::ZERO);
                }
            })
        };
        let waker = std::thread::spawn(move || handle.wakeup());
        // Polls until the wakeup is seen; every other outcome is one the
        // racing event explains.
        loop {
            match consumer.poll(HOUR) {
                Err(Error::Wakeup) => break,
                Err(Error::Closed { .. }) => break,
                Err(Error::TopicDeleted { .. }) => {}
                Ok(records) => assert!(records.is_empty()),
                Err(other) => panic!("round {round}: {other}"),
            }
        }
        waker.join().unwrap();
        other.join().unwrap();
    }
}
