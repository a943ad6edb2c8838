//! Segments roll by size (`segment_bytes`) and by age (`segment_ms`, measured
//! on record timestamps); a batch too large for a segment gets its own.

mod common;

use common::{append_values, assert_values, segment_file, small};
use larder::partition::Partition;
use larder::record::NewRecord;

#[test]
fn size_based_roll_keeps_every_segment_within_segment_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let partition = Partition::open(dir.path(), small(500).0).unwrap();
    append_values(&partition, 0, 100);
    let bases = partition.segment_base_offsets();
    assert!(bases.len() >= 8, "{bases:?}");
    partition.close().unwrap();
    for base in &bases {
        let len = std::fs::metadata(segment_file(dir.path(), *base, "log")).unwrap().len();
        assert!(len <= 500, "segment {base} holds {len} bytes");
    }
    let partition = Partition::open(dir.path(), small(500).0).unwrap();
    assert_eq!(partition.segment_base_offsets(), bases);
    assert_values(&partition, 0, 100);
}

#[test]
fn time_based_roll_on_record_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let (options, _) = small(1 << 20);
    let partition = Partition::open(dir.path(), options.clone().segment_ms(1000)).unwrap();
    let at = |ts: i64| NewRecord::new(b"v").timestamp(ts);
    partition.append(&at(10_000)).unwrap();
    partition.append(&at(10_999)).unwrap();
    assert_eq!(partition.segment_base_offsets(), vec![0]);
    partition.append(&at(11_000)).unwrap();
    assert_eq!(partition.segment_base_offsets(), vec![0, 2]);
    partition.append(&at(5_000)).unwrap();
    assert_eq!(partition.segment_base_offsets(), vec![0, 2]);
    partition.close().unwrap();
    // The clock of the reopened active segment is its first record's.
    let partition = Partition::open(dir.path(), options.segment_ms(1000)).unwrap();
    partition.append(&at(11_500)).unwrap();
    assert_eq!(partition.segment_base_offsets(), vec![0, 2]);
    partition.append(&at(12_000)).unwrap();
    assert_eq!(partition.segment_base_offsets(), vec![0, 2, 5]);
}

#[test]
fn a_batch_larger_than_a_segment_gets_a_segment_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let partition = Partition::open(dir.path(), small(200).0).unwrap();
    let values: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 60]).collect();
    let batch: Vec<NewRecord<'_>> = values.iter().map(|v| NewRecord::new(v)).collect();
    assert_eq!(partition.append_batch(&batch).unwrap().offset, 0);
    assert_eq!(partition.segment_base_offsets(), vec![0]);
    assert_eq!(partition.append_batch(&batch).unwrap().offset, 10);
    assert_eq!(partition.segment_base_offsets(), vec![0, 10]);
    partition.append(&NewRecord::new(b"small")).unwrap();
    assert_eq!(partition.segment_base_offsets(), vec![0, 10, 20]);
    for offset in 0..20 {
        assert_eq!(partition.read(offset).unwrap().value().unwrap(), &values[offset as usize % 10][..]);
    }
}
