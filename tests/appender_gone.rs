//! A delivery callback that panics ends the producer's appender thread.
//! Every later send must then be refused (`Err(Closed)`, as a send into a
//! channel whose receiver is gone was before sends filled chunks) or get a
//! handle that completes: a send that returns `Ok` with a handle that never
//! completes loses its record silently, and `get` on it hangs for ever.
//! (A flush already says `Closed` there; a send pushed into the open chunk
//! finds its wake-up refused as disconnected, and returns `Ok` anyway.)

use std::time::Duration;

use larder::{Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

#[test]
fn a_send_after_the_appender_died_is_refused_or_completes() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(1)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    let first =
        producer.send_with_callback(&ProducerRecord::new("t", b"first"), |_| panic!("a callback that panics")).unwrap();
    assert_eq!(first.get().unwrap().offset, 0);
    // Let the panic unwind the appender thread.
    std::thread::sleep(Duration::from_millis(300));
    for n in 0..3 {
        match producer.send(&ProducerRecord::new("t", b"later")) {
            Err(larder::Error::Closed { .. }) => {}
            Err(other) => panic!("send {n}: {other}"),
            Ok(handle) => {
                let outcome = handle.wait(Duration::from_secs(5));
                assert!(
                    !matches!(outcome, Err(larder::Error::Timeout { .. })),
                    "send {n} returned Ok, and its handle never completes: {outcome:?}"
                );
            }
        }
    }
}

/// A panicking callback is caught and reported, as Kafka's producer logs
/// an exception thrown by a callback: the producer goes on acknowledging
/// later sends, and their callbacks run.
#[test]
fn a_panicking_callback_does_not_stop_the_producer() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(1)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    producer.send_with_callback(&ProducerRecord::new("t", b"first"), |_| panic!("a callback that panics")).unwrap();
    let (ran, called) = crossbeam_channel::unbounded();
    for n in 0..100u64 {
        let ran = ran.clone();
        let handle = producer
            .send_with_callback(&ProducerRecord::new("t", b"later"), move |result| {
                ran.send(result.unwrap().offset).unwrap();
            })
            .unwrap();
        assert_eq!(handle.wait(Duration::from_secs(30)).unwrap().offset, n + 1);
    }
    producer.flush().unwrap();
    assert_eq!(called.try_iter().collect::<Vec<_>>(), (1..=100).collect::<Vec<_>>());
}
