//! CRC fix-ups of every file kind, written from the byte maps of
//! docs/FORMAT.md (larder's own codecs are private, and a second, independent
//! reading of the format is the point). Each takes fuzzer-chosen bytes and
//! recomputes the checksum fields, so the file reaches larder's semantic
//! checks instead of failing its CRC; with `fix_lengths`, the length and
//! count fields are made to agree with the bytes too.

/// How to fix up one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fixup {
    /// Also set length and count fields to what the bytes hold.
    pub fix_lengths: bool,
    /// Number (in file order, from 0) of the one CRC field to leave as the
    /// fuzzer gave it, so mismatches are reached too; beyond the file's
    /// CRC fields, every CRC is fixed.
    pub spare_crc: u8,
}

impl Fixup {
    /// Every CRC fixed, lengths as given: a file exactly as larder writes it
    /// stays unchanged.
    pub const CRCS_ONLY: Fixup = Fixup { fix_lengths: false, spare_crc: u8::MAX };
}

/// Writes CRC fields in file order, skipping the spared one.
struct CrcWriter {
    spare: u8,
    next: u8,
}

impl CrcWriter {
    fn new(fixup: Fixup) -> Self {
        CrcWriter { spare: fixup.spare_crc, next: 0 }
    }

    fn put(&mut self, bytes: &mut [u8], at: usize, crc: u32) {
        if self.next != self.spare {
            put_u32(bytes, at, crc);
        }
        self.next = self.next.saturating_add(1);
    }
}

/// `.idx` byte map (docs/FORMAT.md, "`.idx` — the dense offset index").
pub mod index {
    /// `u32 sealed`: 1 = the seal fields vouch for the file.
    pub const SEALED_AT: usize = 24;
    /// `u32 entries_crc`: CRC32C of all entries (sealed only).
    pub const ENTRIES_CRC_AT: usize = SEALED_AT + 4;
    /// `u64 entry_count` (sealed only).
    pub const ENTRY_COUNT_AT: usize = ENTRIES_CRC_AT + 4;
    /// `u64 log_len`: exact length of the `.log` (sealed only).
    pub const LOG_LEN_AT: usize = ENTRY_COUNT_AT + 8;
    /// `u32 header_crc`: CRC32C of bytes `[0, HEADER_CRC_AT)`.
    pub const HEADER_CRC_AT: usize = LOG_LEN_AT + 8;
    /// Header bytes; `u32` entries follow.
    pub const HEADER_BYTES: usize = 64;
    /// Bytes of one entry.
    pub const ENTRY_BYTES: usize = 4;
}

/// Fixes up a `.idx` whose segment's `.log` is `log_len` bytes long. CRC
/// fields in order: entries CRC (when sealed), header CRC.
pub fn index_file(bytes: &mut Vec<u8>, log_len: u64, fixup: Fixup) {
    use index::*;
    if bytes.len() < HEADER_CRC_AT + 4 {
        return;
    }
    let mut crcs = CrcWriter::new(fixup);
    if bytes.len() >= HEADER_BYTES {
        if fixup.fix_lengths {
            let entries = (bytes.len() - HEADER_BYTES) / ENTRY_BYTES;
            bytes.truncate(HEADER_BYTES + entries * ENTRY_BYTES);
            put_u64(bytes, ENTRY_COUNT_AT, entries as u64);
            put_u64(bytes, LOG_LEN_AT, log_len);
        }
        if u32_at(bytes, SEALED_AT) == 1 {
            let crc = crc32c::crc32c(&bytes[HEADER_BYTES..]);
            crcs.put(bytes, ENTRIES_CRC_AT, crc);
        }
    }
    let crc = crc32c::crc32c(&bytes[..HEADER_CRC_AT]);
    crcs.put(bytes, HEADER_CRC_AT, crc);
}

/// `.tix` byte map (docs/FORMAT.md, "`.tix` — the sparse time index").
pub mod time_index {
    /// `u32 count` of entries.
    pub const COUNT_AT: usize = 24;
    /// `u32 crc`: CRC32C of bytes `[0, CRC_AT)` then of all entries.
    pub const CRC_AT: usize = COUNT_AT + 4;
    /// Header bytes; entries follow.
    pub const HEADER_BYTES: usize = CRC_AT + 4;
    /// Bytes of one entry: `i64 max_timestamp_so_far | u64 offset`.
    pub const ENTRY_BYTES: usize = 16;
}

/// Fixes up a `.tix`. One CRC field.
pub fn time_index_file(bytes: &mut Vec<u8>, fixup: Fixup) {
    use time_index::*;
    if bytes.len() < HEADER_BYTES {
        return;
    }
    if fixup.fix_lengths {
        let count = (bytes.len() - HEADER_BYTES) / ENTRY_BYTES;
        bytes.truncate(HEADER_BYTES + count * ENTRY_BYTES);
        put_u32(bytes, COUNT_AT, count as u32);
    }
    let crc = crc32c::crc32c_append(crc32c::crc32c(&bytes[..CRC_AT]), &bytes[HEADER_BYTES..]);
    CrcWriter::new(fixup).put(bytes, CRC_AT, crc);
}

