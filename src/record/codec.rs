//! The record frame: a pure encoder and a validating decoder over byte
//! slices (no I/O here, so both are fuzzed and property-tested).
//!
//! Frame layout (all integers little-endian; see docs/FORMAT.md):
//!
//! ```text
//! 0   u32  frame_len      whole frame in bytes; 0 marks the end of data
//! 4   u32  crc32c         over bytes [8, frame_len)
//! 8   u64  offset
//! 16  i64  timestamp_ms
//! 24  u32  key_len        u32::MAX = no key
//! 28  u32  value_len      u32::MAX = no value (tombstone)
//! 32  u32  headers_len    bytes of the header section
//! 36  key | value | headers: { u16 name_len, name (UTF-8), u32 value_len, value }*
//! ```
//!
//! Public only with the `fuzzing` feature, for the fuzz targets: the format
//! is larder's to change, not part of its API.

use crate::error::{Error, Result};
use crate::record::NewRecord;
use crate::storage::le;

const FRAME_LEN_AT: usize = 0;
const CRC_AT: usize = FRAME_LEN_AT + 4;
const OFFSET_AT: usize = CRC_AT + 4;
const TIMESTAMP_AT: usize = OFFSET_AT + 8;
const KEY_LEN_AT: usize = TIMESTAMP_AT + 8;
const VALUE_LEN_AT: usize = KEY_LEN_AT + 4;
const HEADERS_LEN_AT: usize = VALUE_LEN_AT + 4;
/// Bytes of a frame before its key: the fixed part of every record.
pub const FRAME_HEADER_BYTES: usize = HEADERS_LEN_AT + 4;
/// Length marker for an absent key or value.
const NULL_LEN: u32 = u32::MAX;
/// Largest key or value the frame can describe (`NULL_LEN` is reserved).
const FIELD_BYTES_MAX: u64 = (u32::MAX - 1) as u64;
/// Largest header name the frame can describe.
const HEADER_NAME_BYTES_MAX: u64 = u16::MAX as u64;

/// Bytes the frame of `record` takes, after checking every field fits the
/// format. Does not apply `max_record_bytes`; the partition does.
pub fn encoded_len(record: &NewRecord<'_>) -> Result<usize> {
    let key = field_len("key", record.key.map_or(0, <[u8]>::len), FIELD_BYTES_MAX)?;
    let value = field_len("value", record.value.map_or(0, <[u8]>::len), FIELD_BYTES_MAX)?;
    let headers = headers_len(record.headers)?;
    let total = FRAME_HEADER_BYTES as u64 + key + value + headers;
    field_len("frame", total as usize, u64::from(u32::MAX)).map(|len| len as usize)
}

impl NewRecord<'_> {
    /// Bytes a record's frame takes beyond its key, value and headers.
    pub const OVERHEAD_BYTES: usize = FRAME_HEADER_BYTES;

    /// Bytes this record takes in the log (its whole frame), or
    /// [`Error::FieldTooLarge`] if a field does not fit the format.
    pub fn frame_bytes(&self) -> Result<usize> {
        encoded_len(self)
    }
}

/// The one record check, made by the producer before queueing and by the
/// partition before appending: the frame `record` takes when stamped with
/// `timestamp_ms` (which must not be negative), if it fits the format and
/// `max_record_bytes`.
pub fn checked_frame_len(record: &NewRecord<'_>, timestamp_ms: i64, max_record_bytes: u32) -> Result<usize> {
    if timestamp_ms < 0 {
        return Err(Error::InvalidTimestamp { timestamp_ms });
    }
    let len = encoded_len(record)?;
    if len > max_record_bytes as usize {
        return Err(Error::RecordTooLarge { size_bytes: len as u64, max_record_bytes });
    }
    Ok(len)
}

fn field_len(field: &'static str, len: usize, limit_bytes: u64) -> Result<u64> {
    let size_bytes = len as u64;
    if size_bytes > limit_bytes {
        return Err(Error::FieldTooLarge { field, size_bytes, limit_bytes });
    }
    Ok(size_bytes)
}

