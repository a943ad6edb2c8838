//! `Sync` topics acknowledge only records an fdatasync already covered, and
//! concurrent senders share fdatasyncs (counted through the fault layer);
//! `Buffered` ones acknowledge without syncing. A failed sync fails every
//! waiting sender and poisons the partition; other partitions keep working.

use std::sync::Arc;

use larder::storage::fault::FaultStorage;
use larder::{Durability, Error, IoOp, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

fn log_with_counter() -> (tempfile::TempDir, Log, Arc<FaultStorage>) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(FaultStorage::new());
    let log = Log::open(dir.path(), LogOptions::default().storage(storage.clone())).unwrap();
    (dir, log, storage)
}

#[test]
fn sync_acknowledges_after_a_covering_fdatasync_and_shares_it() {
    let (_dir, log, storage) = log_with_counter();
    log.create_topic("sync", TopicConfig::new(1).durability(Durability::Sync)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    let partition = log.partition("sync", 0).unwrap();
    let before = storage.file_syncs();
    let meta = producer.send_direct(&ProducerRecord::new("sync", b"direct")).unwrap();
    assert_eq!(meta.durability, Durability::Sync);
    assert!(partition.synced_offset() > meta.offset, "acknowledged before a sync covered it");
    assert_eq!(storage.file_syncs(), before + 1);
    let sends = 2_000;
    let before = storage.file_syncs();
    let handles: Vec<_> = (0..sends).map(|_| producer.send(&ProducerRecord::new("sync", b"queued")).unwrap()).collect();
    for handle in &handles {
        let meta = handle.get().unwrap();
        assert_eq!(meta.durability, Durability::Sync);
        assert!(partition.synced_offset() > meta.offset);
    }
    let syncs = storage.file_syncs() - before;
    assert!(syncs >= 1 && syncs < sends / 10, "{syncs} fdatasyncs for {sends} queued sends: not shared");
}

#[test]
fn concurrent_direct_senders_share_fdatasyncs() {
    let (_dir, log, storage) = log_with_counter();
    log.create_topic("sync", TopicConfig::new(1).durability(Durability::Sync)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    let before = storage.file_syncs();
    let (threads, per_thread) = (16u64, 100u64);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let producer = producer.clone();
            scope.spawn(move || {
                for _ in 0..per_thread {
                    producer.send_direct(&ProducerRecord::new("sync", b"v")).unwrap();
                }
            });
        }
    });
    let syncs = storage.file_syncs() - before;
    assert!(syncs < threads * per_thread, "{syncs} fdatasyncs for {} sends", threads * per_thread);
    assert_eq!(log.partition("sync", 0).unwrap().end_offset(), threads * per_thread);
}

#[test]
fn buffered_acknowledges_without_syncing() {
    let (_dir, log, storage) = log_with_counter();
    log.create_topic("buffered", TopicConfig::new(1)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    let before = storage.file_syncs();
    for _ in 0..100 {
        let meta = producer.send(&ProducerRecord::new("buffered", b"v")).unwrap().get().unwrap();
        assert_eq!(meta.durability, Durability::Buffered);
    }
    assert_eq!(storage.file_syncs(), before);
}

#[test]
fn failed_sync_fails_every_waiting_sender_and_poisons_only_that_partition() {
    let (dir, log, storage) = log_with_counter();
    log.create_topic("sync", TopicConfig::new(2).durability(Durability::Sync)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    producer.send(&ProducerRecord::new("sync", b"ok").partition(1)).unwrap().get().unwrap();
    storage.fail_syncs(true);
    let handles: Vec<_> =
        (0..200).map(|_| producer.send(&ProducerRecord::new("sync", b"v").partition(0)).unwrap()).collect();
    for handle in handles {
        let error = handle.get().unwrap_err();
        assert!(
            matches!(&error, Error::Io { operation: IoOp::Sync, .. }) || matches!(error, Error::Poisoned { .. }),
            "{error}"
        );
    }
    storage.fail_syncs(false);
    let error = producer.send_direct(&ProducerRecord::new("sync", b"later").partition(0)).unwrap_err();
    assert!(matches!(error, Error::Poisoned { .. }), "{error}");
    let meta = producer.send(&ProducerRecord::new("sync", b"other").partition(1)).unwrap().get().unwrap();
    assert_eq!(meta.offset, 1, "the other partition keeps working");
    drop(producer);
    assert!(log.close().is_err(), "closing reports the poisoned partition");
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let p1 = log.partition("sync", 1).unwrap();
    assert_eq!(p1.end_offset(), 2);
    let producer = log.producer(ProducerConfig::default()).unwrap();
    producer.send_direct(&ProducerRecord::new("sync", b"after reopen").partition(0)).unwrap();
}
