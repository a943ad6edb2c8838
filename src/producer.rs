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

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, SendTimeoutError, Sender, TrySendError};
use parking_lot::{Condvar, Mutex, RwLock};

use crate::catalog::{Catalog, Durability, Topic};
use crate::error::{Error, IoOp, Result};
use crate::partition::Partition;
use crate::partitioner::{partition_for_key, Sticky};
use crate::record::codec;
use crate::record::{now_ms, NewRecord};

/// Default capacity of the send queue, in records.
pub const DEFAULT_QUEUE_CAPACITY: usize = 65_536;
/// Default longest wait of `send` on a full queue (Kafka's `max.block.ms`).
pub const DEFAULT_MAX_BLOCK: Duration = Duration::from_secs(60);
/// Default most records the appender takes from the queue at once.
pub const DEFAULT_MAX_DRAIN_RECORDS: usize = 16_384;
/// Default most bytes of frames a run of keyless records puts on one
/// partition before the next partition's turn (Kafka's `batch.size`).
pub const DEFAULT_STICKY_PARTITION_BYTES: usize = 16 * 1024;
/// Most bytes of records appended to one partition in one batch.
const BATCH_BYTES_MAX: usize = 8 << 20;

thread_local! {
    /// Set on a producer's appender thread, where delivery callbacks run:
    /// a call there that waits for the appender would wait for itself.
    static ON_APPENDER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Fails with [`Error::InCallback`] on an appender thread.
fn refuse_on_appender(operation: &'static str) -> Result<()> {
    if ON_APPENDER.with(std::cell::Cell::get) {
        return Err(Error::InCallback { operation });
    }
    Ok(())
}

/// How a producer queues and batches.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    queue_capacity: usize,
    max_block: Duration,
    max_drain_records: usize,
    sticky_partition_bytes: usize,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            max_block: DEFAULT_MAX_BLOCK,
            max_drain_records: DEFAULT_MAX_DRAIN_RECORDS,
            sticky_partition_bytes: DEFAULT_STICKY_PARTITION_BYTES,
        }
    }
}

impl ProducerConfig {
    /// Records the send queue holds before `send` blocks (like Kafka's
    /// `buffer.memory`, counted in records).
    pub fn queue_capacity(mut self, records: usize) -> Self {
        self.queue_capacity = records;
        self
    }

    /// How long `send` waits on a full queue before failing with
    /// [`Error::QueueFull`] (Kafka's `max.block.ms`).
    pub fn max_block(mut self, max_block: Duration) -> Self {
        self.max_block = max_block;
        self
    }

    /// Most records the appender takes from the queue per drain.
    pub fn max_drain_records(mut self, records: usize) -> Self {
        self.max_drain_records = records;
        self
    }

    /// Most bytes of frames a run of keyless records puts on one partition
    /// before moving to the next (Kafka's `batch.size`, which bounds its
    /// sticky partitioner's runs the same way); a run also ends when the
    /// appender takes it from the queue. See [`Producer`].
    pub fn sticky_partition_bytes(mut self, bytes: usize) -> Self {
        self.sticky_partition_bytes = bytes;
        self
    }

    fn validate(&self) -> Result<()> {
        if self.queue_capacity == 0 {
            return Err(Error::invalid("queue_capacity", "must be at least 1 record"));
        }
        if self.max_drain_records == 0 {
            return Err(Error::invalid("max_drain_records", "must be at least 1 record"));
        }
        if self.sticky_partition_bytes == 0 {
            return Err(Error::invalid("sticky_partition_bytes", "must be at least 1 byte"));
        }
        Ok(())
    }
}

/// A record to send: a topic, an optional partition, and the record itself,
/// borrowing its bytes (the queued path copies them once).
#[derive(Debug, Clone, Copy)]
pub struct ProducerRecord<'a> {
    /// The topic.
    pub topic: &'a str,
    /// An explicit partition; `None` lets the partitioner choose (by key,
    /// as Kafka does, or by Kafka's uniform sticky rule without one).
    pub partition: Option<u32>,
    /// Key, value, timestamp (`None` stamps the send time) and headers.
    pub record: NewRecord<'a>,
}

impl<'a> ProducerRecord<'a> {
    /// A record of `value` for `topic`.
    pub fn new(topic: &'a str, value: &'a [u8]) -> Self {
        ProducerRecord { topic, partition: None, record: NewRecord::new(value) }
    }

