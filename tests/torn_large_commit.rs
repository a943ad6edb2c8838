//! A commit of many partitions cut short by a crash is a torn last frame:
//! the next open cuts it and the commit before it stands. The recovery
//! scan that tells a torn tail from corruption once charged every byte a
//! candidate frame's length field claimed, examined or not; the partition
//! numbers inside one large genuine commit claimed enough to exhaust its
//! budget, and the file was refused as corrupt.

use std::collections::HashMap;

use larder::{ConsumerConfig, Log, LogOptions, TopicConfig, TopicPartition};

const PARTITIONS: u32 = 2_000;

fn consumer(log: &Log) -> larder::Consumer {
    log.consumer(ConsumerConfig::default().group_id("g").enable_auto_commit(false)).unwrap()
}

#[test]
fn a_torn_commit_of_many_partitions_is_cut_not_refused_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(PARTITIONS)).unwrap();
    let all: Vec<TopicPartition> = (0..PARTITIONS).map(|p| TopicPartition::new("t", p)).collect();
    let mut c = consumer(&log);
    c.assign(&all).unwrap();
    c.commit_offsets(&HashMap::from([(all[0].clone(), 0)])).unwrap();
    let path = dir.path().join("groups/g.offsets");
    let before = std::fs::metadata(&path).unwrap().len();
    c.commit_offsets(&all.iter().map(|tp| (tp.clone(), 0)).collect()).unwrap();
    let after = std::fs::metadata(&path).unwrap().len();
    drop(c);
    log.close().unwrap();
    // The large commit never finished: its last bytes are missing.
    assert!(after - before > 20_000, "the second commit is one large frame");
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(after - 1).unwrap();

    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let mut c = consumer(&log);
    c.assign(&all).unwrap();
    assert_eq!(c.committed(&all[0]).unwrap(), Some(0), "the commit before the torn one stands");
    assert_eq!(c.committed(&all[1]).unwrap(), None, "the torn commit is cut");
}
