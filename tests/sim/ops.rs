//! The operations the simulation draws, run on worker threads, and what
//! each one reports back: its error (a typed `larder::Error`), a panic if
//! larder panicked, and the effects the model learns from (records
//! acknowledged, records that must not exist, syncs, truncations, commits,
//! records read).

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use larder::record::NewRecord;
use larder::{
    Assignor, AutoOffsetReset, Consumer, ConsumerConfig, DeliveryHandle, Durability, Error, Log, Producer,
    ProducerConfig, ProducerRecord, RecordMetadata, TopicConfig, TopicPartition,
};

use super::content;
use super::model::CommitEnd;

/// Where a send goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// An explicit partition.
    Partition(u32),
    /// The partitioner: by key (Kafka's murmur2) or sticky without one.
    Partitioner,
}

/// One operation, all its choices made from the seed beforehand.
#[derive(Debug, Clone)]
pub enum Op {
    SendDirect {
        producer: usize,
        topic: String,
        route: Route,
        id: u64,
        sync_topic: bool,
    },
    Send {
        producer: usize,
        topic: String,
        route: Route,
        id: u64,
        sync_topic: bool,
        callback: bool,
    },
    Flush {
        producer: usize,
    },
    CloseProducer {
        producer: usize,
    },
    NewProducer {
        producer: usize,
        queue_capacity: usize,
    },
    Append {
        topic: String,
        partition: u32,
        id: u64,
    },
    AppendBatch {
        topic: String,
        partition: u32,
        ids: Vec<u64>,
    },
    Sync {
        topic: String,
        partition: u32,
    },
    Truncate {
        topic: String,
        partition: u32,
        pick: u64,
    },
    DeleteBefore {
        topic: String,
        partition: u32,
        pick: u64,
    },
    Roll {
        topic: String,
        partition: u32,
    },
    Read {
        topic: String,
        partition: u32,
        pick: u64,
    },
    Iterate {
        topic: String,
        partition: u32,
        pick: u64,
        max: usize,
    },
    CreateTopic {
        name: String,
        partitions: u32,
        segment_bytes: u32,
        durability: Durability,
    },
    DeleteTopic {
        name: String,
    },
    AddPartitions {
        name: String,
        to: u32,
    },
    Join {
        member: usize,
        group: String,
        subscribe: Option<Vec<String>>,
        assign: Vec<TopicPartition>,
        assignor: Assignor,
    },
    Leave {
        member: usize,
    },
    Poll {
        member: usize,
        timeout_ms: u64,
    },
    Commit {
        member: usize,
    },
    CommitOffsets {
        member: usize,
        pick: u64,
    },
    Seek {
        member: usize,
        pick: u64,
    },
}

