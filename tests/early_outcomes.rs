//! Every outcome of a send reaches its handle and its callback alike,
//! exactly once: a record refused before queueing (one test per kind of
//! refusal) gets `Ok(handle)`, complete already, and its callback has run
//! on the calling thread before `send` returned; only a closed producer or
//! log returns `Err`, running no callback; and callback-based accounting
//! over a mix of good and bad sends adds up to the records stored.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use larder::{Error, Log, LogOptions, Producer, ProducerConfig, ProducerRecord, TopicConfig};

fn open(config: ProducerConfig) -> (tempfile::TempDir, Log, Producer) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(2).max_record_bytes(200)).unwrap();
    let producer = log.producer(config).unwrap();
    (dir, log, producer)
}

/// What callbacks saw: the thread each ran on and the error it got.
type Seen = Arc<Mutex<Vec<(ThreadId, String)>>>;

fn recording(seen: &Seen) -> impl FnOnce(Result<&larder::RecordMetadata, &Error>) + Send + 'static {
    let seen = Arc::clone(seen);
    move |result| seen.lock().unwrap().push((std::thread::current().id(), result.unwrap_err().to_string()))
}

/// Sends `record` through `send_with_callback`, `send` and `try_send`, and
/// checks each was refused before queueing: `Ok` with a complete handle
/// holding the error, the callback run once, on this thread, with the same
/// error. Returns the error.
fn refused(producer: &Producer, record: &ProducerRecord<'_>) -> Error {
    let seen = Seen::default();
    let handle = producer.send_with_callback(record, recording(&seen)).expect("only a closed producer returns Err");
    assert!(handle.is_done(), "complete when send returned");
    let error = handle.get().unwrap_err();
    assert_eq!(*seen.lock().unwrap(), [(std::thread::current().id(), error.to_string())]);
    for handle in [producer.send(record).unwrap(), producer.try_send(record).unwrap()] {
        assert!(handle.is_done());
        assert_eq!(handle.wait(Duration::ZERO).unwrap_err().to_string(), error.to_string());
    }
    let late = Seen::default();
    handle.on_delivery(recording(&late));
    assert_eq!(late.lock().unwrap().len(), 1, "a callback added later runs at once");
    error
}

#[test]
fn an_unknown_topic_is_refused_through_the_handle() {
    let (_dir, log, producer) = open(ProducerConfig::default());
    let error = refused(&producer, &ProducerRecord::new("missing", b"v"));
    assert!(matches!(&error, Error::UnknownTopic { topic } if topic == "missing"), "{error}");
    assert!(log.list_topics() == ["t"]);
}

#[test]
fn an_unknown_partition_is_refused_through_the_handle() {
    let (_dir, _log, producer) = open(ProducerConfig::default());
    let error = refused(&producer, &ProducerRecord::new("t", b"v").partition(2));
    assert!(matches!(error, Error::UnknownPartition { partition: 2, partitions: 2, .. }), "{error}");
}

#[test]
fn an_invalid_topic_name_is_refused_through_the_handle() {
    let (_dir, _log, producer) = open(ProducerConfig::default());
    for name in ["", "a/b", "../x"] {
        let error = refused(&producer, &ProducerRecord::new(name, b"v"));
        assert!(matches!(error, Error::InvalidName { .. }), "{name:?}: {error}");
    }
}

#[test]
fn a_record_too_large_is_refused_through_the_handle() {
    let (_dir, _log, producer) = open(ProducerConfig::default());
    let error = refused(&producer, &ProducerRecord::new("t", &[0; 300]));
    assert!(matches!(error, Error::RecordTooLarge { max_record_bytes: 200, .. }), "{error}");
}

#[test]
fn a_negative_timestamp_is_refused_through_the_handle() {
    let (_dir, _log, producer) = open(ProducerConfig::default());
    let error = refused(&producer, &ProducerRecord::new("t", b"v").timestamp(-5));
    assert!(matches!(error, Error::InvalidTimestamp { timestamp_ms: -5 }), "{error}");
}

#[test]
fn a_field_too_large_is_refused_through_the_handle() {
    let (_dir, _log, producer) = open(ProducerConfig::default());
    let name = "h".repeat(70_000);
    let headers: [(&str, &[u8]); 1] = [(&name, b"v")];
    let error = refused(&producer, &ProducerRecord::new("t", b"v").headers(&headers));
    assert!(matches!(error, Error::FieldTooLarge { field: "header name", size_bytes: 70_000, .. }), "{error}");
}

