//! The mirror process killed with SIGKILL at random moments, several
//! times, in both directions: `larder mirror out` copying 40 000 records to
//! Kafka, then `larder mirror in` copying them back into another log; each
//! run killed within 400 ms of its first records reaching the other side
//! (whatever its start-up took: joining the Kafka group takes seconds on
//! tansu), restarted, killed again, then run to the end. The copy
//! holds every record, and each partition, read in order, never runs ahead
//! of what came before (at least once, no gaps; a redelivery starts again
//! from the last commit). Prints the seed, the kills and the duplicates.
//! Skipped, saying so, without tansu.
#![cfg(all(feature = "kafka", feature = "cli"))]

mod common;
mod kafka_util;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use larder::{Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::TopicPartitionList;

use common::Rng;
use kafka_util::{
    check_at_least_once, client_config, create_kafka_topic, larder_binary, read_kafka, read_larder, unique, Broker,
};

const RECORDS: usize = 40_000;
const KILLS: usize = 6;

fn mirror_command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(larder_binary());
    // Small batches: many commits for a kill to fall between, and a copy
    // slow enough (a commit per 200 records) that a kill soon after a run's
    // first records lands before the run has copied everything.
    command.arg("--dir").arg(dir).arg("mirror").args(args).args(["--stats-interval", "0", "--batch-records", "200"]);
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    command
}

/// How long a run may take to show progress before it is killed anyway
/// (an earlier run may have copied everything).
const PROGRESS_WAIT: Duration = Duration::from_secs(30);

/// Runs the mirror `KILLS` times, each killed with SIGKILL at a random
/// moment soon after it made progress of its own (`progress` grew: some of
/// its records reached the other side; once the copy is complete, at a
/// random moment of its first two seconds), then once to the end
/// (`--stop-when-idle`). Returns how many kills landed before the copy was
/// complete, as `done` judges.
fn kill_and_finish(
    rng: &mut Rng,
    dir: &Path,
    args: &[&str],
    progress: impl Fn() -> u64,
    done: impl Fn() -> bool,
) -> usize {
    let mut mid_run = 0;
    for kill in 0..KILLS {
        // Once the copy is complete a run has nothing to show: it is killed
        // at a random moment of its start or its idling instead.
        let idle = done().then(|| Duration::from_millis(300 + rng.below(1_500)));
        let before = progress();
        let mut child = mirror_command(dir, args).spawn().unwrap();
        let started = Instant::now();
        let mut now = before;
        while now == before && started.elapsed() < idle.unwrap_or(PROGRESS_WAIT) {
            assert!(child.try_wait().unwrap().is_none(), "the mirror exited: {:?}", child.wait_with_output());
            std::thread::sleep(Duration::from_millis(20));
            now = progress();
        }
        let pause = Duration::from_millis(rng.below(400));
        std::thread::sleep(pause);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let complete = done();
        mid_run += usize::from(!complete);
        let moment =
            format!("{:.1} s after start, {pause:?} after progress {before} -> {now}", started.elapsed().as_secs_f64());
        println!("kill {kill} {moment}: copy complete = {complete}");
    }
    let output = mirror_command(dir, args).arg("--stop-when-idle").arg("1500").output().unwrap();
    assert!(output.status.success(), "the last run failed: {}", String::from_utf8_lossy(&output.stderr));
    mid_run
}

/// The summed end offsets of the larder topic while a mirror process owns
/// the log (0 before the mirror created the log or the topic).
fn larder_end_read_only(dir: &Path, topic: &str) -> u64 {
    let Ok(log) = Log::open_read_only(dir) else { return 0 };
    log.describe_topic(topic).map_or(0, |d| d.partitions.iter().map(|p| p.end_offset).sum())
}

/// The summed high watermarks of a 3-partition Kafka topic.
fn kafka_end(client: &BaseConsumer, topic: &str) -> u64 {
    (0..3).map(|p| client.fetch_watermarks(topic, p, Duration::from_secs(10)).unwrap().1 as u64).sum()
}

/// The summed offsets a Kafka consumer group committed on a 3-partition
/// topic.
fn kafka_committed_total(brokers: &str, group: &str, topic: &str) -> u64 {
    let consumer: BaseConsumer = client_config(brokers).set("group.id", group).create().unwrap();
    let mut list = TopicPartitionList::new();
    for p in 0..3 {
        list.add_partition(topic, p);
    }
    let committed = consumer.committed_offsets(list, Duration::from_secs(10)).unwrap();
    committed.elements().iter().filter_map(|e| e.offset().to_raw()).filter(|o| *o > 0).map(|o| o as u64).sum()
}

