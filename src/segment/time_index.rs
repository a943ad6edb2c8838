//! The sparse time index (`.tix`): `(max timestamp so far, offset)` pairs,
//! one every `index_interval_bytes` of log, each where the maximum grew.
//! Kept in memory for the active segment, written when it is sealed, and
//! rebuilt from the log whenever it cannot be trusted.

use crate::storage::le;
use crate::storage::meta::FileKind;

/// A `.tix` file: magic and version.
const TIME: FileKind = FileKind::new(b"LARDRTIX", 1);

/// The sparse time index of one segment, kept in memory and written to the
/// `.tix` file when the segment is sealed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TimeIndex {
    /// `(max timestamp of records up to offset, offset)`, both increasing.
    entries: Vec<(i64, u64)>,
    max_timestamp: Option<(i64, u64)>,
    bytes_since_entry: u64,
}

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

    /// The last entry whose maximum is below `timestamp_ms`: every record
    /// up to it is older, so a forward scan for the first record with a
    /// timestamp >= `timestamp_ms` starts after it (at the base without one).
    pub(crate) fn last_older_than(&self, timestamp_ms: i64) -> Option<(i64, u64)> {
        let older = self.entries.partition_point(|&(ts, _)| ts < timestamp_ms);
        older.checked_sub(1).map(|i| self.entries[i])
    }

    /// The first entry: the writer makes it at the segment's first record.
    pub(crate) fn first_entry(&self) -> Option<(i64, u64)> {
        self.entries.first().copied()
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
        TIME.put(&mut bytes);
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

    /// The entries: `(max timestamp of records up to offset, offset)`.
    pub(crate) fn entries(&self) -> &[(i64, u64)] {
        &self.entries
    }

    /// Decodes a `.tix` file written for the segment of offsets
    /// `[base_offset, end_offset)`; `None` if it cannot be trusted (the
    /// caller rebuilds it from the log). A CRC that matches is not enough:
    /// every entry must name an offset of the segment, and both columns
    /// must increase, as the writer makes them.
    pub(crate) fn decode(bytes: &[u8], base_offset: u64, end_offset: u64) -> Option<TimeIndex> {
        if bytes.len() < TIME_HEADER_BYTES || TIME.check(bytes).is_err() {
            return None;
        }
        let count = le::u32_at(bytes, 24) as usize;
        let fits = bytes.len() == TIME_HEADER_BYTES + count * TIME_ENTRY_BYTES;
        let crc = crc32c::crc32c_append(crc32c::crc32c(&bytes[..28]), &bytes[TIME_HEADER_BYTES..]);
        let valid = le::u64_at(bytes, 16) == base_offset;
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
    fn time_index_finds_where_to_scan_with_out_of_order_timestamps() {
        let mut index = TimeIndex::default();
        for (offset, ts) in [(10, 100), (11, 300), (12, 200), (13, 400)] {
            index.observe(offset, ts, 1, 1);
        }
        assert_eq!(index.entries, vec![(100, 10), (300, 11), (400, 13)]);
        assert_eq!(index.last_older_than(50), None);
        assert_eq!(index.last_older_than(250), Some((100, 10)));
        assert_eq!(index.last_older_than(350), Some((300, 11)));
        let decoded = TimeIndex::decode(&index.encode(10), 10, 14).unwrap();
        assert_eq!(decoded.entries, index.entries);
        assert_eq!(TimeIndex::decode(&index.encode(10), 11, 14), None);
        assert_eq!(TimeIndex::decode(&index.encode(10), 10, 13), None, "an entry past the segment's end");
    }
}