fn headers_len(headers: &[(&str, &[u8])]) -> Result<u64> {
    let mut total = 0u64;
    for (name, value) in headers {
        total += 2 + field_len("header name", name.len(), HEADER_NAME_BYTES_MAX)?;
        total += 4 + field_len("header value", value.len(), FIELD_BYTES_MAX)?;
    }
    field_len("headers", total as usize, FIELD_BYTES_MAX)
}

/// Encodes `record` with `offset` and `timestamp_ms` into `frame`, whose
/// length must be exactly [`encoded_len`] of the record. (The segment
/// writer encodes a run of frames first and writes their CRCs after, to
/// overlap them; this, one frame at a time, is for tests and fuzz targets.)
#[cfg_attr(not(any(test, feature = "fuzzing")), allow(dead_code))]
pub fn encode(frame: &mut [u8], offset: u64, timestamp_ms: i64, record: &NewRecord<'_>) {
    encode_unsealed(frame, offset, timestamp_ms, record);
    le::put_u32(frame, CRC_AT, checksum(frame));
}

/// [`encode`] but for the CRC, which [`seal_run`] writes afterwards.
pub(crate) fn encode_unsealed(frame: &mut [u8], offset: u64, timestamp_ms: i64, record: &NewRecord<'_>) {
    let frame_len = frame.len();
    le::put_u32(frame, FRAME_LEN_AT, frame_len as u32);
    le::put_u64(frame, OFFSET_AT, offset);
    le::put_i64(frame, TIMESTAMP_AT, timestamp_ms);
    le::put_u32(frame, KEY_LEN_AT, record.key.map_or(NULL_LEN, |k| k.len() as u32));
    le::put_u32(frame, VALUE_LEN_AT, record.value.map_or(NULL_LEN, |v| v.len() as u32));
    let mut at = FRAME_HEADER_BYTES;
    at = put_bytes(frame, at, record.key.unwrap_or_default());
    at = put_bytes(frame, at, record.value.unwrap_or_default());
    let headers_at = at;
    for (name, value) in record.headers {
        le::put_u16(frame, at, name.len() as u16);
        at = put_bytes(frame, at + 2, name.as_bytes());
        le::put_u32(frame, at, value.len() as u32);
        at = put_bytes(frame, at + 4, value);
    }
    debug_assert_eq!(at, frame_len, "encoded_len and encode disagree");
    le::put_u32(frame, HEADERS_LEN_AT, (at - headers_at) as u32);
}

/// Writes the CRC of each frame [`encode_unsealed`] wrote into `bytes`, one
/// after another, a group of [`RUN_FRAMES`] at a time computed back to back
/// so their dependency chains overlap (as [`validate_run`] checks them).
pub(crate) fn seal_run(bytes: &mut [u8]) {
    let mut at = 0;
    while at < bytes.len() {
        let mut frames = [(0, 0); RUN_FRAMES];
        let mut group = 0;
        let mut end = at;
        while group < RUN_FRAMES && end < bytes.len() {
            let len = le::u32_at(bytes, end + FRAME_LEN_AT) as usize;
            assert!(len >= FRAME_HEADER_BYTES && end + len <= bytes.len(), "frames do not tile the run");
            frames[group] = (end, end + len);
            end += len;
            group += 1;
        }
        let mut sums = [0u32; RUN_FRAMES];
        for (sum, &(from, to)) in sums.iter_mut().zip(&frames[..group]) {
            *sum = checksum(&bytes[from..to]);
        }
        for (&sum, &(from, _)) in sums.iter().zip(&frames[..group]) {
            le::put_u32(bytes, from + CRC_AT, sum);
        }
        at = end;
    }
}

fn put_bytes(frame: &mut [u8], at: usize, bytes: &[u8]) -> usize {
    frame[at..at + bytes.len()].copy_from_slice(bytes);
    at + bytes.len()
}

/// CRC32C of a frame: everything after the CRC field. The length field is
/// not covered, and need not be: a frame is accepted only if its length
/// equals the sum of its covered field lengths. Starting at byte 8 keeps
/// the checksummed range 8-byte aligned when frames are.
fn checksum(frame: &[u8]) -> u32 {
    crc32c::crc32c(&frame[OFFSET_AT..])
}

