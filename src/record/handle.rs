//! [`Record`], the read handle of a stored record: it borrows the record's
//! bytes from its memory-mapped segment and keeps that mapping alive.

use crate::record::codec::{Headers, Layout, RecordView};
use crate::storage::mapping::Pinned;

/// A stored record, read from a partition. Its key, value and headers are
/// borrowed from the memory-mapped segment without copying; the handle
/// keeps that mapping alive, so deleting or truncating the segment never
/// invalidates a record someone holds.
#[derive(Clone)]
pub struct Record {
    frame: Pinned,
    layout: Layout,
}

impl Record {
    pub(crate) fn new(frame: Pinned, layout: Layout) -> Self {
        Record { frame, layout }
    }

    /// The record as a borrowed view.
    pub fn view(&self) -> RecordView<'_> {
        RecordView::new(self.frame.bytes(), self.layout)
    }

    /// The record's offset in its partition.
    pub fn offset(&self) -> u64 {
        self.view().offset()
    }

    /// The record's timestamp in milliseconds since the Unix epoch.
    pub fn timestamp_ms(&self) -> i64 {
        self.view().timestamp_ms()
    }

    /// The key, if any.
    pub fn key(&self) -> Option<&[u8]> {
        self.view().key()
    }

    /// The value; `None` for a tombstone.
    pub fn value(&self) -> Option<&[u8]> {
        self.view().value()
    }

    /// The headers in append order.
    pub fn headers(&self) -> Headers<'_> {
        self.view().headers()
    }

    /// Bytes the record takes on disk (its whole frame).
    pub fn frame_len(&self) -> usize {
        self.layout.frame_len()
    }
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("offset", &self.offset())
            .field("timestamp_ms", &self.timestamp_ms())
            .field("key", &self.key())
            .field("value_len", &self.value().map(<[u8]>::len))
            .field("headers", &self.headers().count())
            .finish()
    }
}
