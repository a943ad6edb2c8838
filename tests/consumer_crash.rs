//! At-least-once across a real crash: a consumer process that commits after
//! processing each batch is killed with SIGKILL at a random moment, many
//! times. After each kill, every offset below the committed one was
//! processed, and a restarted consumer of the same group resumes exactly at
//! the committed offsets: the records after the last commit are delivered
//! again, and none is skipped. Run twice: a poll loop committing by hand,
//! and kafka-python's idiom — a `for` loop over the consumer with auto
//! commit — killed between "processed" and "committed".

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use larder::{
    AutoOffsetReset, ConsumerConfig, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig, TopicPartition,
};

const DIR: &str = "LARDER_CRASH_DIR";
const PROCESSED: &str = "LARDER_CRASH_PROCESSED";
/// Set in the child that iterates with auto commit.
const AUTO: &str = "LARDER_CRASH_AUTO";
/// Records appended before each round; the child cannot process them all
/// before it is killed (it pauses 2 ms per batch of 40: at least 76 ms).
const RECORDS_PER_ROUND: u32 = 1500;
const ROUNDS: u32 = 8;

fn config(auto_commit: bool) -> ConsumerConfig {
    ConsumerConfig::default()
        .group_id("loader")
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .enable_auto_commit(auto_commit)
        .auto_commit_interval(Duration::from_millis(3))
        .max_poll_records(40)
}

/// Processed `(partition, offset)` pairs, as the child wrote them.
fn processed(path: &Path) -> Vec<(u32, u64)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|line| line.split_once(' '))
        .filter_map(|(p, o)| Some((p.parse().ok()?, o.parse().ok()?)))
        .collect()
}

#[test]
fn killed_consumer_redelivers_after_its_last_commit_and_skips_none() {
    kill_rounds(false);
}

#[test]
fn killed_auto_committing_iterator_redelivers_and_skips_none() {
    kill_rounds(true);
}

fn kill_rounds(auto_commit: bool) {
    let dir = tempfile::tempdir().unwrap();
    Log::open(dir.path(), LogOptions::default()).unwrap().create_topic("jobs", TopicConfig::new(3)).unwrap();
    let file = dir.path().join("processed.txt");
    let mut rng = common::Rng::new(0x2545_F491u64);
    for kill in 0..ROUNDS {
        append_round(dir.path(), kill);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_consumes", "--nocapture", "--include-ignored"])
            .env(DIR, dir.path())
            .env(PROCESSED, &file)
            .env(AUTO, if auto_commit { "1" } else { "" })
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(20 + rng.below(50)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let committed = check_and_resume(dir.path(), &file, kill);
        assert!(committed < u64::from((kill + 1) * RECORDS_PER_ROUND), "kill {kill} came after the child finished");
    }
}

fn append_round(dir: &Path, round: u32) {
    let log = Log::open(dir, LogOptions::default()).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for n in round * RECORDS_PER_ROUND..(round + 1) * RECORDS_PER_ROUND {
        producer.send(&ProducerRecord::new("jobs", format!("job-{n}").as_bytes()).partition(n % 3)).unwrap();
    }
    producer.flush().unwrap();
    drop(producer);
    log.close().unwrap();
}

/// After a kill: what was committed was processed; a restarted consumer
/// starts exactly at the committed offsets. Returns the total committed.
fn check_and_resume(dir: &Path, file: &Path, kill: u32) -> u64 {
    let log = Log::open(dir, LogOptions::default()).unwrap();
    let mut done: BTreeMap<u32, std::collections::BTreeSet<u64>> = BTreeMap::new();
    for (partition, offset) in processed(file) {
        done.entry(partition).or_default().insert(offset);
    }
    let mut consumer = log.consumer(config(false)).unwrap();
    let tps: Vec<TopicPartition> = (0..3).map(|p| TopicPartition::new("jobs", p)).collect();
    consumer.assign(&tps).unwrap();
    let mut total = 0;
    for tp in &tps {
        let committed = consumer.committed(tp).unwrap().unwrap_or(0);
        total += committed;
        let seen = done.get(&tp.partition).cloned().unwrap_or_default();
        for offset in 0..committed {
            assert!(seen.contains(&offset), "kill {kill}: {tp} offset {offset} committed but never processed");
        }
        assert_eq!(consumer.position(tp).unwrap(), committed, "kill {kill}: resumes at the commit");
    }
    // The first records a restarted consumer gets are the committed offsets.
    let records = consumer.poll(Duration::from_millis(200)).unwrap();
    for (_, partition, batch) in records.batches() {
        let committed = consumer.committed(&TopicPartition::new("jobs", partition)).unwrap().unwrap_or(0);
        assert_eq!(batch.first_offset(), committed, "kill {kill}: redelivery starts right after the last commit");
    }
    total
}

/// Runs only as the child of the test above: consumes, records what it
/// processed, commits after each batch, forever.
#[test]
#[ignore = "run by killed_consumer_redelivers_after_its_last_commit_and_skips_none in a child process"]
fn child_consumes() {
    let (Some(dir), Some(file)) = (std::env::var_os(DIR), std::env::var_os(PROCESSED)) else { return };
    let auto_commit = std::env::var_os(AUTO).is_some_and(|v| !v.is_empty());
    let log = Log::open(dir, LogOptions::default()).unwrap();
    let mut consumer = log.consumer(config(auto_commit)).unwrap();
    consumer.subscribe(&["jobs"]).unwrap();
    let mut out = std::fs::OpenOptions::new().create(true).append(true).open(file).unwrap();
    // End a line the killed predecessor may have left half written.
    out.write_all(b"\n").unwrap();
    if auto_commit {
        // kafka-python's `for message in consumer:`, committing inside polls.
        for (n, record) in consumer.iter().enumerate() {
            let record = record.unwrap();
            out.write_all(format!("{} {}\n", record.partition(), record.offset()).as_bytes()).unwrap();
            if n % 40 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
    loop {
        let records = consumer.poll(Duration::from_millis(100)).unwrap();
        // One write per batch, so a kill cuts at most the batch it is in.
        let lines: String = records.iter().map(|r| format!("{} {}\n", r.partition(), r.offset())).collect();
        out.write_all(lines.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(2));
        consumer.commit().unwrap();
    }
}
