//! The records the scenarios append, one fixed shape per offset, so every
//! target knows the exact bytes each offset must hold when read back.

use larder::partition::{Appended, Partition};
use larder::record::{NewRecord, RecordView};

/// Timestamp of the first record: a fixed date, so files are reproducible.
const FIRST_TIMESTAMP_MS: i64 = 1_700_000_000_000;
/// Record shapes cycled through by offset (see [`Written::for_offset`]).
const SHAPES: u64 = 7;

/// A record as it was appended: what any read of its offset must return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The key, if any.
    pub key: Option<Vec<u8>>,
    /// The value; `None` for a tombstone.
    pub value: Option<Vec<u8>>,
    /// Headers in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The timestamp given explicitly at append.
    pub timestamp_ms: i64,
}

impl Written {
    /// The record appended at `offset`. `generation` tells apart records
    /// appended at the same offset again after a truncation. Shapes: value
    /// only, key and value, tombstone, headers, empty key and value, a value
    /// that embeds a valid frame of another offset (a decoy an index
    /// pointing inside a record would return), and a large value.
    /// Timestamps go up and down, so the time index has work to do.
    pub fn for_offset(offset: u64, generation: u8) -> Written {
        let seed = (offset as u8).wrapping_mul(31).wrapping_add(generation.wrapping_mul(101));
        let bytes = |len: usize| (0..len).map(|i| seed.wrapping_add(i as u8)).collect::<Vec<u8>>();
        let mut written =
            Written { key: None, value: Some(bytes(8 + offset as usize % 13)), headers: Vec::new(), timestamp_ms: 0 };
        match offset % SHAPES {
            0 => {}
            1 => written.key = Some(format!("key-{offset}").into_bytes()),
            2 => (written.key, written.value) = (Some(bytes(3)), None),
            3 => {
                written.headers =
                    vec![("trace".into(), bytes(4)), ("trace".into(), Vec::new()), (String::new(), bytes(1))]
            }
            4 => (written.key, written.value) = (Some(Vec::new()), Some(Vec::new())),
            5 => written.value = Some(decoy_frame(offset + 2)),
            _ => written.value = Some(bytes(90)),
        }
        let wobble = (offset * 5 % 7) as i64 * 100;
        written.timestamp_ms = FIRST_TIMESTAMP_MS + wobble + offset as i64 + i64::from(generation) * 1000;
        written
    }

    /// Appends this record to `partition`.
    pub fn append_to(&self, partition: &Partition) -> larder::Result<Appended> {
        let headers = self.header_refs();
        partition.append(&self.new_record(&headers))
    }

    /// Bytes of this record's frame.
    pub fn frame_bytes(&self) -> u64 {
        let headers = self.header_refs();
        larder::record::codec::encoded_len(&self.new_record(&headers)).expect("a small record fits") as u64
    }

    fn header_refs(&self) -> Vec<(&str, &[u8])> {
        self.headers.iter().map(|(name, value)| (name.as_str(), value.as_slice())).collect()
    }

    fn new_record<'a>(&'a self, headers: &'a [(&'a str, &'a [u8])]) -> NewRecord<'a> {
        NewRecord {
            key: self.key.as_deref(),
            value: self.value.as_deref(),
            timestamp_ms: Some(self.timestamp_ms),
            headers,
        }
    }

    /// Asserts that `got`, returned for a read of offset `read_at`, holds
    /// that offset and exactly these bytes.
    pub fn assert_returned(&self, read_at: u64, got: &Returned<'_>) {
        assert_eq!(got.offset, read_at, "a read of offset {read_at} returned offset {}", got.offset);
        assert_eq!(got.timestamp_ms, self.timestamp_ms, "timestamp of offset {read_at}");
        assert_eq!(got.key, self.key.as_deref(), "key of offset {read_at}");
        assert_eq!(got.value, self.value.as_deref(), "value of offset {read_at}");
        assert_eq!(got.headers, self.header_refs(), "headers of offset {read_at}");
    }
}

/// What a read returned, from any of larder's record types.
#[derive(Debug)]
pub struct Returned<'a> {
    /// The offset the record says it holds.
    pub offset: u64,
    /// Its timestamp.
    pub timestamp_ms: i64,
    /// Its key.
    pub key: Option<&'a [u8]>,
    /// Its value.
    pub value: Option<&'a [u8]>,
    /// Its headers.
    pub headers: Vec<(&'a str, &'a [u8])>,
}

impl<'a> From<RecordView<'a>> for Returned<'a> {
    fn from(view: RecordView<'a>) -> Self {
        let headers = view.headers().collect();
        Returned {
            offset: view.offset(),
            timestamp_ms: view.timestamp_ms(),
            key: view.key(),
            value: view.value(),
            headers,
        }
    }
}

impl<'a> From<&'a larder::ConsumerRecord> for Returned<'a> {
    fn from(record: &'a larder::ConsumerRecord) -> Self {
        let headers = record.headers().collect();
        Returned {
            offset: record.offset(),
            timestamp_ms: record.timestamp_ms(),
            key: record.key(),
            value: record.value(),
            headers,
        }
    }
}

/// A complete, valid frame for `offset`, to be stored inside a value.
fn decoy_frame(offset: u64) -> Vec<u8> {
    let record = NewRecord::new(b"decoy").key(b"not-stored-here");
    let mut frame = vec![0u8; larder::record::codec::encoded_len(&record).expect("a small record fits")];
    larder::record::codec::encode(&mut frame, offset, FIRST_TIMESTAMP_MS, &record);
    frame
}
