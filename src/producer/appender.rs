//! The send queue and the appender thread of a producer.
//!
//! Sends copy their records into the queue's *open chunk*, under one lock:
//! the record's bytes into the chunk's buffer, its routing and handle into
//! its list. A chunk that reaches [`CHUNK_RECORDS`] records or
//! [`CHUNK_BYTES`] bytes goes onto the bounded crossbeam channel as one
//! message; the first record of an open chunk puts a wake-up there
//! instead, so the appender takes a partly filled chunk at once rather
//! than waiting for it to fill. One channel message and one buffer thus
//! carry many records under load, and a lone record is taken as soon as
//! the appender is free.
//!
//! The appender drains the channel and takes the open chunk, appends one
//! batch per partition, fdatasyncs each `Sync` partition it touched once
//! (group commit: sends that arrive meanwhile wait for the next drain),
//! then completes the handles and runs callbacks in send order per
//! partition.
//!
//! Order: chunks are put on the channel under the open chunk's lock, and
//! the appender drains the channel under that lock before it takes the
//! open chunk, so records are appended in the order their sends took the
//! lock — each partition's records in send order.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use parking_lot::Mutex;

use crate::catalog::{BufferReservation, Durability, Topic};
use crate::error::{Error, Result};
use crate::partition::Partition;
use crate::producer::delivery::{Delivery, ON_APPENDER};
use crate::producer::memory::{Memory, MemoryReservation};
use crate::producer::record::{ProducerRecord, RecordMetadata};
use crate::record::NewRecord;

/// Most bytes of records appended to one partition in one batch.
const BATCH_BYTES_MAX: usize = 8 << 20;
/// Records after which a chunk goes onto the channel.
pub(crate) const CHUNK_RECORDS: usize = 256;
/// Bytes of keys and values after which a chunk goes onto the channel.
pub(crate) const CHUNK_BYTES: usize = 256 << 10;

/// Where a record goes, as `route` decided.
pub(crate) struct Routed {
    pub(crate) topic: Arc<Topic>,
    pub(crate) partition: u32,
    pub(crate) timestamp_ms: i64,
    pub(crate) frame_len: usize,
    /// The topic's buffer space held for it until it is appended.
    pub(crate) reservation: Option<BufferReservation>,
}

/// One queued record; its key and value are in its chunk's buffer.
struct Queued {
    /// Index into the chunk's topics.
    topic: u32,
    partition: u32,
    timestamp_ms: i64,
    /// Bytes of its frame in the log.
    frame_len: usize,
    /// Where its key (then its value) starts in the chunk's buffer.
    data_at: usize,
    key_len: Option<usize>,
    value_len: Option<usize>,
    headers: Vec<(String, Vec<u8>)>,
    delivery: Arc<Delivery>,
    /// The topic's buffer space it holds; taken (given back) once the
    /// appender is done with the record, before its acknowledgement.
    reservation: Cell<Option<BufferReservation>>,
    /// Whether its room was given back (once, by [`give_back`]).
    given_back: Cell<bool>,
}

/// Records queued together: one channel message, one buffer.
#[derive(Default)]
pub(crate) struct Chunk {
    records: Vec<Queued>,
    /// Keys and values of the records, one after another.
    data: Vec<u8>,
    /// The topics the records go to (usually one).
    topics: Vec<Arc<Topic>>,
}

impl Chunk {
    fn is_full(&self) -> bool {
        self.records.len() >= CHUNK_RECORDS || self.data.len() >= CHUNK_BYTES
    }

