//! A full queue makes `send` block for `max_block` and then complete its
//! handle with `QueueFull`; `try_send` does so at once; nothing queued is
//! lost, and once the appender moves again every accepted send is
//! acknowledged; a closed producer refuses sends with `Err(Closed)`;
//! `buffer_memory` bounds the bytes queued as the queue bounds records.

mod common;

use std::time::{Duration, Instant};

use larder::{Error, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

#[test]
fn full_queue_blocks_then_fails_and_try_send_never_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(1)).unwrap();
    let max_block = Duration::from_millis(150);
    let producer = log.producer(ProducerConfig::default().queue_capacity(4).max_block(max_block)).unwrap();
    // Hold the appender inside the first record's callback, so the queue fills.
    let (first, release) = common::hold_appender(&producer, &ProducerRecord::new("t", b"first"));
    let queued: Vec<_> =
        (0..4).map(|n| producer.send(&ProducerRecord::new("t", format!("{n}").as_bytes())).unwrap()).collect();
    let started = Instant::now();
    let refused = producer.send(&ProducerRecord::new("t", b"too many")).unwrap();
    let waited = started.elapsed();
    assert!(refused.is_done(), "refused before send returned");
    let error = refused.get().unwrap_err();
    assert!(matches!(error, Error::QueueFull { capacity: 4, max_block_ms: 150 }), "{error}");
    assert!(waited >= max_block, "gave up after {waited:?}");
    let started = Instant::now();
    let error = producer.try_send(&ProducerRecord::new("t", b"too many")).unwrap().get().unwrap_err();
    assert!(matches!(error, Error::QueueFull { capacity: 4, max_block_ms: 0 }), "{error}");
    assert!(started.elapsed() < max_block);
    release.send(()).unwrap();
    assert_eq!(first.get().unwrap().offset, 0);
    for (n, handle) in queued.iter().enumerate() {
        assert_eq!(handle.wait(Duration::from_secs(10)).unwrap().offset, n as u64 + 1);
    }
    let handle = producer.try_send(&ProducerRecord::new("t", b"room again")).unwrap();
    assert_eq!(handle.get().unwrap().offset, 5);
    let stored = log.partition("t", 0).unwrap();
    let values: Vec<Vec<u8>> = stored.iter_from(0).map(|r| r.unwrap().value().unwrap().to_vec()).collect();
    assert_eq!(
        values,
        vec![b"first".to_vec(), b"0".to_vec(), b"1".to_vec(), b"2".to_vec(), b"3".to_vec(), b"room again".to_vec()]
    );
}

#[test]
fn wait_times_out_with_a_typed_error_and_flush_waits_for_everything() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(2)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    let (release, released) = crossbeam_channel::bounded::<()>(0);
    let held =
        producer.send_with_callback(&ProducerRecord::new("t", b"held"), move |_| released.recv().unwrap()).unwrap();
    let waiting = producer.send(&ProducerRecord::new("t", b"behind")).unwrap();
    let error = waiting.wait(Duration::from_millis(50)).unwrap_err();
    assert!(matches!(error, Error::Timeout { what: "delivery", waited_ms: 50 }), "{error}");
    assert!(matches!(producer.flush_timeout(Duration::from_millis(50)), Err(Error::Timeout { what: "flush", .. })));
    release.send(()).unwrap();
    producer.flush().unwrap();
    assert!(held.is_done() && waiting.is_done());
}

#[test]
fn closed_producer_refuses_sends_after_draining_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(1)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    let handles: Vec<_> = (0..1000).map(|_| producer.send(&ProducerRecord::new("t", b"v")).unwrap()).collect();
    producer.close();
    assert!(handles.iter().all(|h| h.is_done()), "close drained the queue");
    assert!(matches!(producer.send(&ProducerRecord::new("t", b"late")), Err(Error::Closed { what: "producer" })));
    let refused = producer.send_with_callback(&ProducerRecord::new("t", b"late"), |_| panic!("no callback after Err"));
    assert!(matches!(refused, Err(Error::Closed { what: "producer" })));
    // Closed wins over whatever else is wrong with the record.
    assert!(matches!(producer.try_send(&ProducerRecord::new("nope", b"late")), Err(Error::Closed { .. })));
    assert_eq!(log.partition("t", 0).unwrap().end_offset(), 1000);
}

