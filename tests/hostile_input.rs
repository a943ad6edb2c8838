//! Hostile input. A table of bad calls to every public entry point, each
//! expecting a specific typed error and leaving the log exactly as it was;
//! then every kind of file truncated, zero-filled or replaced by random
//! bytes — the log recovers, or refuses with an error naming the file, and
//! never panics; then files where directories belong and the reverse.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use larder::{
    AutoOffsetReset, ConsumerConfig, Error, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig,
    TopicPartition,
};

/// A log with topic `t` (2 partitions × 10 records, max 1 KiB records)
/// and group `g` committed at 4 on `t/0`.
fn fixture() -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(2).segment_bytes(256).max_record_bytes(1024)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for n in 0..20u32 {
        producer
            .send_direct(
                &ProducerRecord::new("t", format!("v{n}").as_bytes()).partition(n % 2).timestamp(1000 + i64::from(n)),
            )
            .unwrap();
    }
    let mut consumer = log.consumer(ConsumerConfig::default().group_id("g")).unwrap();
    consumer.assign(&[TopicPartition::new("t", 0)]).unwrap();
    consumer.commit_offsets(&HashMap::from([(TopicPartition::new("t", 0), 4)])).unwrap();
    (dir, log)
}

/// The log holds exactly the fixture's records and commit.
fn assert_intact(log: &Log) {
    for p in 0..2u32 {
        let stored = log.partition("t", p).unwrap();
        let values: Vec<Vec<u8>> = stored.iter_from(0).map(|r| r.unwrap().value().unwrap().to_vec()).collect();
        let expected: Vec<Vec<u8>> = (0..20u32).filter(|n| n % 2 == p).map(|n| format!("v{n}").into_bytes()).collect();
        assert_eq!(values, expected, "t/{p}");
    }
    let consumer = log.consumer(ConsumerConfig::default().group_id("g")).unwrap();
    assert_eq!(consumer.committed(&TopicPartition::new("t", 0)).unwrap(), Some(4));
    assert_eq!(log.list_topics(), vec!["t".to_string()]);
}

type Call = fn(&Log) -> larder::Result<()>;
type Expect = fn(&Error) -> bool;

fn bad_name(name: &'static str) -> (String, Call, Expect) {
    fn create(name: &str, log: &Log) -> larder::Result<()> {
        log.create_topic(name, TopicConfig::new(1))
    }
    let call: Call = match name {
        "" => |log| create("", log),
        "." => |log| create(".", log),
        ".." => |log| create("..", log),
        "../x" => |log| create("../x", log),
        "a/b" => |log| create("a/b", log),
        "a\0b" => |log| create("a\0b", log),
        "événement" => |log| create("événement", log),
        _ => |log| create(&"x".repeat(250), log),
    };
    (format!("topic name {name:?}"), call, |e| matches!(e, Error::InvalidName { .. }))
}