#[test]
fn a_full_queue_is_refused_through_the_handle_after_max_block() {
    let max_block = Duration::from_millis(50);
    let (_dir, log, producer) = open(ProducerConfig::default().queue_capacity(1).max_block(max_block));
    // Hold the appender in a callback, then fill the queue's one slot.
    let (_held, release) = common::hold_appender(&producer, &ProducerRecord::new("t", b"held"));
    let queued = producer.send(&ProducerRecord::new("t", b"queued")).unwrap();
    let seen = Seen::default();
    let started = std::time::Instant::now();
    let handle = producer.send_with_callback(&ProducerRecord::new("t", b"v"), recording(&seen)).unwrap();
    assert!(started.elapsed() >= max_block);
    assert!(matches!(handle.get(), Err(Error::QueueFull { capacity: 1, max_block_ms: 50 })));
    assert_eq!(*seen.lock().unwrap(), [(std::thread::current().id(), handle.get().unwrap_err().to_string())]);
    let tried = producer.try_send(&ProducerRecord::new("t", b"v")).unwrap();
    assert!(matches!(tried.get(), Err(Error::QueueFull { capacity: 1, max_block_ms: 0 })));
    release.send(()).unwrap();
    queued.get().unwrap();
    producer.flush().unwrap();
    let stored: u64 = log.describe_topic("t").unwrap().partitions.iter().map(|p| p.end_offset).sum();
    assert_eq!(stored, 2, "the refused records were not stored");
}

#[test]
fn only_a_closed_producer_or_log_returns_err_and_runs_no_callback() {
    let (_dir, log, producer) = open(ProducerConfig::default());
    let never = |_: Result<&larder::RecordMetadata, &Error>| panic!("no callback after Err");
    let other = log.producer(ProducerConfig::default()).unwrap();
    producer.close();
    for record in [ProducerRecord::new("t", b"v"), ProducerRecord::new("missing", &[0; 300]).timestamp(-1)] {
        assert!(matches!(producer.send_with_callback(&record, never), Err(Error::Closed { what: "producer" })));
        assert!(matches!(producer.send(&record), Err(Error::Closed { what: "producer" })));
        assert!(matches!(producer.try_send(&record), Err(Error::Closed { what: "producer" })));
        assert!(matches!(producer.send_direct(&record), Err(Error::Closed { what: "producer" })));
    }
    other.send(&ProducerRecord::new("t", b"v")).unwrap().get().unwrap();
    log.close().unwrap();
    let result = other.send_with_callback(&ProducerRecord::new("missing", b"v"), never);
    assert!(matches!(result, Err(Error::Closed { .. })), "{result:?}");
}

/// What the accounting test sends as send number `n`, and whether it is
/// refused whatever the queue does.
fn mixed(n: usize, big: &[u8]) -> (ProducerRecord<'_>, bool) {
    match n % 8 {
        0 => (ProducerRecord::new("missing", b"v"), true),
        1 => (ProducerRecord::new("t", big), true),
        2 => (ProducerRecord::new("t", b"v").partition(9), true),
        3 => (ProducerRecord::new("t", b"v").timestamp(-1), true),
        4 => (ProducerRecord::new("bad/name", b"v"), true),
        5 => (ProducerRecord::new("t", b"v").key(b"k"), false),
        _ => (ProducerRecord::new("t", b"v"), false),
    }
}

#[test]
fn callback_accounting_over_good_and_bad_sends_adds_up() {
    // A small queue that never waits: some good records are refused too
    // (`QueueFull`), as many as the appender's pace decides.
    let config = ProducerConfig::default().queue_capacity(16).max_block(Duration::ZERO);
    let (_dir, log, producer) = open(config);
    let sends = 8_000;
    let calls: Arc<Vec<AtomicUsize>> = Arc::new((0..sends).map(|_| AtomicUsize::new(0)).collect());
    let (ok, failed, full) =
        (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let big = [0u8; 300];
    let mut bad = 0;
    for n in 0..sends {
        let (record, refused) = mixed(n, &big);
        bad += usize::from(refused);
        let (calls, ok, failed, full) = (Arc::clone(&calls), Arc::clone(&ok), Arc::clone(&failed), Arc::clone(&full));
        producer
            .send_with_callback(&record, move |result| {
                calls[n].fetch_add(1, Ordering::SeqCst);
                match result {
                    Ok(_) => ok.fetch_add(1, Ordering::SeqCst),
                    Err(Error::QueueFull { .. }) => full.fetch_add(1, Ordering::SeqCst),
                    Err(_) => failed.fetch_add(1, Ordering::SeqCst),
                };
            })
            .unwrap();
    }
    producer.flush().unwrap();
    assert!(calls.iter().all(|c| c.load(Ordering::SeqCst) == 1), "each send's callback ran exactly once");
    let (ok, failed, full) = (ok.load(Ordering::SeqCst), failed.load(Ordering::SeqCst), full.load(Ordering::SeqCst));
    assert_eq!(ok + failed + full, sends);
    assert_eq!(failed, bad, "every bad record reached its callback");
    let stored: u64 = log.describe_topic("t").unwrap().partitions.iter().map(|p| p.end_offset).sum();
    assert_eq!(stored as usize, ok, "callbacks counted every stored record");
    assert!(ok > 0);
}