fn committed_total(dir: &Path, group: &str) -> u64 {
    let log = Log::open(dir, LogOptions::default()).unwrap();
    let total = log.describe_group(group).map_or(0, |g| g.offsets.iter().map(|o| o.committed).sum());
    log.close().unwrap();
    total
}

#[test]
fn killed_mirrors_redeliver_and_never_skip() {
    let Some(broker) = Broker::any("kafka_mirror_kill") else { return };
    let seed = std::env::var("LARDER_KILL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    println!("seed {seed} (replay with LARDER_KILL_SEED={seed})");
    let mut rng = Rng::new(seed);
    let topic = unique("killed");
    create_kafka_topic(&broker.brokers, &topic, 3);

    // Out: a log of 40 000 keyed records, mirrored by killed processes.
    let source_dir = tempfile::tempdir().unwrap();
    {
        let log = Log::open(source_dir.path(), LogOptions::default()).unwrap();
        log.create_topic(&topic, TopicConfig::new(3)).unwrap();
        let producer = log.producer(ProducerConfig::default()).unwrap();
        for n in 0..RECORDS {
            let (key, value) = (format!("k{}", n % 1_000), format!("v{n}"));
            let record = ProducerRecord::new(&topic, value.as_bytes())
                .key(key.as_bytes())
                .timestamp(1_700_000_000_000 + n as i64);
            producer.send(&record).unwrap();
        }
        producer.flush().unwrap();
        drop(producer);
        log.close().unwrap();
    }
    let started = Instant::now();
    let out_args = ["out", "--brokers", &broker.brokers, "--topic", &topic, "--group", "out"];
    let client: BaseConsumer = client_config(&broker.brokers).create().unwrap();
    let progress = || kafka_end(&client, &topic);
    let done = || committed_total(source_dir.path(), "out") == RECORDS as u64;
    let mid_run = kill_and_finish(&mut rng, source_dir.path(), &out_args, progress, done);
    println!("out: {mid_run} of {KILLS} kills mid-run, {:.1} s in all", started.elapsed().as_secs_f64());
    assert!(mid_run >= 2, "too few kills landed mid-run to test anything: {mid_run}");

    let log = Log::open(source_dir.path(), LogOptions::default()).unwrap();
    let source = read_larder(&log, &topic);
    log.close().unwrap();
    let copy = read_kafka(&broker.brokers, &topic, 3, Duration::from_secs(120));
    let mut duplicates = 0;
    for p in 0..3 {
        duplicates += check_at_least_once(&source[p], &copy[p], &format!("out, partition {p}"));
    }
    println!("out: {RECORDS} records, {duplicates} sent twice");

    // In: the Kafka topic back into a fresh log, by killed processes.
    let copy_dir = tempfile::tempdir().unwrap();
    let group = unique("in");
    let in_args = ["in", "--brokers", &broker.brokers, "--topic", &topic, "--group", &group];
    let kafka_total: usize = copy.iter().map(Vec::len).sum();
    let started = Instant::now();
    let progress = || larder_end_read_only(copy_dir.path(), &topic);
    let done = || kafka_committed_total(&broker.brokers, &group, &topic) == kafka_total as u64;
    let mid_run = kill_and_finish(&mut rng, copy_dir.path(), &in_args, progress, done);
    println!("in: {mid_run} of {KILLS} kills mid-run, {:.1} s in all", started.elapsed().as_secs_f64());
    assert!(mid_run >= 2, "too few kills landed mid-run to test anything: {mid_run}");
    let log = Log::open(copy_dir.path(), LogOptions::default()).unwrap();
    let back = read_larder(&log, &topic);
    log.close().unwrap();
    let mut duplicates = 0;
    for p in 0..3 {
        // Kafka's copy holds the duplicates of the way out: each record
        // counts from its first occurrence there.
        duplicates += check_at_least_once(&dedup(&copy[p]), &back[p], &format!("in, partition {p}"));
    }
    println!("in: {kafka_total} Kafka records, {duplicates} appended twice");
}

/// The first occurrence of each record, in order.
fn dedup(records: &[kafka_util::Seen]) -> Vec<kafka_util::Seen> {
    let mut seen = std::collections::HashSet::new();
    records.iter().filter(|r| seen.insert((r.key.clone(), r.value.clone()))).cloned().collect()
}
