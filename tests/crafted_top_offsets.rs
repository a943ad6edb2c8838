//! Crafted files whose CRCs are valid but whose offsets sit at the top of
//! the u64 range: `dump`, `verify`, the owner and a read-only reader give a
//! typed answer (a segment named above any base larder makes is
//! corruption), never an overflow panic. Each case writes a segment named
//! for `u64::MAX` (or just below) holding one well-formed frame.

use std::path::Path;

use larder::inspect::{dump_file, verify_log, DumpOptions};
use larder::partition::{Partition, PartitionOptions};
use larder::record::codec;
use larder::record::NewRecord;
use larder::Error;

/// A `.log` of segment `base` (header v1, CRC fixed up) holding one frame
/// of offset `offset`.
fn crafted_log(dir: &Path, base: u64, offset: u64) {
    let mut bytes = vec![0u8; 64];
    bytes[..8].copy_from_slice(b"LARDRLOG");
    bytes[8..10].copy_from_slice(&1u16.to_le_bytes());
    bytes[16..24].copy_from_slice(&base.to_le_bytes());
    bytes[24..32].copy_from_slice(&64u64.to_le_bytes());
    let crc = crc32c::crc32c(&bytes[..32]);
    bytes[32..36].copy_from_slice(&crc.to_le_bytes());
    let record = NewRecord::new(b"top");
    let mut frame = vec![0u8; codec::encoded_len(&record).unwrap()];
    codec::encode(&mut frame, offset, 1_700_000_000_000, &record);
    bytes.extend_from_slice(&frame);
    std::fs::write(dir.join(format!("{base:020}.log")), bytes).unwrap();
}

#[test]
fn frames_at_the_top_of_the_offset_range_are_typed_errors_never_a_panic() {
    for base in [u64::MAX, u64::MAX - 1] {
        let dir = tempfile::tempdir().unwrap();
        crafted_log(dir.path(), base, base);
        let path = dir.path().join(format!("{base:020}.log"));
        let options = DumpOptions { print_data: true, index_sanity_check: true };
        let _ = dump_file(&path, options);
        let _ = verify_log(dir.path());
        let reader = Partition::open_read_only(dir.path(), PartitionOptions::default());
        assert!(matches!(reader, Err(Error::Corrupt { .. })), "reader of base {base}: {:?}", reader.err());
        let owner = Partition::open(dir.path(), PartitionOptions::default());
        assert!(matches!(owner, Err(Error::Corrupt { .. })), "owner of base {base}: {:?}", owner.err());
    }
}