    /// Adds `record`, routed as `routed`; it holds `buffer_memory` for its
    /// frame (`routed.frame_len` bytes) until the appender is done with it.
    fn push(&mut self, record: &ProducerRecord<'_>, routed: Routed, delivery: Arc<Delivery>) {
        let Routed { topic, partition, timestamp_ms, frame_len, reservation } = routed;
        let topic = match self.topics.iter().position(|t| Arc::ptr_eq(t, &topic)) {
            Some(n) => n,
            None => {
                self.topics.push(topic);
                self.topics.len() - 1
            }
        };
        let NewRecord { key, value, headers, .. } = record.record;
        if self.records.is_empty() {
            // Sized for a full chunk of small records at once, rather than
            // grown (and copied) by doubling under the lock.
            self.records.reserve(CHUNK_RECORDS);
            self.data.reserve(CHUNK_RECORDS * 128);
        }
        let data_at = self.data.len();
        self.data.extend_from_slice(key.unwrap_or_default());
        self.data.extend_from_slice(value.unwrap_or_default());
        self.records.push(Queued {
            topic: topic as u32,
            partition,
            timestamp_ms,
            frame_len,
            data_at,
            key_len: key.map(<[u8]>::len),
            value_len: value.map(<[u8]>::len),
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_vec())).collect(),
            delivery,
            reservation: Cell::new(reservation),
            given_back: Cell::new(false),
        });
    }

    /// Takes back the last record pushed.
    fn pop(&mut self) {
        if let Some(last) = self.records.pop() {
            self.data.truncate(last.data_at);
        }
    }

    fn topic(&self, queued: &Queued) -> &Arc<Topic> {
        &self.topics[queued.topic as usize]
    }

    fn key(&self, queued: &Queued) -> Option<&[u8]> {
        queued.key_len.map(|len| &self.data[queued.data_at..queued.data_at + len])
    }

    fn value(&self, queued: &Queued) -> Option<&[u8]> {
        let start = queued.data_at + queued.key_len.unwrap_or(0);
        queued.value_len.map(|len| &self.data[start..start + len])
    }
}

/// What goes through the channel.
pub(crate) enum Envelope {
    /// A full chunk.
    Chunk(Chunk),
    /// The open chunk holds records: take it.
    Wake,
    /// Answer once everything queued before is acknowledged.
    Flush(Sender<()>),
}

/// The open chunk, whether the appender is sure to take it, and the
/// channel to the appender (`None` once the producer is closed).
struct Open {
    chunk: Chunk,
    channel: Option<Sender<Envelope>>,
    /// Something went onto the channel (or found it not empty) since the
    /// appender last took the open chunk: it will take it again.
    woken: bool,
}

/// What the producer's senders and its appender share.
pub(crate) struct Queue {
    open: Mutex<Open>,
    /// Records queued and not yet taken by the appender, bounded by
    /// `queue_capacity`.
    pub(crate) slots: Memory,
    /// Bytes of records queued and not yet appended, bounded by
    /// `buffer_memory`.
    pub(crate) memory: Memory,
    /// Drains the appender has taken: each ends the batch of keyless
    /// records sent before it.
    pub(crate) drains: AtomicU64,
    max_drain: usize,
    /// Set, under `open`, when the producer closes.
    closed: AtomicBool,
}

impl Queue {
    /// An empty queue of at most `capacity` records and `buffer_memory`
    /// bytes; the appender appends at most `max_drain` records per round.
    pub(crate) fn new(channel: Sender<Envelope>, capacity: usize, buffer_memory: u64, max_drain: usize) -> Queue {
        Queue {
            open: Mutex::new(Open { chunk: Chunk::default(), channel: Some(channel), woken: false }),
            closed: AtomicBool::new(false),
            slots: Memory::new(capacity as u64),
            memory: Memory::new(buffer_memory),
            drains: AtomicU64::new(0),
            max_drain,
        }
    }

