//! The dense offset index (`.idx`): entry `n` is the byte position of
//! offset `base + n` in the `.log`, so a lookup is arithmetic. Derived from
//! the log, and rebuilt from it whenever it cannot be trusted; a sealed one
//! vouches for its entries, their count and the log's length.

use crate::record::codec::FRAME_HEADER_BYTES;
use crate::segment::header::LOG_HEADER_BYTES;
use crate::storage::le;
use crate::storage::meta::FileKind;

/// Bytes of the `.idx` header; entries follow.
pub(crate) const INDEX_HEADER_BYTES: usize = 64;
/// Bytes of one `.idx` entry (a `u32` position).
pub(crate) const INDEX_ENTRY_BYTES: usize = 4;
/// An `.idx` file: magic and version (bytes 0..10).
const INDEX: FileKind = FileKind::new(b"LARDRIDX", 1);

const BASE_AT: usize = 16;
const SEALED_AT: usize = BASE_AT + 8;
const ENTRIES_CRC_AT: usize = SEALED_AT + 4;
const COUNT_AT: usize = ENTRIES_CRC_AT + 4;
const LOG_LEN_AT: usize = COUNT_AT + 8;
const HEADER_CRC_AT: usize = LOG_LEN_AT + 8;

/// What a sealed index vouches for: its entries, their CRC and the exact
/// length of the log they describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seal {
    pub(crate) entry_count: u64,
    pub(crate) log_len: u64,
    pub(crate) entries_crc: u32,
}

/// A decoded `.idx` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexHeader {
    pub(crate) base_offset: u64,
    pub(crate) seal: Option<Seal>,
}

/// Encodes an `.idx` header; `seal` is `None` while the segment is active.
pub(crate) fn encode_index_header(header: &IndexHeader) -> [u8; INDEX_HEADER_BYTES] {
    let mut bytes = [0u8; INDEX_HEADER_BYTES];
    INDEX.put(&mut bytes);
    le::put_u64(&mut bytes, BASE_AT, header.base_offset);
    if let Some(seal) = header.seal {
        le::put_u32(&mut bytes, SEALED_AT, 1);
        le::put_u32(&mut bytes, ENTRIES_CRC_AT, seal.entries_crc);
        le::put_u64(&mut bytes, COUNT_AT, seal.entry_count);
        le::put_u64(&mut bytes, LOG_LEN_AT, seal.log_len);
    }
    let crc = crc32c::crc32c(&bytes[..HEADER_CRC_AT]);
    le::put_u32(&mut bytes, HEADER_CRC_AT, crc);
    bytes
}

/// Decodes an `.idx` header, or says why it cannot be trusted.
pub(crate) fn decode_index_header(bytes: &[u8]) -> Result<IndexHeader, &'static str> {
    if bytes.len() < INDEX_HEADER_BYTES {
        return Err("shorter than its header");
    }
    if INDEX.check(bytes).is_err() {
        return Err("bad magic or version");
    }
    if le::u32_at(bytes, HEADER_CRC_AT) != crc32c::crc32c(&bytes[..HEADER_CRC_AT]) {
        return Err("header checksum mismatch");
    }
    let seal = (le::u32_at(bytes, SEALED_AT) == 1).then(|| Seal {
        entry_count: le::u64_at(bytes, COUNT_AT),
        log_len: le::u64_at(bytes, LOG_LEN_AT),
        entries_crc: le::u32_at(bytes, ENTRIES_CRC_AT),
    });
    Ok(IndexHeader { base_offset: le::u64_at(bytes, BASE_AT), seal })
}

/// Byte position of the index entry for relative offset `n`.
pub(crate) fn entry_position(n: u64) -> usize {
    INDEX_HEADER_BYTES + n as usize * INDEX_ENTRY_BYTES
}

/// Encodes log positions as index entries.
pub(crate) fn encode_entries(positions: &[u32]) -> Vec<u8> {
    positions.iter().flat_map(|p| p.to_le_bytes()).collect()
}

/// Bytes of index a log of `log_capacity` bytes can need: one entry per
/// smallest possible frame.
pub(crate) fn index_capacity(log_capacity: usize) -> usize {
    let entries = (log_capacity - LOG_HEADER_BYTES) / FRAME_HEADER_BYTES + 1;
    INDEX_HEADER_BYTES + entries * INDEX_ENTRY_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_header_round_trips_and_rejects_flips() {
        let seal = Seal { entry_count: 3, log_len: 400, entries_crc: 7 };
        let header = IndexHeader { base_offset: 100, seal: Some(seal) };
        let bytes = encode_index_header(&header);
        assert_eq!(decode_index_header(&bytes), Ok(header));
        for at in 0..HEADER_CRC_AT + 4 {
            let mut bad = bytes;
            bad[at] ^= 0x40;
            assert!(decode_index_header(&bad).is_err(), "flip at {at}");
        }
    }
}
