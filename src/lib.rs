#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod error;
#[cfg(feature = "fault-injection")]
pub mod fault;
mod index;
mod le;
mod mapping;
mod meta;
mod partition;
pub mod record;
mod recovery;
mod segment;
pub mod storage;

pub use error::{Error, Result};
pub use partition::{
    Appended, Iter, Partition, PartitionOptions, DEFAULT_INDEX_INTERVAL_BYTES, DEFAULT_MAX_RECORD_BYTES,
    DEFAULT_SEGMENT_BYTES, MAX_SEGMENT_BYTES, MIN_SEGMENT_BYTES,
};
pub use record::{NewRecord, Record, RecordView};
pub use recovery::RecoveryReport;
pub use segment::{BatchIter, RecordBatch};