    /// A tombstone for `key` in `topic`.
    pub fn tombstone(topic: &'a str, key: &'a [u8]) -> Self {
        ProducerRecord { topic, partition: None, record: NewRecord::tombstone(key) }
    }

    /// Sends to this partition.
    pub fn partition(mut self, partition: u32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sets the key.
    pub fn key(self, key: &'a [u8]) -> Self {
        self.with(|r| r.key(key))
    }

    /// Sets the timestamp in milliseconds since the Unix epoch.
    pub fn timestamp(self, timestamp_ms: i64) -> Self {
        self.with(|r| r.timestamp(timestamp_ms))
    }

    /// Sets the headers.
    pub fn headers(self, headers: &'a [(&'a str, &'a [u8])]) -> Self {
        self.with(|r| r.headers(headers))
    }

    fn with(mut self, change: impl FnOnce(NewRecord<'a>) -> NewRecord<'a>) -> Self {
        self.record = change(self.record);
        self
    }

    fn stamped(&self, timestamp_ms: i64) -> NewRecord<'a> {
        NewRecord { timestamp_ms: Some(timestamp_ms), ..self.record }
    }
}

/// Where an acknowledged record was stored (Kafka's `RecordMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: u32,
    /// The record's offset in that partition.
    pub offset: u64,
    /// The record's timestamp as stored.
    pub timestamp_ms: i64,
    /// Bytes of the key, or -1 without one (as in Kafka).
    pub serialized_key_size: i32,
    /// Bytes of the value, or -1 for a tombstone (as in Kafka).
    pub serialized_value_size: i32,
    /// The durability level the record was acknowledged at: `Sync` means an
    /// fdatasync covered it before the acknowledgement.
    pub durability: Durability,
}

/// A delivery callback, boxed.
pub(crate) type Callback = Box<dyn FnOnce(Result<&RecordMetadata, &Error>) + Send>;

enum State {
    Pending(Vec<Callback>),
    Done(Result<RecordMetadata>),
}

/// The shared state of one queued send.
struct Delivery {
    state: Mutex<State>,
    done: Condvar,
}

impl Delivery {
    /// A pending delivery, with `callback` registered first.
    fn new(callback: Option<Callback>) -> Arc<Delivery> {
        let callbacks = callback.into_iter().collect();
        Arc::new(Delivery { state: Mutex::new(State::Pending(callbacks)), done: Condvar::new() })
    }

    /// Records the outcome, wakes waiters, then runs the callbacks (outside
    /// the lock, in registration order).
    fn complete(&self, result: Result<RecordMetadata>) {
        let callbacks = {
            let mut state = self.state.lock();
            match std::mem::replace(&mut *state, State::Done(result.clone())) {
                State::Pending(callbacks) => callbacks,
                State::Done(first) => {
                    *state = State::Done(first);
                    return;
                }
            }
        };
        self.done.notify_all();
        for callback in callbacks {
            callback(result.as_ref());
        }
    }
}

/// The handle of a send: wait for its outcome (kafka-python's
/// `future.get(timeout)`) or register callbacks. A send refused before
/// queueing returns a handle that is complete already. Dropping it does not
/// cancel the send.
#[derive(Clone)]
pub struct DeliveryHandle {
    delivery: Arc<Delivery>,
}

impl std::fmt::Debug for DeliveryHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryHandle").field("done", &self.is_done()).finish()
    }
}

impl DeliveryHandle {
    /// Waits up to `timeout` for the outcome.
    pub fn wait(&self, timeout: Duration) -> Result<RecordMetadata> {
        let Some(deadline) = Instant::now().checked_add(timeout) else { return self.get() };
        let mut state = self.delivery.state.lock();
        loop {
            if let State::Done(result) = &*state {
                return result.clone();
            }
            refuse_on_appender("DeliveryHandle::wait")?;
            if self.delivery.done.wait_until(&mut state, deadline).timed_out() {
                if let State::Done(result) = &*state {
                    return result.clone();
                }
                return Err(Error::Timeout { what: "delivery", waited_ms: timeout.as_millis() as u64 });
            }
        }
    }

    /// Waits for the outcome without a time limit.
    pub fn get(&self) -> Result<RecordMetadata> {
        let mut state = self.delivery.state.lock();
        loop {
            if let State::Done(result) = &*state {
                return result.clone();
            }
            refuse_on_appender("DeliveryHandle::get")?;
            self.delivery.done.wait(&mut state);
        }
    }