#[test]
fn buffer_memory_bounds_the_bytes_queued_whatever_the_record_count() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(1)).unwrap();
    let frame = larder::record::NewRecord::OVERHEAD_BYTES as u64 + 1000;
    // Room for three 1000-byte values; the record count bound is far away.
    let config = ProducerConfig::default().buffer_memory(3 * frame).max_block(Duration::from_millis(50));
    let producer = log.producer(config).unwrap();
    let value = [7u8; 1000];
    // The first record is held inside its callback, so its bytes stay held.
    let (first, release) = common::hold_appender(&producer, &ProducerRecord::new("t", &value));
    let queued: Vec<_> = (0..2).map(|_| producer.send(&ProducerRecord::new("t", &value)).unwrap()).collect();
    for refused in
        [producer.send(&ProducerRecord::new("t", &value)), producer.try_send(&ProducerRecord::new("t", &value))]
    {
        let error = refused.unwrap().get().unwrap_err();
        assert!(
            matches!(error, Error::BufferExhausted { buffer_memory, requested_bytes, .. }
                if buffer_memory == 3 * frame && requested_bytes == frame),
            "{error}"
        );
    }
    // Even a small record waits: the bound is exact.
    let error = producer.try_send(&ProducerRecord::new("t", b"x")).unwrap().get().unwrap_err();
    assert!(matches!(error, Error::BufferExhausted { waited_ms: 0, .. }), "{error}");
    release.send(()).unwrap();
    first.get().unwrap();
    for handle in &queued {
        handle.get().unwrap();
    }
    // Room again once written.
    assert_eq!(producer.send(&ProducerRecord::new("t", &value)).unwrap().get().unwrap().offset, 3);
    // A record larger than the whole bound fails at once, even with an
    // endless max_block; send_direct is not bounded by it.
    let endless = log.producer(ProducerConfig::default().buffer_memory(100).max_block(Duration::MAX)).unwrap();
    let error = endless.send(&ProducerRecord::new("t", &value)).unwrap().get().unwrap_err();
    assert!(matches!(error, Error::BufferExhausted { buffer_memory: 100, waited_ms: 0, .. }), "{error}");
    endless.send_direct(&ProducerRecord::new("t", &value)).unwrap();
    // The largest bound is no bound at all, without overflow.
    let unbounded = log.producer(ProducerConfig::default().buffer_memory(u64::MAX)).unwrap();
    unbounded.send(&ProducerRecord::new("t", &value)).unwrap().get().unwrap();
    assert_eq!(unbounded.stats().buffer_memory, u64::MAX);
    assert!(matches!(
        log.producer(ProducerConfig::default().buffer_memory(0)),
        Err(Error::InvalidArgument { name: "buffer_memory", .. })
    ));
}

#[test]
fn a_send_waiting_for_buffer_memory_goes_through_once_room_is_freed() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(1)).unwrap();
    let frame = larder::record::NewRecord::OVERHEAD_BYTES as u64 + 1000;
    let config = ProducerConfig::default().buffer_memory(2 * frame).max_block(Duration::from_secs(600));
    let producer = log.producer(config).unwrap();
    let value = [3u8; 1000];
    let (first, release) = common::hold_appender(&producer, &ProducerRecord::new("t", &value));
    let second = producer.send(&ProducerRecord::new("t", &value)).unwrap();
    // The third send has no room until the appender moves on: it waits
    // (however the threads are scheduled), and goes through once it does.
    let waiting = {
        let producer = producer.clone();
        std::thread::spawn(move || producer.send(&ProducerRecord::new("t", &value)).unwrap().get())
    };
    release.send(()).unwrap();
    assert_eq!(first.get().unwrap().offset, 0);
    assert_eq!(second.get().unwrap().offset, 1);
    assert_eq!(waiting.join().unwrap().unwrap().offset, 2);
    // Room is given back once the appender is done with the record: by the
    // time a flush returns.
    producer.flush().unwrap();
    assert_eq!(producer.stats().buffered_bytes, 0);
}