impl Op {
    /// The topic the operation targets, if any.
    pub fn topic(&self) -> Option<&str> {
        match self {
            Op::SendDirect { topic, .. }
            | Op::Send { topic, .. }
            | Op::Append { topic, .. }
            | Op::AppendBatch { topic, .. }
            | Op::Sync { topic, .. }
            | Op::Truncate { topic, .. }
            | Op::DeleteBefore { topic, .. }
            | Op::Roll { topic, .. }
            | Op::Read { topic, .. }
            | Op::Iterate { topic, .. } => Some(topic),
            Op::CreateTopic { name, .. } | Op::DeleteTopic { name } | Op::AddPartitions { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The member slot it uses, if any.
    pub fn member(&self) -> Option<usize> {
        match self {
            Op::Join { member, .. }
            | Op::Leave { member }
            | Op::Poll { member, .. }
            | Op::Commit { member }
            | Op::CommitOffsets { member, .. }
            | Op::Seek { member, .. } => Some(*member),
            _ => None,
        }
    }

    /// Whether it appends to, rolls, truncates or deletes from a partition.
    pub fn writes(&self) -> bool {
        matches!(
            self,
            Op::SendDirect { .. }
                | Op::Send { .. }
                | Op::Append { .. }
                | Op::AppendBatch { .. }
                | Op::Truncate { .. }
                | Op::DeleteBefore { .. }
                | Op::Roll { .. }
        )
    }

    /// Whether it is a consumer operation whose topics come from its
    /// assignment rather than from the op.
    pub fn is_consumer(&self) -> bool {
        self.member().is_some()
    }
}

/// A queued send's callback results: it must run exactly once.
pub type CallbackLog = Arc<Mutex<Vec<Result<RecordMetadata, Error>>>>;

/// What an operation tells the model.
pub enum Effect {
    /// Record `id` acknowledged at `offset`; `by_key` when the partitioner
    /// chose the partition from its key.
    Acked {
        topic: String,
        partition: u32,
        offset: u64,
        id: u64,
        synced: bool,
        by_key: bool,
    },
    /// Record `id` was refused in a way that promises it was not stored.
    Forbidden {
        id: u64,
    },
    /// A queued send, settled at the end of the step.
    Queued {
        topic: String,
        id: u64,
        sync_topic: bool,
        by_key: bool,
        handle: DeliveryHandle,
        callback: Option<CallbackLog>,
    },
    /// `Partition::sync` returned: every offset below is durable.
    SyncedTo {
        topic: String,
        partition: u32,
        offset: u64,
    },
    /// Records at or after `offset` may be gone (`ok`: the call returned Ok).
    Truncated {
        topic: String,
        partition: u32,
        offset: u64,
        ok: bool,
    },
    /// Records below `offset` may be gone.
    DeletedBefore {
        topic: String,
        partition: u32,
        offset: u64,
    },
    /// A write (roll, truncation, deletion) returned Ok.
    Wrote {
        topic: String,
        partition: u32,
    },
    /// Record `id` was read at `offset`.
    Read {
        topic: String,
        partition: u32,
        offset: u64,
        id: u64,
    },
    TopicCreated {
        name: String,
        partitions: u32,
        durability: Durability,
        segment_bytes: u32,
        ok: bool,
    },
    TopicDeleted {
        name: String,
        ok: bool,
    },
    PartitionsAdded {
        name: String,
        to: u32,
        ok: bool,
    },
    Committed {
        group: String,
        offsets: Vec<(TopicPartition, u64)>,
        end: CommitEnd,
    },
    GroupLoaded {
        group: String,
    },
    ProducerClosed {
        producer: usize,
    },
}

/// How an operation ended.
pub struct Outcome {
    pub op: Op,
    pub error: Option<Error>,
    pub panic: Option<String>,
    pub effects: Vec<Effect>,
    /// Checks that failed inside the operation (a record read back wrong).
    pub violations: Vec<String>,
    /// Checks that hold only if no other truncation or deletion of the
    /// same topic ran in the step.
    pub raced_violations: Vec<String>,
    pub records_read: u64,
}

/// A consumer in a member slot, and its group.
pub struct Member {
    pub consumer: Consumer,
    pub group: String,
}

/// What the worker threads share.
pub struct Shared<'a> {
    pub log: &'a Log,
    pub producers: &'a [Mutex<Option<Producer>>],
    pub members: &'a [Mutex<Option<Member>>],
}

/// Locks a slot, whatever a panic left in it.
pub fn lock<T>(slot: &Mutex<T>) -> MutexGuard<'_, T> {
    slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `op`, catching a panic inside larder.
pub fn execute(op: &Op, shared: &Shared<'_>) -> Outcome {
    let mut outcome = Outcome {
        op: op.clone(),
        error: None,
        panic: None,
        effects: Vec::new(),
        violations: Vec::new(),
        raced_violations: Vec::new(),
        records_read: 0,
    };
    match std::panic::catch_unwind(AssertUnwindSafe(|| run(op, shared, &mut outcome))) {
        Ok(Ok(())) => {}
        Ok(Err(error)) => outcome.error = Some(error),
        Err(panic) => outcome.panic = Some(panic_message(&*panic)),
    }
    outcome
}

pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(s), _) => s.to_string(),
        (_, Some(s)) => s.clone(),
        _ => "a panic without a message".into(),
    }
}

