//! What a mirror is told: the brokers, the topics and how their partitions
//! map, its group, its limits and timeouts.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::group::validate_group_id;
use crate::name::validate_name;
use crate::producer::partitioner::partition_for_key;

/// Most records one batch of a mirror holds (its `batch_records` limit).
pub const BATCH_RECORDS_MAX: usize = 1_000_000;

/// The longest delivery timeout (librdkafka's `message.timeout.ms` is an
/// `i32` of milliseconds).
pub const DELIVERY_TIMEOUT_MAX: Duration = Duration::from_millis(i32::MAX as u64);

/// How records find their partition on the other side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PartitionMapping {
    /// Partition `n` goes to partition `n`: both topics must have the same
    /// partition count, or the mirror refuses to start with
    /// [`Error::PartitionCountMismatch`]. Every partition's order is kept
    /// as it is. Since larder's partitioner for keyed records is Kafka's, a
    /// keyed record lands where a Kafka producer would have put it.
    #[default]
    Same,
    /// A keyed record goes to the partition Kafka's default partitioner
    /// picks for its key among the destination's partitions (murmur2 of the
    /// key, `(hash & 0x7fffffff) % partitions`); a record without a key goes
    /// from partition `n` to partition `n % partitions`. For topics whose
    /// partition counts differ: the order of each key's records is kept,
    /// not the order between keys of one source partition.
    Murmur2,
}

impl PartitionMapping {
    /// The destination partition, of `partitions`, of a record read from
    /// partition `source` with `key`.
    pub fn target(self, source: u32, key: Option<&[u8]>, partitions: u32) -> u32 {
        match (self, key) {
            (PartitionMapping::Same, _) => source,
            (PartitionMapping::Murmur2, Some(key)) => partition_for_key(key, partitions),
            (PartitionMapping::Murmur2, None) => source % partitions.max(1),
        }
    }
}

/// Kafka client settings a mirror sets itself, because its guarantees rest
/// on them: refused in [`MirrorOutConfig::set`] / [`MirrorInConfig::set`].
const OWN_SETTINGS: [&str; 9] = [
    "bootstrap.servers",
    "metadata.broker.list",
    "acks",
    "request.required.acks",
    "enable.idempotence",
    "message.timeout.ms",
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
];

/// The settings every mirror has: brokers, group, limits, timeouts.
#[derive(Debug, Clone)]
pub(crate) struct Common {
    pub(crate) brokers: String,
    /// `(source topic, destination topic)`.
    pub(crate) routes: Vec<(String, String)>,
    pub(crate) group_id: String,
    pub(crate) mapping: PartitionMapping,
    pub(crate) batch_records: usize,
    pub(crate) connect_timeout: Duration,
    pub(crate) retry_backoff_max: Duration,
    pub(crate) settings: Vec<(String, String)>,
}

impl Common {
    fn new(brokers: String, group_id: &str) -> Common {
        Common {
            brokers,
            routes: Vec::new(),
            group_id: group_id.to_string(),
            mapping: PartitionMapping::Same,
            batch_records: 10_000,
            connect_timeout: Duration::from_secs(10),
            retry_backoff_max: Duration::from_secs(5),
            settings: Vec::new(),
        }
    }

    /// Checks what can be checked without a broker; names what is wrong.
    fn validate(&self) -> Result<()> {
        if self.brokers.trim().is_empty() {
            return Err(Error::invalid("brokers", "no bootstrap server given (host:port[,host:port...])"));
        }
        if self.routes.is_empty() {
            return Err(Error::invalid("topics", "no topic to mirror: add one with .topic(..)"));
        }
        if !(1..=BATCH_RECORDS_MAX).contains(&self.batch_records) {
            let reason = format!("{} is not in 1..={BATCH_RECORDS_MAX}", self.batch_records);
            return Err(Error::invalid("batch_records", reason));
        }
        if self.connect_timeout.is_zero() {
            return Err(Error::invalid("connect_timeout", "must be above zero"));
        }
        for (key, _) in &self.settings {
            if OWN_SETTINGS.contains(&key.as_str()) {
                let reason = format!("{key:?} is set by the mirror itself (its delivery guarantees rest on it)");
                return Err(Error::invalid("settings", reason));
            }
        }
        for (source, destination) in &self.routes {
            validate_name(source)?;
            validate_name(destination)?;
        }
        let mut sources: Vec<&str> = self.routes.iter().map(|(s, _)| s.as_str()).collect();
        sources.sort_unstable();
        if let Some(pair) = sources.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(Error::invalid("topics", format!("topic {:?} is named twice", pair[0])));
        }
        Ok(())
    }
}

