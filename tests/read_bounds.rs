//! Reading an empty partition, and reading before the first and after the
//! last offset, gives `OffsetOutOfRange` with the exact bounds.

mod common;

use common::{append_values, assert_values, small};
use larder::partition::Partition;
use larder::Error;

#[test]
fn empty_partition_reads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let partition = Partition::open(dir.path(), small(4096).0).unwrap();
    assert_eq!((partition.log_start_offset(), partition.end_offset()), (0, 0));
    assert!(partition.iter_from(0).next().is_none());
    let error = partition.read(0).unwrap_err();
    assert!(matches!(error, Error::OffsetOutOfRange { offset: 0, log_start_offset: 0, end_offset: 0 }), "{error}");
}

#[test]
fn reads_before_start_and_past_end_are_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let partition = Partition::open(dir.path(), small(512).0).unwrap();
    append_values(&partition, 0, 40);
    partition.delete_before(10).unwrap();
    assert_values(&partition, 10, 40);
    for offset in [0, 9, 40, 41, u64::MAX] {
        let error = partition.read(offset).unwrap_err();
        let expected = Error::OffsetOutOfRange { offset, log_start_offset: 10, end_offset: 40 };
        assert_eq!(error.to_string(), expected.to_string());
    }
    assert_eq!(partition.read(10).unwrap().offset(), 10);
    assert_eq!(partition.read(39).unwrap().offset(), 39);
    assert!(partition.iter_from(40).next().is_none());
}

#[test]
fn every_offset_reads_back_across_many_segments() {
    let dir = tempfile::tempdir().unwrap();
    let partition = Partition::open(dir.path(), small(300).0).unwrap();
    append_values(&partition, 0, 200);
    assert!(partition.segment_count() > 10, "{} segments", partition.segment_count());
    for offset in (0..200).rev() {
        assert_eq!(common::check(&partition.read(offset).unwrap()), offset);
    }
    assert_values(&partition, 0, 200);
}
