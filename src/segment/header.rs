//! The 64-byte header of a segment's `.log` file: magic, version, base
//! offset, and the sync point (a log length known durable), under a CRC.

use crate::storage::le;
use crate::storage::meta::FileKind;

/// Bytes of the `.log` header; the first frame starts here.
pub(crate) const LOG_HEADER_BYTES: usize = 64;
/// A `.log` file: magic and version.
const LOG: FileKind = FileKind::new(b"LARDRLOG", 1);
const LOG_BASE_AT: usize = 16;
const LOG_SYNCED_AT: usize = LOG_BASE_AT + 8;
const LOG_CRC_AT: usize = LOG_SYNCED_AT + 8;

/// Encodes the `.log` header. `synced_position` is a log length known to
/// be durable: every byte below it was covered by a completed sync.
pub(crate) fn encode_log_header(base_offset: u64, synced_position: u64) -> [u8; LOG_HEADER_BYTES] {
    let mut bytes = [0u8; LOG_HEADER_BYTES];
    LOG.put(&mut bytes);
    le::put_u64(&mut bytes, LOG_BASE_AT, base_offset);
    le::put_u64(&mut bytes, LOG_SYNCED_AT, synced_position);
    let crc = crc32c::crc32c(&bytes[..LOG_CRC_AT]);
    le::put_u32(&mut bytes, LOG_CRC_AT, crc);
    bytes
}

/// A decoded `.log` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LogHeader {
    pub(crate) base_offset: u64,
    /// `None` when the header's checksum fails (a torn header update): the
    /// sync point is then unknown and taken as the start of the data.
    pub(crate) synced_position: Option<u64>,
}

/// Decodes a `.log` header; an error when it is not one of ours at all.
pub(crate) fn decode_log_header(bytes: &[u8]) -> Result<LogHeader, &'static str> {
    if bytes.len() < LOG_HEADER_BYTES {
        return Err("shorter than the log header");
    }
    if LOG.check(bytes).is_err() {
        return Err("bad magic or version");
    }
    let intact = le::u32_at(bytes, LOG_CRC_AT) == crc32c::crc32c(&bytes[..LOG_CRC_AT]);
    let synced_position = intact.then(|| le::u64_at(bytes, LOG_SYNCED_AT));
    Ok(LogHeader { base_offset: le::u64_at(bytes, LOG_BASE_AT), synced_position })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_header_torn_checksum_loses_only_the_sync_point() {
        let mut bytes = encode_log_header(5, 1000);
        assert_eq!(decode_log_header(&bytes), Ok(LogHeader { base_offset: 5, synced_position: Some(1000) }));
        bytes[LOG_SYNCED_AT] ^= 1;
        assert_eq!(decode_log_header(&bytes), Ok(LogHeader { base_offset: 5, synced_position: None }));
        bytes[0] = b'X';
        assert!(decode_log_header(&bytes).is_err());
    }
}
