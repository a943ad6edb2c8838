//! The `larder` binary, run as a user runs it, for every subcommand on a
//! fresh log: topics, produce (keys, headers, partitions), consume in each
//! format (and as a group, committing), groups (describe, reset-offsets dry
//! run and execute, delete), dump, verify and the perf tests. Each command's
//! output is checked, and the log afterwards through the library.
#![cfg(feature = "cli")]

mod cli_util;

use std::path::Path;

use cli_util::larder;
use larder::{Log, LogOptions};

/// Runs a command that must succeed with `input` bytes on stdin.
fn ok_bytes(dir: &Path, args: &[&str], input: &[u8]) {
    let output = cli_util::larder_bytes(dir, args, input);
    assert!(output.status.success(), "larder {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// Runs a command that must succeed; returns its stdout.
fn ok(dir: &Path, args: &[&str], input: &str) -> String {
    let output = larder(dir, args, input);
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "larder {args:?} failed ({}):\n{stdout}\n{stderr}", output.status);
    stdout.into_owned()
}

#[test]
fn topics_produce_consume_groups_dump_verify_and_perf() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();

    // Topics.
    let created = ok(dir, &["topics", "create", "events", "--partitions", "3", "--config", "retention.ms=3600000"], "");
    assert_eq!(created, "Created topic events.\n");
    ok(dir, &["topics", "create", "other"], "");
    assert_eq!(ok(dir, &["topics", "list"], ""), "events\nother\n");
    ok(dir, &["topics", "alter", "events", "--config", "segment.bytes=65536"], "");
    ok(dir, &["topics", "add-partitions", "other", "--partitions", "2"], "");
    ok(dir, &["topics", "delete", "other"], "");
    assert_eq!(ok(dir, &["topics", "list"], ""), "events\n");

    // Produce: keys, a header, a fixed partition; offsets printed.
    let input = "k1:one\nk2:two\nk1:three\n";
    let sent = ok(
        dir,
        &["produce", "events", "--key-separator", ":", "--header", "src=test", "--partition", "1", "-v"],
        input,
    );
    assert!(sent.starts_with("events-1@0\nevents-1@1\nevents-1@2\n"), "{sent}");
    ok(dir, &["produce", "events", "--durability", "sync"], "plain\n");
    ok_bytes(dir, &["produce", "events", "--partition", "2"], b"\xff\xfebytes\n");

    let describe = ok(dir, &["topics", "describe", "events"], "");
    assert!(describe.contains("Topic: events\tPartitionCount: 3"), "{describe}");
    assert!(describe.contains("retention.ms=3600000") && describe.contains("segment.bytes=65536"), "{describe}");
    assert!(describe.contains("Partition: 1\tStartOffset: 0\tEndOffset: 3"), "{describe}");

    // Consume, each format.
    let values = ok(dir, &["consume", "events", "--partition", "1", "--offset", "earliest"], "");
    assert_eq!(values, "one\ntwo\nthree\n");
    let pairs = ok(
        dir,
        &["consume", "events", "--partition", "1", "--offset", "1", "--format", "key-value", "--separator", "="],
        "",
    );
    assert_eq!(pairs, "k2=two\nk1=three\n");
    let json = ok(dir, &["consume", "events", "--from-beginning", "--format", "json", "--max-messages", "10"], "");
    let lines: Vec<serde_json::Value> = json.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 5);
    let first = lines.iter().find(|l| l["partition"] == 1 && l["offset"] == 0).unwrap();
    assert_eq!((first["key"].as_str(), first["value"].as_str()), (Some("k1"), Some("one")));
    assert_eq!(first["headers"][0]["key"], "src");
    assert!(first["timestamp"].as_i64().unwrap() > 0);
    let raw = lines.iter().find(|l| l["partition"] == 2).unwrap();
    assert_eq!(raw["value_encoding"], "base64", "bytes that are not UTF-8: {raw}");
    assert_eq!(raw["value"], "//5ieXRlcw==");
    assert_eq!(ok(dir, &["consume", "events", "--from-beginning", "--max-messages", "2"], "").lines().count(), 2);

    // A group consumes and commits; describe shows lag; reset moves it.
    ok(dir, &["consume", "events", "--group", "loader", "--from-beginning", "--max-messages", "4"], "");
    let described = ok(dir, &["groups", "describe", "loader"], "");
    assert!(
        described.starts_with("GROUP   TOPIC   PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  CONSUMER-ID"),
        "{described}"
    );
    let rows: Vec<Vec<&str>> = described.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 3, "every partition of the topic:\n{described}");
    assert_eq!(rows[2][3..6], ["-", "1", "-"], "partition 2: nothing committed, one record:\n{described}");
    assert!(rows[..2].iter().all(|r| r[5] == "0"), "partitions 0 and 1 read to the end:\n{described}");
    assert_eq!(ok(dir, &["groups", "list"], ""), "loader\n");
    let dry = ok(dir, &["groups", "reset-offsets", "--group", "loader", "--topic", "events:1", "--to-earliest"], "");
    assert!(dry.contains("loader  events  1          0") && dry.contains("Dry run"), "{dry}");
    ok(
        dir,
        &["groups", "reset-offsets", "--group", "loader", "--topic", "events:1", "--shift-by", "-2", "--execute"],
        "",
    );
    let log = Log::open(dir, LogOptions::default()).unwrap();
    let offsets = log.describe_group("loader").unwrap().offsets;
    assert_eq!(offsets.iter().find(|o| o.partition.partition == 1).unwrap().committed, 1, "3 - 2");
    log.close().unwrap();
    ok(
        dir,
        &[
            "groups",
            "reset-offsets",
            "--group",
            "loader",
            "--topic",
            "events",
            "--to-datetime",
            "2000-01-01T00:00:00Z",
            "--execute",
        ],
        "",
    );
    let described = ok(dir, &["groups", "describe", "loader"], "");
    assert!(described.lines().skip(1).all(|l| l.split_whitespace().nth(3) == Some("0")), "{described}");
    ok(dir, &["groups", "delete", "loader"], "");
    assert_eq!(ok(dir, &["groups", "list"], ""), "");

    // Dump and verify.
    let partition = dir.join("topics/events/1");
    let log_file = partition.join("00000000000000000000.log");
    let dumped = ok(dir, &["dump", "--print-data", log_file.to_str().unwrap()], "");
    assert!(dumped.contains("offset: 2 position:") && dumped.contains("crc: valid"), "{dumped}");
    assert!(dumped.contains("key: \"k1\" value: \"three\""), "{dumped}");
    let index = partition.join("00000000000000000000.idx");
    let state = partition.join("partition.state");
    let meta = dir.join("topics/events/topic.meta");
    let dumped = ok(
        dir,
        &["dump", "--index-sanity-check", index.to_str().unwrap(), state.to_str().unwrap(), meta.to_str().unwrap()],
        "",
    );
    assert!(dumped.contains("index sanity check: 3 entries, 0 wrong"), "{dumped}");
    assert!(dumped.contains("clean close: true") && dumped.contains("Topic metadata: 3 partitions"), "{dumped}");
    assert!(ok(dir, &["verify"], "").ends_with(": 0 problems, 0 notes\n"));

    // Perf tests, tiny.
    let produced =
        ok(dir, &["perf", "produce", "perf", "--num-records", "300", "--record-size", "50", "--threads", "2"], "");
    assert!(produced.contains("300 records sent") && produced.contains("99.9th"), "{produced}");
    let consumed = ok(dir, &["perf", "consume", "perf"], "");
    assert!(consumed.lines().nth(1).unwrap().contains(", 300, "), "{consumed}");
}