#[test]
fn bad_calls_get_typed_errors_and_change_nothing() {
    let mut cases: Vec<(String, Call, Expect)> =
        ["", ".", "..", "../x", "a/b", "a\0b", "événement", "250 characters"].into_iter().map(bad_name).collect();
    let more: Vec<(&str, Call, Expect)> = vec![
        (
            "send to a partition out of range",
            |log| {
                log.producer(ProducerConfig::default())?
                    .send_direct(&ProducerRecord::new("t", b"v").partition(2))
                    .map(drop)
            },
            |e| matches!(e, Error::UnknownPartition { partition: 2, partitions: 2, .. }),
        ),
        (
            "queued send to a partition out of range",
            |log| {
                log.producer(ProducerConfig::default())?
                    .send(&ProducerRecord::new("t", b"v").partition(9))?
                    .get()
                    .map(drop)
            },
            |e| matches!(e, Error::UnknownPartition { partition: 9, .. }),
        ),
        (
            "send to an unknown topic",
            |log| log.producer(ProducerConfig::default())?.send_direct(&ProducerRecord::new("nope", b"v")).map(drop),
            |e| matches!(e, Error::UnknownTopic { .. }),
        ),
        (
            "negative timestamp",
            |log| {
                log.producer(ProducerConfig::default())?
                    .send_direct(&ProducerRecord::new("t", b"v").timestamp(-1))
                    .map(drop)
            },
            |e| matches!(e, Error::InvalidTimestamp { timestamp_ms: -1 }),
        ),
        (
            "record over max_record_bytes",
            |log| {
                let big = vec![0u8; 2000];
                log.producer(ProducerConfig::default())?.send_direct(&ProducerRecord::new("t", &big)).map(drop)
            },
            |e| matches!(e, Error::RecordTooLarge { max_record_bytes: 1024, .. }),
        ),
        (
            "read before the log start",
            |log| {
                log.partition("t", 0)?.delete_before(0)?;
                log.partition("t", 0)?.read(u64::MAX).map(drop)
            },
            |e| matches!(e, Error::OffsetOutOfRange { end_offset: 10, .. }),
        ),
        (
            "truncate past the end",
            |log| log.partition("t", 0)?.truncate_to(11),
            |e| matches!(e, Error::OffsetOutOfRange { .. }),
        ),
        (
            "seek past the end with auto_offset_reset none",
            |log| {
                let tp = TopicPartition::new("t", 0);
                let mut consumer = log.consumer(ConsumerConfig::default().auto_offset_reset(AutoOffsetReset::None))?;
                consumer.assign(std::slice::from_ref(&tp))?;
                consumer.seek(&tp, 99)?;
                consumer.poll(Duration::ZERO).map(drop)
            },
            |e| matches!(e, Error::NoOffset { partition: 0, .. }),
        ),
        (
            "seek on a partition not assigned",
            |log| {
                let mut consumer = log.consumer(ConsumerConfig::default())?;
                consumer.seek(&TopicPartition::new("t", 1), 0)
            },
            |e| matches!(e, Error::NotAssigned { partition: 1, .. }),
        ),
        (
            "commit for a partition not assigned",
            |log| {
                let mut consumer = log.consumer(ConsumerConfig::default().group_id("g"))?;
                consumer.assign(&[TopicPartition::new("t", 1)])?;
                consumer.commit_offsets(&HashMap::from([(TopicPartition::new("t", 0), 9)]))
            },
            |e| matches!(e, Error::NotAssigned { partition: 0, .. }),
        ),
        (
            "assign an unknown partition",
            |log| log.consumer(ConsumerConfig::default())?.assign(&[TopicPartition::new("t", 7)]),
            |e| matches!(e, Error::UnknownPartition { partition: 7, .. }),
        ),
        (
            "commit without a group",
            |log| {
                let mut consumer = log.consumer(ConsumerConfig::default())?;
                consumer.subscribe(&["t"])?;
                consumer.poll(std::time::Duration::ZERO)?;
                consumer.commit_offsets(&HashMap::from([(TopicPartition::new("t", 0), 0)]))
            },
            |e| matches!(e, Error::InvalidArgument { name: "group_id", .. }),
        ),
        (
            "subscribe to a topic twice",
            |log| log.consumer(ConsumerConfig::default())?.subscribe(&["t", "t"]),
            |e| matches!(e, Error::InvalidArgument { name: "topics", .. }),
        ),
        (
            "subscribe to a name that is a path",
            |log| log.consumer(ConsumerConfig::default())?.subscribe(&["../t"]),
            |e| matches!(e, Error::InvalidName { .. }),
        ),
        (
            "assign a partition twice",
            |log| {
                log.consumer(ConsumerConfig::default())?
                    .assign(&[TopicPartition::new("t", 0), TopicPartition::new("t", 0)])
            },
            |e| matches!(e, Error::InvalidArgument { name: "partitions", .. }),
        ),
        (
            "offsets for a negative time",
            |log| {
                log.consumer(ConsumerConfig::default())?
                    .offsets_for_times(&HashMap::from([(TopicPartition::new("t", 0), -5)]))
                    .map(drop)
            },
            |e| matches!(e, Error::InvalidTimestamp { timestamp_ms: -5 }),
        ),
        (
            "commit past the end",
            |log| {
                let mut consumer = log.consumer(ConsumerConfig::default().group_id("g"))?;
                consumer.assign(&[TopicPartition::new("t", 0)])?;
                consumer.commit_offsets(&HashMap::from([(TopicPartition::new("t", 0), 1_000_000)]))
            },
            |e| matches!(e, Error::CommitPastEnd { offset: 1_000_000, end_offset: 10, partition: 0, .. }),
        ),
        (
            "a zero max_poll_interval",
            |log| log.consumer(ConsumerConfig::default().max_poll_interval(std::time::Duration::ZERO)).map(drop),
            |e| matches!(e, Error::InvalidArgument { name: "max_poll_interval", .. }),
        ),
        (
            "a member with another assignor",
            |log| {
                let mut first = log.consumer(ConsumerConfig::default().group_id("mixed"))?;
                first.subscribe(&["t"])?;
                let config = ConsumerConfig::default().group_id("mixed").assignor(larder::Assignor::RoundRobin);
                log.consumer(config)?.subscribe(&["t"])
            },
            |e| matches!(e, Error::InconsistentGroupProtocol { .. }),
        ),
        (
            "describe an unknown group",
            |log| log.describe_group("nobody").map(drop),
            |e| matches!(e, Error::UnknownGroup { .. }),
        ),
        (
            "delete a group with members",
            |log| {
                let mut member = log.consumer(ConsumerConfig::default().group_id("busy"))?;
                member.subscribe(&["t"])?;
                log.delete_group("busy")
            },
            |e| matches!(e, Error::GroupNotEmpty { members: 1, .. }),
        ),
        (
            "group id that is a path",
            |log| log.consumer(ConsumerConfig::default().group_id("../g")).map(drop),
            |e| matches!(e, Error::InvalidName { .. }),
        ),
        (
            "create a topic that exists",
            |log| log.create_topic("t", TopicConfig::new(1)),
            |e| matches!(e, Error::TopicExists { .. }),
        ),
        (
            "shrink a topic",
            |log| log.add_partitions("t", 1),
            |e| matches!(e, Error::InvalidArgument { name: "partitions", .. }),
        ),
        (
            "zero partitions",
            |log| log.create_topic("z", TopicConfig::new(0)),
            |e| matches!(e, Error::InvalidArgument { name: "partitions", .. }),
        ),
        (
            "tiny segments",
            |log| log.create_topic("z", TopicConfig::new(1).segment_bytes(3)),
            |e| matches!(e, Error::InvalidArgument { name: "segment_bytes", .. }),
        ),
        (
            "open the log a second time",
            |log| Log::open(log.dir(), LogOptions::default()).map(drop),
            |e| matches!(e, Error::Locked { .. }),
        ),
    ];
    cases.extend(more.into_iter().map(|(n, c, e)| (n.to_string(), c, e)));
    let (_dir, log) = fixture();
    for (name, call, expect) in cases {
        let outcome = call(&log);
        match &outcome {
            Err(error) => assert!(expect(error), "{name}: unexpected error {error}"),
            Ok(()) => panic!("{name}: accepted"),
        }
        assert_intact(&log);
    }
    // Non-monotonic timestamps are allowed, as in Kafka (CreateTime).
    let producer = log.producer(ProducerConfig::default()).unwrap();
    producer.send_direct(&ProducerRecord::new("t", b"older").partition(1).timestamp(5)).unwrap();
    assert_eq!(log.partition("t", 1).unwrap().offset_for_timestamp(5).unwrap(), Some(0));
}

