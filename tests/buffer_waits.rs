//! Senders waiting for room in a full topic buffer (`WhenFull::Block`)
//! when the topic is deleted or the log closed: they must learn it at once,
//! by the error that says so, rather than wait out `max_block` and report
//! a full buffer (the cleaner that would free room is gone, and so is the
//! topic).

use std::time::Duration;

use larder::{Error, Log, LogOptions, Producer, ProducerConfig, ProducerRecord, TopicConfig, WhenFull};

/// A log whose topic "t" has a full 4 KiB buffer.
fn full_buffer() -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(1).buffer_bytes(4096, WhenFull::Block)).unwrap();
    let filler = log.producer(ProducerConfig::default().max_block(Duration::ZERO)).unwrap();
    let mut sent = 0;
    loop {
        match filler.send_direct(&ProducerRecord::new("t", &[0u8; 100])) {
            Ok(_) => sent += 1,
            Err(Error::BufferFull { .. }) => break,
            Err(error) => panic!("{error}"),
        }
    }
    assert!(sent > 10, "{sent}");
    (dir, log)
}

/// A send blocked on the full buffer (for up to 1.5 s), on a thread.
fn blocked_sender(log: &Log) -> std::thread::JoinHandle<larder::Result<larder::RecordMetadata>> {
    let producer: Producer = log.producer(ProducerConfig::default().max_block(Duration::from_millis(1500))).unwrap();
    let sender = std::thread::spawn(move || producer.send_direct(&ProducerRecord::new("t", &[1u8; 100])));
    // Give it time to start waiting (the outcome must be the same if not).
    std::thread::sleep(Duration::from_millis(100));
    assert!(!sender.is_finished());
    sender
}

#[test]
fn a_send_waiting_for_buffer_space_learns_its_topic_was_deleted() {
    let (_dir, log) = full_buffer();
    let sender = blocked_sender(&log);
    log.delete_topic("t").unwrap();
    let sent = sender.join().unwrap();
    assert!(matches!(&sent, Err(Error::UnknownTopic { topic }) if topic == "t"), "{sent:?}");
}

#[test]
fn a_send_waiting_for_buffer_space_learns_the_log_was_closed() {
    let (_dir, log) = full_buffer();
    let sender = blocked_sender(&log);
    log.close().unwrap();
    let sent = sender.join().unwrap();
    assert!(matches!(sent, Err(Error::Closed { .. })), "{sent:?}");
}