/// Why bytes are not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The length field is zero: preallocated space, the end of the data.
    #[error("end of data (zero length field)")]
    End,
    /// Fewer bytes than the frame needs.
    #[error("truncated frame: needs {needed} bytes, {available} available")]
    Truncated {
        /// Bytes the frame claims or needs.
        needed: u64,
        /// Bytes there are.
        available: u64,
    },
    /// The length fields do not add up.
    #[error("inconsistent lengths: {0}")]
    BadLength(&'static str),
    /// The stored CRC does not match the bytes.
    #[error("checksum mismatch: stored {expected:#010x}, computed {got:#010x}")]
    ChecksumMismatch {
        /// CRC stored in the frame.
        expected: u32,
        /// CRC computed over the bytes.
        got: u32,
    },
    /// The frame is valid but holds another offset than the one expected.
    #[error("frame holds offset {found}, expected {expected}")]
    OffsetMismatch {
        /// The offset that belongs at this place.
        expected: u64,
        /// The offset the frame holds.
        found: u64,
    },
    /// The header section is malformed or a name is not UTF-8.
    #[error("malformed headers: {0}")]
    BadHeaders(&'static str),
}

/// Where the fields of a validated frame lie, relative to its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    frame_len: u32,
    key_len: u32,
    value_len: u32,
    headers_len: u32,
}

impl Layout {
    fn key_range(&self) -> Option<(usize, usize)> {
        (self.key_len != NULL_LEN).then_some((FRAME_HEADER_BYTES, self.key_len as usize))
    }

    fn value_range(&self) -> Option<(usize, usize)> {
        let start = FRAME_HEADER_BYTES + self.stored(self.key_len);
        (self.value_len != NULL_LEN).then_some((start, self.value_len as usize))
    }

    fn headers_range(&self) -> (usize, usize) {
        let start = FRAME_HEADER_BYTES + self.stored(self.key_len) + self.stored(self.value_len);
        (start, self.headers_len as usize)
    }

    fn stored(&self, len: u32) -> usize {
        if len == NULL_LEN {
            0
        } else {
            len as usize
        }
    }

    /// Length of the whole frame in bytes.
    pub(crate) fn frame_len(&self) -> usize {
        self.frame_len as usize
    }
}

/// Reads the length field of the frame starting at `bytes[0]`, checking it
/// is plausible and that the whole frame is present.
pub(crate) fn frame_len(bytes: &[u8]) -> Result<usize, FrameError> {
    if bytes.len() < OFFSET_AT {
        return Err(FrameError::Truncated { needed: OFFSET_AT as u64, available: bytes.len() as u64 });
    }
    let frame_len = le::u32_at(bytes, FRAME_LEN_AT) as usize;
    if frame_len == 0 {
        return Err(FrameError::End);
    }
    if frame_len < FRAME_HEADER_BYTES {
        return Err(FrameError::BadLength("frame shorter than its fixed header"));
    }
    if frame_len > bytes.len() {
        let available = bytes.len() as u64;
        return Err(FrameError::Truncated { needed: frame_len as u64, available });
    }
    Ok(frame_len)
}

/// Validates the frame at the start of `bytes` (length, CRC, field
/// lengths, headers) and returns its layout. Trailing bytes are ignored.
pub(crate) fn validate(bytes: &[u8]) -> Result<Layout, FrameError> {
    let frame_len = frame_len(bytes)?;
    let frame = &bytes[..frame_len];
    let expected = le::u32_at(frame, CRC_AT);
    let got = checksum(frame);
    if expected != got {
        return Err(FrameError::ChecksumMismatch { expected, got });
    }
    validate_fields(frame)
}

/// Checks the fields of `frame` (exactly one frame, of a plausible length)
/// agree with its length, everything [`validate`] checks but the CRC.
fn validate_fields(frame: &[u8]) -> Result<Layout, FrameError> {
    let layout = Layout {
        frame_len: frame.len() as u32,
        key_len: le::u32_at(frame, KEY_LEN_AT),
        value_len: le::u32_at(frame, VALUE_LEN_AT),
        headers_len: le::u32_at(frame, HEADERS_LEN_AT),
    };
    let fields =
        layout.stored(layout.key_len) as u64 + layout.stored(layout.value_len) as u64 + u64::from(layout.headers_len);
    if FRAME_HEADER_BYTES as u64 + fields != frame.len() as u64 {
        return Err(FrameError::BadLength("field lengths do not add up to frame_len"));
    }
    let (start, len) = layout.headers_range();
    validate_headers(&frame[start..start + len])?;
    Ok(layout)
}