/// The common metadata framing of `partition.state` and `topic.meta`
/// (docs/FORMAT.md, "`partition.state`"): `magic (8) | u16 version | u16
/// zero | u32 payload_len | payload | u32 crc` of everything before it.
pub mod metadata {
    /// `u32 payload_len`.
    pub const PAYLOAD_LEN_AT: usize = 12;
    /// Bytes before the payload.
    pub const PREFIX_BYTES: usize = PAYLOAD_LEN_AT + 4;
    /// The CRC after the payload.
    pub const CRC_BYTES: usize = 4;
}

/// Fixes up a `partition.state` or `topic.meta`. One CRC field, the last
/// four bytes.
pub fn metadata_file(bytes: &mut [u8], fixup: Fixup) {
    use metadata::*;
    if bytes.len() < PREFIX_BYTES + CRC_BYTES {
        return;
    }
    let crc_at = bytes.len() - CRC_BYTES;
    if fixup.fix_lengths {
        put_u32(bytes, PAYLOAD_LEN_AT, (crc_at - PREFIX_BYTES) as u32);
    }
    let crc = crc32c::crc32c(&bytes[..crc_at]);
    CrcWriter::new(fixup).put(bytes, crc_at, crc);
}

/// `groups/<group>.offsets` byte map (docs/FORMAT.md, "committed offsets").
pub mod group_offsets {
    /// Bytes of the file header; commit frames follow.
    pub const HEADER_BYTES: usize = 16;
    /// `u32 frame_len` of a commit frame: the whole frame.
    pub const FRAME_LEN_AT: usize = 0;
    /// `u32 crc32c` of bytes `[PAYLOAD_AT, frame_len)`.
    pub const FRAME_CRC_AT: usize = FRAME_LEN_AT + 4;
    /// `u32 count` then the entries.
    pub const PAYLOAD_AT: usize = FRAME_CRC_AT + 4;
    /// `u32 count` field of the payload.
    pub const COUNT_BYTES: usize = 4;
    /// Bytes of an entry besides its topic name: `u16 topic_len`,
    /// `u32 partition`, `u64 offset`.
    pub const ENTRY_FIXED_BYTES: usize = 2 + 4 + 8;
}

/// Fixes up a group's offsets log: walks the commit frames by their length
/// fields and recomputes each frame's CRC, up to the first frame whose
/// length does not fit. CRC fields in order: one per frame. With
/// `fix_lengths`, each frame's entry count is set to the entries its
/// payload holds.
pub fn group_offsets_file(bytes: &mut [u8], fixup: Fixup) {
    use group_offsets::*;
    let mut crcs = CrcWriter::new(fixup);
    let mut at = HEADER_BYTES;
    while at + PAYLOAD_AT <= bytes.len() {
        let frame_len = u32_at(bytes, at + FRAME_LEN_AT) as usize;
        if frame_len < PAYLOAD_AT || frame_len > bytes.len() - at {
            break;
        }
        let frame = &mut bytes[at..at + frame_len];
        if fixup.fix_lengths && frame_len >= PAYLOAD_AT + COUNT_BYTES {
            let entries = count_entries(&frame[PAYLOAD_AT + COUNT_BYTES..]);
            put_u32(frame, PAYLOAD_AT, entries);
        }
        let crc = crc32c::crc32c(&frame[PAYLOAD_AT..]);
        crcs.put(frame, FRAME_CRC_AT, crc);
        at += frame_len;
    }
}

/// Entries that follow one another exactly in `entries` (each
/// `u16 topic_len | topic | u32 partition | u64 offset`).
fn count_entries(entries: &[u8]) -> u32 {
    let (mut at, mut count) = (0usize, 0u32);
    while at + 2 <= entries.len() {
        let next =
            at + group_offsets::ENTRY_FIXED_BYTES + usize::from(u16::from_le_bytes([entries[at], entries[at + 1]]));
        if next > entries.len() {
            break;
        }
        (at, count) = (next, count + 1);
    }
    count
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes"))
}

fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn put_u64(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spared_crc_is_left_as_given() {
        let mut bytes = vec![0u8; 24];
        metadata_file(&mut bytes, Fixup { fix_lengths: true, spare_crc: 0 });
        assert_eq!(&bytes[12..16], &4u32.to_le_bytes());
        assert_eq!(&bytes[20..], &[0; 4]);
        metadata_file(&mut bytes, Fixup::CRCS_ONLY);
        assert_eq!(u32_at(&bytes, 20), crc32c::crc32c(&bytes[..20]));
    }
}
