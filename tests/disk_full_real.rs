//! A real full disk: a 2 MiB tmpfs is mounted (this needs root; where it
//! cannot be mounted the test says so and does nothing), filled through the
//! producer until the disk is full, which must be `DiskFull` naming the
//! topic and partition with every acknowledged record intact; then space is
//! freed by retention and appends succeed again, and the log closes and
//! reopens with everything that was acknowledged.

use std::path::{Path, PathBuf};
use std::process::Command;

use larder::{Error, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

/// A mounted tmpfs, unmounted when dropped.
struct TinyFs(PathBuf, tempfile::TempDir);

impl TinyFs {
    fn mount(size: &str) -> Option<TinyFs> {
        let dir = tempfile::tempdir().ok()?;
        let path = dir.path().join("fs");
        std::fs::create_dir(&path).ok()?;
        let mounted =
            Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(&path).status();
        mounted.ok().filter(|s| s.success()).map(|_| TinyFs(path, dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = &self.1;
    }
}

fn value(n: u32) -> Vec<u8> {
    let mut v = format!("record-{n:06}-").into_bytes();
    v.resize(1000, b'.');
    v
}

#[test]
fn a_full_filesystem_is_disk_full_and_appends_resume_once_space_is_freed() {
    let Some(fs) = TinyFs::mount("2m") else {
        println!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let dir = fs.path().join("log");
    let log = Log::open(&dir, LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(1).segment_bytes(64 << 10)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    let mut acked = 0u32;
    let error = loop {
        match producer.send_direct(&ProducerRecord::new("t", &value(acked))) {
            Ok(meta) => {
                assert_eq!(meta.offset, u64::from(acked));
                acked += 1;
            }
            Err(error) => break error,
        }
        assert!(acked < 10_000, "a 2 MiB filesystem never filled up");
    };
    assert!(matches!(&error, Error::DiskFull { topic: Some(t), partition: Some(0), .. } if t == "t"), "{error}");
    assert!(acked > 100, "only {acked} records fit");
    let partition = log.partition("t", 0).unwrap();
    let check = |partition: &larder::partition::Partition, from: u32| {
        let values: Vec<Vec<u8>> =
            partition.iter_from(u64::from(from)).map(|r| r.unwrap().value().unwrap().to_vec()).collect();
        assert_eq!(values, (from..from + values.len() as u32).map(value).collect::<Vec<_>>());
        values.len() as u32
    };
    assert_eq!(check(&partition, 0), acked, "every acknowledged record is intact");
    // Free space: drop the older half of the log.
    let start = partition.delete_before(u64::from(acked / 2)).unwrap();
    let resumed = (0..50).find_map(|_| producer.send_direct(&ProducerRecord::new("t", &value(acked))).ok());
    match resumed {
        Some(meta) => {
            assert_eq!(meta.offset, u64::from(acked), "appends go on where they stopped");
            acked += 1;
            println!("disk full after {acked} records; appends resumed once space was freed");
        }
        // A roll that hit the full disk while sealing poisons the partition;
        // then appends come back after a reopen, as the next part checks.
        None => {
            assert!(partition.is_poisoned(), "appends neither resumed nor reported poison");
            println!("disk full after {acked} records; a seal hit it, so appends resume after reopen");
        }
    }
    drop(producer);
    let _ = log.close();
    let log = Log::open(&dir, LogOptions::default()).unwrap();
    let partition = log.partition("t", 0).unwrap();
    let first = start as u32;
    assert_eq!(partition.log_start_offset(), start);
    assert_eq!(check(&partition, first), acked - first, "everything acknowledged survives the reopen");
    let producer = log.producer(ProducerConfig::default()).unwrap();
    producer.send_direct(&ProducerRecord::new("t", &value(acked))).unwrap();
}