/// The configuration of a [`MirrorOut`](crate::mirror::MirrorOut): larder
/// topics copied into a Kafka cluster.
///
/// ```
/// use std::time::Duration;
/// use larder::mirror::{MirrorOutConfig, PartitionMapping};
///
/// let config = MirrorOutConfig::new("127.0.0.1:9092")
///     .topic("events")                       // to the Kafka topic "events"
///     .topic_as("payments", "edge-payments") // to another name
///     .group_id("to-central")
///     .partition_mapping(PartitionMapping::Same)
///     .delivery_timeout(Duration::from_secs(30));
/// # let _ = config;
/// ```
#[derive(Debug, Clone)]
pub struct MirrorOutConfig {
    pub(crate) common: Common,
    pub(crate) delivery_timeout: Duration,
}

impl MirrorOutConfig {
    /// Mirrors to the Kafka cluster reached through `brokers`
    /// (`host:port[,host:port...]`, Kafka's `bootstrap.servers`).
    pub fn new(brokers: impl Into<String>) -> Self {
        MirrorOutConfig {
            common: Common::new(brokers.into(), "larder-mirror-out"),
            delivery_timeout: Duration::from_secs(30),
        }
    }

    /// Mirrors the larder topic `topic` to the Kafka topic of the same name.
    pub fn topic(self, topic: &str) -> Self {
        self.topic_as(topic, topic)
    }

    /// Mirrors the larder topic `topic` to the Kafka topic `kafka_topic`.
    pub fn topic_as(mut self, topic: &str, kafka_topic: &str) -> Self {
        self.common.routes.push((topic.to_string(), kafka_topic.to_string()));
        self
    }

    /// The larder consumer group whose committed offsets are the mirror's
    /// position (default `larder-mirror-out`). Name it in a topic's
    /// [`CleanupPolicy::UntilConsumed`](crate::CleanupPolicy::UntilConsumed)
    /// so nothing leaves the disk before Kafka has it.
    pub fn group_id(mut self, group_id: impl Into<String>) -> Self {
        self.common.group_id = group_id.into();
        self
    }

    /// How partitions map (default [`PartitionMapping::Same`]).
    pub fn partition_mapping(mut self, mapping: PartitionMapping) -> Self {
        self.common.mapping = mapping;
        self
    }

    /// Most records read, sent and committed as one batch (default 10 000,
    /// at most [`BATCH_RECORDS_MAX`]).
    pub fn batch_records(mut self, records: usize) -> Self {
        self.common.batch_records = records;
        self
    }

    /// How long [`MirrorOut::start`](crate::mirror::MirrorOut::start) waits
    /// for the cluster's metadata before failing with
    /// [`Error::BrokerUnreachable`] (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.common.connect_timeout = timeout;
        self
    }

    /// How long the Kafka client keeps retrying a batch before the mirror
    /// gives it up, backs off and sends it again (Kafka's
    /// `delivery.timeout.ms`; default 30 s, at most [`DELIVERY_TIMEOUT_MAX`]).
    pub fn delivery_timeout(mut self, timeout: Duration) -> Self {
        self.delivery_timeout = timeout;
        self
    }

    /// The longest pause between two attempts while the cluster is
    /// unreachable (default 5 s; pauses double from 100 ms up to it).
    pub fn retry_backoff_max(mut self, backoff: Duration) -> Self {
        self.common.retry_backoff_max = backoff;
        self
    }

    /// Any other librdkafka producer setting (`security.protocol`,
    /// `linger.ms`, `compression.type`, ...). The settings the mirror's
    /// guarantees rest on (`acks`, `enable.idempotence`, the brokers, the
    /// timeout) are refused at start with [`Error::InvalidArgument`].
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.common.settings.push((key.into(), value.into()));
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        self.common.validate()?;
        validate_group_id(&self.common.group_id)?;
        if self.delivery_timeout < Duration::from_millis(1) || self.delivery_timeout > DELIVERY_TIMEOUT_MAX {
            return Err(Error::invalid("delivery_timeout", format!("must be 1 ms to {DELIVERY_TIMEOUT_MAX:?}")));
        }
        Ok(())
    }
}