    /// Whether the send is acknowledged or failed.
    pub fn is_done(&self) -> bool {
        matches!(&*self.delivery.state.lock(), State::Done(_))
    }

    /// Runs `callback` with the outcome: on the producer's thread when it
    /// arrives, or at once in this thread if it already has.
    pub fn on_delivery(&self, callback: impl FnOnce(Result<&RecordMetadata, &Error>) + Send + 'static) {
        let mut state = self.delivery.state.lock();
        match &mut *state {
            State::Pending(callbacks) => callbacks.push(Box::new(callback)),
            State::Done(result) => {
                let result = result.clone();
                drop(state);
                callback(result.as_ref());
            }
        }
    }
}

/// A queued record: its bytes copied into one buffer.
struct Message {
    topic: Arc<Topic>,
    partition: u32,
    timestamp_ms: i64,
    /// Bytes of its frame in the log.
    frame_len: usize,
    data: Vec<u8>,
    key_len: Option<usize>,
    value_len: Option<usize>,
    headers: Vec<(String, Vec<u8>)>,
    delivery: Arc<Delivery>,
}

impl Message {
    fn key(&self) -> Option<&[u8]> {
        self.key_len.map(|len| &self.data[..len])
    }

    fn value(&self) -> Option<&[u8]> {
        let start = self.key_len.unwrap_or(0);
        self.value_len.map(|len| &self.data[start..start + len])
    }

    fn metadata(&self, offset: u64, durability: Durability) -> RecordMetadata {
        RecordMetadata {
            topic: Arc::clone(self.topic.name()),
            partition: self.partition,
            offset,
            timestamp_ms: self.timestamp_ms,
            serialized_key_size: self.key_len.map_or(-1, |len| len as i32),
            serialized_value_size: self.value_len.map_or(-1, |len| len as i32),
            durability,
        }
    }
}

enum Envelope {
    Record(Message),
    Flush(Sender<()>),
}

/// Appended records of a `Sync` partition, acknowledged after its sync.
struct PendingAcks {
    partition: Arc<Partition>,
    acks: Vec<(Arc<Delivery>, RecordMetadata)>,
}

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
///   [`TypedProducer`](crate::serializer::TypedProducer). The handle is
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
/// fails there with [`Error::InCallback`] instead of deadlocking. Hand slow
/// work to a thread of your own.
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
}

