#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

// larder maps files shared, locks them with flock and relies on POSIX
// rename and fsync semantics: it is written for Unix (Linux first).
#[cfg(not(unix))]
compile_error!(
    "larder supports Unix-like systems only (Linux, macOS, the BSDs): it relies on shared memory maps, \
     flock and POSIX fsync and rename semantics"
);

mod catalog;
pub mod clock;
mod consumer;
mod error;
mod group;
pub mod inspect;
mod log;
#[cfg(feature = "kafka")]
#[cfg_attr(docsrs, doc(cfg(feature = "kafka")))]
pub mod mirror;
mod name;
mod notify;
pub mod partition;
mod producer;
pub mod record;
mod segment;
pub mod serializer;
pub mod stats;
pub mod storage;
mod trace;

pub use catalog::{
    CleanerReport, CleanupPolicy, Durability, PartitionDescription, SegmentLimits, TopicConfig, TopicDescription,
    WhenFull,
};
pub use consumer::{
    AutoOffsetReset, Consumer, ConsumerConfig, ConsumerIter, ConsumerRecord, ConsumerRecords, Rebalance,
    RebalanceListener, TypedConsumer, TypedIter, TypedRecord, WakeupHandle,
};
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub use consumer::{ConsumerStream, PollFuture};
pub use error::{Error, IoOp, Result};
pub use group::{validate_group_id, Assignor, CommittedOffset, GroupDescription, MemberDescription, TopicPartition};
pub use log::{Log, LogOptions};
pub use name::validate_name;
pub use producer::{
    partitioner, DeliveryHandle, Producer, ProducerConfig, ProducerRecord, RecordMetadata, TypedProducer,
    TypedProducerRecord,
};
