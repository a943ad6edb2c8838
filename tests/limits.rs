//! Bad input gets a typed error naming the limit or value, and nothing
//! stored is changed by it.

mod common;

use common::{append_values, assert_values, small};
use larder::partition::{Partition, PartitionOptions};
use larder::record::NewRecord;
use larder::Error;

#[test]
fn record_over_max_record_bytes_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let (options, _) = small(1 << 16);
    let partition = Partition::open(dir.path(), options.max_record_bytes(100)).unwrap();
    append_values(&partition, 0, 3);
    let big = vec![7u8; 100];
    let error = partition.append(&NewRecord::new(&big)).unwrap_err();
    assert!(matches!(error, Error::RecordTooLarge { size_bytes: 136, max_record_bytes: 100 }), "{error}");
    assert!(error.to_string().contains("max_record_bytes = 100"), "{error}");
    let batch = [NewRecord::new(b"ok"), NewRecord::new(&big)];
    assert!(matches!(partition.append_batch(&batch), Err(Error::RecordTooLarge { .. })));
    assert_values(&partition, 0, 3);
}

#[test]
fn negative_timestamp_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let partition = Partition::open(dir.path(), small(1 << 16).0).unwrap();
    let error = partition.append(&NewRecord::new(b"v").timestamp(-1)).unwrap_err();
    assert!(matches!(error, Error::InvalidTimestamp { timestamp_ms: -1 }), "{error}");
    assert_eq!(partition.end_offset(), 0);
}

#[test]
fn out_of_range_options_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (PartitionOptions::default().segment_bytes(10), "segment_bytes"),
        (PartitionOptions::default().segment_bytes(u32::MAX), "segment_bytes"),
        (PartitionOptions::default().max_record_bytes(3), "max_record_bytes"),
        (PartitionOptions::default().segment_ms(0), "segment_ms"),
    ];
    for (options, expected) in cases {
        match Partition::open(dir.path(), options) {
            Err(Error::InvalidArgument { name, .. }) => assert_eq!(name, expected),
            other => panic!("{expected}: {other:?}"),
        }
    }
}

#[test]
fn headers_tombstones_and_empty_values_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (options, _) = small(1 << 16);
    let partition = Partition::open(dir.path(), options.clone()).unwrap();
    let headers: [(&str, &[u8]); 3] = [("trace", b"abc"), ("trace", b""), ("ünï", b"\xff\x00")];
    partition.append(&NewRecord::new(b"v").headers(&headers)).unwrap();
    partition.append(&NewRecord::tombstone(b"gone")).unwrap();
    partition.append(&NewRecord::new(b"")).unwrap();
    partition.close().unwrap();
    let partition = Partition::open(dir.path(), options).unwrap();
    assert_eq!(partition.read(0).unwrap().headers().collect::<Vec<_>>(), headers.to_vec());
    let tombstone = partition.read(1).unwrap();
    assert_eq!((tombstone.key(), tombstone.value()), (Some(&b"gone"[..]), None));
    assert_eq!(partition.read(2).unwrap().value(), Some(&b""[..]));
}
