//! The producer: Kafka's `send` over the log, in two forms.
//!
//! - [`Producer::send_direct`] appends in the caller's thread and returns
//!   the [`RecordMetadata`] (for `Sync` topics, after an fdatasync shared
//!   with concurrent callers).
//! - [`Producer::send`] queues the record on a bounded crossbeam channel and
//!   returns a [`DeliveryHandle`] at once (complete already, with the error,
//!   if the record was refused before queueing). An appender thread drains
//!   everything queued, appends one batch per partition, fdatasyncs each
//!   `Sync` partition it touched once (group commit: sends that arrive
//!   meanwhile wait in the queue for the next drain), then completes the
//!   handles. (A separate sync thread, to overlap the next drain's appends
//!   with the fdatasync, measured slower on two cores: it adds a thread
//!   hand-off per round to save a few microseconds of appending.)
//!
//! Handles complete in send order per partition, and so do their callbacks.

mod appender;
mod config;
mod delivery;
mod memory;
pub mod partitioner;
mod record;
mod typed;

pub use config::ProducerConfig;
pub use delivery::DeliveryHandle;
pub use record::{ProducerRecord, RecordMetadata};
pub use typed::{TypedProducer, TypedProducerRecord};

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{SendTimeoutError, Sender, TrySendError};
use parking_lot::{Mutex, RwLock};

use crate::catalog::{Catalog, Durability, Topic};
use crate::error::{Error, IoOp, Result};
use crate::partition::Partition;
use crate::record::{codec, now_ms, NewRecord};
use crate::stats::ProducerStats;
use appender::{run_appender, Envelope, Message, Routed};
pub(crate) use delivery::Callback;
use delivery::{on_appender, refuse_on_appender, Delivery};
use memory::Memory;
use partitioner::{partition_for_key, Sticky};

/// Sends records into a [`Log`](crate::Log). `Clone + Send + Sync`: clones
/// share one queue and one appender; the last one dropped (or
/// [`Producer::close`]) drains the queue and waits for every acknowledgement.
///
/// # Outcomes, early and late
///
/// [`send`](Producer::send), [`send_with_callback`](Producer::send_with_callback)
/// and [`try_send`](Producer::try_send) return `Err` only when the producer
/// or its log is closed ([`Error::Closed`]): the record was not taken and
/// no callback runs. Every other outcome reaches the returned
/// [`DeliveryHandle`] and the callback alike, exactly once (Kafka's Java
/// producer does the same; kafka-python returns a failed future):
///
/// - *early*, refused before queueing: an unknown topic or partition, an
///   invalid topic name, a record over `max_record_bytes` or a field over
///   the format's limit, a negative timestamp, a queue still full after
///   `max_block` ([`Error::QueueFull`]), or a failed serializer of a
///   [`TypedProducer`](crate::TypedProducer). The handle is
///   complete when `send` returns, and the callback has run on the calling
///   thread before it returned;
/// - *late*, once the appender wrote the record (and, for a `Sync` topic,
///   an fdatasync covered it): its [`RecordMetadata`], or the write's error.
///
/// So callbacks counted add up to the sends that returned `Ok`.
/// [`send_direct`](Producer::send_direct) has no handle: it returns its
/// outcome, early or late, as its `Result`.
///
/// # Callbacks
///
/// Late callbacks run on the producer's appender thread, in send order per
/// partition. Every later acknowledgement waits while one runs, so they must
/// be quick and must not block: a call that waits for the appender —
/// [`flush`](Producer::flush), or `get`/`wait` on a handle not yet complete —
/// fails there with [`Error::InCallback`] instead of deadlocking, and a
/// send there never waits for room (as [`try_send`](Producer::try_send):
/// only the appender frees it). Hand slow work to a thread of your own.
///
/// # Partitions
///
/// A record with an explicit partition goes there. A keyed record goes to
/// Kafka's partition for its key ([`partition_for_key`](crate::partitioner::partition_for_key)),
/// the number it would have in a Kafka topic with as many partitions.
/// Keyless records follow Kafka 3.3's uniform sticky partitioner, per topic:
/// they stay on one partition while they make one batch, and the next batch
/// goes to the next partition. A batch ends when the appender takes the
/// queued records, at each `send_direct` (a batch of its own), or when its
/// frames reach [`ProducerConfig::sticky_partition_bytes`] (16 KiB by
/// default). A flood thus lands in long runs, appended in few writes, and a
/// trickle of `send(..)?.get()` calls spreads evenly over the partitions.
///
/// ```
/// # fn main() -> larder::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// use larder::{Error, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};
///
/// let log = Log::open(dir.path(), LogOptions::default())?;
/// log.create_topic("t", TopicConfig::new(6).max_record_bytes(1024))?;
/// let producer = log.producer(ProducerConfig::default())?;
/// // A record refused before queueing still gives a handle, and its callback runs.
/// let handle = producer.send_with_callback(&ProducerRecord::new("t", &[0; 2048]), |result| {
///     assert!(matches!(result, Err(Error::RecordTooLarge { .. })));
/// })?;
/// assert!(matches!(handle.get(), Err(Error::RecordTooLarge { max_record_bytes: 1024, .. })));
/// // Keyless sends one after another spread over the partitions.
/// let mut partitions = Vec::new();
/// for _ in 0..6 {
///     partitions.push(producer.send(&ProducerRecord::new("t", b"v"))?.get()?.partition);
/// }
/// partitions.sort();
/// assert_eq!(partitions, [0, 1, 2, 3, 4, 5]);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Producer {
    inner: Arc<ProducerInner>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").field("config", &self.inner.config).finish()
    }
}

