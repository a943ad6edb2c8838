//! larder's main job in one run: a partition log used as a durable buffer.
//!
//! Producer-style appends (one at a time and in batches), a sync that makes
//! them survive power loss, a consumer-style read from a committed position,
//! a crash without close, and the recovery that follows.
//!
//! `cargo run --release --example quickstart [DIR]` (default: a fresh
//! directory under the system's temporary directory).

use std::time::Instant;

use larder::{NewRecord, Partition, PartitionOptions, Result};

fn main() -> Result<()> {
    let dir = std::env::args().nth(1).map(Into::into).unwrap_or_else(|| std::env::temp_dir().join("larder-quickstart"));
    let _ = std::fs::remove_dir_all(&dir);
    let options = PartitionOptions::default().segment_bytes(64 << 20);
    let partition = Partition::open(&dir, options.clone())?;
    println!("opened {} (end offset {})", dir.display(), partition.end_offset());

    let start = Instant::now();
    let mut events = 0u64;
    for i in 0..10_000u64 {
        let value = format!("{{\"event\":{i},\"kind\":\"click\"}}");
        partition.append(&NewRecord::new(value.as_bytes()).key(b"user-42"))?;
        events += 1;
    }
    let payloads: Vec<String> = (0..1000).map(|i| format!("{{\"event\":{i},\"kind\":\"view\"}}")).collect();
    let batch: Vec<NewRecord<'_>> = payloads.iter().map(|p| NewRecord::new(p.as_bytes())).collect();
    for _ in 0..990 {
        partition.append_batch(&batch)?;
        events += batch.len() as u64;
    }
    let synced = partition.sync()?;
    let elapsed = start.elapsed();
    println!(
        "appended {events} events in {:.1} ms ({:.1} M events/s), synced up to offset {synced}, {} segments",
        elapsed.as_secs_f64() * 1e3,
        events as f64 / elapsed.as_secs_f64() / 1e6,
        partition.segment_count()
    );

    // A consumer drains from its committed position in batches, as a
    // database loader would: insert the batch, then commit the next offset.
    let start = Instant::now();
    let (mut position, mut bytes) = (0u64, 0usize);
    while position < partition.end_offset() {
        let batch = partition.read_batch(position, 500)?;
        bytes += batch.iter().map(|r| r.value().map_or(0, <[u8]>::len)).sum::<usize>();
        position = batch.next_offset();
    }
    let elapsed = start.elapsed();
    println!("read {position} events ({bytes} bytes of values) in {:.1} ms", elapsed.as_secs_f64() * 1e3);

    let first_view = partition.offset_for_timestamp(0)?;
    println!("first event at or after the epoch: offset {first_view:?}");

    // Crash without closing, as a killed process would: the OS page cache
    // keeps what was appended; nothing is sealed, no clean marker written.
    partition.append(&NewRecord::new(b"appended just before the crash"))?;
    partition.simulate_crash();
    let partition = Partition::open(&dir, options)?;
    let report = partition.recovery_report();
    println!(
        "reopened after a crash: clean_shutdown={}, segments scanned={}, torn bytes cut={}, end offset {}",
        report.clean_shutdown,
        report.segments_scanned,
        report.truncated_bytes,
        partition.end_offset()
    );
    let last = partition.read(partition.end_offset() - 1)?;
    println!("last record: {:?}", String::from_utf8_lossy(last.value().unwrap_or_default()));
    partition.close()?;
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
