//! The mirror in: Kafka topics read by a Kafka consumer group and appended
//! to larder topics; the group's Kafka offsets are committed only once
//! larder acknowledged every record of the batch at its topic's durability
//! level (synced, for a `Sync` topic).
//!
//! One batch at a time: poll up to `batch_records` messages, send them all
//! through a larder producer, wait for every acknowledgement, commit the
//! next offset of each Kafka partition. A commit the cluster refuses (it is
//! down, or the group rebalanced) is retried with the next batch; what a
//! restart or a rebalance reads again from the last commit is appended
//! again: at least once, in each partition's order from the restart point.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};
use rdkafka::message::{BorrowedMessage, Headers as _, Message as _};
use rdkafka::{Offset, TopicPartitionList};

use super::client::{consumer_settings, describe, partition_counts, refused, InContext};
use super::config::{MirrorInConfig, PartitionMapping};
use super::stats::{Backoff, Counters, MirrorStats, PartitionProgress};
use crate::catalog::TopicConfig;
use crate::error::{Error, IoOp, Result};
use crate::log::Log;
use crate::producer::{DeliveryHandle, Producer, ProducerConfig, ProducerRecord};
use crate::record::NewRecord;

/// How long the first poll of a batch waits for a message.
const POLL_TIMEOUT: Duration = Duration::from_millis(100);

/// Where one Kafka topic's records go.
#[derive(Debug, Clone)]
struct Route {
    topic: String,
    partitions: u32,
}

/// A running mirror of Kafka topics into larder, on a thread of its own
/// (`larder-mirror-in`). Its position is the Kafka consumer group's
/// committed offsets.
///
/// Stop it with [`MirrorIn::stop`] before closing the log; a log closed
/// under it stops it with [`Error::Closed`]. Dropping it stops it too.
#[derive(Debug)]
pub struct MirrorIn {
    counters: Arc<Counters>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl MirrorIn {
    /// Checks the configuration against the cluster and the log, creates
    /// the larder topics that do not exist (with the Kafka topic's partition
    /// count), then starts mirroring. Fails with
    /// [`Error::BrokerUnreachable`], [`Error::KafkaTopicMissing`],
    /// [`Error::PartitionCountMismatch`] (an existing larder topic whose
    /// count differs while partition numbers are kept) or
    /// [`Error::InvalidArgument`] naming a bad setting.
    pub fn start(log: &Log, config: MirrorInConfig) -> Result<MirrorIn> {
        config.validate()?;
        let consumer: BaseConsumer<InContext> =
            consumer_settings(&config).create_with_context(InContext::default()).map_err(refused)?;
        let kafka_topics: Vec<&str> = config.common.routes.iter().map(|(k, _)| k.as_str()).collect();
        let counts =
            partition_counts(consumer.client(), &config.common.brokers, &kafka_topics, config.common.connect_timeout)?;
        let routes = routes(log, &config, &counts)?;
        consumer.subscribe(&kafka_topics).map_err(refused)?;
        let producer = log.producer(ProducerConfig::default())?;
        let counters = Arc::new(Counters::new());
        let worker = Worker { config, routes, consumer, producer, counters: Arc::clone(&counters) };
        let thread = std::thread::Builder::new()
            .name("larder-mirror-in".into())
            .spawn(move || worker.run())
            .map_err(|e| Error::io(IoOp::SpawnThread, "larder-mirror-in", e))?;
        Ok(MirrorIn { counters, thread: Some(thread) })
    }

    /// Records and bytes mirrored, the recent rate, retries, and the
    /// committed offset and lag of each Kafka partition assigned to the
    /// mirror, as last seen (refreshed about once a second; empty until the
    /// group assigned it partitions).
    pub fn stats(&self) -> MirrorStats {
        let progress = self.counters.progress.lock().clone();
        self.counters.snapshot(progress)
    }

    /// Whether the mirror still runs (it stops on a failure it cannot
    /// retry, which [`MirrorIn::stop`] returns).
    pub fn is_running(&self) -> bool {
        self.counters.running.load(Ordering::Acquire)
    }

    /// Stops the mirror after committing what larder acknowledged. Returns
    /// the final figures, or the failure that stopped the mirror before.
    pub fn stop(mut self) -> Result<MirrorStats> {
        self.join()?;
        Ok(self.stats())
    }

    fn join(&mut self) -> Result<()> {
        self.counters.stop_thread(&mut self.thread, "mirroring in")
    }
}

impl Drop for MirrorIn {
    fn drop(&mut self) {
        let _ = self.join();
    }
}

/// Each Kafka topic's route, its larder topic created if missing and
/// checked against the Kafka partition count if not.
fn routes(log: &Log, config: &MirrorInConfig, counts: &HashMap<String, u32>) -> Result<HashMap<String, Route>> {
    let mut routes = HashMap::new();
    for (kafka_topic, topic) in &config.common.routes {
        let kafka_partitions = counts.get(kafka_topic).copied().unwrap_or_default();
        let partitions = match log.describe_topic(topic) {
            Ok(description) => description.partitions.len() as u32,
            Err(Error::UnknownTopic { .. }) => {
                log.create_topic(topic, TopicConfig::new(kafka_partitions))?;
                kafka_partitions
            }
            Err(error) => return Err(error),
        };
        if config.common.mapping == PartitionMapping::Same && partitions != kafka_partitions {
            let (topic, kafka_topic) = (topic.clone(), kafka_topic.clone());
            return Err(Error::PartitionCountMismatch { topic, partitions, kafka_topic, kafka_partitions });
        }
        routes.insert(kafka_topic.clone(), Route { topic: topic.clone(), partitions });
    }
    Ok(routes)
}

/// The mirror's thread: what it owns.
struct Worker {
    config: MirrorInConfig,
    routes: HashMap<String, Route>,
    consumer: BaseConsumer<InContext>,
    producer: Producer,
    counters: Arc<Counters>,
}

/// Per Kafka partition: the next offset to commit, and the last committed.
#[derive(Debug, Default)]
struct Positions {
    uncommitted: HashMap<(String, i32), i64>,
    committed: HashMap<(String, i32), i64>,
}

impl Worker {
    fn run(self) -> Result<()> {
        let result = self.mirror();
        if let Err(error) = &result {
            self.counters.failed(error.to_string());
        }
        self.counters.running.store(false, Ordering::Release);
        result
    }

