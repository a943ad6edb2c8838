//! The storage engine without a `Log`: one partition in one directory.
//!
//! Appends one record and a batch, reads by offset and by timestamp, syncs,
//! cuts the tail, removes old records (offsets never change), closes and
//! reopens with a clean-shutdown report, and prints the partition's stats.
//!
//! `cargo run --release --example standalone_partition`

use larder::partition::{Partition, PartitionOptions};
use larder::record::NewRecord;
use larder::Result;

fn main() -> Result<()> {
    // A directory this run makes (never one that was there already),
    // removed when `dir` is dropped, on an early error too.
    let dir = tempfile::Builder::new().prefix("larder-partition-").tempdir().expect("a fresh temporary directory");
    let options = PartitionOptions::default().segment_bytes(64 * 1024);
    let partition = Partition::open(&dir, options.clone())?;
    for n in 0..10_000i64 {
        let value = format!("reading {n}");
        partition.append(&NewRecord::new(value.as_bytes()).key(b"sensor-1").timestamp(1_000 + n))?;
    }
    let batch = [NewRecord::new(b"a"), NewRecord::new(b"b"), NewRecord::tombstone(b"sensor-2")];
    let first = partition.append_batch(&batch)?.offset;
    println!("batch of 3 at offsets {first}..{}", first + 3);
    println!("durable up to offset {}", partition.sync()?);

    let record = partition.read(42)?;
    println!("offset 42: {:?}", String::from_utf8_lossy(record.value().unwrap_or_default()));
    println!("first record at or after t=5000: offset {:?}", partition.offset_for_timestamp(5_000)?);
    let batch = partition.read_batch(9_998, 10)?;
    println!("read_batch from 9998: {} records, next offset {}", batch.len(), batch.next_offset());

    partition.truncate_to(10_000)?; // drop the batch of 3 again
    partition.delete_before(5_000)?; // whole segments below 5000 leave the disk
    let stats = partition.stats();
    println!(
        "offsets {}..{}, {} segments, {} bytes on disk, {} fdatasyncs",
        stats.log_start_offset, stats.end_offset, stats.segments, stats.size_bytes, stats.syncs.count
    );
    partition.close()?;

    let partition = Partition::open(&dir, options)?;
    println!("reopened: clean shutdown = {}", partition.recovery_report().clean_shutdown);
    partition.close()?;
    drop(dir);
    Ok(())
}
