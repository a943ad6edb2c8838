//! The Kafka side of a mirror, through librdkafka: the client settings each
//! direction needs, and the start-up check of the cluster's metadata that
//! turns a bad configuration into a typed error.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use rdkafka::client::{Client, ClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;

use super::config::{Common, MirrorInConfig, MirrorOutConfig};
use crate::error::{Error, Result};

/// The mirror in's default `fetch.max.bytes`: 1 MiB.
const FETCH_BYTES_MAX: u32 = 1 << 20;

/// The mirror in's default `group.instance.id`: one mirror per group.
pub(crate) const GROUP_INSTANCE_ID: &str = "larder-mirror-in";

/// How often the mirror in's Kafka client reports its partitions'
/// watermarks (its `statistics.interval.ms`), which its lag is made of.
pub(crate) const STATISTICS_INTERVAL: Duration = Duration::from_secs(1);

/// The producer settings of a mirror out: idempotent, `acks=all`, the
/// user's extra settings first so the mirror's own cannot be overridden.
pub(crate) fn producer_settings(config: &MirrorOutConfig) -> ClientConfig {
    let mut settings = base(&config.common);
    settings
        .set("client.id", "larder-mirror-out")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", config.delivery_timeout.as_millis().max(1).to_string());
    settings
}

/// The consumer settings of a mirror in: its group, offsets committed by
/// the mirror only, never an automatic topic creation.
pub(crate) fn consumer_settings(config: &MirrorInConfig) -> ClientConfig {
    let mut settings = ClientConfig::new();
    // Defaults a setting of the user's replaces: fetches of at most 1 MiB
    // in all (a broker that fills a fetch from one partition up to the
    // whole limit, as tansu 0.6 does, takes seconds over a large one, and
    // the first records and every commit wait for it), and a short wait
    // (brokers that wait it out even with records ready, as tansu 0.6
    // does, make every fetch that slow).
    settings.set("fetch.max.bytes", FETCH_BYTES_MAX.to_string()).set("fetch.wait.max.ms", "50");
    // A static member of its group: a mirror started again after a crash
    // or a kill takes the place of the one that died, instead of waiting
    // a session timeout for the group to forget it (tansu 0.6 never hands
    // out the partitions again once a dead member led the group).
    settings.set("group.instance.id", GROUP_INSTANCE_ID);
    let mut settings = base_on(settings, &config.common);
    settings
        .set("client.id", "larder-mirror-in")
        .set("group.id", &config.common.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("allow.auto.create.topics", "false")
        .set("statistics.interval.ms", STATISTICS_INTERVAL.as_millis().to_string());
    settings
}

/// A partition as the mirror in's Kafka client last reported it: the
/// broker's watermarks from its fetch responses and the group's committed
/// offset (each negative while unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Watermarks {
    pub(crate) low: i64,
    pub(crate) high: i64,
    pub(crate) committed: i64,
}

/// The mirror in's consumer context: keeps the watermarks of every
/// partition from the client's statistics. The lag is read from them, never
/// asked of the broker: a broker that answers one request at a time per
/// connection (tansu 0.6) holds a watermark request behind a fetch that
/// takes seconds, the client times it out and drops the connection with the
/// fetch in flight, and the mirror then never gets a large fetch through.
#[derive(Debug, Default)]
pub(crate) struct InContext {
    watermarks: Mutex<HashMap<(String, i32), Watermarks>>,
}

impl InContext {
    /// The last watermarks reported for `partition` of `topic`, once its
    /// high watermark is known.
    pub(crate) fn watermarks(&self, topic: &str, partition: i32) -> Option<Watermarks> {
        self.watermarks.lock().get(&(topic.to_string(), partition)).copied()
    }
}

impl ClientContext for InContext {
    fn stats(&self, statistics: Statistics) {
        let mut watermarks = self.watermarks.lock();
        for topic in statistics.topics.values() {
            for partition in topic.partitions.values().filter(|p| p.partition >= 0 && p.hi_offset >= 0) {
                let reported = Watermarks {
                    low: partition.lo_offset,
                    high: partition.hi_offset,
                    committed: partition.committed_offset,
                };
                watermarks.insert((topic.topic.clone(), partition.partition), reported);
            }
        }
    }
}

impl ConsumerContext for InContext {}

fn base(common: &Common) -> ClientConfig {
    base_on(ClientConfig::new(), common)
}

/// `settings`, then the user's, then the brokers and the reconnection
/// backoff.
fn base_on(mut settings: ClientConfig, common: &Common) -> ClientConfig {
    for (key, value) in &common.settings {
        settings.set(key, value);
    }
    settings
        .set("bootstrap.servers", &common.brokers)
        .set("reconnect.backoff.max.ms", common.retry_backoff_max.as_millis().max(1).to_string());
    settings
}

/// A client setting librdkafka refused, as an error naming it.
pub(crate) fn refused(error: KafkaError) -> Error {
    Error::Kafka { operation: "creating the Kafka client", reason: error.to_string() }
}

/// The partition count of each of `topics` in the cluster, read from its
/// metadata: [`Error::BrokerUnreachable`] when no broker answers within
/// `timeout`, [`Error::KafkaTopicMissing`] for a topic the cluster lacks.
pub(crate) fn partition_counts<C: ClientContext>(
    client: &Client<C>,
    brokers: &str,
    topics: &[&str],
    timeout: Duration,
) -> Result<HashMap<String, u32>> {
    // All topics at once: asking for one by name may create it on a
    // cluster that auto-creates topics.
    let metadata = client
        .fetch_metadata(None, timeout)
        .map_err(|error| Error::BrokerUnreachable { brokers: brokers.to_string(), reason: error.to_string() })?;
    let mut counts = HashMap::new();
    for &topic in topics {
        let found = metadata.topics().iter().find(|t| t.name() == topic);
        let Some(found) = found.filter(|t| t.error().is_none() && !t.partitions().is_empty()) else {
            return Err(Error::KafkaTopicMissing { topic: topic.to_string(), brokers: brokers.to_string() });
        };
        counts.insert(topic.to_string(), found.partitions().len() as u32);
    }
    Ok(counts)
}

/// A Kafka client error with its librdkafka code, for stats and logs.
pub(crate) fn describe(error: &KafkaError) -> String {
    match error.rdkafka_error_code() {
        Some(code) => format!("{error} ({code:?})"),
        None => error.to_string(),
    }
}