impl Producer {
    pub(crate) fn start(log: Arc<Catalog>, config: ProducerConfig) -> Result<Producer> {
        config.validate()?;
        let (queue, queued) = crossbeam_channel::bounded(config.queue_capacity);
        let max_drain = config.max_drain_records;
        let drains = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&drains);
        let appender = spawn("larder-appender", move || run_appender(queued, max_drain, &counted))?;
        let inner = ProducerInner {
            log,
            sticky: Sticky::new(config.sticky_partition_bytes),
            config,
            queue: RwLock::new(Some(queue)),
            drains,
            workers: Mutex::new(vec![appender]),
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
        let Routed { topic, partition, timestamp_ms, .. } = self.route(record, true)?;
        let log_partition = topic.partition(partition)?;
        let appended = log_partition.append(&record.stamped(timestamp_ms))?;
        let durability = topic.durability();
        if durability == Durability::Sync {
            log_partition.sync()?;
        }
        Ok(RecordMetadata {
            topic: Arc::clone(topic.name()),
            partition,
            offset: appended.offset,
            timestamp_ms,
            serialized_key_size: record.record.key.map_or(-1, |k| k.len() as i32),
            serialized_value_size: record.record.value.map_or(-1, |v| v.len() as i32),
            durability,
        })
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
        let max_block = blocking.then_some(self.inner.config.max_block);
        let queued = self.route(record, false).and_then(|routed| {
            let message = message(record, routed, Arc::clone(&delivery));
            self.push(Envelope::Record(message), max_block)
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

    fn push(&self, envelope: Envelope, max_block: Option<Duration>) -> Result<()> {
        // A sender of its own, so a send blocked on a full queue holds no
        // lock: `close` (from a delivery callback, say) is never held up
        // by it, and the appender drains what it queued before it stops.
        let queue = self.inner.queue.read().clone().ok_or(Error::Closed { what: "producer" })?;
        let capacity = self.inner.config.queue_capacity;
        match max_block {
            Some(wait) => queue.send_timeout(envelope, wait).map_err(|e| match e {
                SendTimeoutError::Timeout(_) => Error::QueueFull { capacity, max_block_ms: wait.as_millis() as u64 },
                SendTimeoutError::Disconnected(_) => Error::Closed { what: "producer" },
            }),
            None => queue.try_send(envelope).map_err(|e| match e {
                TrySendError::Full(_) => Error::QueueFull { capacity, max_block_ms: 0 },
                TrySendError::Disconnected(_) => Error::Closed { what: "producer" },
            }),
        }
    }

    /// Picks the topic, timestamp and partition of `record`, and checks it
    /// against the topic's limits so a queued batch never fails for one bad
    /// record. A `direct` record is a batch of its own.
    fn route(&self, record: &ProducerRecord<'_>, direct: bool) -> Result<Routed> {
        let topic = self.inner.log.topic_for_send(record.topic)?;
        let timestamp_ms = record.record.timestamp_ms.unwrap_or_else(now_ms);
        let frame_len = codec::checked_frame_len(&record.record, timestamp_ms, topic.max_record_bytes())?;
        let partition = self.partition_for(record, &topic, frame_len, direct)?;
        Ok(Routed { topic, partition, timestamp_ms, frame_len })
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
        self.push(Envelope::Flush(done), Some(timeout))?;
        let waited = match deadline {
            Some(deadline) => finished.recv_deadline(deadline).map_err(|_| ()),
            None => finished.recv().map_err(|_| ()),
        };
        waited.map_err(|()| Error::Timeout { what: "flush", waited_ms: timeout.as_millis() as u64 })
    }

    /// Stops accepting sends, appends and acknowledges everything queued,
    /// and stops the producer's threads. Other clones are closed too.
    pub fn close(&self) {
        self.inner.close();
    }
}

impl ProducerInner {
    pub(crate) fn close(&self) {
        self.queue.write().take();
        let me = std::thread::current().id();
        let workers: Vec<JoinHandle<()>> = self.workers.lock().drain(..).collect();
        for worker in workers {
            // A callback closing its own producer cannot wait for itself.
            if worker.thread().id() != me {
                let _ = worker.join();
            }
        }
    }
}

impl Drop for ProducerInner {
    fn drop(&mut self) {
        self.close();
    }
}

/// Where a record goes, as `route` decided.
struct Routed {
    topic: Arc<Topic>,
    partition: u32,
    timestamp_ms: i64,
    frame_len: usize,
}

fn message(record: &ProducerRecord<'_>, routed: Routed, delivery: Arc<Delivery>) -> Message {
    let Routed { topic, partition, timestamp_ms, frame_len } = routed;
    let NewRecord { key, value, headers, .. } = record.record;
    let (key_len, value_len) = (key.map(<[u8]>::len), value.map(<[u8]>::len));
    let (key, value) = (key.unwrap_or_default(), value.unwrap_or_default());
    let mut data = Vec::with_capacity(key.len() + value.len());
    data.extend_from_slice(key);
    data.extend_from_slice(value);
    let headers = headers.iter().map(|(n, v)| (n.to_string(), v.to_vec())).collect();
    Message { topic, partition, timestamp_ms, frame_len, data, key_len, value_len, headers, delivery }
}

fn spawn(name: &str, work: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    std::thread::Builder::new().name(name.into()).spawn(work).map_err(|e| Error::io(IoOp::SpawnThread, name, e))
}

/// Drains the queue until every sender is gone, counting the drains in
/// `drains` as it takes them (before appending, so a sender woken by an
/// acknowledgement of this drain already sees it counted).
fn run_appender(queued: Receiver<Envelope>, max_drain: usize, drains: &AtomicU64) {
    ON_APPENDER.with(|on| on.set(true));
    while let Ok(first) = queued.recv() {
        let mut drained = vec![first];
        drained.extend(queued.try_iter().take(max_drain - 1));
        drains.fetch_add(1, Ordering::Release);
        append_drained(drained);
    }
}

/// Appends one drain: one batch per partition, in send order within each;
/// then one sync per `Sync` partition, acknowledgements in order, and
/// finally the flushes that were waiting for all of it.
fn append_drained(drained: Vec<Envelope>) {
    let mut groups: Vec<Vec<Message>> = Vec::new();
    let mut group_of: HashMap<(*const Topic, u32), usize> = HashMap::new();
    let mut flushes = Vec::new();
    for envelope in drained {
        match envelope {
            Envelope::Record(message) => {
                let key = (Arc::as_ptr(&message.topic), message.partition);
                let n = *group_of.entry(key).or_insert_with(|| {
                    groups.push(Vec::new());
                    groups.len() - 1
                });
                groups[n].push(message);
            }
            Envelope::Flush(done) => flushes.push(done),
        }
    }
    let mut pending = Vec::new();
    for group in groups {
        append_group(group, &mut pending);
    }
    acknowledge_synced(pending);
    for done in flushes {
        let _ = done.send(());
    }
}

/// Appends the messages of one partition in batches of at most
/// `BATCH_BYTES_MAX` bytes of frames (a larger record alone), acknowledging
/// them or adding them to `pending`.
fn append_group(group: Vec<Message>, pending: &mut Vec<PendingAcks>) {
    let mut rest = &group[..];
    while !rest.is_empty() {
        let mut bytes = 0;
        let take = rest.iter().take_while(|m| {
            bytes += m.frame_len;
            bytes <= BATCH_BYTES_MAX
        });
        let n = take.count().max(1);
        let (batch, later) = rest.split_at(n);
        append_batch(batch, pending);
        rest = later;
    }
}

/// Appends `batch` in one write; if that fails for a reason that belongs
/// to one record (its size or timestamp, checked again by the partition
/// under a configuration that may have changed since `send`), appends the
/// records one by one, so only that record fails.
fn append_batch(batch: &[Message], pending: &mut Vec<PendingAcks>) {
    match append_together(batch, pending) {
        Err(error) if batch.len() > 1 && is_record_error(&error) => {
            for message in batch {
                let _ = append_together(std::slice::from_ref(message), pending);
            }
        }
        _ => {}
    }
}

fn is_record_error(error: &Error) -> bool {
    matches!(error, Error::RecordTooLarge { .. } | Error::FieldTooLarge { .. } | Error::InvalidTimestamp { .. })
}

/// Appends `batch` as one batch. Fails every message on a failure, except
/// a record error with several messages, which is returned untouched for
/// the caller to retry one by one.
fn append_together(batch: &[Message], pending: &mut Vec<PendingAcks>) -> Result<()> {
    let topic = &batch[0].topic;
    if topic.is_deleted() {
        return fail_all(batch, Error::UnknownTopic { topic: topic.name().to_string() });
    }
    let partition = match topic.partition(batch[0].partition) {
        Ok(partition) => partition,
        Err(error) => return fail_all(batch, error),
    };
    let headers: Vec<Vec<(&str, &[u8])>> =
        batch.iter().map(|m| m.headers.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect()).collect();
    let records: Vec<NewRecord<'_>> = batch
        .iter()
        .zip(&headers)
        .map(|(m, h)| NewRecord { key: m.key(), value: m.value(), timestamp_ms: Some(m.timestamp_ms), headers: h })
        .collect();
    let first = match partition.append_batch(&records) {
        Ok(appended) => appended.offset,
        Err(error) if batch.len() > 1 && is_record_error(&error) => return Err(error),
        Err(error) => return fail_all(batch, error),
    };
    let durability = topic.durability();
    let acks =
        batch.iter().enumerate().map(|(n, m)| (Arc::clone(&m.delivery), m.metadata(first + n as u64, durability)));
    if durability == Durability::Sync {
        pending.push(PendingAcks { partition, acks: acks.collect() });
    } else {
        for (delivery, metadata) in acks {
            delivery.complete(Ok(metadata));
        }
    }
    Ok(())
}

fn fail_all(batch: &[Message], error: Error) -> Result<()> {
    for message in batch {
        message.delivery.complete(Err(error.clone()));
    }
    Err(error)
}

/// Syncs each partition in `pending` once (covering everything appended to
/// it so far), then acknowledges in order.
fn acknowledge_synced(pending: Vec<PendingAcks>) {
    let mut synced: HashMap<*const Partition, Result<u64>> = HashMap::new();
    for item in &pending {
        synced.entry(Arc::as_ptr(&item.partition)).or_insert_with(|| item.partition.sync());
    }
    for PendingAcks { partition, acks } in pending {
        let result = &synced[&Arc::as_ptr(&partition)];
        for (delivery, metadata) in acks {
            delivery.complete(result.as_ref().map(|_| metadata).map_err(Clone::clone));
        }
    }
}
