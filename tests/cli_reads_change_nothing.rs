//! The `larder` commands that only read — topics list and describe,
//! consume without a group, groups list and describe, a reset-offsets dry
//! run, perf consume — change nothing stored, even when no process owns
//! the log: no retention pass deletes the expired segments of a stopped
//! application, no recovery cuts a torn tail a user came to look at. Each
//! command runs the built binary against a closed log whose every file is
//! compared before and after.
#![cfg(feature = "cli")]

mod cli_util;

use std::path::{Path, PathBuf};
use std::time::Duration;

use cli_util::larder;
use larder::{ConsumerConfig, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig, TopicPartition};

/// Every file under `dir`, with its content.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            files.extend(snapshot(&entry.path()));
        } else {
            files.push((entry.path(), std::fs::read(entry.path()).unwrap()));
        }
    }
    files.sort();
    files
}

#[test]
fn reading_commands_change_nothing_in_a_log_no_process_owns() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let log = Log::open(dir, LogOptions::default()).unwrap();
    let config = TopicConfig::new(1).segment_bytes(1024).retention_ms(1000);
    log.create_topic("t", config).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for n in 0..300u32 {
        producer.send_direct(&ProducerRecord::new("t", n.to_string().as_bytes())).unwrap();
    }
    drop(producer);
    let mut consumer = log.consumer(ConsumerConfig::default().group_id("g").enable_auto_commit(false)).unwrap();
    let tp = TopicPartition::new("t", 0);
    consumer.assign(std::slice::from_ref(&tp)).unwrap();
    consumer.seek(&tp, 10).unwrap();
    consumer.commit().unwrap();
    drop(consumer);
    log.close().unwrap();
    // Every segment but the active one is past its retention now.
    std::thread::sleep(Duration::from_millis(1500));

    let before = snapshot(dir);
    let commands: &[&[&str]] = &[
        &["topics", "list"],
        &["topics", "describe"],
        &["consume", "t", "--from-beginning"],
        &["groups", "list"],
        &["groups", "describe", "g"],
        &["groups", "reset-offsets", "--group", "g", "--topic", "t", "--to-earliest"],
        &["perf", "consume", "t"],
    ];
    for args in commands {
        let output = larder(dir, args, "");
        assert!(output.status.success(), "larder {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        assert!(snapshot(dir) == before, "larder {args:?} changed stored files");
    }
    let consumed = larder(dir, &["consume", "t", "--from-beginning"], "");
    assert_eq!(String::from_utf8_lossy(&consumed.stdout).lines().count(), 300, "every record is still there");
}