    /// Queues `record` routed as `routed`, with the room it holds (a
    /// queue slot and `memory`), through `channel`. Never blocks: room was
    /// taken before. Fails with [`Error::Closed`], taking nothing, if the
    /// appender is gone.
    pub(crate) fn push(
        &self,
        record: &ProducerRecord<'_>,
        routed: Routed,
        delivery: Arc<Delivery>,
        slot: MemoryReservation<'_>,
        memory: MemoryReservation<'_>,
    ) -> Result<()> {
        let frame_len = routed.frame_len;
        let mut open = self.open.lock();
        let Open { chunk, channel, woken } = &mut *open;
        let Some(channel) = channel.as_ref() else { return Err(Error::Closed { what: "producer" }) };
        chunk.push(record, routed, delivery);
        let gone = if chunk.is_full() {
            match channel.try_send(Envelope::Chunk(std::mem::take(chunk))) {
                Ok(()) => {
                    *woken = true;
                    false
                }
                // The channel holds messages the appender will take, and
                // with them the open chunk: it stays open meanwhile.
                Err(TrySendError::Full(Envelope::Chunk(full))) => {
                    *chunk = full;
                    *woken = true;
                    false
                }
                Err(TrySendError::Disconnected(Envelope::Chunk(full))) => {
                    *chunk = full;
                    true
                }
                Err(_) => unreachable!("a chunk comes back as a chunk"),
            }
        } else if !*woken {
            match channel.try_send(Envelope::Wake) {
                // Full: the channel holds messages the appender will take.
                Ok(()) | Err(TrySendError::Full(_)) => {
                    *woken = true;
                    false
                }
                Err(TrySendError::Disconnected(_)) => true,
            }
        } else {
            false
        };
        if gone {
            // The appender stopped (it ends only once the producer is
            // closed): the record is not taken, its room given back.
            open.chunk.pop();
            return Err(Error::Closed { what: "producer" });
        }
        // Given back by the appender: the slot when it takes the record,
        // the memory once it is done with it.
        slot.keep();
        let held = memory.keep();
        debug_assert_eq!(held, frame_len as u64, "buffer_memory is held for the frame");
        Ok(())
    }

    /// Whether the producer is closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Closes the queue: later sends are refused, and the appender stops
    /// once it has taken what is queued (and every sender clone from
    /// [`Queue::sender`] is gone).
    pub(crate) fn close(&self) {
        let mut open = self.open.lock();
        self.closed.store(true, Ordering::Release);
        open.channel = None;
    }

    /// A sender of the channel to the appender, to wait for room with no
    /// lock held; `None` once closed.
    pub(crate) fn sender(&self) -> Option<Sender<Envelope>> {
        self.open.lock().channel.clone()
    }

    /// Records queued and not yet taken by the appender.
    pub(crate) fn queued_records(&self) -> usize {
        self.slots.used() as usize
    }
}

/// Appended records of a `Sync` partition, acknowledged after its sync.
struct PendingAcks {
    topic: Arc<Topic>,
    /// The partition to sync; `None` for records refused before reaching
    /// one, which only wait for their turn.
    partition: Option<Arc<Partition>>,
    /// Each record's outcome before the sync: its metadata, or why it was
    /// refused.
    acks: Vec<(Arc<Delivery>, Result<RecordMetadata>)>,
}

/// One queued record and its chunk.
type Taken<'c> = (&'c Chunk, &'c Queued);

/// Drains the queue until every sender is gone, counting the drains as it
/// takes them (before appending, so a sender woken by an acknowledgement
/// of this drain already sees it counted).
pub(crate) fn run_appender(channel: Receiver<Envelope>, queue: &Queue) {
    ON_APPENDER.with(|on| on.set(true));
    loop {
        // Blocks until there is something to do; once every sender is
        // gone, takes what the open chunk still holds, then stops.
        let first = channel.recv();
        let gone = first.is_err();
        let mut envelopes: Vec<Envelope> = first.into_iter().collect();
        let open = {
            let mut open = queue.open.lock();
            envelopes.extend(channel.try_iter());
            open.woken = false;
            std::mem::take(&mut open.chunk)
        };
        let mut chunks = Vec::new();
        let mut flushes = Vec::new();
        for envelope in envelopes {
            match envelope {
                Envelope::Chunk(chunk) => chunks.push(chunk),
                Envelope::Wake => {}
                Envelope::Flush(done) => flushes.push(done),
            }
        }
        chunks.push(open);
        let taken: Vec<Taken<'_>> =
            chunks.iter().flat_map(|chunk| chunk.records.iter().map(move |queued| (chunk, queued))).collect();
        queue.slots.release(taken.len() as u64);
        queue.drains.fetch_add(1, Ordering::Release);
        for round in taken.chunks(queue.max_drain) {
            append_round(queue, round);
        }
        drop(taken);
        debug_assert!(chunks.iter().all(|c| c.records.iter().all(|q| q.given_back.get())), "room kept after appending");
        drop(chunks);
        for done in flushes {
            let _ = done.send(());
        }
        if gone {
            debug_assert!(queue.open.lock().chunk.records.is_empty(), "a record queued after the producer closed");
            return;
        }
    }
}