/// Frames checked together by [`validate_run`]: their CRCs are computed one
/// after another with nothing between them, so the processor overlaps
/// their dependency chains (the CRC32C instruction has a latency of about
/// three cycles and a throughput of one per cycle).
const RUN_FRAMES: usize = 8;

/// Validates consecutive frames from the start of `bytes`, the first
/// holding offset `first`, up to `most` of them: every check of
/// [`validate`] and the offset of each. Returns the length of the valid
/// run and how many frames it holds; it ends before `most` only at the
/// first frame that fails (the caller validates that one alone for its
/// error), or at the end of `bytes`.
pub(crate) fn validate_run(bytes: &[u8], first: u64, most: u64) -> (usize, u64) {
    let (mut len, mut count) = (0, 0);
    while count < most {
        // Fields first, a group at a time; then the group's CRCs.
        let mut ends = [0usize; RUN_FRAMES];
        let mut at = len;
        let mut group = 0;
        while group < RUN_FRAMES && count + (group as u64) < most {
            let Ok(frame_len) = frame_len(&bytes[at..]) else { break };
            let frame = &bytes[at..at + frame_len];
            if validate_fields(frame).is_err() || le::u64_at(frame, OFFSET_AT) != first + count + group as u64 {
                break;
            }
            at += frame_len;
            ends[group] = at;
            group += 1;
        }
        let mut sums = [0u32; RUN_FRAMES];
        let mut from = len;
        for (sum, &end) in sums.iter_mut().zip(&ends[..group]) {
            *sum = checksum(&bytes[from..end]);
            from = end;
        }
        let mut from = len;
        for (&sum, &end) in sums.iter().zip(&ends[..group]) {
            if le::u32_at(bytes, from + CRC_AT) != sum {
                return (len, count);
            }
            len = end;
            count += 1;
            from = end;
        }
        if group < RUN_FRAMES && count < most {
            return (len, count);
        }
    }
    debug_assert!(count <= most);
    (len, count)
}

fn validate_headers(mut section: &[u8]) -> Result<(), FrameError> {
    while !section.is_empty() {
        let (_, _, rest) = split_header(section)?;
        section = rest;
    }
    Ok(())
}

/// Splits the first header off `section`: `(name, value, rest)`.
fn split_header(section: &[u8]) -> Result<(&str, &[u8], &[u8]), FrameError> {
    if section.len() < 2 {
        return Err(FrameError::BadHeaders("truncated header name length"));
    }
    let name_len = le::u16_at(section, 0) as usize;
    let value_len_at = 2 + name_len;
    if section.len() < value_len_at + 4 {
        return Err(FrameError::BadHeaders("truncated header name"));
    }
    let name = std::str::from_utf8(&section[2..value_len_at])
        .map_err(|_| FrameError::BadHeaders("header name is not UTF-8"))?;
    let value_at = value_len_at + 4;
    let value_len = le::u32_at(section, value_len_at) as usize;
    if section.len() - value_at < value_len {
        return Err(FrameError::BadHeaders("truncated header value"));
    }
    let value = &section[value_at..value_at + value_len];
    Ok((name, value, &section[value_at + value_len..]))
}

/// A record borrowed from the bytes it was decoded from: a stored frame in
/// a `RecordBatch`, or any validated frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    frame: &'a [u8],
    layout: Layout,
}

impl<'a> RecordView<'a> {
    /// The view of `frame`, a validated frame whose fields lie as `layout` says.
    pub(crate) fn new(frame: &'a [u8], layout: Layout) -> Self {
        RecordView { frame, layout }
    }

    /// The record's offset.
    pub fn offset(&self) -> u64 {
        le::u64_at(self.frame, OFFSET_AT)
    }

    /// The record's timestamp in milliseconds since the Unix epoch.
    pub fn timestamp_ms(&self) -> i64 {
        le::i64_at(self.frame, TIMESTAMP_AT)
    }

