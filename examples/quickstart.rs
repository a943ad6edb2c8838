//! larder's main job in one run: a durable buffer between fast producers
//! and a slower consumer, inside one process.
//!
//! Four producer threads queue click events (keyed by user, so each user's
//! events stay in order on one partition); payments go to a `Sync` topic,
//! acknowledged only once on disk; a consumer group drains the clicks in
//! batches, committing after each as a database loader would. Then the log
//! is closed and reopened, and recovery reports a clean shutdown.
//!
//! `cargo run --release --example quickstart [DIR]`. Without `DIR` it
//! works in a fresh directory under the system's temporary directory and
//! removes it at the end. A `DIR` given is used if it is empty, missing or
//! a larder log already, and kept; anything else is refused, untouched.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use larder::{
    AutoOffsetReset, ConsumerConfig, Durability, Log, LogOptions, ProducerConfig, ProducerRecord, Result, TopicConfig,
};

const THREADS: u64 = 4;
const CLICKS_PER_THREAD: u64 = 250_000;

/// Where to work, and whether this run made it (and so removes it).
fn work_dir() -> std::result::Result<(PathBuf, bool), String> {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        let fresh = std::env::temp_dir().join(format!("larder-quickstart-{}", std::process::id()));
        return match std::fs::create_dir(&fresh) {
            Ok(()) => Ok((fresh, true)),
            Err(e) => Err(format!("cannot create {}: {e}", fresh.display())),
        };
    };
    let empty = |dir: &Path| std::fs::read_dir(dir).map(|mut entries| entries.next().is_none()).unwrap_or(false);
    let is_log = |dir: &Path| dir.join("LOCK").is_file() && dir.join("topics").is_dir();
    if dir.exists() && !(dir.is_dir() && (empty(&dir) || is_log(&dir))) {
        return Err(format!("{} is not empty and not a larder log: refusing to touch it", dir.display()));
    }
    Ok((dir, false))
}

fn main() -> Result<()> {
    let (dir, made) = match work_dir() {
        Ok(found) => found,
        Err(reason) => {
            eprintln!("quickstart: {reason}");
            std::process::exit(2);
        }
    };
    let outcome = run(&dir);
    // What this run made goes, whatever the outcome: an error part way
    // leaves nothing of it behind either.
    if made {
        std::fs::remove_dir_all(&dir).ok();
    }
    outcome
}

fn run(dir: &Path) -> Result<()> {
    let log = Log::open(dir, LogOptions::default())?;
    log.create_topic("clicks", TopicConfig::new(3))?;
    log.create_topic("payments", TopicConfig::new(1).durability(Durability::Sync))?;
    println!("log at {}: topics {:?}", dir.display(), log.list_topics());

    let producer = log.producer(ProducerConfig::default())?;
    let start = Instant::now();
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let producer = producer.clone();
            scope.spawn(move || -> Result<()> {
                for n in 0..CLICKS_PER_THREAD {
                    let user = format!("user-{}", (thread * CLICKS_PER_THREAD + n) % 1000);
                    let event = format!("{{\"user\":\"{user}\",\"page\":\"/item/{n}\"}}");
                    producer.send(&ProducerRecord::new("clicks", event.as_bytes()).key(user.as_bytes()))?;
                }
                Ok(())
            });
        }
    });
    producer.flush()?;
    let elapsed = start.elapsed();
    let clicks = THREADS * CLICKS_PER_THREAD;
    println!(
        "queued and acknowledged {clicks} clicks from {THREADS} threads in {:.0} ms ({:.2} M/s)",
        elapsed.as_secs_f64() * 1e3,
        clicks as f64 / elapsed.as_secs_f64() / 1e6
    );

    let payment = producer.send(&ProducerRecord::new("payments", b"{\"order\":42,\"cents\":1999}").key(b"order-42"))?;
    let meta = payment.wait(Duration::from_secs(10))?;
    println!(
        "payment stored at {}/{} offset {}, acknowledged as {:?}",
        meta.topic, meta.partition, meta.offset, meta.durability
    );

    // The consumer group: poll a batch, "insert" it, commit, repeat.
    let start = Instant::now();
    let config = ConsumerConfig::default().group_id("loader").auto_offset_reset(AutoOffsetReset::Earliest);
    let mut consumer = log.consumer(config.enable_auto_commit(false))?;
    consumer.subscribe(&["clicks"])?;
    let mut drained = 0u64;
    // A log from an earlier run: the group resumes after what it committed.
    while drained < clicks {
        let records = consumer.poll(Duration::from_secs(1))?;
        drained += records.iter().filter(|record| record.value().is_some()).count() as u64;
        consumer.commit()?;
    }
    println!("group 'loader' drained and committed {drained} clicks in {:.0} ms", start.elapsed().as_secs_f64() * 1e3);
    consumer.close()?;
    for offsets in log.describe_group("loader")?.offsets {
        println!("  {}: committed {}, lag {}", offsets.partition, offsets.committed, offsets.lag);
    }

    drop(producer);
    log.close()?;
    let log = Log::open(dir, LogOptions::default())?;
    let clean = log.recovery_reports().iter().all(|(_, _, report)| report.clean_shutdown);
    println!("reopened: every partition closed cleanly = {clean}");
    log.close()
}