/// Whether a record whose send failed with `error` may still have been
/// appended: only when the failure may have come after the append, from
/// the sync that a `Sync` topic's acknowledgement waits for (which fails,
/// or finds the partition poisoned, or closed by a concurrent deletion).
pub fn may_be_stored(error: &Error, sync_topic: bool) -> bool {
    let after_append = matches!(
        error,
        Error::Io { operation: larder::IoOp::Sync, .. } | Error::Poisoned { .. } | Error::InvalidArgument { .. }
    );
    sync_topic && after_append
}

fn run(op: &Op, s: &Shared<'_>, out: &mut Outcome) -> larder::Result<()> {
    match op {
        Op::SendDirect { producer, topic, route, id, sync_topic } => {
            send_direct(s, *producer, topic, *route, *id, *sync_topic, out)
        }
        Op::Send { producer, topic, route, id, sync_topic, callback } => {
            send_queued(s, *producer, topic, *route, *id, *sync_topic, *callback, out)
        }
        Op::Flush { producer } => match producer_of(s, *producer) {
            Some(p) => p.flush_timeout(Duration::from_secs(20)),
            None => Ok(()),
        },
        Op::CloseProducer { producer } => {
            if let Some(p) = producer_of(s, *producer) {
                p.close();
                out.effects.push(Effect::ProducerClosed { producer: *producer });
            }
            Ok(())
        }
        Op::NewProducer { producer, queue_capacity } => {
            let config = ProducerConfig::default().queue_capacity(*queue_capacity).max_block(Duration::from_secs(20));
            let made = s.log.producer(config)?;
            lock(&s.producers[*producer]).get_or_insert(made);
            Ok(())
        }
        Op::Append { topic, partition, id } => {
            let (key, value, header) = parts(*id);
            let headers = header_slice(&header);
            let record = new_record(&key, &value, &headers);
            let stored = s.log.partition(topic, *partition)?;
            match stored.append(&record) {
                Ok(appended) => acked(out, topic, *partition, appended.offset, *id, false, false),
                Err(error) => forbid(out, &[*id], error),
            }
        }
        Op::AppendBatch { topic, partition, ids } => {
            let contents: Vec<_> = ids.iter().map(|&id| parts(id)).collect();
            let headers: Vec<Vec<(&str, &[u8])>> = contents.iter().map(|(_, _, h)| header_slice(h)).collect();
            let records: Vec<NewRecord<'_>> =
                contents.iter().zip(&headers).map(|((k, v, _), h)| new_record(k, v, h)).collect();
            let stored = s.log.partition(topic, *partition)?;
            match stored.append_batch(&records) {
                Ok(appended) => {
                    for (n, id) in ids.iter().enumerate() {
                        acked(out, topic, *partition, appended.offset + n as u64, *id, false, false)?;
                    }
                    Ok(())
                }
                Err(error) => forbid(out, ids, error),
            }
        }
        Op::Sync { topic, partition } => {
            let offset = s.log.partition(topic, *partition)?.sync()?;
            out.effects.push(Effect::SyncedTo { topic: topic.clone(), partition: *partition, offset });
            Ok(())
        }
        Op::Truncate { topic, partition, pick } => {
            let stored = s.log.partition(topic, *partition)?;
            let (start, end) = (stored.log_start_offset(), stored.end_offset());
            let offset = start + pick % (end - start + 1);
            let truncated = stored.truncate_to(offset);
            if truncated.is_ok() || matches!(truncated, Err(Error::Io { .. })) {
                let ok = truncated.is_ok();
                out.effects.push(Effect::Truncated { topic: topic.clone(), partition: *partition, offset, ok });
            }
            truncated?;
            out.effects.push(Effect::Wrote { topic: topic.clone(), partition: *partition });
            Ok(())
        }
        Op::DeleteBefore { topic, partition, pick } => {
            let stored = s.log.partition(topic, *partition)?;
            let (start, end) = (stored.log_start_offset(), stored.end_offset());
            let offset = start + pick % (end - start + 3);
            let (topic, partition) = (topic.clone(), *partition);
            match stored.delete_before(offset) {
                Ok(new_start) => {
                    // Unless another cut raced it (checked by the world),
                    // the new start is the one asked for, within the log.
                    if new_start < start || new_start > offset.max(start) {
                        let why = format!("delete_before({offset}) on [{start}, {end}) returned start {new_start}");
                        out.raced_violations.push(why);
                    }
                    out.effects.push(Effect::DeletedBefore { topic: topic.clone(), partition, offset: new_start });
                    out.effects.push(Effect::Wrote { topic, partition });
                    Ok(())
                }
                Err(error) => {
                    if matches!(error, Error::Io { .. }) {
                        out.effects.push(Effect::DeletedBefore { topic, partition, offset });
                    }
                    Err(error)
                }
            }
        }
        Op::Roll { topic, partition } => {
            s.log.partition(topic, *partition)?.roll()?;
            out.effects.push(Effect::Wrote { topic: topic.clone(), partition: *partition });
            Ok(())
        }
        Op::Read { topic, partition, pick } => {
            let stored = s.log.partition(topic, *partition)?;
            let (start, end) = (stored.log_start_offset(), stored.end_offset());
            if end == start {
                return Ok(());
            }
            let offset = start + pick % (end - start);
            let record = stored.read(offset)?;
            read(out, topic, *partition, offset, record.offset(), record.key(), record.value(), record.headers());
            Ok(())
        }
        Op::Iterate { topic, partition, pick, max } => {
            let stored = s.log.partition(topic, *partition)?;
            let (start, end) = (stored.log_start_offset(), stored.end_offset());
            let from = start + pick % (end - start + 1);
            for (expected, record) in (from..).zip(stored.iter_from(from).take(*max)) {
                let record = record?;
                read(out, topic, *partition, expected, record.offset(), record.key(), record.value(), record.headers());
            }
            Ok(())
        }
        Op::CreateTopic { name, partitions, segment_bytes, durability } => {
            let config = TopicConfig::new(*partitions).segment_bytes(*segment_bytes).durability(*durability);
            let created = s.log.create_topic(name, config);
            let (name, partitions, durability, ok) = (name.clone(), *partitions, *durability, created.is_ok());
            let segment_bytes = *segment_bytes;
            out.effects.push(Effect::TopicCreated { name, partitions, durability, segment_bytes, ok });
            created
        }
        Op::DeleteTopic { name } => {
            let deleted = s.log.delete_topic(name);
            out.effects.push(Effect::TopicDeleted { name: name.clone(), ok: deleted.is_ok() });
            deleted
        }
        Op::AddPartitions { name, to, .. } => {
            let added = s.log.add_partitions(name, *to);
            out.effects.push(Effect::PartitionsAdded { name: name.clone(), to: *to, ok: added.is_ok() });
            added
        }
        Op::Join { member, group, subscribe, assign, assignor } => {
            let config = ConsumerConfig::default()
                .group_id(group.as_str())
                .enable_auto_commit(false)
                .auto_offset_reset(AutoOffsetReset::Earliest)
                .max_poll_records(16)
                .max_poll_interval(Duration::from_millis(200))
                .assignor(*assignor);
            let mut consumer = s.log.consumer(config)?;
            out.effects.push(Effect::GroupLoaded { group: group.clone() });
            match subscribe {
                Some(topics) => consumer.subscribe(&topics.iter().map(String::as_str).collect::<Vec<_>>())?,
                None => consumer.assign(assign)?,
            }
            lock(&s.members[*member]).get_or_insert(Member { consumer, group: group.clone() });
            Ok(())
        }
        Op::Leave { member } => match lock(&s.members[*member]).take() {
            Some(Member { consumer, .. }) => consumer.close(),
            None => Ok(()),
        },
        Op::Poll { member, timeout_ms } => {
            let mut slot = lock(&s.members[*member]);
            let Some(Member { consumer, .. }) = slot.as_mut() else { return Ok(()) };
            let records = consumer.poll(Duration::from_millis(*timeout_ms))?;
            for (topic, partition, batch) in records.batches() {
                for (expected, record) in (batch.first_offset()..).zip(batch.records()) {
                    read(
                        out,
                        topic,
                        partition,
                        expected,
                        record.offset(),
                        record.key(),
                        record.value(),
                        record.headers(),
                    );
                }
            }
            Ok(())
        }
        Op::Commit { member } => {
            let mut slot = lock(&s.members[*member]);
            let Some(Member { consumer, group }) = slot.as_mut() else { return Ok(()) };
            let mut offsets = Vec::new();
            for tp in consumer.assignment() {
                let position = consumer.position(&tp)?;
                offsets.push((tp, position));
            }
            let committed = consumer.commit();
            committed_effect(out, group, offsets, committed)
        }
        Op::CommitOffsets { member, pick } => {
            let mut slot = lock(&s.members[*member]);
            let Some(Member { consumer, group }) = slot.as_mut() else { return Ok(()) };
            let assignment = consumer.assignment();
            let Some(tp) = assignment.get(*pick as usize % assignment.len().max(1)).cloned() else {
                return consumer.commit_offsets(&HashMap::new());
            };
            let start = consumer.beginning_offsets(std::slice::from_ref(&tp))?[&tp];
            let end = consumer.end_offsets(std::slice::from_ref(&tp))?[&tp];
            let offset = start + pick % (end.saturating_sub(start) + 1);
            let committed = consumer.commit_offsets(&HashMap::from([(tp.clone(), offset)]));
            committed_effect(out, group, vec![(tp, offset)], committed)
        }
        Op::Seek { member, pick } => {
            let mut slot = lock(&s.members[*member]);
            let Some(Member { consumer, .. }) = slot.as_mut() else { return Ok(()) };
            let assignment = consumer.assignment();
            let Some(tp) = assignment.get(*pick as usize % assignment.len().max(1)).cloned() else { return Ok(()) };
            match pick % 4 {
                0 => consumer.seek_to_beginning(&[]),
                1 => consumer.seek_to_end(std::slice::from_ref(&tp)),
                _ => {
                    let start = consumer.beginning_offsets(std::slice::from_ref(&tp))?[&tp];
                    let end = consumer.end_offsets(std::slice::from_ref(&tp))?[&tp];
                    consumer.seek(&tp, start + pick % (end.saturating_sub(start) + 1))
                }
            }
        }
    }
}

