//! Operations raced against each other on one partition: a sync inside its
//! fdatasync while `truncate_to` runs (held there by a file layer that
//! parks the sync), readers against a writer that appends, truncates and
//! deletes, and an iterator that spans a truncation. Each checks the exact
//! outcome: the synced watermark, fdatasync counts, the records returned.

mod common;

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{append_values, check, Rng};
use larder::partition::{Partition, PartitionOptions};
use larder::record::NewRecord;
use larder::storage::{OsStorage, Storage};
use larder::Error;

/// Passes everything to the OS, counts fdatasyncs of `.log` files, and,
/// while armed, parks the next one at a barrier until the test lets it go.
#[derive(Debug, Default)]
struct ParkingStorage {
    armed: AtomicBool,
    log_syncs: AtomicU64,
    park: parking_lot::Mutex<Option<(Arc<Barrier>, Arc<Barrier>)>>,
}

impl Storage for ParkingStorage {
    fn sync_file(&self, file: &File, path: &Path) -> io::Result<()> {
        if path.extension().is_some_and(|e| e == "log") {
            self.log_syncs.fetch_add(1, Ordering::SeqCst);
            if self.armed.swap(false, Ordering::SeqCst) {
                let (entered, release) = self.park.lock().clone().unwrap();
                entered.wait();
                release.wait();
            }
        }
        OsStorage.sync_file(file, path)
    }
}

#[test]
fn a_sync_racing_truncate_to_never_leaves_synced_above_end() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(ParkingStorage::default());
    let options = PartitionOptions::default().segment_bytes(1 << 20).storage(storage.clone());
    let partition = Arc::new(Partition::open(dir.path(), options).unwrap());
    append_values(&partition, 0, 101);
    let (entered, release) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
    *storage.park.lock() = Some((entered.clone(), release.clone()));
    storage.armed.store(true, Ordering::SeqCst);
    let syncer = {
        let partition = partition.clone();
        std::thread::spawn(move || partition.sync())
    };
    entered.wait(); // the sync is inside its fdatasync of offsets 0..101
    partition.truncate_to(50).unwrap();
    release.wait();
    syncer.join().unwrap().unwrap();
    assert!(
        partition.synced_offset() <= partition.end_offset(),
        "synced {} above end {}",
        partition.synced_offset(),
        partition.end_offset()
    );
    // Every later sync of new records must really fdatasync them.
    for n in 0..20 {
        let before = storage.log_syncs.load(Ordering::SeqCst);
        let offset = partition.append(&NewRecord::new(b"after the truncation")).unwrap().offset;
        assert_eq!(offset, 50 + n);
        assert!(partition.sync().unwrap() > offset);
        assert!(storage.log_syncs.load(Ordering::SeqCst) > before, "append {n} acknowledged without an fdatasync");
    }
}

#[test]
fn readers_racing_truncation_and_deletion_get_records_or_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let options = PartitionOptions::default().segment_bytes(2048);
    let partition = Arc::new(Partition::open(dir.path(), options).unwrap());
    append_values(&partition, 0, 200);
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|n| {
            let (partition, stop) = (partition.clone(), stop.clone());
            std::thread::spawn(move || read_until(&partition, &stop, n))
        })
        .collect();
    let mut rng = Rng::new(7);
    let deadline = Instant::now() + Duration::from_millis(1500);
    let mut written = 200;
    while Instant::now() < deadline {
        match rng.below(4) {
            0 => {
                let end = partition.end_offset();
                let start = partition.log_start_offset();
                let cut = start + rng.below(end - start + 1);
                partition.truncate_to(cut).unwrap();
                written = cut;
            }
            1 => {
                let start = partition.log_start_offset() + rng.below(5);
                partition.delete_before(start).unwrap();
            }
            _ => {
                // Values are those `check` expects only below the first
                // truncation; later ones just have to verify.
                let batch: Vec<Vec<u8>> = (0..1 + rng.below(20)).map(|_| rng.bytes(20)).collect();
                let records: Vec<NewRecord<'_>> = batch.iter().map(|v| NewRecord::new(v)).collect();
                assert_eq!(partition.append_batch(&records).unwrap().offset, written);
                written += records.len() as u64;
            }
        }
    }
    stop.store(true, Ordering::SeqCst);
    let reads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(reads > 0);
}

/// Reads with every read path until stopped; each record holds the offset
/// it was read at, and every error is out-of-range (the log moved).
fn read_until(partition: &Partition, stop: &AtomicBool, seed: u64) -> u64 {
    let mut rng = Rng::new(seed);
    let mut reads = 0;
    while !stop.load(Ordering::SeqCst) {
        let (start, end) = (partition.log_start_offset(), partition.end_offset());
        // Reads at the end half the time: where a truncation racing the
        // read meets the active segment.
        let offset = if rng.below(2) == 0 { end } else { start + rng.below(end - start + 2) };
        let outcomes: Vec<Result<u64, Error>> = match rng.below(3) {
            0 => vec![partition.read(offset).map(|r| r.offset())],
            1 => match partition.read_batch(offset, 1 + rng.below(50) as usize) {
                Ok(batch) => batch.iter().enumerate().map(|(n, r)| Ok(r.offset().wrapping_sub(n as u64))).collect(),
                Err(error) => vec![Err(error)],
            },
            _ => partition
                .iter_from(offset)
                .take(30)
                .enumerate()
                .map(|(n, r)| r.map(|r| r.offset().wrapping_sub(n as u64)))
                .collect(),
        };
        for outcome in outcomes {
            match outcome {
                Ok(first) => assert_eq!(first, offset, "a record not at the offset it was read at"),
                Err(Error::OffsetOutOfRange { .. }) => {}
                Err(other) => panic!("read of {offset}: {other}"),
            }
            reads += 1;
        }
    }
    reads
}

#[test]
fn an_iterator_spanning_a_truncation_returns_the_new_records() {
    let dir = tempfile::tempdir().unwrap();
    let partition = Partition::open(dir.path(), PartitionOptions::default()).unwrap();
    append_values(&partition, 0, 10);
    let mut iter = partition.iter_from(0);
    for offset in 0..5 {
        assert_eq!(check(&iter.next().unwrap().unwrap()), offset);
    }
    partition.truncate_to(7).unwrap();
    for offset in 7..10 {
        let value = format!("new {offset}");
        assert_eq!(partition.append(&NewRecord::new(value.as_bytes())).unwrap().offset, offset);
    }
    for offset in 5..7 {
        assert_eq!(check(&iter.next().unwrap().unwrap()), offset, "kept records are the old ones");
    }
    for offset in 7..10 {
        let record = iter.next().unwrap().unwrap();
        assert_eq!(record.offset(), offset);
        assert_eq!(record.value(), Some(format!("new {offset}").as_bytes()), "offset {offset} is a truncated record");
    }
    assert!(iter.next().is_none());
}

#[test]
fn an_iterator_below_a_new_log_start_fails_once_then_ends() {
    let dir = tempfile::tempdir().unwrap();
    let partition = Partition::open(dir.path(), PartitionOptions::default()).unwrap();
    append_values(&partition, 0, 10);
    let mut iter = partition.iter_from(0);
    assert_eq!(check(&iter.next().unwrap().unwrap()), 0);
    partition.delete_before(5).unwrap();
    let error = iter.next().unwrap().unwrap_err();
    assert!(matches!(error, Error::OffsetOutOfRange { offset: 1, log_start_offset: 5, end_offset: 10 }), "{error}");
    assert!(iter.next().is_none());
}
