//! The operations the simulation draws, run on worker threads, and what
//! each one reports back: its error (a typed `larder::Error`), a panic if
//! larder panicked, and the effects the model learns from (records
//! acknowledged, records that must not exist, syncs, truncations, commits,
//! records read). Sends are in `produce`, consumer calls in `consume`; the
//! partition and admin calls are here.

mod consume;
mod produce;

use std::panic::AssertUnwindSafe;
use std::sync::{Mutex, MutexGuard};

use larder::record::NewRecord;
use larder::{Assignor, CleanupPolicy, Durability, Error, Log, Producer, TopicConfig, TopicPartition};

use super::content;
use super::model::CommitEnd;

pub use consume::{Deliberate, Member, PANIC_GROUP};
pub use produce::{may_be_stored, CallbackLog, Queued};

/// Where a send goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// An explicit partition.
    Partition(u32),
    /// The partitioner: by key (Kafka's murmur2) or sticky without one.
    Partitioner,
}

/// Which of the three queued sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendHow {
    /// `send`: a handle.
    Plain,
    /// `send_with_callback`: a handle and a callback, which flushes.
    Callback,
    /// `try_send`: never blocks; a full queue is `QueueFull` at once.
    Try,
}

/// A record drawn to be refused before it is queued or appended: each is
/// an early outcome, reported through the handle (and the callback), or by
/// `send_direct` as its `Err`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// To a topic that never existed: `UnknownTopic`.
    UnknownTopic,
    /// To a partition no topic of the simulation ever has: `UnknownPartition`.
    UnknownPartition,
    /// Over the topic's `max_record_bytes`: `RecordTooLarge`.
    TooLarge,
    /// With a negative timestamp: `InvalidTimestamp`.
    NegativeTimestamp,
}

impl Refusal {
    /// Whether `error` is the one this refusal must get (a concurrent
    /// deletion of the topic may make any of them `UnknownTopic`).
    pub fn expects(self, error: &Error, topic_gone: bool) -> bool {
        let expected = match self {
            Refusal::UnknownTopic => matches!(error, Error::UnknownTopic { .. }),
            Refusal::UnknownPartition => matches!(error, Error::UnknownPartition { .. }),
            Refusal::TooLarge => matches!(error, Error::RecordTooLarge { .. }),
            Refusal::NegativeTimestamp => matches!(error, Error::InvalidTimestamp { .. }),
        };
        expected || (topic_gone && matches!(error, Error::UnknownTopic { .. }))
    }
}

