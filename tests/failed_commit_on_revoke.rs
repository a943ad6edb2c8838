//! A member whose automatic commit fails when a rebalance asks it to
//! revoke (here: one of its partitions was poisoned by a failed sync)
//! returns the error from `poll` and never rejoins: every later `poll`
//! fails the same way, and since it keeps polling it is never removed as
//! overdue, so the rest of the group waits for ever. Kafka logs a failed
//! commit in `onJoinPrepare` and goes on with the rebalance; larder goes
//! on too, and reports the failure as that poll's error.

use std::sync::Arc;
use std::time::Duration;

use larder::storage::fault::FaultStorage;
use larder::{AutoOffsetReset, ConsumerConfig, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

#[test]
fn a_failed_commit_on_revoke_does_not_stall_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(FaultStorage::new());
    let log = Log::open(dir.path(), LogOptions::default().storage(storage.clone())).unwrap();
    log.create_topic("t", TopicConfig::new(2)).unwrap();
    log.create_topic("u", TopicConfig::new(2)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for p in 0..2 {
        for topic in ["t", "u"] {
            producer.send_direct(&ProducerRecord::new(topic, b"v").partition(p)).unwrap();
        }
    }
    let config = ConsumerConfig::default().group_id("g").auto_offset_reset(AutoOffsetReset::Earliest);
    let mut a = log.consumer(config.clone()).unwrap();
    a.subscribe(&["t", "u"]).unwrap();
    let mut got = 0;
    for _ in 0..20 {
        got += a.poll(Duration::from_millis(20)).unwrap().len();
    }
    assert_eq!(got, 4);
    // t-0 is poisoned by a failed sync.
    storage.fail_syncs(true);
    assert!(log.partition("t", 0).unwrap().sync().is_err());
    storage.fail_syncs(false);

    let mut b = log.consumer(config).unwrap();
    b.subscribe(&["t", "u"]).unwrap();
    let mut a_errors = Vec::new();
    for _ in 0..20 {
        if let Err(error) = a.poll(Duration::from_millis(10)) {
            a_errors.push(error);
        }
        let _ = b.poll(Duration::from_millis(10));
        if !b.assignment().is_empty() {
            // The failed commit was reported, once, not swallowed.
            assert!(matches!(a_errors.as_slice(), [larder::Error::Poisoned { .. }]), "{a_errors:?}");
            a.poll(Duration::from_millis(10)).unwrap();
            assert_eq!(a.assignment().len() + b.assignment().len(), 4, "the partitions are shared");
            return;
        }
    }
    panic!(
        "after 20 polls each, b still has no partitions (a holds {:?}; a's poll says {:?})",
        a.assignment(),
        a.poll(Duration::from_millis(1)).map(|r| r.len())
    );
}
