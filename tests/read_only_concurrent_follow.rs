//! Two threads catching a read-only log up with its owner at once (here
//! through lookups of a topic that does not exist, which follow the owner)
//! while the owner grows a topic: the reader ends with exactly the
//! partitions the owner has, each once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use larder::{Log, LogOptions, TopicConfig};

#[test]
fn concurrent_follows_open_each_new_partition_once() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Log::open(dir.path(), LogOptions::default()).unwrap();
    owner.create_topic("a", TopicConfig::new(1)).unwrap();
    let reader = Arc::new(Log::open_read_only(dir.path()).unwrap());
    assert_eq!(reader.describe_topic("a").unwrap().partitions.len(), 1);
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let (reader, stop) = (Arc::clone(&reader), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = reader.describe_topic("missing");
                }
            })
        })
        .collect();
    for count in 2..=40u32 {
        owner.add_partitions("a", count).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let seen = reader.describe_topic("a").unwrap().partitions.len() as u32;
            assert!(seen <= count, "the reader has {seen} partitions of a topic with {count}");
            if seen == count {
                break;
            }
            assert!(Instant::now() < deadline, "the reader never saw {count} partitions");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread.join().unwrap();
    }
    let described = reader.describe_topic("a").unwrap();
    let numbers: Vec<u32> = described.partitions.iter().map(|p| p.partition).collect();
    assert_eq!(numbers, (0..40).collect::<Vec<_>>());
}