/// The configuration of a [`MirrorIn`](crate::mirror::MirrorIn): Kafka
/// topics copied into larder topics, read by a Kafka consumer group.
///
/// ```
/// use larder::mirror::MirrorInConfig;
///
/// let config = MirrorInConfig::new("127.0.0.1:9092", "edge-copy")
///     .topic("prices")                   // into the larder topic "prices"
///     .topic_as("central-orders", "orders");
/// # let _ = config;
/// ```
#[derive(Debug, Clone)]
pub struct MirrorInConfig {
    pub(crate) common: Common,
}

impl MirrorInConfig {
    /// Reads from the Kafka cluster reached through `brokers` as the Kafka
    /// consumer group `group_id`, whose committed offsets are the mirror's
    /// position.
    ///
    /// The mirror is a static member of the group (Kafka's
    /// `group.instance.id`, `larder-mirror-in` unless [`set`](Self::set)
    /// otherwise): started again after a crash or a kill, it takes back the
    /// dead mirror's place and partitions at once, instead of waiting out
    /// its session. Give each mirror its own group; two mirrors sharing one
    /// need `group.instance.id`s of their own, or on Kafka the later fences
    /// the earlier, which stops with [`Error::Kafka`].
    pub fn new(brokers: impl Into<String>, group_id: impl Into<String>) -> Self {
        MirrorInConfig { common: Common::new(brokers.into(), &group_id.into()) }
    }

    /// Mirrors the Kafka topic `kafka_topic` into the larder topic of the
    /// same name.
    pub fn topic(self, kafka_topic: &str) -> Self {
        self.topic_as(kafka_topic, kafka_topic)
    }

    /// Mirrors the Kafka topic `kafka_topic` into the larder topic `topic`.
    /// A larder topic that does not exist is created with the Kafka topic's
    /// partition count and the default configuration.
    pub fn topic_as(mut self, kafka_topic: &str, topic: &str) -> Self {
        self.common.routes.push((kafka_topic.to_string(), topic.to_string()));
        self
    }

    /// How partitions map (default [`PartitionMapping::Same`]).
    pub fn partition_mapping(mut self, mapping: PartitionMapping) -> Self {
        self.common.mapping = mapping;
        self
    }

    /// Most records appended and committed as one batch (default 10 000,
    /// at most [`BATCH_RECORDS_MAX`]).
    pub fn batch_records(mut self, records: usize) -> Self {
        self.common.batch_records = records;
        self
    }

    /// How long [`MirrorIn::start`](crate::mirror::MirrorIn::start) waits
    /// for the cluster's metadata before failing with
    /// [`Error::BrokerUnreachable`] (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.common.connect_timeout = timeout;
        self
    }

    /// The longest pause between two attempts while the cluster is
    /// unreachable (default 5 s).
    pub fn retry_backoff_max(mut self, backoff: Duration) -> Self {
        self.common.retry_backoff_max = backoff;
        self
    }

    /// Any other librdkafka consumer setting (`security.protocol`,
    /// `session.timeout.ms`, `group.instance.id`, `fetch.max.bytes`, ...).
    /// The group, the brokers, the commit settings and
    /// `statistics.interval.ms` are the mirror's own, refused at start with
    /// [`Error::InvalidArgument`].
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.common.settings.push((key.into(), value.into()));
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        self.common.validate()?;
        if self.common.group_id.trim().is_empty() {
            return Err(Error::invalid("group_id", "the Kafka consumer group id is empty"));
        }
        if let Some((key, _)) = self.common.settings.iter().find(|(key, _)| key == "statistics.interval.ms") {
            let reason = format!("{key:?} is set by the mirror in itself (its lag is read from the statistics)");
            return Err(Error::invalid("settings", reason));
        }
        Ok(())
    }
}