fn producer_of(s: &Shared<'_>, slot: usize) -> Option<Producer> {
    lock(&s.producers[slot]).clone()
}

type Parts = (Option<Vec<u8>>, Vec<u8>, Option<Vec<u8>>);

fn parts(id: u64) -> Parts {
    (content::key(id), content::value(id), content::header(id))
}

fn header_slice(header: &Option<Vec<u8>>) -> Vec<(&str, &[u8])> {
    header.iter().map(|v| ("h", v.as_slice())).collect()
}

fn new_record<'a>(key: &'a Option<Vec<u8>>, value: &'a [u8], headers: &'a [(&'a str, &'a [u8])]) -> NewRecord<'a> {
    let record = NewRecord::new(value).headers(headers);
    match key {
        Some(key) => record.key(key),
        None => record,
    }
}

fn producer_record<'a>(
    topic: &'a str,
    route: Route,
    key: &'a Option<Vec<u8>>,
    value: &'a [u8],
    headers: &'a [(&'a str, &'a [u8])],
) -> ProducerRecord<'a> {
    let record = ProducerRecord::new(topic, value).headers(headers);
    let record = match key {
        Some(key) => record.key(key),
        None => record,
    };
    match route {
        Route::Partition(partition) => record.partition(partition),
        Route::Partitioner => record,
    }
}

