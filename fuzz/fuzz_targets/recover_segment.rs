//! Arbitrary `.log` and `.idx` bytes on disk: opening never panics, and
//! every record an opened partition returns is a frame whose CRC verifies
//! and which holds the offset it was read at.
//!
//! Input: `flags u8 | split u16 | bytes`. The bytes before `split` are the
//! log body, the rest the index entries. Flag bits: 1 = give the log a
//! valid header (otherwise the bytes are the whole file), 2 = give the index
//! a valid, CRC-correct seal over those entries (so the trusted path runs
//! with arbitrary entries), 4 = write a clean-shutdown marker, 8 = repair.
#![no_main]

use std::fs;
use std::sync::Arc;

use larder::storage::fault::FaultStorage;
use larder::partition::{Partition, PartitionOptions};
use libfuzzer_sys::fuzz_target;

fn log_header() -> Vec<u8> {
    let mut header = vec![0u8; 64];
    header[..8].copy_from_slice(b"LARDRLOG");
    header[8..10].copy_from_slice(&1u16.to_le_bytes());
    header[24..32].copy_from_slice(&64u64.to_le_bytes());
    let crc = crc32c::crc32c(&header[..32]);
    header[32..36].copy_from_slice(&crc.to_le_bytes());
    header
}

fn index_file(entries: &[u8], log_len: u64, sealed: bool) -> Vec<u8> {
    let mut header = vec![0u8; 64];
    header[..8].copy_from_slice(b"LARDRIDX");
    header[8..10].copy_from_slice(&1u16.to_le_bytes());
    if sealed {
        header[24..28].copy_from_slice(&1u32.to_le_bytes());
        header[28..32].copy_from_slice(&crc32c::crc32c(entries).to_le_bytes());
        header[32..40].copy_from_slice(&(entries.len() as u64 / 4).to_le_bytes());
        header[40..48].copy_from_slice(&log_len.to_le_bytes());
    }
    let crc = crc32c::crc32c(&header[..48]);
    header[48..52].copy_from_slice(&crc.to_le_bytes());
    header.extend_from_slice(entries);
    header
}

fn clean_state() -> Vec<u8> {
    let mut bytes = vec![0u8; 44];
    bytes[..8].copy_from_slice(b"LARDRPST");
    bytes[8..10].copy_from_slice(&1u16.to_le_bytes());
    bytes[12..16].copy_from_slice(&24u32.to_le_bytes());
    bytes[16] = 1;
    let crc = crc32c::crc32c(&bytes[..40]);
    bytes[40..44].copy_from_slice(&crc.to_le_bytes());
    bytes
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 3 {
        return;
    }
    let flags = input[0];
    let split = (u16::from_le_bytes([input[1], input[2]]) as usize).min(input.len() - 3);
    let (body, entries) = input[3..].split_at(split);
    let entries = &entries[..entries.len() / 4 * 4];
    let dir = tempfile::tempdir().unwrap();
    let mut log = if flags & 1 != 0 { log_header() } else { Vec::new() };
    log.extend_from_slice(body);
    fs::write(dir.path().join("00000000000000000000.log"), &log).unwrap();
    fs::write(dir.path().join("00000000000000000000.idx"), index_file(entries, log.len() as u64, flags & 2 != 0))
        .unwrap();
    if flags & 4 != 0 {
        fs::write(dir.path().join("partition.state"), clean_state()).unwrap();
    }
    let storage = Arc::new(FaultStorage::new());
    storage.skip_syncs(true);
    let options = PartitionOptions::default().segment_bytes(1 << 16).storage(storage).repair(flags & 8 != 0);
    let Ok(partition) = Partition::open(dir.path(), options) else { return };
    for offset in partition.log_start_offset()..partition.end_offset() {
        let Ok(record) = partition.read(offset) else { continue };
        assert_eq!(record.offset(), offset);
        let mut frame = vec![0u8; record.frame_len()];
        let headers: Vec<(&str, &[u8])> = record.headers().collect();
        let again =
            larder::record::NewRecord { key: record.key(), value: record.value(), timestamp_ms: None, headers: &headers };
        larder::record::codec::encode(&mut frame, offset, record.timestamp_ms(), &again);
        assert!(larder::record::codec::decode(&frame).is_ok());
    }
    let appended = partition.append(&larder::record::NewRecord::new(b"after recovery"));
    if let Ok(appended) = appended {
        assert_eq!(partition.read(appended.offset).unwrap().value(), Some(&b"after recovery"[..]));
    }
});
