//! Deleting segments below an offset advances the log start offset, which
//! survives reopen (clean or not); offsets never change, and a record held
//! by a reader stays valid after its segment file is deleted.

mod common;

use common::{append_values, assert_values, segment_file, small};
use larder::partition::Partition;

#[test]
fn deleting_old_segments_leaves_offsets_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let partition = Partition::open(dir.path(), small(400).0).unwrap();
    append_values(&partition, 0, 100);
    let bases = partition.segment_base_offsets();
    let held = partition.read(1).unwrap();
    assert_eq!(partition.delete_before(bases[3]).unwrap(), bases[3]);
    assert_eq!(partition.segment_base_offsets(), bases[3..].to_vec());
    for base in &bases[..3] {
        assert!(!segment_file(dir.path(), *base, "log").exists());
    }
    assert_values(&partition, bases[3], 100);
    assert_eq!(common::check(&held), 1, "a held record outlives its deleted file");
    append_values(&partition, 100, 105);
    assert_values(&partition, bases[3], 105);
}

#[test]
fn log_start_inside_a_segment_hides_records_and_survives_reopen() {
    for crash in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (options, _) = small(400);
        let partition = Partition::open(dir.path(), options.clone()).unwrap();
        append_values(&partition, 0, 100);
        let bases = partition.segment_base_offsets();
        let start = bases[2] + 1;
        partition.delete_before(start).unwrap();
        assert_eq!(partition.segment_base_offsets()[0], bases[2]);
        if crash {
            partition.simulate_crash();
        } else {
            partition.close().unwrap();
        }
        let partition = Partition::open(dir.path(), options).unwrap();
        assert_values(&partition, start, 100);
    }
}

#[test]
fn delete_before_never_goes_past_the_end_or_back() {
    let dir = tempfile::tempdir().unwrap();
    let partition = Partition::open(dir.path(), small(400).0).unwrap();
    append_values(&partition, 0, 50);
    assert_eq!(partition.delete_before(1_000).unwrap(), 50);
    assert_eq!(partition.delete_before(10).unwrap(), 50);
    assert_values(&partition, 50, 50);
    append_values(&partition, 50, 52);
    assert_values(&partition, 50, 52);
}

#[test]
fn segments_left_below_the_start_by_a_crash_are_deleted_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let (options, _) = small(400);
    let partition = Partition::open(dir.path(), options.clone()).unwrap();
    append_values(&partition, 0, 100);
    let bases = partition.segment_base_offsets();
    partition.close().unwrap();
    // Save the first segment, delete, then put its files back, as if the
    // crash came after the new start was persisted but before the delete.
    let saved: Vec<_> = ["log", "idx", "tix"]
        .iter()
        .map(|ext| (segment_file(dir.path(), 0, ext), std::fs::read(segment_file(dir.path(), 0, ext)).unwrap()))
        .collect();
    let partition = Partition::open(dir.path(), options.clone()).unwrap();
    partition.delete_before(bases[1]).unwrap();
    partition.close().unwrap();
    for (path, bytes) in saved {
        std::fs::write(path, bytes).unwrap();
    }
    let partition = Partition::open(dir.path(), options).unwrap();
    assert_eq!(partition.recovery_report().segments_deleted, 1);
    assert_values(&partition, bases[1], 100);
}