fn send_direct(
    s: &Shared<'_>,
    producer: usize,
    topic: &str,
    route: Route,
    id: u64,
    sync_topic: bool,
    out: &mut Outcome,
) -> larder::Result<()> {
    let Some(producer) = producer_of(s, producer) else { return Ok(()) };
    let (key, value, header) = parts(id);
    let headers = header_slice(&header);
    match producer.send_direct(&producer_record(topic, route, &key, &value, &headers)) {
        Ok(meta) => {
            check_metadata(out, &meta, topic, route, id, sync_topic);
            let by_key = route == Route::Partitioner && key.is_some();
            acked(out, topic, meta.partition, meta.offset, id, meta.durability == Durability::Sync, by_key)
        }
        Err(error) if may_be_stored(&error, sync_topic) => Err(error),
        Err(error) => forbid(out, &[id], error),
    }
}

#[allow(clippy::too_many_arguments)]
fn send_queued(
    s: &Shared<'_>,
    producer: usize,
    topic: &str,
    route: Route,
    id: u64,
    sync_topic: bool,
    callback: bool,
    out: &mut Outcome,
) -> larder::Result<()> {
    let Some(producer) = producer_of(s, producer) else { return Ok(()) };
    let (key, value, header) = parts(id);
    let headers = header_slice(&header);
    let record = producer_record(topic, route, &key, &value, &headers);
    let log: Option<CallbackLog> = callback.then(Default::default);
    let sent = match &log {
        Some(log) => {
            let log = Arc::clone(log);
            // Once flushing from a callback no longer deadlocks, callbacks
            // flush too (a hang would show as a delivery that never settles).
            let flusher = (!crate::KNOWN_BUG_FLUSH_IN_CALLBACK_DEADLOCKS).then(|| producer.clone());
            producer.send_with_callback(&record, move |result| {
                if let Some(producer) = flusher {
                    let _ = producer.flush();
                }
                lock(&log).push(result.cloned().map_err(Clone::clone));
            })
        }
        None => producer.send(&record),
    };
    match sent {
        Ok(handle) => {
            let by_key = route == Route::Partitioner && key.is_some();
            out.effects.push(Effect::Queued { topic: topic.into(), id, sync_topic, by_key, handle, callback: log });
            Ok(())
        }
        Err(error) => forbid(out, &[id], error),
    }
}

