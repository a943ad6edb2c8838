//! The `larder` binary on bad input and hostile situations: usage errors
//! exit 2, failures exit 1, each with a message naming what was wrong and
//! never a panic or a backtrace; a log owned by another process is opened
//! read-only (and said so) — reads work, writes are refused by name;
//! `verify` finds a flipped byte with its file and position and exits 1;
//! nothing stored is lost along the way.
#![cfg(feature = "cli")]

mod cli_util;

use std::path::Path;

use cli_util::larder;
use larder::{Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

/// Runs a command that must fail with `code`; returns its stderr.
fn fails(dir: &Path, args: &[&str], input: &str, code: i32) -> String {
    let output = larder(dir, args, input);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(code), "larder {args:?}:\n{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "{stderr}");
    assert!(stderr.starts_with("error: ") || stderr.contains("\nerror: "), "a message: {stderr}");
    stderr
}

fn log_with_topic(dir: &Path) -> Log {
    let log = Log::open(dir, LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(2)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for n in 0..10 {
        producer.send_direct(&ProducerRecord::new("t", n.to_string().as_bytes()).partition(0)).unwrap();
    }
    log
}

#[test]
fn bad_input_is_named_with_exit_codes_2_and_1() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    // No log yet: reading commands say so and create nothing.
    let missing = dir.join("nothing");
    assert!(fails(&missing, &["topics", "list"], "", 1).contains("holds no larder log"));
    assert!(!missing.exists());
    log_with_topic(dir).close().unwrap();

    // Usage errors: exit 2.
    fails(dir, &["topics", "frobnicate"], "", 2);
    fails(dir, &["consume"], "", 2);
    assert!(fails(dir, &["topics", "create", "x", "--config", "retention.ms"], "", 2).contains("KEY=VALUE"));
    assert!(fails(dir, &["topics", "create", "x", "--config", "colour=blue"], "", 2).contains("colour"));
    assert!(fails(dir, &["topics", "create", "x", "--config", "retention.ms=soon"], "", 2).contains("retention.ms"));
    assert!(fails(dir, &["topics", "create", "a/b"], "", 2).contains("a/b"));
    assert!(fails(dir, &["produce", "t", "--header", "novalue"], "x\n", 2).contains("--header"));
    assert!(fails(dir, &["consume", "t", "--partition", "0", "--offset", "soon"], "", 2).contains("--offset"));
    fails(dir, &["groups", "reset-offsets", "--group", "g", "--to-earliest", "--to-latest"], "", 2);
    assert!(fails(dir, &["groups", "reset-offsets", "--group", "g", "--to-earliest"], "", 2).contains("--topic"));
    let when =
        fails(dir, &["groups", "reset-offsets", "--group", "g", "--topic", "t", "--to-datetime", "someday"], "", 2);
    assert!(when.contains("--to-datetime"), "{when}");

    // Failures: exit 1, naming the thing.
    assert!(fails(dir, &["topics", "create", "t"], "", 1).contains("\"t\" exists"));
    assert!(fails(dir, &["topics", "describe", "nope"], "", 1).contains("\"nope\""));
    assert!(fails(dir, &["produce", "nope"], "x\n", 1).contains("\"nope\""));
    assert!(fails(dir, &["produce", "t", "--partition", "7"], "x\n", 1).contains("partition 7"));
    assert!(fails(dir, &["produce", "t", "--key-separator", ":"], "k:v\nno separator\n", 1).contains("line 2"));
    assert!(fails(dir, &["consume", "t", "--partition", "9"], "", 1).contains("partition 9"));
    assert!(fails(dir, &["topics", "add-partitions", "t", "--partitions", "1"], "", 1).contains("only grow"));
    assert!(fails(dir, &["groups", "describe", "ghost"], "", 1).contains("\"ghost\""));
    assert!(fails(dir, &["groups", "delete", "ghost"], "", 1).contains("\"ghost\""));
    assert!(fails(dir, &["dump", "/nonexistent/file.log"], "", 1).contains("/nonexistent/file.log"));
    assert!(fails(dir, &["dump", "Cargo.toml"], "", 1).contains("not a larder file"));

    // Nothing stored was lost: the one good line before the bad one is
    // there, and the rest as it was.
    let log = Log::open(dir, LogOptions::default()).unwrap();
    assert_eq!(log.describe_topic("t").unwrap().partitions.iter().map(|p| p.end_offset).sum::<u64>(), 11);
    assert_eq!(log.list_topics(), ["t"]);
}

#[test]
fn a_log_owned_by_another_process_is_read_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let owner = log_with_topic(dir);

    let output = larder(dir, &["consume", "t", "--from-beginning"], "");
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("open in another process: reading it read-only"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 10);
    let described = larder(dir, &["topics", "describe", "t"], "");
    assert!(String::from_utf8_lossy(&described.stdout).contains("EndOffset: 10"));
    assert!(larder(dir, &["verify"], "").status.success());

    assert!(fails(dir, &["produce", "t"], "x\n", 1).contains("read-only"));
    assert!(fails(dir, &["topics", "create", "u"], "", 1).contains("read-only"));
    assert!(fails(dir, &["topics", "delete", "t"], "", 1).contains("read-only"));
    let reset =
        fails(dir, &["groups", "reset-offsets", "--group", "g", "--topic", "t", "--to-latest", "--execute"], "", 1);
    assert!(reset.contains("another process"), "{reset}");
    // The owner never noticed.
    let producer = owner.producer(ProducerConfig::default()).unwrap();
    producer.send_direct(&ProducerRecord::new("t", b"after").partition(0)).unwrap();
    drop(producer);
    owner.close().unwrap();
}

#[test]
fn verify_names_a_flipped_byte_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let log = log_with_topic(dir);
    log.partition("t", 0).unwrap().roll().unwrap();
    log.close().unwrap();
    let segment = dir.join("topics/t/0/00000000000000000000.log");
    let mut bytes = std::fs::read(&segment).unwrap();
    let at = bytes.len() - 3;
    bytes[at] ^= 0x40;
    std::fs::write(&segment, &bytes).unwrap();

    let output = larder(dir, &["verify"], "");
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("problem: ") && stdout.contains("00000000000000000000.log at byte"), "{stdout}");
    let dumped = larder(dir, &["dump", segment.to_str().unwrap()], "");
    assert_eq!(dumped.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&dumped.stdout).contains("crc: INVALID"));
}
