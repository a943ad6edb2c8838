//! `max_block` bounds the whole of a `send` (Kafka's `max.block.ms`): what
//! it waited for room in its topic's buffer is not waited again for room
//! in the queue or in `buffer_memory`.

mod common;

use std::time::{Duration, Instant};

use larder::{Error, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig, WhenFull};

/// A log with topic "t", whose 4 KiB `Block` buffer is full, and topic
/// "other", without a buffer.
fn log_with_topic_t_full(dir: &std::path::Path) -> Log {
    let log = Log::open(dir, LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(1).buffer_bytes(4096, WhenFull::Block)).unwrap();
    log.create_topic("other", TopicConfig::new(1)).unwrap();
    let filler = log.producer(ProducerConfig::default().max_block(Duration::ZERO)).unwrap();
    loop {
        match filler.send_direct(&ProducerRecord::new("t", &[0u8; 100])) {
            Ok(_) => {}
            Err(Error::BufferFull { .. }) => break,
            Err(error) => panic!("{error}"),
        }
    }
    log
}

/// Sends to "t" from a thread while this one gives "t"'s buffer room after
/// 700 ms (most of a 1 s `max_block` spent waiting for it); returns how
/// long the send blocked and its outcome, if it was complete on return.
fn send_freed_late(
    log: &Log,
    producer: &larder::Producer,
) -> (Duration, Option<larder::Result<larder::RecordMetadata>>) {
    let sender = {
        let producer = producer.clone();
        std::thread::spawn(move || {
            let began = Instant::now();
            let handle = producer.send(&ProducerRecord::new("t", &[1u8; 100])).unwrap();
            (began.elapsed(), handle.is_done().then(|| handle.get()))
        })
    };
    std::thread::sleep(Duration::from_millis(700));
    log.alter_topic("t", TopicConfig::new(1).buffer_bytes(1 << 20, WhenFull::Block)).unwrap();
    sender.join().unwrap()
}

#[test]
fn a_send_that_waited_for_its_topics_buffer_waits_only_what_is_left_for_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with_topic_t_full(dir.path());
    let max_block = Duration::from_millis(1000);
    let producer = log.producer(ProducerConfig::default().queue_capacity(1).max_block(max_block)).unwrap();
    // The appender held in a callback, and the queue full behind it.
    let (held, release) = common::hold_appender(&producer, &ProducerRecord::new("other", b"held"));
    let queued = producer.send(&ProducerRecord::new("other", b"queued")).unwrap();
    assert_eq!(producer.stats().queued_records, 1);

    let (took, outcome) = send_freed_late(&log, &producer);
    release.send(()).unwrap();
    held.get().unwrap();
    queued.get().unwrap();
    assert!(matches!(outcome, Some(Err(Error::QueueFull { .. }))), "{outcome:?}");
    // Old behaviour: about max_block in all; waiting max_block again for
    // the queue makes it 1.7 s.
    assert!(took < max_block + Duration::from_millis(500), "the send blocked {took:?} with max_block {max_block:?}");
}

#[test]
fn a_send_that_waited_for_its_topics_buffer_waits_only_what_is_left_for_buffer_memory() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with_topic_t_full(dir.path());
    let max_block = Duration::from_millis(1000);
    let frame = (larder::record::NewRecord::OVERHEAD_BYTES + 100) as u64;
    let producer = log.producer(ProducerConfig::default().buffer_memory(frame).max_block(max_block)).unwrap();
    // The appender held in the callback of a record holding all of buffer_memory.
    let (held, release) = common::hold_appender(&producer, &ProducerRecord::new("other", &[9u8; 100]));
    assert_eq!(producer.stats().buffered_bytes, frame);

    let (took, outcome) = send_freed_late(&log, &producer);
    release.send(()).unwrap();
    held.get().unwrap();
    assert!(matches!(outcome, Some(Err(Error::BufferExhausted { .. }))), "{outcome:?}");
    assert!(took < max_block + Duration::from_millis(500), "the send blocked {took:?} with max_block {max_block:?}");
}