/// Checks what a send's metadata says against what was sent.
pub fn check_metadata(out: &mut Outcome, meta: &RecordMetadata, topic: &str, route: Route, id: u64, sync_topic: bool) {
    if &*meta.topic != topic {
        out.violations.push(format!("record {id} sent to {topic} acknowledged in topic {}", meta.topic));
    }
    if let Route::Partition(partition) = route {
        if meta.partition != partition {
            out.violations
                .push(format!("record {id} sent to partition {partition} acknowledged in {}", meta.partition));
        }
    }
    if (meta.durability == Durability::Sync) != sync_topic {
        out.violations.push(format!("record {id} acknowledged at {:?} on a topic that is not", meta.durability));
    }
    let value_len = content::value(id).len() as i32;
    let key_len = content::key(id).map_or(-1, |k| k.len() as i32);
    if (meta.serialized_value_size, meta.serialized_key_size) != (value_len, key_len) {
        out.violations.push(format!("record {id}: metadata sizes {meta:?} differ from what was sent"));
    }
}

fn acked(
    out: &mut Outcome,
    topic: &str,
    partition: u32,
    offset: u64,
    id: u64,
    synced: bool,
    by_key: bool,
) -> larder::Result<()> {
    out.effects.push(Effect::Acked { topic: topic.into(), partition, offset, id, synced, by_key });
    Ok(())
}

/// A call that failed before storing `ids`: they must never appear.
fn forbid(out: &mut Outcome, ids: &[u64], error: Error) -> larder::Result<()> {
    out.effects.extend(ids.iter().map(|&id| Effect::Forbidden { id }));
    Err(error)
}

#[allow(clippy::too_many_arguments)]
fn read<'h>(
    out: &mut Outcome,
    topic: &str,
    partition: u32,
    expected: u64,
    offset: u64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: impl Iterator<Item = (&'h str, &'h [u8])>,
) {
    out.records_read += 1;
    if offset != expected {
        out.violations.push(format!("{topic}/{partition}: read offset {offset} where {expected} was due"));
    }
    match content::verify(offset, key, value, headers) {
        Ok(id) => out.effects.push(Effect::Read { topic: topic.into(), partition, offset, id }),
        Err(why) => out.violations.push(format!("{topic}/{partition}: {why}")),
    }
}

fn committed_effect(
    out: &mut Outcome,
    group: &str,
    offsets: Vec<(TopicPartition, u64)>,
    committed: larder::Result<()>,
) -> larder::Result<()> {
    let end = match &committed {
        Ok(()) => CommitEnd::Acked,
        Err(Error::Io { .. } | Error::Poisoned { .. }) => CommitEnd::Uncertain,
        Err(_) => CommitEnd::Refused,
    };
    out.effects.push(Effect::Committed { group: group.to_string(), offsets, end });
    committed
}