    /// The key, if the record has one.
    pub fn key(&self) -> Option<&'a [u8]> {
        self.layout.key_range().map(|(at, len)| &self.frame[at..at + len])
    }

    /// The value; `None` for a tombstone.
    pub fn value(&self) -> Option<&'a [u8]> {
        self.layout.value_range().map(|(at, len)| &self.frame[at..at + len])
    }

    /// The headers, in the order they were appended.
    pub fn headers(&self) -> Headers<'a> {
        let (at, len) = self.layout.headers_range();
        Headers { section: &self.frame[at..at + len] }
    }

    /// The whole frame's length in bytes.
    pub fn frame_len(&self) -> usize {
        self.frame.len()
    }

    pub(crate) fn layout(&self) -> Layout {
        self.layout
    }
}

/// Views a frame that was validated before (by [`decode`] or by a scan):
/// reads its layout from its fields without checking the CRC again.
pub(crate) fn view_validated(bytes: &[u8]) -> RecordView<'_> {
    let layout = Layout {
        frame_len: le::u32_at(bytes, FRAME_LEN_AT),
        key_len: le::u32_at(bytes, KEY_LEN_AT),
        value_len: le::u32_at(bytes, VALUE_LEN_AT),
        headers_len: le::u32_at(bytes, HEADERS_LEN_AT),
    };
    RecordView { frame: &bytes[..layout.frame_len()], layout }
}

/// Decodes and validates the frame at the start of `bytes`. Never panics;
/// never returns a frame whose CRC or lengths do not hold.
pub fn decode(bytes: &[u8]) -> Result<RecordView<'_>, FrameError> {
    let layout = validate(bytes)?;
    Ok(RecordView { frame: &bytes[..layout.frame_len()], layout })
}

/// Iterator over a record's headers as `(name, value)` pairs.
#[derive(Debug, Clone)]
pub struct Headers<'a> {
    section: &'a [u8],
}

