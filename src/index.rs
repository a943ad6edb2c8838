//! The two indexes of a segment, both derived from its log and rebuilt from
//! it whenever they cannot be trusted:
//!
//! - the dense offset index (`.idx`): entry `n` is the byte position of
//!   offset `base + n` in the `.log`, so a lookup is arithmetic;
//! - the sparse time index (`.tix`): `(max timestamp so far, offset)` pairs,
//!   one every `index_interval_bytes` of log, each where the maximum grew.

use crate::storage::le;

/// Bytes of the `.idx` header; entries follow.
pub(crate) const INDEX_HEADER_BYTES: usize = 64;
/// Bytes of one `.idx` entry (a `u32` position).
pub(crate) const INDEX_ENTRY_BYTES: usize = 4;
const INDEX_MAGIC: &[u8; 8] = b"LARDRIDX";
const VERSION: u16 = 1;

const MAGIC_AT: usize = 0;
const VERSION_AT: usize = MAGIC_AT + 8;
const BASE_AT: usize = VERSION_AT + 8;
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
    bytes[MAGIC_AT..VERSION_AT].copy_from_slice(INDEX_MAGIC);
    le::put_u16(&mut bytes, VERSION_AT, VERSION);
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
    if &bytes[MAGIC_AT..VERSION_AT] != INDEX_MAGIC || le::u16_at(bytes, VERSION_AT) != VERSION {
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

/// The sparse time index of one segment, kept in memory and written to the
/// `.tix` file when the segment is sealed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TimeIndex {
    /// `(max timestamp of records up to offset, offset)`, both increasing.
    entries: Vec<(i64, u64)>,
    max_timestamp: Option<(i64, u64)>,
    bytes_since_entry: u64,
}

const TIME_MAGIC: &[u8; 8] = b"LARDRTIX";
const TIME_HEADER_BYTES: usize = 32;
const TIME_ENTRY_BYTES: usize = 16;

impl TimeIndex {
    /// Notes a record appended with `timestamp_ms` at `offset`, taking
    /// `frame_bytes` of log. An entry is added once `interval_bytes` of log
    /// passed since the last one, if the maximum timestamp grew since.
    /// Returns whether an entry was added.
    pub(crate) fn observe(&mut self, offset: u64, timestamp_ms: i64, frame_bytes: u64, interval_bytes: u64) -> bool {
        let grew = self.max_timestamp.is_none_or(|(max, _)| timestamp_ms > max);
        if grew {
            self.max_timestamp = Some((timestamp_ms, offset));
        }
        self.bytes_since_entry += frame_bytes;
        let first = self.entries.is_empty();
        (first || self.bytes_since_entry >= interval_bytes) && self.add_max_entry()
    }

    fn add_max_entry(&mut self) -> bool {
        let Some(max) = self.max_timestamp else { return false };
        let grew = self.entries.last().is_none_or(|&(ts, _)| max.0 > ts);
        if grew {
            self.entries.push(max);
            self.bytes_since_entry = 0;
        }
        grew
    }

    /// Brings this copy up to date with `newer`, a later state of the same
    /// index (readers' copy of the writer's index).
    pub(crate) fn catch_up(&mut self, newer: &TimeIndex) {
        self.entries.extend_from_slice(&newer.entries[self.entries.len()..]);
        self.max_timestamp = newer.max_timestamp;
    }

    /// The largest timestamp in the segment with its offset, if any.
    pub(crate) fn max_timestamp(&self) -> Option<(i64, u64)> {
        self.max_timestamp
    }

    /// The offset from which a forward scan finds the first record with a
    /// timestamp >= `timestamp_ms`: just after the last entry whose maximum
    /// is below it (every record up to that entry is older), or `base`.
    pub(crate) fn scan_start(&self, base: u64, timestamp_ms: i64) -> u64 {
        let older = self.entries.partition_point(|&(ts, _)| ts < timestamp_ms);
        older.checked_sub(1).map_or(base, |i| self.entries[i].1.saturating_add(1))
    }

