//! A record to append, borrowing its bytes.

/// A record to append: optional key, optional value (`None` is a tombstone),
/// optional timestamp (`None` = now) and ordered headers. It borrows its
/// bytes; appending copies them once, into the segment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NewRecord<'a> {
    /// The key, used by compaction-minded readers and by partitioners.
    pub key: Option<&'a [u8]>,
    /// The value; `None` marks a tombstone.
    pub value: Option<&'a [u8]>,
    /// Milliseconds since the Unix epoch; `None` stamps the append time.
    pub timestamp_ms: Option<i64>,
    /// Ordered `(name, value)` pairs; names may repeat, as in Kafka.
    pub headers: &'a [(&'a str, &'a [u8])],
}

impl<'a> NewRecord<'a> {
    /// A record holding `value`, with no key, no headers, stamped at append.
    pub fn new(value: &'a [u8]) -> Self {
        NewRecord { value: Some(value), ..NewRecord::default() }
    }

    /// A tombstone (no value) for `key`.
    pub fn tombstone(key: &'a [u8]) -> Self {
        NewRecord { key: Some(key), ..NewRecord::default() }
    }

    /// Sets the key.
    pub fn key(mut self, key: &'a [u8]) -> Self {
        self.key = Some(key);
        self
    }

    /// Sets the timestamp in milliseconds since the Unix epoch.
    pub fn timestamp(mut self, timestamp_ms: i64) -> Self {
        self.timestamp_ms = Some(timestamp_ms);
        self
    }

    /// Sets the headers.
    pub fn headers(mut self, headers: &'a [(&'a str, &'a [u8])]) -> Self {
        self.headers = headers;
        self
    }
}

/// Milliseconds since the Unix epoch: the timestamp a record appended
/// without one gets.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
