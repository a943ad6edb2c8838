//! A `.tix` with valid CRCs and entries inside their segment, increasing
//! as the writer makes them, but false: open trusted it, and
//! `offset_for_timestamp` answered with a later offset than the first
//! record at or after the time (a consumer seeking there skips records),
//! or skipped the whole segment. Every decoded field must be checked
//! against its segment (issue 8): the first and last entries when the
//! segment opens, the entry a lookup starts after when it is used.

use std::path::Path;

use larder::partition::{Partition, PartitionOptions};
use larder::record::NewRecord;

/// A partition whose first (sealed) segment holds records 0..100 with
/// timestamps `n * 10`; returns its options.
fn sealed_segment(dir: &Path) -> PartitionOptions {
    let options = PartitionOptions::default().segment_bytes(1 << 20);
    let partition = Partition::open(dir, options.clone()).unwrap();
    for n in 0..100i64 {
        partition.append(&NewRecord::new(&[7u8; 20]).timestamp(n * 10)).unwrap();
    }
    partition.roll().unwrap();
    assert_eq!(partition.offset_for_timestamp(100).unwrap(), Some(10));
    partition.close().unwrap();
    options
}

/// Writes a CRC-valid `.tix` for segment 0 holding `entries`.
fn write_tix(dir: &Path, entries: &[(i64, u64)]) {
    let mut bytes = vec![0u8; 32];
    bytes[..8].copy_from_slice(b"LARDRTIX");
    bytes[8..10].copy_from_slice(&1u16.to_le_bytes());
    bytes[16..24].copy_from_slice(&0u64.to_le_bytes());
    bytes[24..28].copy_from_slice(&(entries.len() as u32).to_le_bytes());
    for (ts, offset) in entries {
        bytes.extend_from_slice(&ts.to_le_bytes());
        bytes.extend_from_slice(&offset.to_le_bytes());
    }
    let crc = crc32c::crc32c_append(crc32c::crc32c(&bytes[..28]), &bytes[32..]);
    bytes[28..32].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(dir.join(format!("{:020}.tix", 0)), &bytes).unwrap();
}

/// The lookups of times 0, 100, 500 and 990 once `entries` replaced the
/// sealed segment's `.tix`: by the partition's owner, and by a read-only
/// partition following it (which reads the `.tix` itself).
fn lookups_after_crafting(entries: &[(i64, u64)]) -> Vec<Option<u64>> {
    let dir = tempfile::tempdir().unwrap();
    let options = sealed_segment(dir.path());
    write_tix(dir.path(), entries);
    let lookups = |partition: &Partition| -> Vec<Option<u64>> {
        [0, 100, 500, 990].iter().map(|&ts| partition.offset_for_timestamp(ts).unwrap()).collect()
    };
    let owner = Partition::open(dir.path(), options.clone()).unwrap();
    let follower = Partition::open_read_only(dir.path(), options).unwrap();
    let (by_owner, by_follower) = (lookups(&owner), lookups(&follower));
    assert_eq!(by_owner, by_follower, "the owner and a read-only follower disagree");
    by_owner
}

const TRUE_ANSWERS: [Option<u64>; 4] = [Some(0), Some(10), Some(50), Some(99)];

#[test]
fn a_false_middle_time_entry_is_not_trusted() {
    // Entries (5, 50) and (990, 99): the last one is true, the first claims
    // no record up to offset 50 is newer than 5 ms.
    assert_eq!(lookups_after_crafting(&[(5, 50), (990, 99)]), TRUE_ANSWERS, "a false first entry was trusted");
}

#[test]
fn a_false_entry_between_true_first_and_last_ones_is_not_trusted() {
    // True first and last entries; the middle one claims nothing up to
    // offset 50 is newer than 5 ms.
    let lookups = lookups_after_crafting(&[(0, 0), (5, 50), (990, 99)]);
    assert_eq!(lookups, TRUE_ANSWERS, "a false middle entry was trusted");
}

#[test]
fn an_empty_time_index_of_a_segment_with_records_is_not_trusted() {
    assert_eq!(lookups_after_crafting(&[]), TRUE_ANSWERS, "the segment was skipped as holding no timestamps");
}

#[test]
fn a_last_entry_below_the_last_record_is_not_trusted() {
    // One true entry, naming the first record: the segment's newest
    // timestamp would be 0, and lookups past it skip the segment.
    assert_eq!(lookups_after_crafting(&[(0, 0)]), TRUE_ANSWERS, "a false maximum was trusted");
}
