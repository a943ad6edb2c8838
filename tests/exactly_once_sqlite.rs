//! Exactly-once into a real SQLite database, the offsets-in-the-database
//! pattern: a loader process drains events in batches and, in one
//! transaction, inserts the rows and stores each partition's next offset;
//! when it is assigned a partition, a rebalance listener borrowed by
//! `poll_with` — using the loader's own connection — seeks to the offset
//! the database holds. The loader is killed with SIGKILL at random moments,
//! several times, then run to the end: every event is in the table exactly
//! once.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use larder::{
    AutoOffsetReset, Consumer, ConsumerConfig, Error, Log, LogOptions, ProducerConfig, ProducerRecord, Rebalance,
    TopicConfig, TopicPartition,
};

const DIR: &str = "LARDER_SQLITE_DIR";
const UNTIL_DONE: &str = "LARDER_SQLITE_UNTIL_DONE";
const EVENTS: u64 = 6000;
const KILLS: u64 = 6;

fn open_log(dir: &Path) -> Log {
    // The killed loader's lock goes with it, a moment after the kill: the
    // open waits for it.
    Log::open(dir.join("log"), LogOptions::default().lock_timeout(Duration::from_secs(60))).unwrap()
}

fn open_db(dir: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(dir.join("events.db")).unwrap();
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS events (id INTEGER NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS offsets (partition INTEGER PRIMARY KEY, next INTEGER NOT NULL);",
    )
    .unwrap();
    conn
}

fn stored_offset(conn: &rusqlite::Connection, tp: &TopicPartition) -> rusqlite::Result<u64> {
    let next: Option<i64> = conn
        .query_row("SELECT next FROM offsets WHERE partition = ?1", [tp.partition], |row| row.get(0))
        .or_else(|e| if e == rusqlite::Error::QueryReturnedNoRows { Ok(None) } else { Err(e) })?;
    Ok(next.unwrap_or(0) as u64)
}

#[test]
fn a_loader_killed_at_random_stores_every_event_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(dir.path());
    log.create_topic("events", TopicConfig::new(3)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for id in 0..EVENTS {
        producer.send(&ProducerRecord::new("events", id.to_string().as_bytes()).key(&id.to_le_bytes())).unwrap();
    }
    producer.flush().unwrap();
    drop(producer);
    log.close().unwrap();
    let mut rng = common::Rng::new(0x9E37_79B9u64);
    for _ in 0..KILLS {
        let mut loader = spawn_loader(dir.path(), false);
        std::thread::sleep(Duration::from_millis(30 + rng.below(120)));
        loader.kill().unwrap(); // SIGKILL
        loader.wait().unwrap();
    }
    let before_last: u64 = open_db(dir.path()).query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0)).unwrap();
    assert!(before_last < EVENTS, "every kill must land before the loader is done");
    let status = spawn_loader(dir.path(), true).wait().unwrap();
    assert!(status.success());
    let conn = open_db(dir.path());
    let rows: u64 = conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0)).unwrap();
    let distinct: u64 = conn.query_row("SELECT COUNT(DISTINCT id) FROM events", [], |r| r.get(0)).unwrap();
    let max: u64 = conn.query_row("SELECT MAX(id) FROM events", [], |r| r.get(0)).unwrap();
    assert_eq!((rows, distinct, max), (EVENTS, EVENTS, EVENTS - 1), "rows, distinct ids, largest id");
    let mismatched: u64 = conn
        .query_row("SELECT COUNT(*) FROM events e WHERE e.offset >= (SELECT next FROM offsets o WHERE o.partition = e.partition)", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mismatched, 0, "every stored offset is past the rows stored with it");
}

fn spawn_loader(dir: &Path, until_done: bool) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "loader", "--nocapture", "--include-ignored"])
        .env(DIR, dir)
        .env(UNTIL_DONE, if until_done { "1" } else { "" })
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// The loader, run as a child process by the test above.
#[test]
#[ignore = "run by a_loader_killed_at_random_stores_every_event_exactly_once in a child process"]
fn loader() {
    let Some(dir) = std::env::var_os(DIR) else { return };
    let dir = Path::new(&dir);
    let until_done = std::env::var_os(UNTIL_DONE).is_some_and(|v| !v.is_empty());
    let log = open_log(dir);
    let mut conn = open_db(dir);
    let config = ConsumerConfig::default()
        .group_id("loader")
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .enable_auto_commit(false)
        .max_poll_records(50);
    let mut consumer = log.consumer(config).unwrap();
    consumer.subscribe(&["events"]).unwrap();
    loop {
        let db = &conn;
        let mut seek_to_stored = |consumer: &mut Consumer, event: Rebalance<'_>| {
            if let Rebalance::Assigned(partitions) = event {
                for tp in partitions {
                    let next = stored_offset(db, tp)
                        .map_err(|e| Error::InvalidArgument { name: "database", reason: e.to_string() })?;
                    consumer.seek(tp, next)?;
                }
            }
            Ok(())
        };
        let records = consumer.poll_with(Duration::from_millis(100), &mut seek_to_stored).unwrap();
        if records.is_empty() {
            let stored: u64 = conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0)).unwrap();
            if until_done && stored >= EVENTS {
                return;
            }
            continue;
        }
        let tx = conn.transaction().unwrap();
        for record in records.iter() {
            let id: i64 = std::str::from_utf8(record.value().unwrap()).unwrap().parse().unwrap();
            tx.execute(
                "INSERT INTO events (id, partition, offset) VALUES (?1, ?2, ?3)",
                (id, record.partition(), record.offset() as i64),
            )
            .unwrap();
            tx.execute(
                "INSERT INTO offsets (partition, next) VALUES (?1, ?2)
                 ON CONFLICT(partition) DO UPDATE SET next = excluded.next",
                (record.partition(), record.offset() as i64 + 1),
            )
            .unwrap();
        }
        tx.commit().unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
}
