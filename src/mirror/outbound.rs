//! The mirror out: larder topics read by a larder consumer group, sent to
//! Kafka by an idempotent producer with `acks=all`, and committed in larder
//! only once Kafka acknowledged every record of the batch.
//!
//! One batch at a time: poll up to `batch_records`, send them all, wait for
//! every delivery report, commit. A batch that fails in any way (a record
//! refused, a delivery timed out while the cluster is down, a fatal
//! producer error) is given up as a whole: its partitions are sought back
//! to their committed offsets, the producer is replaced (so nothing of the
//! failed batch is still in flight when it is sent again), and the batch is
//! sent again after a pause that doubles up to `retry_backoff_max`. Kafka
//! may so see a record twice, never a record missing, and every partition's
//! records in order from each restart point: at least once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rdkafka::client::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer as _, ProducerContext, PurgeConfig};
use rdkafka::types::RDKafkaErrorCode;

use super::client::{describe, partition_counts, producer_settings, refused};
use super::config::{MirrorOutConfig, PartitionMapping};
use super::stats::{Backoff, Counters, MirrorStats, PartitionProgress};
use crate::consumer::{AutoOffsetReset, Consumer, ConsumerConfig, ConsumerRecords};
use crate::error::{Error, IoOp, Result};
use crate::group::TopicPartition;
use crate::log::Log;

/// How long one larder poll waits for records before the loop checks
/// whether it is asked to stop.
const POLL_TIMEOUT: Duration = Duration::from_millis(100);

/// The larder consumer's `max_poll_interval`, at least.
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(300);

/// Where one larder topic's records go.
#[derive(Debug, Clone)]
struct Route {
    kafka_topic: String,
    kafka_partitions: u32,
}

/// A running mirror of larder topics into Kafka, on a thread of its own
/// (`larder-mirror-out`). Its position is a larder consumer group (see
/// [`MirrorOutConfig::group_id`]), so `larder groups describe` shows its
/// lag from another process too.
///
/// Stop it with [`MirrorOut::stop`] before closing the log; a log closed
/// under it stops it with [`Error::Closed`]. Dropping it stops it too.
#[derive(Debug)]
pub struct MirrorOut {
    counters: Arc<Counters>,
    log: Log,
    group_id: String,
    partitions: Vec<TopicPartition>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl MirrorOut {
    /// Checks the configuration against the log and the cluster, then
    /// starts mirroring. Fails with [`Error::UnknownTopic`] for a larder
    /// topic that does not exist, [`Error::BrokerUnreachable`] when no
    /// broker answers within the connect timeout,
    /// [`Error::KafkaTopicMissing`] for a Kafka topic that does not exist
    /// (the mirror never creates one), [`Error::PartitionCountMismatch`]
    /// when partition numbers are to be kept and the counts differ, and
    /// [`Error::InvalidArgument`] naming a bad setting.
    pub fn start(log: &Log, config: MirrorOutConfig) -> Result<MirrorOut> {
        config.validate()?;
        let mut partitions = Vec::new();
        for (topic, _) in &config.common.routes {
            let count = log.describe_topic(topic)?.partitions.len() as u32;
            partitions.extend((0..count).map(|p| TopicPartition::new(topic.as_str(), p)));
        }
        let producer = new_producer(&config)?;
        let kafka_topics: Vec<&str> = config.common.routes.iter().map(|(_, k)| k.as_str()).collect();
        let counts =
            partition_counts(producer.client(), &config.common.brokers, &kafka_topics, config.common.connect_timeout)?;
        let routes = routes(log, &config, &counts)?;
        let counters = Arc::new(Counters::new());
        let worker =
            Worker { log: log.clone(), config: config.clone(), routes, producer, counters: Arc::clone(&counters) };
        let thread = std::thread::Builder::new()
            .name("larder-mirror-out".into())
            .spawn(move || worker.run())
            .map_err(|e| Error::io(IoOp::SpawnThread, "larder-mirror-out", e))?;
        let group_id = config.common.group_id;
        Ok(MirrorOut { counters, log: log.clone(), group_id, partitions, thread: Some(thread) })
    }

    /// Records and bytes mirrored, the recent rate, retries, and each
    /// partition's committed offset and lag, read from the log now.
    pub fn stats(&self) -> MirrorStats {
        let committed: HashMap<TopicPartition, u64> = match self.log.describe_group(&self.group_id) {
            Ok(group) => group.offsets.into_iter().map(|o| (o.partition, o.committed)).collect(),
            Err(_) => HashMap::new(),
        };
        let progress = self.partitions.iter().filter_map(|tp| {
            let partition = self.log.partition(&tp.topic, tp.partition).ok()?;
            let end_offset = partition.end_offset();
            let committed = committed.get(tp).copied();
            let from = committed.unwrap_or_else(|| partition.log_start_offset());
            let (topic, partition) = (tp.topic.clone(), tp.partition);
            Some(PartitionProgress { topic, partition, committed, end_offset, lag: end_offset.saturating_sub(from) })
        });
        self.counters.snapshot(progress.collect())
    }

    /// Whether the mirror still runs (it stops on a failure it cannot
    /// retry, which [`MirrorOut::stop`] returns).
    pub fn is_running(&self) -> bool {
        self.counters.running.load(Ordering::Acquire)
    }

    /// Stops the mirror: the batch in flight is abandoned uncommitted (it
    /// is sent again by the next start). Returns the final figures, or the
    /// failure that stopped the mirror before.
    pub fn stop(mut self) -> Result<MirrorStats> {
        self.join()?;
        Ok(self.stats())
    }

    fn join(&mut self) -> Result<()> {
        self.counters.stop_thread(&mut self.thread, "mirroring out")
    }
}

impl Drop for MirrorOut {
    fn drop(&mut self) {
        let _ = self.join();
    }
}

/// Each larder topic's route, checked against the cluster's partition
/// counts.
fn routes(log: &Log, config: &MirrorOutConfig, counts: &HashMap<String, u32>) -> Result<HashMap<String, Route>> {
    let mut routes = HashMap::new();
    for (topic, kafka_topic) in &config.common.routes {
        let partitions = log.describe_topic(topic)?.partitions.len() as u32;
        let kafka_partitions = counts.get(kafka_topic).copied().unwrap_or_default();
        if config.common.mapping == PartitionMapping::Same && partitions != kafka_partitions {
            let (topic, kafka_topic) = (topic.clone(), kafka_topic.clone());
            return Err(Error::PartitionCountMismatch { topic, partitions, kafka_topic, kafka_partitions });
        }
        routes.insert(topic.clone(), Route { kafka_topic: kafka_topic.clone(), kafka_partitions });
    }
    Ok(routes)
}

fn new_producer(config: &MirrorOutConfig) -> Result<BaseProducer<Deliveries>> {
    producer_settings(config).create_with_context(Deliveries::default()).map_err(refused)
}

/// Delivery reports of the producer's current batch.
#[derive(Debug, Default)]
struct Deliveries {
    settled: AtomicUsize,
    failed: AtomicUsize,
    first_failure: Mutex<Option<String>>,
}

impl Deliveries {
    fn reset(&self) {
        self.settled.store(0, Ordering::Release);
        self.failed.store(0, Ordering::Release);
        *self.first_failure.lock() = None;
    }
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result {
            self.failed.fetch_add(1, Ordering::AcqRel);
            self.first_failure.lock().get_or_insert_with(|| describe(error));
        }
        self.settled.fetch_add(1, Ordering::AcqRel);
    }
}

