//! The Kafka mirror (cargo feature `kafka`): larder topics copied into a
//! Kafka cluster ([`MirrorOut`]) and Kafka topics copied into larder
//! ([`MirrorIn`]), each on a thread of its own, at least once.
//!
//! - **Out**: a larder consumer group reads the chosen topics; an
//!   idempotent Kafka producer (`acks=all`) sends each batch with its keys,
//!   values, headers and timestamps to the same partition numbers (or by
//!   Kafka's murmur2, [`PartitionMapping`]); the group commits only once
//!   Kafka acknowledged the whole batch. While the cluster is unreachable
//!   the mirror backs off and retries, and larder keeps accepting events;
//!   with [`CleanupPolicy::UntilConsumed`](crate::CleanupPolicy::UntilConsumed)
//!   naming the mirror's group, nothing leaves the disk before Kafka has it.
//! - **In**: a Kafka consumer group reads Kafka topics; each batch is
//!   appended to larder and the group's Kafka offsets are committed only
//!   once larder acknowledged it at the topic's durability level. The
//!   mirror is a static member of its group, so one restarted after a kill
//!   takes its partitions back at once ([`MirrorInConfig::new`]).
//!
//! A bad configuration fails [`MirrorOut::start`] / [`MirrorIn::start`]
//! with a typed error: [`Error::BrokerUnreachable`](crate::Error::BrokerUnreachable),
//! [`Error::KafkaTopicMissing`](crate::Error::KafkaTopicMissing),
//! [`Error::PartitionCountMismatch`](crate::Error::PartitionCountMismatch),
//! [`Error::UnknownTopic`](crate::Error::UnknownTopic),
//! [`Error::InvalidArgument`](crate::Error::InvalidArgument). The mirror
//! never creates or deletes Kafka topics.
//!
//! ```no_run
//! use larder::mirror::{MirrorOut, MirrorOutConfig};
//! use larder::{CleanupPolicy, Log, LogOptions, TopicConfig};
//!
//! # fn main() -> larder::Result<()> {
//! let log = Log::open("/var/lib/my-service/log", LogOptions::default())?;
//! // Kept on disk until the mirror's group has it in Kafka.
//! let until_mirrored = CleanupPolicy::UntilConsumed { groups: vec!["to-central".into()] };
//! log.create_topic("events", TopicConfig::new(3).cleanup_policy(until_mirrored))?;
//! // The Kafka topic "events" must exist, with 3 partitions.
//! let mirror = MirrorOut::start(&log, MirrorOutConfig::new("kafka-1:9092").topic("events").group_id("to-central"))?;
//! // ... the application produces to "events" as before ...
//! println!("lag {} records", mirror.stats().lag());
//! mirror.stop()?;
//! log.close()?;
//! # Ok(())
//! # }
//! ```

mod client;
mod config;
mod inbound;
mod outbound;
mod stats;

pub use config::{MirrorInConfig, MirrorOutConfig, PartitionMapping, BATCH_RECORDS_MAX, DELIVERY_TIMEOUT_MAX};
pub use inbound::MirrorIn;
pub use outbound::MirrorOut;
pub use stats::{MirrorStats, PartitionProgress};