pub(crate) struct ProducerInner {
    log: Arc<Catalog>,
    config: ProducerConfig,
    queue: RwLock<Option<Sender<Envelope>>>,
    sticky: Sticky,
    /// Drains the appender has taken from the queue: each ends the batch
    /// of keyless records sent before it.
    drains: Arc<AtomicU64>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    /// The log the producer was made from, kept open while the producer
    /// lives (dropped after the appender is joined).
    _log: Arc<dyn Any + Send + Sync>,
    /// Bytes of queued records, bounded by `buffer_memory`.
    memory: Arc<Memory>,
}

impl Producer {
    /// Starts a producer sending into `log`'s topics, holding `owner` (the
    /// log's own state) so the log stays open while the producer lives.
    pub(crate) fn start(
        log: Arc<Catalog>,
        config: ProducerConfig,
        owner: Arc<dyn Any + Send + Sync>,
    ) -> Result<Producer> {
        config.validate()?;
        let (queue, queued) = crossbeam_channel::bounded(config.queue_capacity);
        let max_drain = config.max_drain_records;
        let drains = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&drains);
        let appender = spawn("larder-appender", move || run_appender(queued, max_drain, &counted))?;
        let inner = ProducerInner {
            log,
            sticky: Sticky::new(config.sticky_partition_bytes),
            memory: Memory::new(config.buffer_memory),
            config,
            queue: RwLock::new(Some(queue)),
            drains,
            workers: Mutex::new(vec![appender]),
            _log: owner,
        };
        Ok(Producer { inner: Arc::new(inner) })
    }

    pub(crate) fn downgrade(&self) -> Weak<ProducerInner> {
        Arc::downgrade(&self.inner)
    }

    /// Appends `record` in this thread and returns where it went; for a
    /// `Sync` topic, only once an fdatasync covered it (shared with
    /// concurrent callers of this partition). Every failure is returned here.
    pub fn send_direct(&self, record: &ProducerRecord<'_>) -> Result<RecordMetadata> {
        self.check_open()?;
        let Routed { topic, partition, timestamp_ms, reservation, .. } =
            self.route(record, true, Some(self.inner.config.max_block))?;
        let log_partition = topic.partition(partition)?;
        let appended = log_partition.append(&record.stamped(timestamp_ms)).map_err(|e| topic.partition_error(e))?;
        drop(reservation);
        let durability = topic.durability();
        if durability == Durability::Sync {
            log_partition.sync().map_err(|e| topic.partition_error(e))?;
        }
        let NewRecord { key, value, .. } = record.record;
        let lengths = (key.map(<[u8]>::len), value.map(<[u8]>::len));
        Ok(RecordMetadata::stored(&topic, partition, appended.offset, timestamp_ms, lengths, durability))
    }

    /// Queues `record` and returns its handle. Blocks up to `max_block` if
    /// the queue is full. Fails only if the producer is closed: a record
    /// refused before queueing (unknown topic or partition, too large,
    /// negative timestamp, [`Error::QueueFull`] after `max_block`) gets a
    /// handle that is complete already, with that error (see
    /// [outcomes](Producer#outcomes-early-and-late)).
    pub fn send(&self, record: &ProducerRecord<'_>) -> Result<DeliveryHandle> {
        self.enqueue(record, None, true)
    }

    /// As [`Producer::send`], with `callback` registered before the record is
    /// queued, so callbacks run in send order per partition, on the
    /// appender thread; a record refused before queueing runs it at once,
    /// on this thread. It runs exactly once unless this returns `Err`.
    pub fn send_with_callback(
        &self,
        record: &ProducerRecord<'_>,
        callback: impl FnOnce(Result<&RecordMetadata, &Error>) + Send + 'static,
    ) -> Result<DeliveryHandle> {
        self.enqueue(record, Some(Box::new(callback)), true)
    }

    /// Queues `record` only if there is room now; never blocks. A full
    /// queue completes the handle with [`Error::QueueFull`] at once.
    pub fn try_send(&self, record: &ProducerRecord<'_>) -> Result<DeliveryHandle> {
        self.enqueue(record, None, false)
    }

    /// Queues `record` with `callback`, waiting up to `max_block` for room
    /// if `blocking`; an early failure completes the handle.
    pub(crate) fn enqueue(
        &self,
        record: &ProducerRecord<'_>,
        callback: Option<Callback>,
        blocking: bool,
    ) -> Result<DeliveryHandle> {
        let delivery = Delivery::new(callback);
        // In a delivery callback nothing waits for room: the room is freed
        // by the appender, which is running the callback.
        let max_block = (blocking && !on_appender()).then_some(self.inner.config.max_block);
        let started = Instant::now();
        let queued = self.route(record, false, max_block).and_then(|routed| {
            let memory = self.inner.memory.reserve(routed.frame_len as u64, max_block, started)?;
            let message = Message::new(record, routed, Arc::clone(&delivery), memory);
            self.push(Envelope::Record(message), max_block, started)
        });
        self.settle(delivery, queued)
    }

    /// The handle of a send that failed before queueing with `error`: the
    /// callback runs now, on this thread ([`Error::Closed`] is returned
    /// instead, running nothing).
    pub(crate) fn refuse(&self, error: Error, callback: Option<Callback>) -> Result<DeliveryHandle> {
        self.settle(Delivery::new(callback), Err(error))
    }

    /// The handle of `delivery`, completed with the error if `queued`
    /// failed — unless the producer or its log is closed: then `Err`, and
    /// the callback never runs.
    fn settle(&self, delivery: Arc<Delivery>, queued: Result<()>) -> Result<DeliveryHandle> {
        match queued {
            Ok(()) => {}
            Err(error @ Error::Closed { .. }) => return Err(error),
            Err(error) => {
                self.check_open()?;
                delivery.complete(Err(error));
            }
        }
        Ok(DeliveryHandle { delivery })
    }

    /// Fails with [`Error::Closed`] once the producer is closed.
    pub(crate) fn check_open(&self) -> Result<()> {
        match *self.inner.queue.read() {
            Some(_) => Ok(()),
            None => Err(Error::Closed { what: "producer" }),
        }
    }

    /// Queues `envelope`, waiting for room until `max_block` after
    /// `started` (one `max_block` for the whole send: what waiting for
    /// buffer space took is not waited again here); no wait if `None`.
    fn push(&self, envelope: Envelope, max_block: Option<Duration>, started: Instant) -> Result<()> {
        // A sender of its own, so a send blocked on a full queue holds no
        // lock: `close` (from a delivery callback, say) is never held up
        // by it, and the appender drains what it queued before it stops.
        let queue = self.inner.queue.read().clone().ok_or(Error::Closed { what: "producer" })?;
        let capacity = self.inner.config.queue_capacity;
        match max_block {
            Some(wait) => queue.send_timeout(envelope, wait.saturating_sub(started.elapsed())).map_err(|e| match e {
                SendTimeoutError::Timeout(_) => Error::QueueFull { capacity, max_block_ms: wait.as_millis() as u64 },
                SendTimeoutError::Disconnected(_) => Error::Closed { what: "producer" },
            }),
            None => queue.try_send(envelope).map_err(|e| match e {
                TrySendError::Full(_) => Error::QueueFull { capacity, max_block_ms: 0 },
                TrySendError::Disconnected(_) => Error::Closed { what: "producer" },
            }),
        }
    }

    /// Picks the topic, timestamp and partition of `record`, checks it
    /// against the topic's limits so a queued batch never fails for one bad
    /// record, and holds room for it in the topic's buffer, if it has one
    /// (waiting up to `max_block`; not at all if `None`). A `direct` record
    /// is a batch of its own.
    fn route(&self, record: &ProducerRecord<'_>, direct: bool, max_block: Option<Duration>) -> Result<Routed> {
        let topic = self.inner.log.topic_for_send(record.topic)?;
        let timestamp_ms = record.record.timestamp_ms.unwrap_or_else(now_ms);
        let frame_len = codec::checked_frame_len(&record.record, timestamp_ms, topic.max_record_bytes())?;
        // A partition the topic does not have is refused first, as a Kafka
        // producer refuses it before the broker sees the record's key.
        let partition = self.partition_for(record, &topic, frame_len, direct)?;
        if record.record.key.is_none() && topic.compacted() {
            return Err(Error::MissingKey { topic: record.topic.to_string() });
        }
        let reservation = topic.reserve(Partition::stored_bytes(frame_len), max_block)?;
        Ok(Routed { topic, partition, timestamp_ms, frame_len, reservation })
    }

    /// The explicit partition, the key's partition, or the sticky one.
    fn partition_for(&self, record: &ProducerRecord<'_>, topic: &Topic, frame_len: usize, direct: bool) -> Result<u32> {
        let partitions = topic.partition_count();
        match (record.partition, record.record.key) {
            (Some(partition), _) if partition < partitions => Ok(partition),
            (Some(partition), _) => Err(Error::UnknownPartition { topic: record.topic.into(), partition, partitions }),
            (None, Some(key)) => Ok(partition_for_key(key, partitions)),
            (None, None) => {
                let drains = self.inner.drains.load(Ordering::Acquire);
                Ok(self.inner.sticky.next(topic.name(), partitions, frame_len, drains, direct))
            }
        }
    }

    /// The producer's queue and buffer now: records queued, bytes held
    /// against [`ProducerConfig::buffer_memory`]. Clones share them.
    pub fn stats(&self) -> ProducerStats {
        self.inner.stats()
    }

    /// Blocks until every send made before this call is acknowledged (or
    /// failed).
    pub fn flush(&self) -> Result<()> {
        self.flush_timeout(Duration::MAX)
    }

    /// As [`Producer::flush`], failing with [`Error::Timeout`] after `timeout`.
    pub fn flush_timeout(&self, timeout: Duration) -> Result<()> {
        refuse_on_appender("Producer::flush")?;
        let (done, finished) = crossbeam_channel::bounded(1);
        let deadline = Instant::now().checked_add(timeout);
        self.push(Envelope::Flush(done), Some(timeout), Instant::now())?;
        let waited = match deadline {
            Some(deadline) => finished.recv_deadline(deadline).map_err(|_| ()),
            None => finished.recv().map_err(|_| ()),
        };
        waited.map_err(|()| Error::Timeout { what: "flush", waited_ms: timeout.as_millis() as u64 })
    }

    /// Stops accepting sends, appends and acknowledges everything queued,
    /// and stops the producer's threads, returning once they are gone (also
    /// when another thread, or `Log::close`, closes it at the same time).
    /// Other clones are closed too. Called in a delivery callback, it stops
    /// sends and returns at once: it cannot wait for the thread it runs on,
    /// which ends once the queue is drained; a later close, `Log::close`
    /// among them, waits for it.
    pub fn close(&self) {
        self.inner.close();
    }
}

