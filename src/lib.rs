#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod catalog;
pub mod clock;
mod consumer;
mod error;
mod group;
mod log;
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
    CleanerReport, CleanupPolicy, Durability, PartitionDescription, TopicConfig, TopicDescription, WhenFull,
};
pub use consumer::{
    AutoOffsetReset, Consumer, ConsumerConfig, ConsumerIter, ConsumerRecord, ConsumerRecords, Rebalance,
    RebalanceListener, TypedConsumer, TypedIter, TypedRecord, WakeupHandle,
};
#[cfg(feature = "async")]
pub use consumer::{ConsumerStream, PollFuture};
pub use error::{Error, IoOp, Result};
pub use group::{validate_group_id, Assignor, CommittedOffset, GroupDescription, MemberDescription, TopicPartition};
pub use log::{Log, LogOptions};
pub use name::validate_name;
pub use producer::{
    partitioner, DeliveryHandle, Producer, ProducerConfig, ProducerRecord, RecordMetadata, TypedProducer,
    TypedProducerRecord,
};
