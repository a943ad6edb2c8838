//! Sends racing `delete_topic`: each must either land before the deletion
//! (acknowledged) or fail with `UnknownTopic`, as `Log::delete_topic`
//! promises — never with `Closed { what: "partition" }` (which a loop
//! reads as "my producer or log is closed"), nor with an I/O error from a
//! roll into the directory the deletion had just renamed away (which reads
//! as a failing disk, and poisoned the partition).
//!
//! The race is not placed by a hook (nothing a send does between finding
//! the topic and appending goes through the file layer): a fixed number of
//! create/delete rounds against busy senders, small segments so that sends
//! roll. Every outcome is checked, whatever the interleaving.

mod hooked;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use hooked::Hooked;
use larder::{Error, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

#[test]
fn sends_racing_delete_topic_are_acknowledged_or_unknown_topic() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default().storage(Hooked::fast())).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(AtomicU64::new(0));
    let senders: Vec<_> = [true, false]
        .into_iter()
        .map(|direct| {
            let (log, stop, acknowledged) = (log.clone(), stop.clone(), acknowledged.clone());
            std::thread::spawn(move || {
                let producer = log.producer(ProducerConfig::default()).unwrap();
                let mut wrong = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let record = ProducerRecord::new("t", &[7u8; 200]);
                    let outcome = match direct {
                        true => producer.send_direct(&record),
                        false => producer.send(&record).and_then(|handle| handle.get()),
                    };
                    match outcome {
                        Ok(_) => drop(acknowledged.fetch_add(1, Ordering::Relaxed)),
                        Err(Error::UnknownTopic { .. }) => {}
                        Err(error) => wrong.push(error),
                    }
                }
                wrong
            })
        })
        .collect();
    for _ in 0..20 {
        log.create_topic("t", TopicConfig::new(1).segment_bytes(4096)).unwrap();
        // Delete once a send landed in this topic: the senders are busy.
        let before = acknowledged.load(Ordering::Relaxed);
        while acknowledged.load(Ordering::Relaxed) == before {
            std::thread::yield_now();
        }
        log.delete_topic("t").unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        let wrong = sender.join().unwrap();
        assert!(wrong.is_empty(), "{} sends racing delete_topic failed otherwise: {wrong:?}", wrong.len());
    }
}
