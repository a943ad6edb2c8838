//! larder's main job: events buffered on their way into a database.
//!
//! Producer threads generate events faster than the database takes them;
//! larder holds them durably; a loader — a member of consumer group
//! `loader` — drains them in batches into a SQLite file, storing each
//! partition's next offset in the same transaction as the rows, and seeks
//! to those stored offsets whenever it is assigned partitions: exactly
//! once, whatever happens between the insert and larder's commit. Progress
//! bars show both sides; a report at the end counts events produced, rows
//! in the table, duplicates and missing ones, the peak lag and the rates.
//!
//! With `--crash-loader`, the loader crashes at random points — after a
//! poll, half-way through a batch's inserts, between the database commit
//! and larder's — and is restarted, several times: its transaction, its
//! connection and its consumer are dropped with nothing committed, as a
//! killed process's would be (tests/exactly_once_sqlite.rs does the same
//! with real SIGKILLs). The report still shows 0 duplicates, 0 missing.
//!
//! ```text
//! cargo run --release --example events_to_sqlite -- [--events N] [--producers N] [--crash-loader] [--dir DIR]
//! ```
//!
//! Without `--dir` it works in a fresh temporary directory and removes it
//! at the end; a `--dir` given must be empty or missing, and is kept.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use larder::{
    AutoOffsetReset, CleanupPolicy, Consumer, ConsumerConfig, Error, Log, LogOptions, ProducerConfig, ProducerRecord,
    Rebalance, TopicConfig,
};

const TOPIC: &str = "events";
const GROUP: &str = "loader";
const PARTITIONS: u32 = 4;
/// Rows per database transaction, at most.
const BATCH: usize = 2_000;

struct Options {
    events: u64,
    producers: u64,
    crash_loader: bool,
    dir: PathBuf,
    /// Whether this run made `dir` (and so removes it at the end).
    made_dir: bool,
}