    fn mirror(&self) -> Result<()> {
        let mut positions = Positions::default();
        let mut backoff = Backoff::new(self.config.common.retry_backoff_max);
        while !self.counters.stopping() {
            let batch = match self.batch() {
                Ok(batch) => batch,
                Err(reason) => {
                    self.fatal()?;
                    self.counters.retrying(reason);
                    self.counters.pause(backoff.next());
                    continue;
                }
            };
            if !batch.is_empty() {
                let bytes = self.append(&batch)?;
                for message in &batch {
                    let key = (message.topic().to_string(), message.partition());
                    positions.uncommitted.insert(key, message.offset() + 1);
                }
                self.counters.copied(batch.len() as u64, bytes);
            }
            drop(batch);
            if !positions.uncommitted.is_empty() {
                match self.commit(&mut positions) {
                    Ok(()) => backoff.reset(),
                    Err(reason) => {
                        self.fatal()?;
                        self.counters.retrying(reason);
                        self.counters.pause(backoff.next());
                    }
                }
            }
            self.publish_progress(&positions);
        }
        // What larder acknowledged is committed if the cluster allows; if
        // not, the next start appends it again.
        let _ = self.commit(&mut positions);
        Ok(())
    }

    /// The Kafka client's fatal error, if it has one: it can do nothing
    /// more (another mirror of the group took its `group.instance.id`, for
    /// one), so retrying is pointless.
    fn fatal(&self) -> Result<()> {
        match self.consumer.client().fatal_error() {
            None => Ok(()),
            Some((code, reason)) => {
                Err(Error::Kafka { operation: "mirroring in", reason: format!("{reason} ({code:?})") })
            }
        }
    }

    /// Up to `batch_records` messages: waits for the first, takes what is
    /// already fetched after it.
    fn batch(&self) -> std::result::Result<Vec<BorrowedMessage<'_>>, String> {
        let mut batch = Vec::new();
        let mut timeout = POLL_TIMEOUT;
        while batch.len() < self.config.common.batch_records {
            match self.consumer.poll(timeout) {
                None => break,
                Some(Ok(message)) => batch.push(message),
                // An error ends the batch; what was polled before it is kept.
                Some(Err(error)) if batch.is_empty() => {
                    return Err(format!("reading from Kafka: {}", describe(&error)))
                }
                Some(Err(_)) => break,
            }
            timeout = Duration::ZERO;
        }
        Ok(batch)
    }

