//! One segment of a partition: `<base>.log` (record frames after a 64-byte
//! header), `<base>.idx` (dense offset index) and `<base>.tix` (sparse time
//! index), where `<base>` is the first offset, 20 digits zero-padded.
//!
//! [`Segment`] is the shared read side, [`SegmentWriter`] the unique append
//! side of the active segment; `check` holds the pure functions recovery
//! uses to decide what of a segment can be trusted.

pub(crate) mod check;
pub(crate) mod compacted;
pub(crate) mod files;
pub(crate) mod follower;
pub(crate) mod header;
pub(crate) mod index;
mod reader;
pub(crate) mod time_index;
mod writer;

pub(crate) use reader::Segment;
pub use reader::{BatchIter, RecordBatch};
pub(crate) use writer::{rewrite_valid_prefix, OpenParts, SegmentWriter};
