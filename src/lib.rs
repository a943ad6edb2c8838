#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod catalog;
mod consumer;
mod error;
mod group;
mod log;
mod name;
mod notify;
mod partition;
pub mod partitioner;
mod producer;
pub mod record;
mod segment;
pub mod serializer;
pub mod storage;

pub use catalog::{Durability, PartitionDescription, TopicConfig, TopicDescription};
pub use consumer::{
    AutoOffsetReset, Consumer, ConsumerConfig, ConsumerIter, ConsumerRecord, ConsumerRecords, Rebalance,
    RebalanceListener,
};
pub use error::{Error, IoOp, Result};
pub use group::{
    validate_group_id, Assignor, CommittedOffset, GroupDescription, MemberDescription, TopicPartition,
    MAX_GROUP_ID_CHARS,
};
pub use log::{Log, LogOptions};
pub use name::{validate_name, MAX_NAME_CHARS};
pub use partition::{Appended, Partition, PartitionIter, PartitionOptions, RecoveryReport};
pub use producer::{
    DeliveryHandle, Producer, ProducerConfig, ProducerRecord, RecordMetadata, DEFAULT_MAX_BLOCK,
    DEFAULT_MAX_DRAIN_RECORDS, DEFAULT_QUEUE_CAPACITY, DEFAULT_STICKY_PARTITION_BYTES,
};
pub use record::{NewRecord, Record, RecordView};
pub use segment::{BatchIter, RecordBatch};
