//! Files whose checksums are valid but whose contents lie, and files that
//! are missing: every decoded field is checked against the file and segment
//! it belongs to (a matching CRC is not trust), and records the state file
//! vouches for are never silently given up. Each case builds a real
//! partition, crafts or removes one file, and checks the exact outcome.

mod common;

use std::path::Path;

use common::{append_values, assert_values, closed_partition, segment_file};
use larder::partition::{Partition, PartitionOptions};
use larder::Error;

fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn put_u64(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

/// Rewrites the `.idx` header of `path` with `edit`, then fixes its CRC
/// (docs/FORMAT.md: CRC32C of bytes [0, 48) at 48).
fn craft_index_header(path: &Path, edit: impl FnOnce(&mut [u8])) {
    let mut bytes = std::fs::read(path).unwrap();
    edit(&mut bytes);
    let crc = crc32c::crc32c(&bytes[..48]);
    put_u32(&mut bytes, 48, crc);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_sealed_index_claiming_an_absurd_entry_count_is_rebuilt_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (options, bases) = closed_partition(dir.path(), 512, 40);
    for count in [u64::MAX, u64::MAX / 4 + 1, 1 << 62, 0] {
        craft_index_header(&segment_file(dir.path(), bases[0], "idx"), |h| put_u64(h, 32, count));
        let partition = Partition::open(dir.path(), options.clone()).unwrap();
        assert_values(&partition, 0, 40);
        partition.close().unwrap();
    }
}

#[test]
fn a_time_index_pointing_outside_its_segment_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let (options, bases) = closed_partition(dir.path(), 512, 40);
    let path = segment_file(dir.path(), bases[0], "tix");
    let segment_end = bases[1];
    for (timestamp, offset) in [(0i64, segment_end + 1000), (i64::MAX, u64::MAX), (5, 0)] {
        // One entry (i64 timestamp, u64 offset) after the 32-byte header;
        // CRC at 28 over [0, 28) then the entries (docs/FORMAT.md).
        let mut bytes = std::fs::read(&path).unwrap()[..32].to_vec();
        put_u32(&mut bytes, 24, 1);
        bytes.extend_from_slice(&timestamp.to_le_bytes());
        bytes.extend_from_slice(&offset.to_le_bytes());
        let crc = crc32c::crc32c_append(crc32c::crc32c(&bytes[..28]), &bytes[32..]);
        put_u32(&mut bytes, 28, crc);
        std::fs::write(&path, bytes).unwrap();
        let partition = Partition::open(dir.path(), options.clone()).unwrap();
        for probe in [i64::MIN, 0, common::timestamp(3), common::timestamp(39), i64::MAX] {
            let expected = (0..40).find(|&o| common::timestamp(o) >= probe);
            assert_eq!(partition.offset_for_timestamp(probe).unwrap(), expected, "probe {probe}");
        }
        partition.close().unwrap();
    }
}

#[test]
fn a_missing_last_segment_after_a_clean_close_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let (options, bases) = closed_partition(dir.path(), 512, 40);
    let last = *bases.last().unwrap();
    for extension in ["log", "idx", "tix"] {
        let _ = std::fs::remove_file(segment_file(dir.path(), last, extension));
    }
    let error = Partition::open(dir.path(), options.clone()).unwrap_err();
    assert!(matches!(&error, Error::Corrupt { path, .. } if path == &dir.path().join("partition.state")), "{error}");
    assert!(error.to_string().contains("records up to offset 40"), "{error}");
    // Nothing was changed by refusing: repair accepts the loss explicitly.
    let partition = Partition::open(dir.path(), options.repair(true)).unwrap();
    assert_values(&partition, 0, last);
}

#[test]
fn a_partition_whose_segments_are_all_missing_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (options, bases) = closed_partition(dir.path(), 512, 40);
    for base in bases {
        for extension in ["log", "idx", "tix"] {
            let _ = std::fs::remove_file(segment_file(dir.path(), base, extension));
        }
    }
    let error = Partition::open(dir.path(), options).unwrap_err();
    assert!(matches!(error, Error::Corrupt { .. }), "{error}");
}

#[test]
fn missing_first_segments_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (options, bases) = closed_partition(dir.path(), 512, 40);
    for extension in ["log", "idx", "tix"] {
        std::fs::remove_file(segment_file(dir.path(), bases[0], extension)).unwrap();
    }
    let error = Partition::open(dir.path(), options).unwrap_err();
    assert!(error.to_string().contains("the log starts at offset 0"), "{error}");
}

#[test]
fn a_state_file_putting_the_start_past_the_segments_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (options, _) = closed_partition(dir.path(), 512, 40);
    // partition.state in the common framing: payload at 16 (clean, log
    // start at 24, recovery point at 32), CRC32C of [0, 40) at 40.
    let path = dir.path().join("partition.state");
    let mut bytes = std::fs::read(&path).unwrap();
    put_u64(&mut bytes, 24, 1 << 40);
    let crc = crc32c::crc32c(&bytes[..40]);
    put_u32(&mut bytes, 40, crc);
    std::fs::write(&path, &bytes).unwrap();
    let error = Partition::open(dir.path(), options).unwrap_err();
    assert!(matches!(&error, Error::Corrupt { path: p, .. } if p == &path), "{error}");
    assert!(common::segment_file(dir.path(), 0, "log").exists(), "nothing deleted");
}

#[test]
fn repair_below_the_log_start_restarts_the_log_at_its_start() {
    // Kafka's testLogEndLessThanStartAfterReopen: the end never goes below
    // the start, and no offset below the start is reused.
    let dir = tempfile::tempdir().unwrap();
    let options = PartitionOptions::default().segment_bytes(1 << 20);
    let partition = Partition::open(dir.path(), options.clone()).unwrap();
    append_values(&partition, 0, 10);
    partition.sync().unwrap();
    partition.delete_before(8).unwrap();
    partition.simulate_crash();
    // Corrupt the frame of offset 3, below the sync point and the start.
    let log = segment_file(dir.path(), 0, "log");
    let mut bytes = std::fs::read(&log).unwrap();
    let position = frame_position(&bytes, 3);
    bytes[position + 20] ^= 0xFF;
    std::fs::write(&log, bytes).unwrap();
    assert!(matches!(Partition::open(dir.path(), options.clone()), Err(Error::Corrupt { .. })));
    let partition = Partition::open(dir.path(), options.repair(true)).unwrap();
    assert_eq!((partition.log_start_offset(), partition.end_offset()), (8, 8));
    assert_eq!(partition.recovery_report().restarted_from, Some(3));
    assert_eq!(partition.append(&larder::record::NewRecord::new(b"next")).unwrap().offset, 8);
}

/// Byte position of record `n` of a segment log, following frame lengths.
fn frame_position(log: &[u8], n: usize) -> usize {
    let mut position = 64;
    for _ in 0..n {
        position += u32::from_le_bytes(log[position..position + 4].try_into().unwrap()) as usize;
    }
    position
}