    /// Encodes the index as the `.tix` file bytes.
    pub(crate) fn encode(&self, base_offset: u64) -> Vec<u8> {
        self.add_final_entry().encode_entries(base_offset)
    }

    fn add_final_entry(&self) -> TimeIndex {
        let mut sealed = self.clone();
        sealed.add_max_entry();
        sealed
    }

    fn encode_entries(&self, base_offset: u64) -> Vec<u8> {
        let mut bytes = vec![0u8; TIME_HEADER_BYTES + self.entries.len() * TIME_ENTRY_BYTES];
        bytes[..8].copy_from_slice(TIME_MAGIC);
        le::put_u16(&mut bytes, 8, VERSION);
        le::put_u64(&mut bytes, 16, base_offset);
        le::put_u32(&mut bytes, 24, self.entries.len() as u32);
        for (i, &(ts, offset)) in self.entries.iter().enumerate() {
            let at = TIME_HEADER_BYTES + i * TIME_ENTRY_BYTES;
            le::put_i64(&mut bytes, at, ts);
            le::put_u64(&mut bytes, at + 8, offset);
        }
        let crc = crc32c::crc32c_append(crc32c::crc32c(&bytes[..28]), &bytes[TIME_HEADER_BYTES..]);
        le::put_u32(&mut bytes, 28, crc);
        bytes
    }

    /// Decodes a `.tix` file written for the segment of offsets
    /// `[base_offset, end_offset)`; `None` if it cannot be trusted (the
    /// caller rebuilds it from the log). A CRC that matches is not enough:
    /// every entry must name an offset of the segment, and both columns
    /// must increase, as the writer makes them.
    pub(crate) fn decode(bytes: &[u8], base_offset: u64, end_offset: u64) -> Option<TimeIndex> {
        if bytes.len() < TIME_HEADER_BYTES || &bytes[..8] != TIME_MAGIC {
            return None;
        }
        let count = le::u32_at(bytes, 24) as usize;
        let fits = bytes.len() == TIME_HEADER_BYTES + count * TIME_ENTRY_BYTES;
        let crc = crc32c::crc32c_append(crc32c::crc32c(&bytes[..28]), &bytes[TIME_HEADER_BYTES..]);
        let valid = le::u16_at(bytes, 8) == VERSION && le::u64_at(bytes, 16) == base_offset;
        if !fits || !valid || crc != le::u32_at(bytes, 28) {
            return None;
        }
        let entries: Vec<(i64, u64)> = (0..count)
            .map(|i| TIME_HEADER_BYTES + i * TIME_ENTRY_BYTES)
            .map(|at| (le::i64_at(bytes, at), le::u64_at(bytes, at + 8)))
            .collect();
        let inside = entries.iter().all(|&(_, offset)| (base_offset..end_offset).contains(&offset));
        let increasing = entries.windows(2).all(|pair| pair[0].0 < pair[1].0 && pair[0].1 < pair[1].1);
        if !inside || !increasing {
            return None;
        }
        let max_timestamp = entries.last().copied();
        Some(TimeIndex { entries, max_timestamp, bytes_since_entry: 0 })
    }
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

    #[test]
    fn time_index_finds_scan_start_with_out_of_order_timestamps() {
        let mut index = TimeIndex::default();
        for (offset, ts) in [(10, 100), (11, 300), (12, 200), (13, 400)] {
            index.observe(offset, ts, 1, 1);
        }
        assert_eq!(index.entries, vec![(100, 10), (300, 11), (400, 13)]);
        assert_eq!(index.scan_start(10, 50), 10);
        assert_eq!(index.scan_start(10, 250), 11);
        assert_eq!(index.scan_start(10, 350), 12);
        let decoded = TimeIndex::decode(&index.encode(10), 10, 14).unwrap();
        assert_eq!(decoded.entries, index.entries);
        assert_eq!(TimeIndex::decode(&index.encode(10), 11, 14), None);
        assert_eq!(TimeIndex::decode(&index.encode(10), 10, 13), None, "an entry past the segment's end");
    }
}
