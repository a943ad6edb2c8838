//! A partition opened read-only beside its owner (in this process, so each
//! step is deterministic): it takes no lock, sees exactly the records the
//! owner appended, follows rolls, retention and truncation, treats a cut
//! below its position as out of range, refuses every write with a typed
//! error, sees a consistent prefix of a torn tail, and never trips the
//! owner's recovery.

mod common;

use std::io::Write as _;

use common::{append_values, check, segment_file};
use larder::partition::{Partition, PartitionOptions};
use larder::record::NewRecord;
use larder::Error;

fn options() -> PartitionOptions {
    PartitionOptions::default().segment_bytes(4096)
}

fn offsets(partition: &Partition, from: u64) -> Vec<u64> {
    partition.iter_from(from).map(|r| check(&r.unwrap())).collect()
}

#[test]
fn follows_appends_rolls_retention_and_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Partition::open(dir.path(), options()).unwrap();
    append_values(&owner, 0, 50);
    let reader = Partition::open_read_only(dir.path(), options()).unwrap();
    assert!(reader.is_read_only());
    assert_eq!((reader.log_start_offset(), reader.end_offset()), (0, 50));
    assert_eq!(offsets(&reader, 0), (0..50).collect::<Vec<_>>());

    // Appends and rolls: seen on refresh, and by a read at the end.
    append_values(&owner, 50, 400);
    assert!(owner.segment_count() > 3);
    assert_eq!(reader.refresh().unwrap(), 400);
    assert_eq!(reader.segment_base_offsets(), owner.segment_base_offsets());
    assert_eq!(offsets(&reader, 0), (0..400).collect::<Vec<_>>());
    append_values(&owner, 400, 410);
    let batch = reader.read_batch(400, 100).unwrap();
    assert!(!batch.is_empty(), "a read at the end refreshes");
    std::thread::sleep(std::time::Duration::from_millis(10));
    assert_eq!(offsets(&reader, 400), (400..410).collect::<Vec<_>>());

    // Retention: below the new start is out of range.
    let start = owner.delete_before(200).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(10));
    reader.refresh().unwrap();
    assert_eq!(reader.log_start_offset(), start);
    assert!(matches!(reader.read(start - 1), Err(Error::OffsetOutOfRange { .. })));
    assert_eq!(offsets(&reader, start), (start..410).collect::<Vec<_>>());

    // Truncation below what the reader saw, then new records: the reader
    // sees the new ones at the reused offsets, never the old ones.
    owner.truncate_to(300).unwrap();
    let other = b"after truncation";
    for _ in 0..5 {
        owner.append(&NewRecord::new(other)).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(10));
    assert_eq!(reader.refresh().unwrap(), 305);
    assert_eq!(reader.read(300).unwrap().value(), Some(&other[..]));
    assert!(matches!(reader.read(305), Err(Error::OffsetOutOfRange { end_offset: 305, .. })));
    owner.close().unwrap();
    reader.refresh().unwrap();
    assert_eq!(reader.read(304).unwrap().value(), Some(&other[..]));
}

#[test]
fn refuses_every_write_with_a_typed_error_and_takes_no_lock() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Partition::open(dir.path(), options()).unwrap();
    append_values(&owner, 0, 3);
    let reader = Partition::open_read_only(dir.path(), options()).unwrap();
    let refused = |result: larder::Result<()>, what: &str| match result {
        Err(Error::ReadOnly { operation, .. }) => assert_eq!(operation, what),
        other => panic!("{what}: {other:?}"),
    };
    refused(reader.append(&NewRecord::new(b"x")).map(drop), "append");
    refused(reader.append_batch(&[NewRecord::new(b"x")]).map(drop), "append");
    refused(reader.sync().map(drop), "sync");
    refused(reader.flush(), "flush");
    refused(reader.roll(), "roll");
    refused(reader.truncate_to(1), "truncate");
    refused(reader.delete_before(1).map(drop), "delete records");
    // The owner goes on meanwhile, and can be closed and reopened.
    append_values(&owner, 3, 6);
    owner.close().unwrap();
    let owner = Partition::open(dir.path(), options()).unwrap();
    assert!(owner.recovery_report().clean_shutdown);
    drop(owner);
    // Reads after close fail as on a closed partition.
    reader.close().unwrap();
}

#[test]
fn a_torn_tail_is_not_seen_and_the_owner_recovers_unaffected() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Partition::open(dir.path(), PartitionOptions::default()).unwrap();
    append_values(&owner, 0, 20);
    let base = *owner.segment_base_offsets().last().unwrap();
    let end_position = owner.size_bytes();
    owner.simulate_crash();
    // A half-written frame after the last one, as a crash mid-append
    // leaves: a length and part of the rest.
    let log = segment_file(dir.path(), base, "log");
    let position = {
        let bytes = std::fs::read(&log).unwrap();
        bytes.iter().rposition(|&b| b != 0).unwrap() + 1
    };
    assert!(position as u64 <= end_position);
    let mut file = std::fs::OpenOptions::new().write(true).open(&log).unwrap();
    use std::os::unix::fs::FileExt as _;
    file.write_all_at(&[200, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8], position as u64).unwrap();
    file.flush().unwrap();
    let reader = Partition::open_read_only(dir.path(), PartitionOptions::default()).unwrap();
    assert_eq!(reader.end_offset(), 20);
    assert_eq!(offsets(&reader, 0), (0..20).collect::<Vec<_>>());
    // The owner's recovery cuts the torn frame; the reader keeps reading.
    let owner = Partition::open(dir.path(), PartitionOptions::default()).unwrap();
    assert_eq!(owner.recovery_report().truncated_records, 1);
    append_values(&owner, 20, 30);
    std::thread::sleep(std::time::Duration::from_millis(10));
    assert_eq!(reader.refresh().unwrap(), 30);
    assert_eq!(offsets(&reader, 0), (0..30).collect::<Vec<_>>());
}

#[test]
fn a_missing_directory_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    assert!(matches!(Partition::open_read_only(&missing, options()), Err(Error::InvalidArgument { .. })));
    assert!(!missing.exists(), "a read-only open creates nothing");
}

#[test]
fn a_crc_valid_frame_copied_to_the_tail_is_never_read() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Partition::open(dir.path(), PartitionOptions::default()).unwrap();
    append_values(&owner, 0, 10);
    let reader = Partition::open_read_only(dir.path(), PartitionOptions::default()).unwrap();
    // Record 3's frame, genuine and CRC-valid, written where offset 10's
    // frame would go: its CRC covers offset 3, so it is not record 10.
    let log = segment_file(dir.path(), 0, "log");
    let bytes = std::fs::read(&log).unwrap();
    let mut position = 64;
    let mut frames = Vec::new();
    for _ in 0..10 {
        let len = u32::from_le_bytes(bytes[position..position + 4].try_into().unwrap()) as usize;
        frames.push(bytes[position..position + len].to_vec());
        position += len;
    }
    let file = std::fs::OpenOptions::new().write(true).open(&log).unwrap();
    use std::os::unix::fs::FileExt as _;
    file.write_all_at(&frames[3], position as u64).unwrap();
    assert_eq!(reader.refresh().unwrap(), 10, "the copied frame does not extend the log");
    assert!(matches!(reader.read(10), Err(Error::OffsetOutOfRange { .. })));
    // The owner's next append takes the place; the reader sees the real one.
    append_values(&owner, 10, 11);
    assert_eq!(reader.refresh().unwrap(), 11);
    assert_eq!(offsets(&reader, 0), (0..11).collect::<Vec<_>>());
}