    /// Appends `batch` to larder and waits for every acknowledgement;
    /// returns the bytes of keys and values appended.
    fn append(&self, batch: &[BorrowedMessage<'_>]) -> Result<u64> {
        let mut handles: Vec<DeliveryHandle> = Vec::with_capacity(batch.len());
        let mut bytes = 0u64;
        for message in batch {
            let Some(route) = self.routes.get(message.topic()) else { continue };
            let headers: Vec<(&str, &[u8])> = message
                .headers()
                .map(|headers| headers.iter().map(|h| (h.key, h.value.unwrap_or_default())).collect())
                .unwrap_or_default();
            let source = u32::try_from(message.partition()).unwrap_or_default();
            let partition = self.config.common.mapping.target(source, message.key(), route.partitions);
            let record = NewRecord {
                key: message.key(),
                value: message.payload(),
                timestamp_ms: message.timestamp().to_millis().filter(|ms| *ms >= 0),
                headers: &headers,
            };
            bytes += (message.key().map_or(0, <[u8]>::len) + message.payload().map_or(0, <[u8]>::len)) as u64;
            handles.push(self.producer.send(&ProducerRecord {
                topic: &route.topic,
                partition: Some(partition),
                record,
            })?);
        }
        for handle in handles {
            handle.get()?;
        }
        Ok(bytes)
    }

    /// Commits the next offset of every partition appended since the last
    /// commit.
    fn commit(&self, positions: &mut Positions) -> std::result::Result<(), String> {
        if positions.uncommitted.is_empty() {
            return Ok(());
        }
        let mut list = TopicPartitionList::new();
        for ((topic, partition), offset) in &positions.uncommitted {
            list.add_partition_offset(topic, *partition, Offset::Offset(*offset))
                .map_err(|e| format!("committing to Kafka: {}", describe(&e)))?;
        }
        if let Err(error) = self.consumer.commit(&list, CommitMode::Sync) {
            // Partitions a rebalance took away are committed by their new
            // reader: keeping them would fail every later commit.
            if let Ok(assigned) = self.consumer.assignment() {
                positions
                    .uncommitted
                    .retain(|(topic, partition), _| assigned.find_partition(topic, *partition).is_some());
            }
            return Err(format!("committing to Kafka: {}", describe(&error)));
        }
        positions.committed.extend(positions.uncommitted.drain());
        Ok(())
    }

    /// Publishes each assigned partition's committed offset and lag: the
    /// partition's end as the Kafka client last reported it (about once a
    /// second, [`STATISTICS_INTERVAL`](super::client::STATISTICS_INTERVAL)),
    /// less the offset committed by this mirror, or else by the group
    /// before it started, or else the partition's start.
    fn publish_progress(&self, positions: &Positions) {
        let Ok(assigned) = self.consumer.assignment() else { return };
        let previous = self.counters.progress.lock().clone();
        let mut progress = Vec::new();
        for element in assigned.elements() {
            let (topic, partition) = (element.topic().to_string(), element.partition());
            let number = u32::try_from(partition).unwrap_or_default();
            let Some(reported) = self.consumer.context().watermarks(&topic, partition) else {
                // Not reported yet: the last figures stand, or, for a
                // partition never measured, a lag of at least one, never a
                // false zero.
                let last = previous.iter().find(|p| p.topic == topic && p.partition == number).cloned();
                progress.push(last.unwrap_or(PartitionProgress {
                    topic,
                    partition: number,
                    committed: None,
                    end_offset: 0,
                    lag: 1,
                }));
                continue;
            };
            let committed = positions
                .committed
                .get(&(topic.clone(), partition))
                .copied()
                .or(Some(reported.committed))
                .and_then(|c| u64::try_from(c).ok());
            let end_offset = u64::try_from(reported.high).unwrap_or_default();
            // A report older than this mirror's last commit tells of an end
            // at most that far.
            let from = committed.unwrap_or_else(|| u64::try_from(reported.low).unwrap_or_default());
            let lag = end_offset.saturating_sub(from);
            progress.push(PartitionProgress {
                topic,
                partition: number,
                committed,
                end_offset: end_offset.max(from),
                lag,
            });
        }
        progress.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        *self.counters.progress.lock() = progress;
    }
}