/// Why a batch was not committed.
enum Abandoned {
    /// It may succeed later: back off and send it again.
    Retry(String),
    /// The mirror is stopping.
    Stopping,
}

/// The mirror's thread: what it owns.
struct Worker {
    log: Log,
    config: MirrorOutConfig,
    routes: HashMap<String, Route>,
    producer: BaseProducer<Deliveries>,
    counters: Arc<Counters>,
}

impl Worker {
    fn run(mut self) -> Result<()> {
        let result = self.mirror();
        if let Err(error) = &result {
            self.counters.failed(error.to_string());
        }
        self.counters.running.store(false, Ordering::Release);
        result
    }

    fn mirror(&mut self) -> Result<()> {
        let mut consumer = self.consumer()?;
        let mut backoff = Backoff::new(self.config.common.retry_backoff_max);
        while !self.counters.stopping() {
            let records = consumer.poll(POLL_TIMEOUT)?;
            if records.is_empty() {
                continue;
            }
            match self.forward(&records) {
                Ok(bytes) => match consumer.commit() {
                    Ok(()) => {
                        self.counters.copied(records.len() as u64, bytes);
                        backoff.reset();
                    }
                    // Out of the group (another member of it took the
                    // partitions, say): the next poll joins again and
                    // resumes from the group's last commit.
                    Err(error @ (Error::StaleGeneration { .. } | Error::UnknownMember { .. })) => {
                        self.counters.retrying(format!("committing in larder: {error}"));
                    }
                    Err(error) => return Err(error),
                },
                Err(Abandoned::Stopping) => break,
                Err(Abandoned::Retry(reason)) => {
                    self.counters.retrying(reason);
                    rewind(&mut consumer, &records)?;
                    self.replace_producer()?;
                    self.counters.pause(backoff.next());
                }
            }
        }
        // Nothing is committed here: what was not acknowledged is sent again
        // by the next start.
        consumer.close()
    }