impl<'a> Iterator for Headers<'a> {
    type Item = (&'a str, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        // The section was validated when the frame was decoded, so a split
        // can only fail on bytes never validated; end the iteration then.
        let (name, value, rest) = split_header(self.section).ok()?;
        self.section = rest;
        Some((name, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(record: NewRecord<'_>) {
        let mut frame = vec![0u8; encoded_len(&record).unwrap()];
        encode(&mut frame, 42, 1_700_000_000_000, &record);
        let view = decode(&frame).unwrap();
        assert_eq!(view.offset(), 42);
        assert_eq!(view.timestamp_ms(), 1_700_000_000_000);
        assert_eq!(view.key(), record.key);
        assert_eq!(view.value(), record.value);
        assert_eq!(view.headers().collect::<Vec<_>>(), record.headers.to_vec());
    }

    #[test]
    fn round_trips_every_shape() {
        round_trip(NewRecord::new(b"value"));
        round_trip(NewRecord::tombstone(b"key"));
        round_trip(NewRecord::default());
        round_trip(NewRecord::new(b"").key(b""));
        round_trip(NewRecord::new(b"v").headers(&[("a", b"1"), ("a", b""), ("", b"x")]));
    }

    #[test]
    fn every_single_bit_flip_is_caught() {
        let record = NewRecord::new(b"value").key(b"k").headers(&[("h", b"v")]);
        let mut frame = vec![0u8; encoded_len(&record).unwrap()];
        encode(&mut frame, 7, 9, &record);
        for bit in 0..frame.len() * 8 {
            let mut bad = frame.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(decode(&bad).is_err(), "flip of bit {bit} went unnoticed");
        }
    }

    #[test]
    fn header_names_that_are_not_utf8_are_refused() {
        let record = NewRecord::new(b"v").headers(&[("ab", b"1")]);
        let mut frame = vec![0u8; encoded_len(&record).unwrap()];
        encode(&mut frame, 0, 0, &record);
        let at = frame.windows(2).position(|w| w == b"ab").unwrap();
        frame[at..at + 2].copy_from_slice(&[0xff, 0xfe]);
        let crc = checksum(&frame);
        frame[CRC_AT..OFFSET_AT].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(decode(&frame).unwrap_err(), FrameError::BadHeaders("header name is not UTF-8"));
    }

    #[test]
    fn short_input_is_truncated_not_a_panic() {
        let mut frame = vec![0u8; encoded_len(&NewRecord::new(b"abc")).unwrap()];
        encode(&mut frame, 0, 0, &NewRecord::new(b"abc"));
        for cut in 0..frame.len() {
            assert!(decode(&frame[..cut]).is_err());
        }
        assert_eq!(decode(&[0; 8]), Err(FrameError::End));
    }

    /// `count` frames of varied shapes and lengths from offset `first`,
    /// with where each ends.
    fn run_of(first: u64, count: u64) -> (Vec<u8>, Vec<usize>) {
        let (mut bytes, mut ends) = (Vec::new(), Vec::new());
        for n in 0..count {
            let value = vec![n as u8; (n as usize * 37) % 300];
            let key = n.to_le_bytes();
            let headers: &[(&str, &[u8])] = if n % 3 == 0 { &[("h", b"x")] } else { &[] };
            let record = NewRecord::new(&value).key(&key[..(n % 9) as usize]).headers(headers);
            let at = bytes.len();
            bytes.resize(at + encoded_len(&record).unwrap(), 0);
            encode(&mut bytes[at..], first + n, n as i64, &record);
            ends.push(bytes.len());
        }
        (bytes, ends)
    }

    /// What validating frame by frame finds: the valid run's length and
    /// count, at most `most`.
    fn one_by_one(bytes: &[u8], first: u64, most: u64) -> (usize, u64) {
        let (mut len, mut count) = (0, 0);
        while count < most {
            match decode(&bytes[len..]) {
                Ok(view) if view.offset() == first + count => {
                    len += view.frame_len();
                    count += 1;
                }
                _ => break,
            }
        }
        (len, count)
    }

    #[test]
    fn a_sealed_run_holds_the_frames_encode_writes() {
        let (expected, ends) = run_of(100, 40);
        for count in [1, 7, 8, 9, 16, 17, 40] {
            let len = ends[count - 1];
            let mut bytes = vec![0u8; len];
            let mut at = 0;
            for n in 0..count {
                let value = vec![n as u8; (n * 37) % 300];
                let key = (n as u64).to_le_bytes();
                let headers: &[(&str, &[u8])] = if n % 3 == 0 { &[("h", b"x")] } else { &[] };
                let record = NewRecord::new(&value).key(&key[..n % 9]).headers(headers);
                encode_unsealed(&mut bytes[at..ends[n]], 100 + n as u64, n as i64, &record);
                at = ends[n];
            }
            seal_run(&mut bytes);
            assert_eq!(bytes, expected[..len], "{count} frames");
        }
    }

    #[test]
    fn a_validated_run_ends_where_frame_by_frame_validation_does() {
        let (bytes, ends) = run_of(100, 40);
        for most in [0, 1, 7, 8, 9, 16, 17, 40, 41, u64::MAX] {
            assert_eq!(validate_run(&bytes, 100, most), one_by_one(&bytes, 100, most), "most {most}");
        }
        assert_eq!(validate_run(&bytes, 100, 40), (bytes.len(), 40));
        // A wrong first offset: nothing is valid.
        assert_eq!(validate_run(&bytes, 99, 40), (0, 0));
        // Cut anywhere: the run ends at the last whole frame.
        for cut in [0, 1, ends[0] - 1, ends[0], ends[7] + 3, ends[8], bytes.len() - 1] {
            assert_eq!(validate_run(&bytes[..cut], 100, 40), one_by_one(&bytes[..cut], 100, 40), "cut at {cut}");
        }
        // Any single flipped bit of any frame: the run ends before that frame.
        for bit in (0..bytes.len() * 8).step_by(7) {
            let mut bad = bytes.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let frame = ends.iter().position(|&end| end > bit / 8).unwrap();
            let expected = (if frame == 0 { 0 } else { ends[frame - 1] }, frame as u64);
            assert_eq!(validate_run(&bad, 100, 40), expected, "flip of bit {bit}");
            assert_eq!(one_by_one(&bad, 100, 40), expected, "flip of bit {bit}, one by one");
        }
    }
}
