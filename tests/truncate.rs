//! `truncate_to` cuts to the middle of a segment, to a segment boundary, to
//! the log start (empty) and is a no-op at the end; the next offset is right
//! after reopening, and records read before the cut stay valid.

mod common;

use common::{append_values, assert_values, small};
use larder::partition::Partition;
use larder::Error;

#[test]
fn truncate_to_the_middle_then_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (options, _) = small(400);
    let partition = Partition::open(dir.path(), options.clone()).unwrap();
    append_values(&partition, 0, 100);
    let held = partition.read(70).unwrap();
    partition.truncate_to(55).unwrap();
    assert_values(&partition, 0, 55);
    assert_eq!(common::check(&held), 70, "a record read before the cut stays valid");
    append_values(&partition, 55, 60);
    partition.close().unwrap();
    let partition = Partition::open(dir.path(), options).unwrap();
    assert!(partition.recovery_report().clean_shutdown);
    assert_values(&partition, 0, 60);
}

#[test]
fn truncate_to_a_segment_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let partition = Partition::open(dir.path(), small(400).0).unwrap();
    append_values(&partition, 0, 100);
    let bases = partition.segment_base_offsets();
    let boundary = bases[bases.len() / 2];
    partition.truncate_to(boundary).unwrap();
    assert_values(&partition, 0, boundary);
    assert_eq!(*partition.segment_base_offsets().last().unwrap(), boundary);
    append_values(&partition, boundary, boundary + 3);
    assert_values(&partition, 0, boundary + 3);
}

#[test]
fn truncate_everything_and_reload_next_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (options, _) = small(400);
    let partition = Partition::open(dir.path(), options.clone()).unwrap();
    append_values(&partition, 0, 50);
    partition.delete_before(20).unwrap();
    partition.truncate_to(20).unwrap();
    assert_eq!((partition.log_start_offset(), partition.end_offset()), (20, 20));
    assert!(partition.iter_from(20).next().is_none());
    drop(partition);
    let partition = Partition::open(dir.path(), options).unwrap();
    assert_eq!((partition.log_start_offset(), partition.end_offset()), (20, 20));
    append_values(&partition, 20, 25);
    assert_values(&partition, 20, 25);
}

#[test]
fn truncate_at_end_is_a_no_op_and_outside_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let partition = Partition::open(dir.path(), small(400).0).unwrap();
    append_values(&partition, 0, 30);
    partition.truncate_to(30).unwrap();
    assert_values(&partition, 0, 30);
    partition.delete_before(5).unwrap();
    for offset in [4, 31] {
        let error = partition.truncate_to(offset).unwrap_err();
        assert!(matches!(error, Error::OffsetOutOfRange { log_start_offset: 5, end_offset: 30, .. }), "{error}");
    }
    assert_values(&partition, 5, 30);
}

#[test]
fn truncate_survives_a_crash_right_after() {
    let dir = tempfile::tempdir().unwrap();
    let (options, _) = small(400);
    let partition = Partition::open(dir.path(), options.clone()).unwrap();
    append_values(&partition, 0, 100);
    partition.truncate_to(42).unwrap();
    partition.simulate_crash();
    let partition = Partition::open(dir.path(), options).unwrap();
    assert_values(&partition, 0, 42);
}