    fn consumer(&self) -> Result<Consumer> {
        let config = ConsumerConfig::default()
            .group_id(self.config.common.group_id.clone())
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .enable_auto_commit(false)
            .max_poll_records(self.config.common.batch_records)
            // A batch may wait out a whole delivery timeout: the member must
            // not be taken for dead meanwhile.
            .max_poll_interval(
                MAX_POLL_INTERVAL.max(self.config.delivery_timeout * 2).min(ConsumerConfig::MAX_INTERVAL),
            );
        let mut consumer = self.log.consumer(config)?;
        let topics: Vec<&str> = self.config.common.routes.iter().map(|(t, _)| t.as_str()).collect();
        consumer.subscribe(&topics)?;
        Ok(consumer)
    }

    /// Sends every record of `records` and waits for every delivery
    /// report; returns the bytes of keys and values sent.
    fn forward(&self, records: &ConsumerRecords) -> std::result::Result<u64, Abandoned> {
        self.producer.context().reset();
        let mut bytes = 0u64;
        for record in records.iter() {
            let Some(route) = self.routes.get(record.topic()) else { continue };
            let partition = self.config.common.mapping.target(record.partition(), record.key(), route.kafka_partitions);
            let mut headers = OwnedHeaders::new();
            for (key, value) in record.headers() {
                headers = headers.insert(Header { key, value: Some(value) });
            }
            let mut outgoing = BaseRecord::<[u8], [u8]>::to(&route.kafka_topic)
                .partition(partition as i32)
                .timestamp(record.timestamp_ms())
                .headers(headers);
            outgoing.key = record.key();
            outgoing.payload = record.value();
            bytes += (record.key().map_or(0, <[u8]>::len) + record.value().map_or(0, <[u8]>::len)) as u64;
            self.send(outgoing)?;
        }
        self.settle(records.len())?;
        Ok(bytes)
    }

    /// Queues one record, waiting while the client's queue is full.
    fn send(&self, mut outgoing: BaseRecord<'_, [u8], [u8]>) -> std::result::Result<(), Abandoned> {
        loop {
            match self.producer.send(outgoing) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    outgoing = back;
                    self.producer.poll(Duration::from_millis(10));
                    if self.counters.stopping() {
                        return Err(Abandoned::Stopping);
                    }
                }
                Err((error, _)) => return Err(Abandoned::Retry(format!("sending to Kafka: {}", describe(&error)))),
            }
        }
    }

    /// Waits until `sent` delivery reports came, all successful.
    fn settle(&self, sent: usize) -> std::result::Result<(), Abandoned> {
        let context = self.producer.context();
        // The client fails a record after the delivery timeout; past it and
        // a margin, something is wrong with the client itself.
        let deadline = Instant::now() + self.config.delivery_timeout + Duration::from_secs(10);
        while context.settled.load(Ordering::Acquire) < sent {
            self.producer.poll(Duration::from_millis(50));
            if self.counters.stopping() {
                return Err(Abandoned::Stopping);
            }
            if let Some((code, reason)) = self.producer.client().fatal_error() {
                return Err(Abandoned::Retry(format!("the Kafka producer failed: {reason} ({code:?})")));
            }
            if Instant::now() > deadline {
                return Err(Abandoned::Retry("no delivery report within the delivery timeout".into()));
            }
        }
        match context.failed.load(Ordering::Acquire) {
            0 => Ok(()),
            failed => {
                let first = context.first_failure.lock().clone().unwrap_or_default();
                Err(Abandoned::Retry(format!("{failed} of {sent} records not acknowledged by Kafka: {first}")))
            }
        }
    }

    /// A new producer in place of one whose batch was abandoned: whatever
    /// the old one still held is purged, never delivered behind the retry.
    fn replace_producer(&mut self) -> Result<()> {
        self.producer.purge(PurgeConfig::default().queue().inflight());
        self.producer.poll(Duration::ZERO);
        self.producer = new_producer(&self.config)?;
        Ok(())
    }
}

/// Seeks each partition of an abandoned batch back to its first record.
fn rewind(consumer: &mut Consumer, records: &ConsumerRecords) -> Result<()> {
    let mut first: HashMap<TopicPartition, u64> = HashMap::new();
    for record in records.iter() {
        let tp = TopicPartition::new(record.topic(), record.partition());
        first.entry(tp).and_modify(|o| *o = (*o).min(record.offset())).or_insert(record.offset());
    }
    for (tp, offset) in first {
        consumer.seek(&tp, offset)?;
    }
    Ok(())
}