/// A cleanup setting `alter_topic` gives a topic: from then on the
/// cleaner may remove whole segments from its partitions' starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// `retention_bytes`: the oldest segments while a partition holds more.
    Bytes(u64),
    /// `retention_ms`: segments whose newest record is older.
    Ms(u64),
    /// `UntilConsumed`: segments every reading group committed past.
    UntilConsumed,
    /// `Compact`: the latest record per key in the sealed segments, on
    /// every pass (no dirty-ratio threshold, no lag).
    Compact,
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
        refusal: Option<Refusal>,
    },
    Send {
        producer: usize,
        topic: String,
        route: Route,
        id: u64,
        sync_topic: bool,
        how: SendHow,
        refusal: Option<Refusal>,
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
    /// `Log::delete_records` below an offset up to two past the end (past
    /// it must be refused).
    DeleteRecords {
        topic: String,
        partition: u32,
        pick: u64,
    },
    /// `alter_topic` with the topic's configuration and a cleanup setting.
    AlterRetention {
        topic: String,
        retention: Retention,
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
    /// A consumer in slot `member`: in `group` (or none), subscribed to
    /// topics or assigned partitions.
    Join {
        member: usize,
        group: Option<String>,
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
    /// Up to `max` records through `Consumer::iter`, then out of the loop.
    Consume {
        member: usize,
        max: usize,
    },
    Commit {
        member: usize,
    },
    /// `pick` chooses the partition and the offset; `past_end` commits
    /// beyond the partition's end, which must be `OffsetOutOfRange`.
    CommitOffsets {
        member: usize,
        pick: u64,
        past_end: bool,
    },
    Seek {
        member: usize,
        pick: u64,
    },
    DeleteGroup {
        group: String,
    },
    /// A consumer with auto commit on polls `topic`/`partition` and panics
    /// while it processes the records: nothing may be committed.
    PanicInPoll {
        topic: String,
        partition: u32,
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
            | Op::DeleteRecords { topic, .. }
            | Op::AlterRetention { topic, .. }
            | Op::Roll { topic, .. }
            | Op::Read { topic, .. }
            | Op::Iterate { topic, .. }
            | Op::PanicInPoll { topic, .. } => Some(topic),
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
            | Op::Consume { member, .. }
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
                | Op::DeleteRecords { .. }
                | Op::Roll { .. }
        )
    }

    /// Whether it truncates or deletes records from a partition.
    pub fn cuts(&self) -> bool {
        matches!(self, Op::Truncate { .. } | Op::DeleteBefore { .. } | Op::DeleteRecords { .. })
    }

    /// Whether it is a consumer operation whose topics come from its
    /// assignment rather than from the op.
    pub fn is_consumer(&self) -> bool {
        self.member().is_some()
    }
}

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
    /// A queued send that returned a handle, settled at the end of the step.
    Queued(Box<produce::Queued>),
    /// A queued send that returned `Err` (the producer was closed): its
    /// callback, if any, must never run.
    SendRefused {
        id: u64,
        callback: Option<CallbackLog>,
    },
    /// `Partition::sync` returned: every offset below is durable.
    SyncedTo {
        topic: String,
        partition: u32,
        offset: u64,
    },
    /// Records at or after `offset` may be gone (`ok`: the call returned
    /// Ok, else it failed on I/O, maybe done).
    Truncated {
        topic: String,
        partition: u32,
        offset: u64,
        ok: bool,
    },
    /// Records below `offset` may be gone (`ok` as for `Truncated`).
    DeletedBefore {
        topic: String,
        partition: u32,
        offset: u64,
        ok: bool,
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
    /// A read, an iterator or a consumer went from `from` straight on to
    /// `to`: the offsets between were removed (compaction's holes) — or,
    /// for a consumer's `cursor`, a cut in the step may have moved it.
    Skipped {
        topic: String,
        partition: u32,
        from: u64,
        to: u64,
        cursor: bool,
    },
    TopicCreated {
        name: String,
        partitions: u32,
        durability: Durability,
        ok: bool,
        /// It failed on a sync, whose outcome is unknown: a power cut may
        /// keep the steps after it (the marker's removal) and lose the
        /// cleanup, so the next open may find the topic whole.
        uncertain: bool,
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
    /// `alter_topic` gave the topic a cleanup setting (or failed on I/O,
    /// maybe after): from now on records may leave its partitions' starts.
    RetentionSet {
        topic: String,
        retention: Retention,
    },
    Committed {
        group: String,
        offsets: Vec<(TopicPartition, u64)>,
        end: CommitEnd,
    },
    /// A consumer without a cursor for `tp` (newly assigned) went on from
    /// `offset`: the group's committed offset, or (reset to the earliest)
    /// the log start, which moved between `starts.0` and `starts.1`.
    Started {
        group: Option<String>,
        tp: TopicPartition,
        offset: u64,
        starts: (u64, u64),
    },
    /// `delete_group` ended: `Some(ok)` if it got as far as the file (see
    /// `Model::group_deleted`), `None` if refused.
    GroupDeleted {
        group: String,
        ended: Option<bool>,
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
    /// Checks of a consumer's positions, which hold only if no truncation
    /// or deletion of records ran in the step (one may move a partition's
    /// range between the look at it and the call).
    pub cut_violations: Vec<String>,
    pub records_read: u64,
    /// Positions checked against the records delivered before.
    pub positions_checked: u64,
}

impl Outcome {
    fn new(op: &Op) -> Outcome {
        Outcome {
            op: op.clone(),
            error: None,
            panic: None,
            effects: Vec::new(),
            violations: Vec::new(),
            raced_violations: Vec::new(),
            cut_violations: Vec::new(),
            records_read: 0,
            positions_checked: 0,
        }
    }
}

/// What the worker threads share.
pub struct Shared<'a> {
    pub log: &'a Log,
    pub producers: &'a [Mutex<Option<Producer>>],
    pub members: &'a [Mutex<Option<Member>>],
    /// Largest record a topic accepts, in bytes of its frame.
    pub max_record_bytes: u32,
}

/// Locks a slot, whatever a panic left in it.
pub fn lock<T>(slot: &Mutex<T>) -> MutexGuard<'_, T> {
    slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `op`, catching a panic inside larder.
pub fn execute(op: &Op, shared: &Shared<'_>) -> Outcome {
    let mut outcome = Outcome::new(op);
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

fn run(op: &Op, s: &Shared<'_>, out: &mut Outcome) -> larder::Result<()> {
    match op {
        Op::SendDirect { .. }
        | Op::Send { .. }
        | Op::Flush { .. }
        | Op::CloseProducer { .. }
        | Op::NewProducer { .. } => produce::run(op, s, out),
        Op::Join { .. }
        | Op::Leave { .. }
        | Op::Poll { .. }
        | Op::Consume { .. }
        | Op::Commit { .. }
        | Op::CommitOffsets { .. }
        | Op::Seek { .. }
        | Op::DeleteGroup { .. }
        | Op::PanicInPoll { .. } => consume::run(op, s, out),
        Op::Append { topic, partition, id } => append(s, topic, *partition, *id, out),
        Op::AppendBatch { topic, partition, ids } => append_batch(s, topic, *partition, ids, out),
        Op::Sync { topic, partition } => {
            let offset = s.log.partition(topic, *partition)?.sync()?;
            out.effects.push(Effect::SyncedTo { topic: topic.clone(), partition: *partition, offset });
            Ok(())
        }
        Op::Truncate { topic, partition, pick } => truncate(s, topic, *partition, *pick, out),
        Op::DeleteBefore { topic, partition, pick } => delete_before(s, topic, *partition, *pick, out),
        Op::DeleteRecords { topic, partition, pick } => delete_records(s, topic, *partition, *pick, out),
        Op::AlterRetention { topic, retention } => alter_retention(s, topic, *retention, out),
        Op::Roll { topic, partition } => {
            s.log.partition(topic, *partition)?.roll()?;
            out.effects.push(Effect::Wrote { topic: topic.clone(), partition: *partition });
            Ok(())
        }
        Op::Read { topic, partition, pick } => read_one(s, topic, *partition, *pick, out),
        Op::Iterate { topic, partition, pick, max } => iterate(s, topic, *partition, *pick, *max, out),
        Op::CreateTopic { name, partitions, segment_bytes, durability } => {
            let config = TopicConfig::new(*partitions)
                .segment_bytes(*segment_bytes)
                .durability(*durability)
                .max_record_bytes(s.max_record_bytes);
            let created = s.log.create_topic(name, config);
            let (name, partitions, durability, ok) = (name.clone(), *partitions, *durability, created.is_ok());
            let uncertain =
                matches!(created, Err(Error::Io { operation: larder::IoOp::Sync | larder::IoOp::SyncDirectory, .. }));
            out.effects.push(Effect::TopicCreated { name, partitions, durability, ok, uncertain });
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
    }
}

fn append(s: &Shared<'_>, topic: &str, partition: u32, id: u64, out: &mut Outcome) -> larder::Result<()> {
    let (key, value, header) = parts(id);
    let headers = header_slice(&header);
    let record = new_record(&key, &value, &headers);
    let stored = s.log.partition(topic, partition)?;
    match stored.append(&record) {
        Ok(appended) => acked(out, topic, partition, appended.offset, id, false, false),
        Err(error) => forbid(out, &[id], error),
    }
}

fn append_batch(s: &Shared<'_>, topic: &str, partition: u32, ids: &[u64], out: &mut Outcome) -> larder::Result<()> {
    let contents: Vec<_> = ids.iter().map(|&id| parts(id)).collect();
    let headers: Vec<Vec<(&str, &[u8])>> = contents.iter().map(|(_, _, h)| header_slice(h)).collect();
    let records: Vec<NewRecord<'_>> = contents.iter().zip(&headers).map(|((k, v, _), h)| new_record(k, v, h)).collect();
    let stored = s.log.partition(topic, partition)?;
    match stored.append_batch(&records) {
        Ok(appended) => {
            for (n, id) in ids.iter().enumerate() {
                acked(out, topic, partition, appended.offset + n as u64, *id, false, false)?;
            }
            Ok(())
        }
        Err(error) => forbid(out, ids, error),
    }
}

/// `truncate_to` an offset in the partition's range as it was just before.
/// Whether it returned Ok or failed on I/O (part done), records from that
/// offset on may be gone.
fn truncate(s: &Shared<'_>, topic: &str, partition: u32, pick: u64, out: &mut Outcome) -> larder::Result<()> {
    let stored = s.log.partition(topic, partition)?;
    let (start, end) = (stored.log_start_offset(), stored.end_offset());
    let offset = start + pick % (end - start + 1);
    let truncated = stored.truncate_to(offset);
    if truncated.is_ok() || matches!(truncated, Err(Error::Io { .. } | Error::DiskFull { .. })) {
        let ok = truncated.is_ok();
        out.effects.push(Effect::Truncated { topic: topic.into(), partition, offset, ok });
    }
    truncated?;
    out.effects.push(Effect::Wrote { topic: topic.into(), partition });
    Ok(())
}

/// `delete_before` an offset up to two past the end as it was just before:
/// the new start is the one asked for, within the log, unless another cut
/// raced it (checked by the world). A failure on I/O may have moved the
/// start; `DiskFull` must not have (it promises nothing stored changed).
fn delete_before(s: &Shared<'_>, topic: &str, partition: u32, pick: u64, out: &mut Outcome) -> larder::Result<()> {
    let stored = s.log.partition(topic, partition)?;
    let (start, end) = (stored.log_start_offset(), stored.end_offset());
    let offset = start + pick % (end - start + 3);
    match stored.delete_before(offset) {
        Ok(new_start) => {
            if new_start < start || new_start > offset.max(start) {
                let why = format!("delete_before({offset}) on [{start}, {end}) returned start {new_start}");
                out.raced_violations.push(why);
            }
            out.effects.push(Effect::DeletedBefore { topic: topic.into(), partition, offset: new_start, ok: true });
            out.effects.push(Effect::Wrote { topic: topic.into(), partition });
            Ok(())
        }
        Err(error) => {
            let moved = stored.log_start_offset();
            if matches!(error, Error::DiskFull { .. }) && moved != start {
                let why =
                    format!("delete_before({offset}) failed with DiskFull, yet moved the start {start} to {moved}");
                out.raced_violations.push(why);
            }
            if matches!(error, Error::Io { .. } | Error::DiskFull { .. }) {
                out.effects.push(Effect::DeletedBefore { topic: topic.into(), partition, offset, ok: false });
            }
            Err(error)
        }
    }
}

/// `Log::delete_records` below an offset up to two past the end as it was
/// just before: past it, refused (unless appends raced it); within it, the
/// new start is the one asked for, unless another cut raced it.
fn delete_records(s: &Shared<'_>, topic: &str, partition: u32, pick: u64, out: &mut Outcome) -> larder::Result<()> {
    let stored = s.log.partition(topic, partition)?;
    let (start, end) = (stored.log_start_offset(), stored.end_offset());
    let before = start + pick % (end - start + 3);
    match s.log.delete_records(topic, partition, before) {
        Ok(new_start) => {
            if new_start < start || new_start > before.max(start) {
                let why = format!("delete_records({before}) on [{start}, {end}) returned start {new_start}");
                out.raced_violations.push(why);
            }
            out.effects.push(Effect::DeletedBefore { topic: topic.into(), partition, offset: new_start, ok: true });
            out.effects.push(Effect::Wrote { topic: topic.into(), partition });
            Ok(())
        }
        Err(error) => {
            match &error {
                Error::InvalidArgument { name: "before", .. } if before <= end => {
                    let why = format!("delete_records({before}) on [{start}, {end}) refused: {error}");
                    out.raced_violations.push(why);
                }
                Error::Io { .. } | Error::DiskFull { .. } => {
                    let moved = stored.log_start_offset();
                    if matches!(error, Error::DiskFull { .. }) && moved != start {
                        let why = format!(
                            "delete_records({before}) failed with DiskFull, yet moved the start {start} to {moved}"
                        );
                        out.raced_violations.push(why);
                    }
                    out.effects.push(Effect::DeletedBefore {
                        topic: topic.into(),
                        partition,
                        offset: before,
                        ok: false,
                    });
                }
                _ => {}
            }
            Err(error)
        }
    }
}

/// `alter_topic` with the configuration `describe_topic` reports and a
/// cleanup setting: the partition count, durability and segments as they
/// are (a growth racing it makes it refuse the count).
fn alter_retention(s: &Shared<'_>, topic: &str, retention: Retention, out: &mut Outcome) -> larder::Result<()> {
    let config = s.log.describe_topic(topic)?.config;
    let config = match retention {
        Retention::Bytes(bytes) => config.cleanup_policy(CleanupPolicy::Delete).retention_bytes(bytes),
        Retention::Ms(ms) => config.cleanup_policy(CleanupPolicy::Delete).retention_ms(ms),
        Retention::UntilConsumed => config.cleanup_policy(CleanupPolicy::UntilConsumed { groups: Vec::new() }),
        Retention::Compact => {
            config.cleanup_policy(CleanupPolicy::Compact).min_cleanable_dirty_ratio(0.0).min_compaction_lag_ms(0)
        }
    };
    let altered = s.log.alter_topic(topic, config);
    if altered.is_ok() || matches!(altered, Err(Error::Io { .. } | Error::DiskFull { .. })) {
        out.effects.push(Effect::RetentionSet { topic: topic.into(), retention });
    }
    altered
}

fn read_one(s: &Shared<'_>, topic: &str, partition: u32, pick: u64, out: &mut Outcome) -> larder::Result<()> {
    let stored = s.log.partition(topic, partition)?;
    let (start, end) = (stored.log_start_offset(), stored.end_offset());
    if end == start {
        return Ok(());
    }
    let offset = start + pick % (end - start);
    let record = stored.read(offset)?;
    read(out, topic, partition, offset, record.offset(), record.key(), record.value(), record.headers());
    Ok(())
}

/// Up to `max` records through `iter_from`; after an error the iterator
/// must end.
fn iterate(
    s: &Shared<'_>,
    topic: &str,
    partition: u32,
    pick: u64,
    max: usize,
    out: &mut Outcome,
) -> larder::Result<()> {
    let stored = s.log.partition(topic, partition)?;
    let (start, end) = (stored.log_start_offset(), stored.end_offset());
    let from = start + pick % (end - start + 1);
    let mut records = stored.iter_from(from);
    let mut expected = from;
    for _ in 0..max {
        let Some(record) = records.next() else { break };
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                if let Some(after) = records.next() {
                    let after = after.map(|r| r.offset());
                    out.violations.push(format!("iter_from went on after {error}: {after:?}"));
                }
                return Err(error);
            }
        };
        read(out, topic, partition, expected, record.offset(), record.key(), record.value(), record.headers());
        expected = record.offset() + 1;
    }
    Ok(())
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

/// Checks one record read back at `offset` (where `expected` was due)
/// against what was sent, and tells the model.
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
    if offset > expected {
        out.effects.push(Effect::Skipped { topic: topic.into(), partition, from: expected, to: offset, cursor: false });
    } else if offset < expected {
        out.violations.push(format!("{topic}/{partition}: read offset {offset} where {expected} was due"));
    }
    match content::verify(offset, key, value, headers) {
        Ok(id) => out.effects.push(Effect::Read { topic: topic.into(), partition, offset, id }),
        Err(why) => out.violations.push(format!("{topic}/{partition}: {why}")),
    }
}

/// The records of one batch, from `first` on, each checked; offsets rise
/// but may skip compaction's holes.
pub fn read_batch(
    out: &mut Outcome,
    topic: &str,
    partition: u32,
    first: u64,
    records: impl Iterator<Item = larder::record::Record>,
) {
    let mut expected = first;
    for r in records {
        read(out, topic, partition, expected, r.offset(), r.key(), r.value(), r.headers());
        expected = r.offset() + 1;
    }
}

/// How a commit's result ends it for the model: an I/O error may come
/// after the offsets reached the file; every other error refused it
/// before (`Poisoned` included: a poisoned partition, or an offsets file
/// a failed commit left untrusted, is checked first).
fn commit_end(committed: &larder::Result<()>) -> CommitEnd {
    match committed {
        Ok(()) => CommitEnd::Acked,
        Err(Error::Io { .. }) => CommitEnd::Uncertain,
        Err(_) => CommitEnd::Refused,
    }
}