impl ProducerInner {
    /// See [`Producer::stats`].
    pub(crate) fn stats(&self) -> ProducerStats {
        ProducerStats {
            queued_records: self.queue.read().as_ref().map_or(0, Sender::len),
            queue_capacity: self.config.queue_capacity,
            buffered_bytes: self.memory.used(),
            buffer_memory: self.memory.limit(),
        }
    }

    /// Whether the producer still takes sends.
    pub(crate) fn is_open(&self) -> bool {
        self.queue.read().is_some()
    }

    pub(crate) fn close(&self) {
        self.queue.write().take();
        if delivery::on_appender() {
            // A callback closing a producer cannot wait for an appender (its
            // own would wait for itself): the appender ends once its queue
            // is drained, and the next close off an appender thread joins it.
            return;
        }
        // Joined under the lock: a second caller (`Log::close` racing the
        // user's own close) returns only once the appender is gone.
        let mut workers = self.workers.lock();
        for worker in workers.drain(..) {
            let _ = worker.join();
        }
    }
}

impl Drop for ProducerInner {
    fn drop(&mut self) {
        self.close();
    }
}

fn spawn(name: &str, work: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    std::thread::Builder::new().name(name.into()).spawn(work).map_err(|e| Error::io(IoOp::SpawnThread, name, e))
}