fn options() -> std::result::Result<Options, String> {
    let mut options = Options {
        events: 400_000,
        producers: 4,
        crash_loader: false,
        dir: std::env::temp_dir().join(format!("larder-events-to-sqlite-{}", std::process::id())),
        made_dir: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--events" => options.events = value("--events")?.parse().map_err(|e| format!("--events: {e}"))?,
            "--producers" => {
                options.producers = value("--producers")?.parse().map_err(|e| format!("--producers: {e}"))?
            }
            "--crash-loader" => options.crash_loader = true,
            "--dir" => {
                options.dir = value("--dir")?.into();
                options.made_dir = false;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if options.producers == 0 {
        return Err("--producers must be at least 1".into());
    }
    // An example never deletes what it did not make: a directory given
    // must be empty (or missing), so the counts start from nothing.
    let empty = |dir: &std::path::Path| std::fs::read_dir(dir).map(|mut e| e.next().is_none()).unwrap_or(false);
    if !options.made_dir && options.dir.exists() && !empty(&options.dir) {
        return Err(format!("--dir {} is not empty: refusing to touch it", options.dir.display()));
    }
    if options.made_dir {
        std::fs::create_dir(&options.dir).map_err(|e| format!("cannot create {}: {e}", options.dir.display()))?;
    }
    Ok(options)
}

/// Counters the threads share, for progress and the report.
#[derive(Default)]
struct Progress {
    produced: AtomicU64,
    loaded: AtomicU64,
    peak_lag: AtomicU64,
    crashes: AtomicU64,
}

impl Progress {
    fn observe_lag(&self) {
        let lag = self.produced.load(Ordering::Acquire).saturating_sub(self.loaded.load(Ordering::Acquire));
        self.peak_lag.fetch_max(lag, Ordering::AcqRel);
    }
}

fn main() {
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!(
                "error: {message}\nusage: events_to_sqlite [--events N] [--producers N] [--crash-loader] [--dir DIR]"
            );
            std::process::exit(2);
        }
    };
    let outcome = run(&options);
    if options.made_dir {
        let _ = std::fs::remove_dir_all(&options.dir);
    }
    if let Err(error) = outcome {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

fn run(options: &Options) -> Result<(), Box<dyn std::error::Error>> {
    let log = Log::open(options.dir.join("log"), LogOptions::default())?;
    // Segments leave the disk once the loader has committed past them.
    let config = TopicConfig::new(PARTITIONS)
        .segment_bytes(4 << 20)
        .cleanup_policy(CleanupPolicy::UntilConsumed { groups: vec![GROUP.into()] });
    log.create_topic(TOPIC, config)?;
    let database = options.dir.join("events.db");
    open_db(&database)?;
    println!("log at {}, database {}", options.dir.join("log").display(), database.display());

    let progress = Arc::new(Progress::default());
    let bars = MultiProgress::new();
    let style = ProgressStyle::with_template("{prefix:>9} {bar:40} {pos:>8}/{len} {per_sec:>14}")?;
    let produced_bar = bars.add(ProgressBar::new(options.events).with_style(style.clone()).with_prefix("produced"));
    let loaded_bar = bars.add(ProgressBar::new(options.events).with_style(style).with_prefix("loaded"));

    let started = Instant::now();
    let producers = spawn_producers(&log, options, &progress)?;
    let loader = {
        let (log, progress, database) = (log.clone(), Arc::clone(&progress), database.clone());
        let (events, crash) = (options.events, options.crash_loader);
        std::thread::spawn(move || load_until_done(&log, &database, events, crash, &progress))
    };
    while !loader.is_finished() {
        std::thread::sleep(Duration::from_millis(50));
        progress.observe_lag();
        produced_bar.set_position(progress.produced.load(Ordering::Acquire));
        loaded_bar.set_position(progress.loaded.load(Ordering::Acquire));
    }
    let produce_time =
        producers.into_iter().map(|p| p.join().map_err(|_| "a producer panicked")).collect::<Result<Vec<_>, _>>()?;
    let produce_time = produce_time.into_iter().collect::<Result<Vec<_>, _>>()?.into_iter().max().unwrap_or_default();
    loader.join().map_err(|_| "the loader panicked")??;
    let load_time = started.elapsed();
    produced_bar.finish();
    loaded_bar.finish();
    report(options, &database, &progress, produce_time, load_time)?;
    log.close()?;
    Ok(())
}

fn open_db(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         CREATE TABLE IF NOT EXISTS events (id INTEGER NOT NULL, user TEXT NOT NULL, payload TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS offsets (partition INTEGER PRIMARY KEY, next INTEGER NOT NULL);",
    )?;
    Ok(conn)
}

/// Producer threads: event ids `t, t + producers, ...`, keyed by user so a
/// user's events stay in order on one partition. Each returns how long it
/// took.
fn spawn_producers(
    log: &Log,
    options: &Options,
    progress: &Arc<Progress>,
) -> larder::Result<Vec<std::thread::JoinHandle<larder::Result<Duration>>>> {
    let producer = log.producer(ProducerConfig::default())?;
    let mut threads = Vec::new();
    for t in 0..options.producers {
        let (producer, progress) = (producer.clone(), Arc::clone(progress));
        let (events, step) = (options.events, options.producers);
        threads.push(std::thread::spawn(move || {
            let started = Instant::now();
            for id in (t..events).step_by(step as usize) {
                let user = format!("user-{}", id % 1000);
                let payload = format!("{{\"id\":{id},\"user\":\"{user}\",\"action\":\"click\"}}");
                producer.send(&ProducerRecord::new(TOPIC, payload.as_bytes()).key(user.as_bytes()))?;
                progress.produced.fetch_add(1, Ordering::AcqRel);
            }
            producer.flush()?;
            Ok(started.elapsed())
        }));
    }
    Ok(threads)
}

/// Runs loaders until every event is in the database; with `crash`, each
/// loader may crash at a random point and a new one takes over.
fn load_until_done(log: &Log, database: &Path, events: u64, crash: bool, progress: &Progress) -> Result<(), String> {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    loop {
        // A crash every few thousand records, at most 8 of them.
        let crash_after = (crash && progress.crashes.load(Ordering::Acquire) < 8).then(|| 1 + rng.below(10));
        match load(log, database, events, crash_after, &mut rng, progress) {
            Ok(Outcome::Done) => return Ok(()),
            Ok(Outcome::Crashed) => {
                progress.crashes.fetch_add(1, Ordering::AcqRel);
            }
            Err(error) => return Err(error.to_string()),
        }
    }
}

enum Outcome {
    Done,
    Crashed,
}

/// Where a crash lands in a batch.
#[derive(Clone, Copy)]
enum CrashPoint {
    AfterPoll,
    MidInserts,
    BetweenCommits,
}

/// One loader's life: a connection, a consumer in the group, batches in
/// transactions. Returns `Crashed` when it crashes on purpose after
/// `crash_after` batches (everything uncommitted is simply dropped).
fn load(
    log: &Log,
    database: &Path,
    events: u64,
    crash_after: Option<u64>,
    rng: &mut Rng,
    progress: &Progress,
) -> Result<Outcome, Box<dyn std::error::Error>> {
    let mut conn = open_db(database)?;
    progress.loaded.store(count(&conn, "SELECT COUNT(*) FROM events")?, Ordering::Release);
    let config = ConsumerConfig::default()
        .group_id(GROUP)
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .enable_auto_commit(false)
        .max_poll_records(BATCH);
    let mut consumer = log.consumer(config)?;
    consumer.subscribe(&[TOPIC])?;
    let mut batches = 0;
    loop {
        let db = &conn;
        // Assigned partitions start where the database says, not larder.
        let mut seek_to_stored = |consumer: &mut Consumer, event: Rebalance<'_>| {
            if let Rebalance::Assigned(partitions) = event {
                for tp in partitions {
                    let next = stored_offset(db, tp.partition)
                        .map_err(|e| Error::InvalidArgument { name: "database", reason: e.to_string() })?;
                    consumer.seek(tp, next)?;
                }
            }
            Ok(())
        };
        let records = consumer.poll_with(Duration::from_millis(100), &mut seek_to_stored)?;
        if records.is_empty() {
            if progress.loaded.load(Ordering::Acquire) >= events {
                return Ok(Outcome::Done);
            }
            continue;
        }
        batches += 1;
        let crash = crash_after.filter(|&n| batches >= n).map(|_| match rng.below(3) {
            0 => CrashPoint::AfterPoll,
            1 => CrashPoint::MidInserts,
            _ => CrashPoint::BetweenCommits,
        });
        if let Some(CrashPoint::AfterPoll) = crash {
            return Ok(Outcome::Crashed);
        }
        let tx = conn.transaction()?;
        let mut next_offsets = std::collections::BTreeMap::new();
        for (n, record) in records.iter().enumerate() {
            if matches!(crash, Some(CrashPoint::MidInserts)) && n == records.len() / 2 {
                return Ok(Outcome::Crashed); // the transaction rolls back
            }
            let payload = std::str::from_utf8(record.value().unwrap_or_default())?;
            let id = parse_id(payload).ok_or("an event without an id")?;
            let user = std::str::from_utf8(record.key().unwrap_or_default())?;
            tx.execute("INSERT INTO events (id, user, payload) VALUES (?1, ?2, ?3)", (id, user, payload))?;
            next_offsets.insert(record.partition(), record.offset() + 1);
        }
        for (partition, next) in &next_offsets {
            tx.execute(
                "INSERT INTO offsets (partition, next) VALUES (?1, ?2)
                 ON CONFLICT(partition) DO UPDATE SET next = excluded.next",
                (partition, *next as i64),
            )?;
        }
        tx.commit()?;
        progress.loaded.fetch_add(records.len() as u64, Ordering::AcqRel);
        if let Some(CrashPoint::BetweenCommits) = crash {
            return Ok(Outcome::Crashed); // larder never hears of it
        }
        // Informational for larder: lag, and retention until consumed.
        consumer.commit()?;
    }
}

fn parse_id(payload: &str) -> Option<i64> {
    let rest = payload.strip_prefix("{\"id\":")?;
    rest[..rest.find(',')?].parse().ok()
}

fn stored_offset(conn: &rusqlite::Connection, partition: u32) -> rusqlite::Result<u64> {
    let next: Option<i64> = conn
        .query_row("SELECT next FROM offsets WHERE partition = ?1", [partition], |row| row.get(0))
        .or_else(|e| if e == rusqlite::Error::QueryReturnedNoRows { Ok(None) } else { Err(e) })?;
    Ok(next.unwrap_or(0) as u64)
}

fn count(conn: &rusqlite::Connection, sql: &str) -> rusqlite::Result<u64> {
    conn.query_row(sql, [], |row| row.get::<_, i64>(0)).map(|n| n as u64)
}

fn report(
    options: &Options,
    database: &Path,
    progress: &Progress,
    produce_time: Duration,
    load_time: Duration,
) -> rusqlite::Result<()> {
    let conn = open_db(database)?;
    let rows = count(&conn, "SELECT COUNT(*) FROM events")?;
    let distinct = count(&conn, "SELECT COUNT(DISTINCT id) FROM events")?;
    let in_range =
        count(&conn, &format!("SELECT COUNT(DISTINCT id) FROM events WHERE id >= 0 AND id < {}", options.events))?;
    let produced = progress.produced.load(Ordering::Acquire);
    let rate = |n: u64, time: Duration| n as f64 / time.as_secs_f64().max(1e-9);
    println!();
    println!("events produced      {produced}");
    println!("rows in the table    {rows}");
    println!("duplicates           {}", rows - distinct);
    println!("missing              {}", options.events - in_range);
    println!("peak lag             {} events", progress.peak_lag.load(Ordering::Acquire));
    println!("loader crashes       {}", progress.crashes.load(Ordering::Acquire));
    println!(
        "produced at          {:.0} events/s ({} producer threads)",
        rate(produced, produce_time),
        options.producers
    );
    println!("loaded at            {:.0} rows/s (batches of up to {BATCH}, one fsync each)", rate(rows, load_time));
    Ok(())
}

/// xorshift64*: random crash points without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}
