//! A `.tix` with valid CRCs, entries inside their segment and increasing,
//! and a true last entry, but a false middle entry: open trusts it, and
//! `offset_for_timestamp` answers with a later offset than the first
//! record at or after the time, so a consumer seeking there skips records.
//! Every decoded field must be checked against its segment (issue 8).

use larder::partition::{Partition, PartitionOptions};
use larder::record::NewRecord;

#[test]
fn a_false_middle_time_entry_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let options = PartitionOptions::default().segment_bytes(1 << 20);
    let partition = Partition::open(dir.path(), options.clone()).unwrap();
    for n in 0..100i64 {
        partition.append(&NewRecord::new(&[7u8; 20]).timestamp(n * 10)).unwrap();
    }
    partition.roll().unwrap();
    assert_eq!(partition.offset_for_timestamp(100).unwrap(), Some(10));
    partition.close().unwrap();

    // Entries (5, 50) and (990, 99): the last one is true, the first claims
    // no record up to offset 50 is newer than 5 ms.
    let mut bytes = vec![0u8; 32];
    bytes[..8].copy_from_slice(b"LARDRTIX");
    bytes[8..10].copy_from_slice(&1u16.to_le_bytes());
    bytes[16..24].copy_from_slice(&0u64.to_le_bytes());
    bytes[24..28].copy_from_slice(&2u32.to_le_bytes());
    for (ts, offset) in [(5i64, 50u64), (990, 99)] {
        bytes.extend_from_slice(&ts.to_le_bytes());
        bytes.extend_from_slice(&offset.to_le_bytes());
    }
    let crc = crc32c::crc32c_append(crc32c::crc32c(&bytes[..28]), &bytes[32..]);
    bytes[28..32].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(dir.path().join(format!("{:020}.tix", 0)), &bytes).unwrap();

    let partition = Partition::open(dir.path(), options).unwrap();
    assert_eq!(
        partition.offset_for_timestamp(100).unwrap(),
        Some(10),
        "a CRC-valid but false time index entry was trusted"
    );
}