/// Appends one round: one batch per partition, in send order within each;
/// then one sync per `Sync` partition and acknowledgements in order.
fn append_round(queue: &Queue, round: &[Taken<'_>]) {
    let mut groups: Vec<Vec<Taken<'_>>> = Vec::new();
    let mut group_of: HashMap<(*const Topic, u32), usize> = HashMap::new();
    for &(chunk, queued) in round {
        let key = (Arc::as_ptr(chunk.topic(queued)), queued.partition);
        let n = *group_of.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[n].push((chunk, queued));
    }
    let mut pending = Vec::new();
    for group in groups {
        append_group(queue, &group, &mut pending);
    }
    acknowledge_synced(pending);
}

/// Appends the records of one partition in batches of at most
/// `BATCH_BYTES_MAX` bytes of frames (a larger record alone), acknowledging
/// them or adding them to `pending`.
fn append_group(queue: &Queue, group: &[Taken<'_>], pending: &mut Vec<PendingAcks>) {
    let mut rest = group;
    while !rest.is_empty() {
        let mut bytes = 0;
        let take = rest.iter().take_while(|(_, queued)| {
            bytes += queued.frame_len;
            bytes <= BATCH_BYTES_MAX
        });
        let n = take.count().max(1);
        let (batch, later) = rest.split_at(n);
        append_batch(queue, batch, pending);
        rest = later;
    }
}

/// Appends `batch` in one write; if that fails for a reason that belongs
/// to one record (its size, timestamp or missing key, checked again by the
/// partition under a configuration that may have changed since `send`),
/// appends the records one by one, so only that record fails.
fn append_batch(queue: &Queue, batch: &[Taken<'_>], pending: &mut Vec<PendingAcks>) {
    match append_together(queue, batch, pending) {
        Err(error) if batch.len() > 1 && is_record_error(&error) => {
            for taken in batch {
                let _ = append_together(queue, std::slice::from_ref(taken), pending);
            }
        }
        _ => {}
    }
}

fn is_record_error(error: &Error) -> bool {
    matches!(
        error,
        Error::RecordTooLarge { .. }
            | Error::FieldTooLarge { .. }
            | Error::InvalidTimestamp { .. }
            | Error::MissingKey { .. }
    )
}

/// Appends `batch` as one batch. Fails every record on a failure, except
/// a record error with several records, which is returned untouched for
/// the caller to retry one by one.
fn append_together(queue: &Queue, batch: &[Taken<'_>], pending: &mut Vec<PendingAcks>) -> Result<()> {
    let (chunk, first) = batch[0];
    let topic = chunk.topic(first);
    if topic.is_deleted() {
        return fail_all(queue, batch, Error::UnknownTopic { topic: topic.name().to_string() }, None, pending);
    }
    let partition = match topic.partition(first.partition) {
        Ok(partition) => partition,
        Err(error) => return fail_all(queue, batch, error, None, pending),
    };
    let headers: Vec<Vec<(&str, &[u8])>> =
        batch.iter().map(|(_, q)| q.headers.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect()).collect();
    let records: Vec<NewRecord<'_>> = batch
        .iter()
        .zip(&headers)
        .map(|(&(chunk, q), h)| NewRecord {
            key: chunk.key(q),
            value: chunk.value(q),
            timestamp_ms: Some(q.timestamp_ms),
            headers: h,
        })
        .collect();
    let offset = match partition.append_batch(&records) {
        Ok(appended) => appended.offset,
        Err(error) if batch.len() > 1 && is_record_error(&error) => return Err(error),
        Err(error) => return fail_all(queue, batch, topic.partition_error(error), Some(partition), pending),
    };
    // Stored now: the topic's buffer counts the records as stored bytes,
    // no longer as pending ones too.
    for (_, queued) in batch {
        drop(queued.reservation.take());
    }
    let durability = topic.durability();
    let acks = batch.iter().enumerate().map(|(n, (_, q))| {
        let lengths = (q.key_len, q.value_len);
        let metadata =
            RecordMetadata::stored(topic, q.partition, offset + n as u64, q.timestamp_ms, lengths, durability);
        (Arc::clone(&q.delivery), Ok(metadata))
    });
    if durability == Durability::Sync {
        let acks = acks.collect();
        give_back(queue, batch);
        pending.push(PendingAcks { topic: Arc::clone(topic), partition: Some(partition), acks });
    } else {
        for (delivery, metadata) in acks {
            delivery.complete(metadata);
        }
        give_back(queue, batch);
    }
    Ok(())
}

/// Gives back the room the records of `batch` hold once the appender is
/// done with them: `buffer_memory` just after their acknowledgement, or
/// for a `Sync` topic as soon as they are appended, before the sync they
/// wait for (their callbacks may send into the room); their topic's buffer
/// space if an append did not already turn it into stored bytes.
fn give_back(queue: &Queue, batch: &[Taken<'_>]) {
    let mut bytes = 0;
    for (_, queued) in batch {
        assert!(!queued.given_back.replace(true), "room given back twice");
        drop(queued.reservation.take());
        bytes += queued.frame_len as u64;
    }
    queue.memory.release(bytes);
}

/// Fails every record of `batch` with `error`: at once, or on a `Sync`
/// topic in turn with the records appended before it, which wait for
/// their sync (handles complete in send order per partition).
fn fail_all(
    queue: &Queue,
    batch: &[Taken<'_>],
    error: Error,
    partition: Option<Arc<Partition>>,
    pending: &mut Vec<PendingAcks>,
) -> Result<()> {
    let (chunk, first) = batch[0];
    let topic = chunk.topic(first);
    if topic.durability() == Durability::Sync {
        let acks = batch.iter().map(|(_, q)| (Arc::clone(&q.delivery), Err(error.clone()))).collect();
        give_back(queue, batch);
        pending.push(PendingAcks { topic: Arc::clone(topic), partition, acks });
        return Err(error);
    }
    for (_, queued) in batch {
        queued.delivery.complete(Err(error.clone()));
    }
    give_back(queue, batch);
    Err(error)
}

/// Syncs each partition in `pending` once (covering everything appended to
/// it so far), then acknowledges in order.
fn acknowledge_synced(pending: Vec<PendingAcks>) {
    let mut synced: HashMap<*const Partition, Result<u64>> = HashMap::new();
    for item in &pending {
        if let Some(partition) = &item.partition {
            let sync = || partition.sync().map_err(|e| item.topic.partition_error(e));
            synced.entry(Arc::as_ptr(partition)).or_insert_with(sync);
        }
    }
    for PendingAcks { partition, acks, .. } in pending {
        let sync = partition.map(|partition| &synced[&Arc::as_ptr(&partition)]);
        for (delivery, outcome) in acks {
            // A failed sync fails what it was to cover; a refused record
            // keeps its own error.
            let outcome = match (outcome, sync) {
                (Ok(_), Some(Err(error))) => Err(error.clone()),
                (outcome, _) => outcome,
            };
            delivery.complete(outcome);
        }
    }
}
