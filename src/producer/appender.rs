//! The appender thread of a producer: it drains the send queue, appends one
//! batch per partition, fdatasyncs each `Sync` partition it touched once
//! (group commit: sends that arrive meanwhile wait in the queue for the next
//! drain), then completes the handles and runs callbacks in send order per
//! partition.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use crate::catalog::{BufferReservation, Durability, Topic};
use crate::error::{Error, Result};
use crate::partition::Partition;
use crate::producer::delivery::{Delivery, ON_APPENDER};
use crate::producer::memory::MemoryReservation;
use crate::producer::record::{ProducerRecord, RecordMetadata};
use crate::record::NewRecord;

/// Most bytes of records appended to one partition in one batch.
const BATCH_BYTES_MAX: usize = 8 << 20;

/// Where a record goes, as `route` decided.
pub(crate) struct Routed {
    pub(crate) topic: Arc<Topic>,
    pub(crate) partition: u32,
    pub(crate) timestamp_ms: i64,
    pub(crate) frame_len: usize,
    /// The topic's buffer space held for it until it is appended.
    pub(crate) reservation: Option<BufferReservation>,
}

/// A queued record: its bytes copied into one buffer.
pub(crate) struct Message {
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
    /// Given back when the message is dropped, after its append.
    _reservation: Option<BufferReservation>,
    /// The producer's `buffer_memory` held for it, given back likewise.
    _memory: MemoryReservation,
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
        let lengths = (self.key_len, self.value_len);
        RecordMetadata::stored(&self.topic, self.partition, offset, self.timestamp_ms, lengths, durability)
    }

    /// A record routed as `routed`, its bytes copied, completing `delivery`.
    pub(crate) fn new(
        record: &ProducerRecord<'_>,
        routed: Routed,
        delivery: Arc<Delivery>,
        memory: MemoryReservation,
    ) -> Message {
        let Routed { topic, partition, timestamp_ms, frame_len, reservation } = routed;
        let NewRecord { key, value, headers, .. } = record.record;
        let (key_len, value_len) = (key.map(<[u8]>::len), value.map(<[u8]>::len));
        let (key, value) = (key.unwrap_or_default(), value.unwrap_or_default());
        let mut data = Vec::with_capacity(key.len() + value.len());
        data.extend_from_slice(key);
        data.extend_from_slice(value);
        let headers = headers.iter().map(|(n, v)| (n.to_string(), v.to_vec())).collect();
        Message {
            topic,
            partition,
            timestamp_ms,
            frame_len,
            data,
            key_len,
            value_len,
            headers,
            delivery,
            _reservation: reservation,
            _memory: memory,
        }
    }
}

pub(crate) enum Envelope {
    Record(Message),
    Flush(Sender<()>),
}

/// Appended records of a `Sync` partition, acknowledged after its sync.
struct PendingAcks {
    topic: Arc<Topic>,
    partition: Arc<Partition>,
    acks: Vec<(Arc<Delivery>, RecordMetadata)>,
}

/// Drains the queue until every sender is gone, counting the drains in
/// `drains` as it takes them (before appending, so a sender woken by an
/// acknowledgement of this drain already sees it counted).
pub(crate) fn run_appender(queued: Receiver<Envelope>, max_drain: usize, drains: &AtomicU64) {
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
/// to one record (its size, timestamp or missing key, checked again by the
/// partition under a configuration that may have changed since `send`),
/// appends the records one by one, so only that record fails.
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
    matches!(
        error,
        Error::RecordTooLarge { .. }
            | Error::FieldTooLarge { .. }
            | Error::InvalidTimestamp { .. }
            | Error::MissingKey { .. }
    )
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
        Err(error) => return fail_all(batch, topic.partition_error(error)),
    };
    let durability = topic.durability();
    let acks =
        batch.iter().enumerate().map(|(n, m)| (Arc::clone(&m.delivery), m.metadata(first + n as u64, durability)));
    if durability == Durability::Sync {
        pending.push(PendingAcks { topic: Arc::clone(topic), partition, acks: acks.collect() });
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
        let sync = || item.partition.sync().map_err(|e| item.topic.partition_error(e));
        synced.entry(Arc::as_ptr(&item.partition)).or_insert_with(sync);
    }
    for PendingAcks { partition, acks, .. } in pending {
        let result = &synced[&Arc::as_ptr(&partition)];
        for (delivery, metadata) in acks {
            delivery.complete(result.as_ref().map(|_| metadata).map_err(Clone::clone));
        }
    }
}
