//! The dense index is derived data: a corrupt, deleted, short or zeroed
//! `.idx` (or `.tix`) is rebuilt from the log after both clean and unclean
//! shutdowns, and the rebuilt index is byte-identical to the original.

mod common;

use std::fs;

use common::{append_values, assert_values, segment_file, small};
use larder::partition::Partition;

/// Builds a closed three-plus-segment partition and returns the bytes of
/// every `.idx` file, by base offset.
fn closed_partition(dir: &std::path::Path) -> Vec<(u64, Vec<u8>)> {
    let partition = Partition::open(dir, small(400).0).unwrap();
    append_values(&partition, 0, 80);
    let bases = partition.segment_base_offsets();
    assert!(bases.len() >= 3);
    partition.close().unwrap();
    bases.into_iter().map(|b| (b, fs::read(segment_file(dir, b, "idx")).unwrap())).collect()
}

fn damage_and_reopen(damage: impl Fn(&std::path::Path)) {
    for victim in [0usize, 1, 2] {
        let dir = tempfile::tempdir().unwrap();
        let original = closed_partition(dir.path());
        let (base, _) = original[victim];
        damage(&segment_file(dir.path(), base, "idx"));
        let partition = Partition::open(dir.path(), small(400).0).unwrap();
        assert_eq!(partition.recovery_report().indexes_rebuilt, 1, "segment {base}");
        assert_values(&partition, 0, 80);
        partition.close().unwrap();
        for (base, bytes) in &original {
            assert_eq!(&fs::read(segment_file(dir.path(), *base, "idx")).unwrap(), bytes, "index of {base}");
        }
    }
}

#[test]
fn deleted_index_is_rebuilt() {
    damage_and_reopen(|path| fs::remove_file(path).unwrap());
}

#[test]
fn short_index_is_rebuilt() {
    damage_and_reopen(|path| {
        let len = fs::metadata(path).unwrap().len();
        fs::OpenOptions::new().write(true).open(path).unwrap().set_len(len - 3).unwrap();
    });
}

#[test]
fn corrupt_index_entry_is_rebuilt() {
    damage_and_reopen(|path| {
        let mut bytes = fs::read(path).unwrap();
        let last = bytes.len() - 2;
        bytes[last] ^= 0x5A;
        fs::write(path, bytes).unwrap();
    });
}

#[test]
fn zeroed_index_is_rebuilt() {
    damage_and_reopen(|path| {
        let len = fs::metadata(path).unwrap().len() as usize;
        fs::write(path, vec![0u8; len]).unwrap();
    });
}

#[test]
fn damaged_time_index_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    closed_partition(dir.path());
    fs::write(segment_file(dir.path(), 0, "tix"), b"garbage").unwrap();
    let partition = Partition::open(dir.path(), small(400).0).unwrap();
    assert_eq!(partition.offset_for_timestamp(common::timestamp(3)).unwrap(), Some(3));
}

#[test]
fn unclean_reopen_rebuilds_identical_index_and_next_offset() {
    let dir = tempfile::tempdir().unwrap();
    let original = closed_partition(dir.path());
    let partition = Partition::open(dir.path(), small(400).0).unwrap();
    append_values(&partition, 80, 90);
    partition.simulate_crash();
    let partition = Partition::open(dir.path(), small(400).0).unwrap();
    let report = partition.recovery_report().clone();
    assert!(!report.clean_shutdown);
    assert_eq!((report.segments_scanned, report.truncated_bytes, report.truncated_records), (1, 0, 0));
    assert_values(&partition, 0, 90);
    partition.close().unwrap();
    for (base, bytes) in &original[..original.len() - 1] {
        assert_eq!(&fs::read(segment_file(dir.path(), *base, "idx")).unwrap(), bytes, "index of {base}");
    }
}

#[test]
fn clean_reopen_scans_nothing() {
    let dir = tempfile::tempdir().unwrap();
    closed_partition(dir.path());
    let partition = Partition::open(dir.path(), small(400).0).unwrap();
    let report = partition.recovery_report();
    assert!(report.clean_shutdown);
    assert_eq!((report.segments_scanned, report.indexes_rebuilt), (0, 0));
    assert_values(&partition, 0, 80);
}
