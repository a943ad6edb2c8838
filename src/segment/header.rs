//! The 64-byte header of a segment's `.log` file: magic, version, base
//! offset, and the sync point (a log length known durable), under a CRC.
//! Version 2 marks a compacted segment and adds its end offset: its frames
//! hold increasing offsets with holes, below that end.

use crate::storage::le;
use crate::storage::meta::FileKind;

/// Bytes of the `.log` header; the first frame starts here.
pub(crate) const LOG_HEADER_BYTES: usize = 64;
/// A `.log` file: magic and version. Version 1 is every segment written by
/// appends; version 2 a compacted one.
const LOG: FileKind = FileKind::reading_from(b"LARDRLOG", 2, 1);
/// Version 1 header, written for every segment that appends fill.
const DENSE: FileKind = FileKind::new(b"LARDRLOG", 1);
const LOG_BASE_AT: usize = 16;
const LOG_SYNCED_AT: usize = LOG_BASE_AT + 8;
/// Version 1: the CRC of the bytes before it.
const LOG_CRC_AT: usize = LOG_SYNCED_AT + 8;
/// Version 2: the compacted segment's end offset, the newest timestamp of
/// the records it replaced (`i64::MIN` for none), then the CRC.
const COMPACTED_END_AT: usize = LOG_SYNCED_AT + 8;
const COMPACTED_MAX_TIMESTAMP_AT: usize = COMPACTED_END_AT + 8;
const COMPACTED_CRC_AT: usize = COMPACTED_MAX_TIMESTAMP_AT + 8;

/// Encodes the `.log` header. `synced_position` is a log length known to
/// be durable: every byte below it was covered by a completed sync.
pub(crate) fn encode_log_header(base_offset: u64, synced_position: u64) -> [u8; LOG_HEADER_BYTES] {
    let mut bytes = [0u8; LOG_HEADER_BYTES];
    DENSE.put(&mut bytes);
    le::put_u64(&mut bytes, LOG_BASE_AT, base_offset);
    le::put_u64(&mut bytes, LOG_SYNCED_AT, synced_position);
    let crc = crc32c::crc32c(&bytes[..LOG_CRC_AT]);
    le::put_u32(&mut bytes, LOG_CRC_AT, crc);
    bytes
}

/// Encodes the version 2 header of a compacted segment of `log_len` bytes
/// (all of them synced before it is installed) holding offsets below
/// `end_offset`. `max_timestamp_ms` is the newest timestamp of the records
/// it replaced: what time retention judges it by, even once compaction has
/// emptied it.
pub(crate) fn encode_compacted_log_header(
    base_offset: u64,
    log_len: u64,
    end_offset: u64,
    max_timestamp_ms: Option<i64>,
) -> [u8; LOG_HEADER_BYTES] {
    debug_assert!(end_offset > base_offset);
    let mut bytes = [0u8; LOG_HEADER_BYTES];
    LOG.put(&mut bytes);
    le::put_u64(&mut bytes, LOG_BASE_AT, base_offset);
    le::put_u64(&mut bytes, LOG_SYNCED_AT, log_len);
    le::put_u64(&mut bytes, COMPACTED_END_AT, end_offset);
    le::put_i64(&mut bytes, COMPACTED_MAX_TIMESTAMP_AT, max_timestamp_ms.unwrap_or(i64::MIN));
    let crc = crc32c::crc32c(&bytes[..COMPACTED_CRC_AT]);
    le::put_u32(&mut bytes, COMPACTED_CRC_AT, crc);
    bytes
}

/// A decoded `.log` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LogHeader {
    pub(crate) base_offset: u64,
    /// `None` when the header's checksum fails (a torn header update): the
    /// sync point is then unknown and taken as the start of the data.
    pub(crate) synced_position: Option<u64>,
    /// A compacted segment's end offset (version 2, checksum intact).
    pub(crate) compacted_end: Option<u64>,
    /// The newest timestamp of the records a compacted segment replaced.
    pub(crate) compacted_max_timestamp: Option<i64>,
}

/// Decodes a `.log` header; an error when it is not one of ours at all.
pub(crate) fn decode_log_header(bytes: &[u8]) -> Result<LogHeader, &'static str> {
    if bytes.len() < LOG_HEADER_BYTES {
        return Err("shorter than the log header");
    }
    let Ok(version) = LOG.version_of(bytes) else {
        return Err("bad magic or version");
    };
    let crc_at = if version == 1 { LOG_CRC_AT } else { COMPACTED_CRC_AT };
    let intact = le::u32_at(bytes, crc_at) == crc32c::crc32c(&bytes[..crc_at]);
    let synced_position = intact.then(|| le::u64_at(bytes, LOG_SYNCED_AT));
    let compacted = intact && version == 2;
    let compacted_end = compacted.then(|| le::u64_at(bytes, COMPACTED_END_AT));
    let max_timestamp = compacted.then(|| le::i64_at(bytes, COMPACTED_MAX_TIMESTAMP_AT));
    let compacted_max_timestamp = max_timestamp.filter(|&ts| ts != i64::MIN);
    Ok(LogHeader {
        base_offset: le::u64_at(bytes, LOG_BASE_AT),
        synced_position,
        compacted_end,
        compacted_max_timestamp,
    })
}

/// A compacted segment's end offset, if `log` (a whole `.log` file) starts
/// with an intact version 2 header.
pub(crate) fn compacted_end(log: &[u8]) -> Option<u64> {
    decode_log_header(log).ok().and_then(|h| h.compacted_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_header_torn_checksum_loses_only_the_sync_point() {
        let mut bytes = encode_log_header(5, 1000);
        let header = LogHeader {
            base_offset: 5,
            synced_position: Some(1000),
            compacted_end: None,
            compacted_max_timestamp: None,
        };
        assert_eq!(decode_log_header(&bytes), Ok(header));
        bytes[LOG_SYNCED_AT] ^= 1;
        let header = LogHeader { synced_position: None, ..header };
        assert_eq!(decode_log_header(&bytes), Ok(header));
        bytes[0] = b'X';
        assert!(decode_log_header(&bytes).is_err());
    }

    #[test]
    fn compacted_header_carries_its_end_under_the_checksum() {
        let mut bytes = encode_compacted_log_header(5, 1000, 40, Some(-3));
        let header = LogHeader {
            base_offset: 5,
            synced_position: Some(1000),
            compacted_end: Some(40),
            compacted_max_timestamp: Some(-3),
        };
        assert_eq!(decode_log_header(&bytes), Ok(header));
        assert_eq!(compacted_end(&bytes), Some(40));
        bytes[COMPACTED_END_AT] ^= 1;
        assert_eq!(compacted_end(&bytes), None);
        assert_eq!(decode_log_header(&bytes).unwrap().synced_position, None);
    }
}