/// Every file of the fixture, by kind.
fn files(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let partition = dir.join("topics/t/0");
    let mut out = vec![("topic.meta", dir.join("topics/t/topic.meta")), ("offsets", dir.join("groups/g.offsets"))];
    out.push(("partition.state", partition.join("partition.state")));
    for entry in std::fs::read_dir(&partition).unwrap() {
        let path = entry.unwrap().path();
        let kind = match path.extension().and_then(|e| e.to_str()) {
            Some("log") => "log",
            Some("idx") => "idx",
            Some("tix") => "tix",
            _ => continue,
        };
        out.push((kind, path));
    }
    out
}

#[test]
fn damaged_files_recover_or_are_refused_by_name_never_a_panic() {
    type Damage = fn(&[u8]) -> Vec<u8>;
    let damages: [(&str, Damage); 3] = [
        ("truncated", |b| b[..b.len() / 2].to_vec()),
        ("zero-filled", |b| vec![0; b.len()]),
        ("random bytes", |b| (0..b.len().max(64)).map(|i| (i as u8).wrapping_mul(151).wrapping_add(7)).collect()),
    ];
    let (template, log) = fixture();
    log.close().unwrap();
    let mut outcomes = Vec::new();
    for (n, (kind, _)) in files(template.path()).into_iter().enumerate() {
        for (damage, apply) in damages {
            let dir = tempfile::tempdir().unwrap();
            copy_dir(template.path(), dir.path());
            let path = files(dir.path()).swap_remove(n).1;
            std::fs::write(&path, apply(&std::fs::read(&path).unwrap())).unwrap();
            let opened = std::panic::catch_unwind(|| {
                let log = Log::open(dir.path(), LogOptions::default())?;
                let consumer = log.consumer(ConsumerConfig::default().group_id("g"))?;
                for p in 0..2 {
                    for record in log.partition("t", p)?.iter_from(0) {
                        record?;
                    }
                }
                consumer.committed(&TopicPartition::new("t", 0))
            });
            let outcome = match opened {
                Err(_) => panic!("{kind} {damage}: panicked"),
                Ok(Ok(_)) => "recovered".to_string(),
                Ok(Err(error)) => {
                    let name = path.file_name().unwrap().to_str().unwrap();
                    assert!(error.to_string().contains(name), "{kind} {damage}: error does not name {name}: {error}");
                    "refused by name".to_string()
                }
            };
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            outcomes.push(format!("{kind} {damage}: {outcome} ({name})"));
        }
    }
    // Derived and replaceable files always recover.
    for line in &outcomes {
        if ["idx", "tix", "partition.state"].iter().any(|k| line.starts_with(&format!("{k} "))) {
            assert!(line.contains(": recovered"), "{line}");
        }
    }
    println!("{}", outcomes.join("\n"));
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn files_where_directories_belong_and_the_reverse_are_typed_errors() {
    let (template, log) = fixture();
    log.close().unwrap();
    let swaps: [(&str, bool); 5] = [
        ("topics", false),
        ("topics/t/0", false),
        ("topics/t/topic.meta", true),
        ("topics/t/0/partition.state", true),
        ("groups/g.offsets", true),
    ];
    for (relative, make_dir) in swaps {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(template.path(), dir.path());
        let path = dir.path().join(relative);
        if path.is_dir() {
            std::fs::remove_dir_all(&path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
        if make_dir {
            std::fs::create_dir(&path).unwrap();
        } else {
            std::fs::write(&path, b"not a directory").unwrap();
        }
        let outcome = std::panic::catch_unwind(|| {
            let log = Log::open(dir.path(), LogOptions::default())?;
            log.consumer(ConsumerConfig::default().group_id("g")).map(drop)
        });
        let error = match outcome {
            Err(_) => panic!("{relative}: panicked"),
            Ok(Ok(())) => panic!("{relative}: accepted"),
            Ok(Err(error)) => error,
        };
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(error.to_string().contains(name), "{relative}: {error}");
    }
}
