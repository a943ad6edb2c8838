//! The consumer: Kafka's consumer API over the log, one per thread.
//!
//! `assign` reads chosen partitions; `subscribe` joins the consumer's group
//! and reads the partitions the group gives it, following rebalances inside
//! `poll`. `poll` returns what is there, or blocks until an append wakes it
//! or the timeout passes. Positions are the next offset to read; commits
//! store positions, so processing a poll's records before polling again
//! (with auto commit, or committing after processing) gives at-least-once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::group::{Assignor, Group, JoinOptions, Sync, TopicPartition};
use crate::log::LogInner;
use crate::notify::Waker;
use crate::partition::Partition;
use crate::record::{Headers, Record};
use crate::segment::RecordBatch;

/// Where to start when there is no committed offset, or the position left
/// the log (Kafka's `auto_offset_reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AutoOffsetReset {
    /// The log start offset.
    Earliest,
    /// The end offset: only records appended from now on.
    #[default]
    Latest,
    /// Fail with [`Error::NoOffset`].
    None,
}

/// How a consumer reads, with Kafka's names and defaults.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    group_id: Option<String>,
    auto_offset_reset: AutoOffsetReset,
    enable_auto_commit: bool,
    auto_commit_interval: Duration,
    max_poll_records: usize,
    consumer_timeout: Option<Duration>,
    assignor: Assignor,
    max_poll_interval: Duration,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            group_id: None,
            auto_offset_reset: AutoOffsetReset::Latest,
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            max_poll_records: 500,
            consumer_timeout: None,
            assignor: Assignor::Range,
            max_poll_interval: Duration::from_secs(300),
        }
    }
}

impl ConsumerConfig {
    /// The group whose offsets this consumer commits and, with
    /// `subscribe`, whose partitions it shares.
    pub fn group_id(mut self, group_id: impl Into<String>) -> Self {
        self.group_id = Some(group_id.into());
        self
    }

    /// Where to start without a committed offset (default `Latest`).
    pub fn auto_offset_reset(mut self, reset: AutoOffsetReset) -> Self {
        self.auto_offset_reset = reset;
        self
    }

    /// Commit positions automatically inside `poll` and on close (default on).
    pub fn enable_auto_commit(mut self, enable: bool) -> Self {
        self.enable_auto_commit = enable;
        self
    }

    /// How often auto commit commits (default 5 s).
    pub fn auto_commit_interval(mut self, interval: Duration) -> Self {
        self.auto_commit_interval = interval;
        self
    }

    /// Most records one `poll` returns (default 500).
    pub fn max_poll_records(mut self, records: usize) -> Self {
        self.max_poll_records = records;
        self
    }

    /// How long the iterator waits for a record before it ends (default:
    /// forever), like kafka-python's `consumer_timeout_ms`.
    pub fn consumer_timeout(mut self, timeout: Duration) -> Self {
        self.consumer_timeout = Some(timeout);
        self
    }

    /// Longest a rebalance waits for this member's next `poll` before
    /// removing it from the group (default 5 min, Kafka's
    /// `max.poll.interval.ms`). A removed member's commits fail with
    /// [`Error::StaleGeneration`]; its next poll joins the group again.
    pub fn max_poll_interval(mut self, interval: Duration) -> Self {
        self.max_poll_interval = interval;
        self
    }

    /// How the group splits partitions (default `Range`).
    pub fn assignor(mut self, assignor: Assignor) -> Self {
        self.assignor = assignor;
        self
    }
}

/// Callbacks around a rebalance (kafka-python's
/// `ConsumerRebalanceListener`). `on_revoked` always runs before the
/// following `on_assigned`, and `on_assigned` runs even with no partitions.
pub trait RebalanceListener: Send {
    /// The consumer is about to lose `partitions`; commit what was
    /// processed now (the generation is still current).
    fn on_revoked(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) {
        let _ = (consumer, partitions);
    }

    /// The consumer now holds `partitions`.
    fn on_assigned(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) {
        let _ = (consumer, partitions);
    }
}

/// A record returned by `poll`: where it came from, and the record itself,
/// borrowing its bytes from the mapped segment.
#[derive(Clone, Debug)]
pub struct ConsumerRecord {
    topic: Arc<str>,
    partition: u32,
    record: Record,
}

impl ConsumerRecord {
    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The partition.
    pub fn partition(&self) -> u32 {
        self.partition
    }

    /// The offset.
    pub fn offset(&self) -> u64 {
        self.record.offset()
    }

    /// The timestamp in milliseconds since the Unix epoch.
    pub fn timestamp_ms(&self) -> i64 {
        self.record.timestamp_ms()
    }

    /// The key, if any.
    pub fn key(&self) -> Option<&[u8]> {
        self.record.key()
    }

    /// The value; `None` for a tombstone.
    pub fn value(&self) -> Option<&[u8]> {
        self.record.value()
    }

    /// The headers in order.
    pub fn headers(&self) -> Headers<'_> {
        self.record.headers()
    }
}

/// What one `poll` returned: a batch per partition it read from.
#[derive(Debug, Default)]
pub struct ConsumerRecords {
    batches: Vec<(Arc<str>, u32, RecordBatch)>,
}

impl ConsumerRecords {
    /// Records in all batches.
    pub fn len(&self) -> usize {
        self.batches.iter().map(|(_, _, b)| b.len()).sum()
    }

    /// Whether the poll returned nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The batches: `(topic, partition, records)`, for reading without any
    /// per-record handle.
    pub fn batches(&self) -> impl Iterator<Item = (&str, u32, &RecordBatch)> {
        self.batches.iter().map(|(t, p, b)| (t.as_ref(), *p, b))
    }

    /// Every record, partition by partition, in offset order.
    pub fn iter(&self) -> impl Iterator<Item = ConsumerRecord> + '_ {
        self.batches.iter().flat_map(|(topic, partition, batch)| {
            batch.records().map(move |record| ConsumerRecord {
                topic: Arc::clone(topic),
                partition: *partition,
                record,
            })
        })
    }
}

/// A partition this consumer reads.
struct Assigned {
    tp: TopicPartition,
    topic: Arc<str>,
    partition: Arc<Partition>,
    /// The next offset to read; `None` until first needed.
    position: Option<u64>,
    paused: bool,
}

enum Mode {
    Idle,
    Assigned,
    Subscribed { group: Arc<Group>, member: String, topics: Vec<String>, generation: u64 },
}

/// Reads records from a [`Log`](crate::Log). `Send`: one per thread.
pub struct Consumer {
    log: Arc<LogInner>,
    config: ConsumerConfig,
    waker: Arc<Waker>,
    group: Option<Arc<Group>>,
    mode: Mode,
    assigned: Vec<Assigned>,
    next: usize,
    last_commit: Instant,
    listener: Option<Box<dyn RebalanceListener>>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer").field("config", &self.config).field("assignment", &self.assignment()).finish()
    }
}

impl Consumer {
    pub(crate) fn new(log: Arc<LogInner>, config: ConsumerConfig) -> Result<Consumer> {
        if config.max_poll_records == 0 {
            return Err(Error::invalid("max_poll_records", "must be at least 1"));
        }
        let group = config.group_id.as_deref().map(|id| log.group(id)).transpose()?;
        Ok(Consumer {
            log,
            config,
            waker: Arc::default(),
            group,
            mode: Mode::Idle,
            assigned: Vec::new(),
            next: 0,
            last_commit: Instant::now(),
            listener: None,
        })
    }

    /// Reads exactly `partitions`, outside any group membership (Kafka's
    /// `assign`). Replaces an earlier assignment or subscription.
    pub fn assign(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        let resolved = self.resolve(partitions)?;
        self.unsubscribe();
        self.mode = Mode::Assigned;
        self.take(resolved);
        Ok(())
    }

    /// Joins the consumer's group, subscribed to `topics` (Kafka's
    /// `subscribe`); partitions arrive with the next `poll`.
    pub fn subscribe(&mut self, topics: &[&str]) -> Result<()> {
        self.subscribe_inner(topics, None)
    }

    /// As [`Consumer::subscribe`], with rebalance callbacks.
    pub fn subscribe_with_listener(
        &mut self,
        topics: &[&str],
        listener: impl RebalanceListener + 'static,
    ) -> Result<()> {
        self.subscribe_inner(topics, Some(Box::new(listener)))
    }

    fn subscribe_inner(&mut self, topics: &[&str], listener: Option<Box<dyn RebalanceListener>>) -> Result<()> {
        let group = self.group.clone().ok_or_else(|| Error::invalid("group_id", "subscribe needs a group_id"))?;
        for topic in topics {
            self.log.topic(topic)?;
        }
        self.unsubscribe();
        let topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
        self.listener = listener;
        self.join(group, topics);
        Ok(())
    }

    fn join(&mut self, group: Arc<Group>, topics: Vec<String>) {
        let options = JoinOptions { assignor: self.config.assignor, max_poll_interval: self.config.max_poll_interval };
        let member = group.join(topics.clone(), options, Arc::clone(&self.waker));
        group.complete_if_ready(|t| self.log.partition_count(t));
        self.mode = Mode::Subscribed { group, member, topics, generation: 0 };
    }

    /// Leaves the group (or drops the manual assignment), committing first
    /// if auto commit is on.
    pub fn unsubscribe(&mut self) {
        if self.config.enable_auto_commit {
            let _ = self.commit();
        }
        self.release_all();
        if let Mode::Subscribed { group, member, .. } = std::mem::replace(&mut self.mode, Mode::Idle) {
            group.leave(&member, |t| self.log.partition_count(t));
        }
        self.listener = None;
    }

    /// The partitions this consumer holds now.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.assigned.iter().map(|a| a.tp.clone()).collect()
    }

    /// Returns up to `max_poll_records` records from the assigned, not
    /// paused partitions, blocking up to `timeout` until there are some.
    /// Rebalances and auto commits happen here.
    pub fn poll(&mut self, timeout: Duration) -> Result<ConsumerRecords> {
        // No deadline (a timeout too long to add) means waiting until data.
        let deadline = Instant::now().checked_add(timeout);
        self.auto_commit_if_due()?;
        loop {
            self.waker.reset();
            self.follow_group()?;
            let records = self.fetch()?;
            if !records.is_empty() {
                return Ok(records);
            }
            match deadline {
                Some(deadline) if deadline <= Instant::now() => return Ok(records),
                Some(deadline) => self.waker.wait_until(deadline),
                None => self.waker.wait_until(Instant::now() + Duration::from_secs(3600)),
            };
        }
    }

    /// Records one at a time, polling as needed; ends after
    /// `consumer_timeout` without a record (never, without one).
    pub fn iter(&mut self) -> ConsumerIter<'_> {
        ConsumerIter { consumer: self, buffered: std::collections::VecDeque::new() }
    }

    fn fetch(&mut self) -> Result<ConsumerRecords> {
        let mut records = ConsumerRecords::default();
        let mut remaining = self.config.max_poll_records;
        let count = self.assigned.len();
        for step in 0..count {
            let n = (self.next + step) % count;
            if self.assigned[n].paused {
                continue;
            }
            let position = self.valid_position(n)?;
            let assigned = &mut self.assigned[n];
            if position >= assigned.partition.end_offset() {
                continue;
            }
            let batch = match assigned.partition.read_batch(position, remaining) {
                Ok(batch) => batch,
                // Retention or truncation moved the log since the position
                // was checked: reset it by the policy at the next fetch.
                Err(Error::OffsetOutOfRange { .. }) => {
                    assigned.position = Some(u64::MAX);
                    continue;
                }
                Err(error) => return Err(error),
            };
            assigned.position = Some(batch.next_offset());
            remaining -= batch.len();
            records.batches.push((Arc::clone(&assigned.topic), assigned.tp.partition, batch));
            if remaining == 0 {
                self.next = n + 1;
                break;
            }
        }
        Ok(records)
    }

    /// The position of `assigned[n]`, resolved from the committed offset or
    /// `auto_offset_reset`, and reset by that policy if it left the log.
    fn valid_position(&mut self, n: usize) -> Result<u64> {
        let assigned = &self.assigned[n];
        let (start, end) = (assigned.partition.log_start_offset(), assigned.partition.end_offset());
        let committed = match (assigned.position, &self.group) {
            (None, Some(group)) => group.committed(&assigned.tp)?,
            _ => None,
        };
        let position = match assigned.position.or(committed) {
            Some(position) if (start..=end).contains(&position) => position,
            _ => match self.config.auto_offset_reset {
                AutoOffsetReset::Earliest => start,
                AutoOffsetReset::Latest => end,
                AutoOffsetReset::None => {
                    let tp = &assigned.tp;
                    return Err(Error::NoOffset { topic: tp.topic.clone(), partition: tp.partition });
                }
            },
        };
        self.assigned[n].position = Some(position);
        Ok(position)
    }

    /// Follows the group's rebalances: revoke, rejoin, take the new share.
    fn follow_group(&mut self) -> Result<()> {
        let Mode::Subscribed { group, member, generation, .. } = &self.mode else { return Ok(()) };
        let (group, member, known) = (Arc::clone(group), member.clone(), *generation);
        match group.sync(&member, known, |t| self.log.partition_count(t)) {
            Sync::Steady | Sync::Waiting => Ok(()),
            Sync::Removed => {
                let lost = self.assignment();
                self.with_listener(|listener, consumer| listener.on_revoked(consumer, &lost));
                self.release_all();
                if let Mode::Subscribed { group, topics, .. } = std::mem::replace(&mut self.mode, Mode::Idle) {
                    self.join(group, topics);
                }
                self.follow_group()
            }
            Sync::Revoke => {
                let revoked = self.assignment();
                if self.config.enable_auto_commit {
                    self.commit_or_ignore_stale()?;
                }
                self.with_listener(|listener, consumer| listener.on_revoked(consumer, &revoked));
                self.release_all();
                group.rejoin(&member, |t| self.log.partition_count(t));
                self.follow_group()
            }
            Sync::Assign(new_generation, partitions) => {
                let resolved = self.resolve(&partitions)?;
                if let Mode::Subscribed { generation, .. } = &mut self.mode {
                    *generation = new_generation;
                }
                self.take(resolved);
                self.with_listener(|listener, consumer| listener.on_assigned(consumer, &partitions));
                Ok(())
            }
        }
    }

    fn with_listener(&mut self, call: impl FnOnce(&mut Box<dyn RebalanceListener>, &mut Consumer)) {
        if let Some(mut listener) = self.listener.take() {
            call(&mut listener, self);
            if self.listener.is_none() {
                self.listener = Some(listener);
            }
        }
    }

    fn resolve(&self, partitions: &[TopicPartition]) -> Result<Vec<Assigned>> {
        partitions
            .iter()
            .map(|tp| {
                let topic = self.log.topic(&tp.topic)?;
                let partition = topic.partition(tp.partition)?;
                Ok(Assigned {
                    tp: tp.clone(),
                    topic: Arc::clone(topic.name()),
                    partition,
                    position: None,
                    paused: false,
                })
            })
            .collect()
    }

    fn take(&mut self, assigned: Vec<Assigned>) {
        self.release_all();
        for a in &assigned {
            a.partition.watchers().add(&self.waker);
        }
        self.assigned = assigned;
        self.next = 0;
    }

    fn release_all(&mut self) {
        for a in self.assigned.drain(..) {
            a.partition.watchers().remove(&self.waker);
        }
    }

    fn find(&self, tp: &TopicPartition) -> Result<usize> {
        self.assigned
            .iter()
            .position(|a| &a.tp == tp)
            .ok_or_else(|| Error::NotAssigned { topic: tp.topic.clone(), partition: tp.partition })
    }

    /// The next offset `poll` returns from `tp` (assigned).
    pub fn position(&mut self, tp: &TopicPartition) -> Result<u64> {
        let n = self.find(tp)?;
        self.valid_position(n)
    }

    /// Makes `offset` the next one read from `tp` (assigned). An offset
    /// outside the log is reset by `auto_offset_reset` at the next poll.
    pub fn seek(&mut self, tp: &TopicPartition, offset: u64) -> Result<()> {
        let n = self.find(tp)?;
        self.assigned[n].position = Some(offset);
        Ok(())
    }

    /// Seeks each of `partitions` (all assigned ones if empty) to its log start.
    pub fn seek_to_beginning(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.seek_each(partitions, |p| p.log_start_offset())
    }

    /// Seeks each of `partitions` (all assigned ones if empty) to its end.
    pub fn seek_to_end(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.seek_each(partitions, |p| p.end_offset())
    }

    fn seek_each(&mut self, partitions: &[TopicPartition], to: impl Fn(&Partition) -> u64) -> Result<()> {
        let targets = if partitions.is_empty() { self.assignment() } else { partitions.to_vec() };
        for tp in &targets {
            let n = self.find(tp)?;
            self.assigned[n].position = Some(to(&self.assigned[n].partition));
        }
        Ok(())
    }

    /// Stops returning records from `partitions` until resumed.
    pub fn pause(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.set_paused(partitions, true)
    }

    /// Returns records from `partitions` again.
    pub fn resume(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.set_paused(partitions, false)
    }

    /// The paused partitions.
    pub fn paused(&self) -> Vec<TopicPartition> {
        self.assigned.iter().filter(|a| a.paused).map(|a| a.tp.clone()).collect()
    }

    fn set_paused(&mut self, partitions: &[TopicPartition], paused: bool) -> Result<()> {
        for tp in partitions {
            let n = self.find(tp)?;
            self.assigned[n].paused = paused;
        }
        Ok(())
    }

    /// The log start offset of each partition (assigned or not).
    pub fn beginning_offsets(&self, partitions: &[TopicPartition]) -> Result<HashMap<TopicPartition, u64>> {
        self.each(partitions, Partition::log_start_offset)
    }

    /// The end offset of each partition (assigned or not).
    pub fn end_offsets(&self, partitions: &[TopicPartition]) -> Result<HashMap<TopicPartition, u64>> {
        self.each(partitions, Partition::end_offset)
    }

    /// For each partition, the first offset whose timestamp is >= the one
    /// given, or `None` if no record is that recent.
    pub fn offsets_for_times(
        &self,
        times: &HashMap<TopicPartition, i64>,
    ) -> Result<HashMap<TopicPartition, Option<u64>>> {
        times.iter().map(|(tp, &ts)| Ok((tp.clone(), self.partition_of(tp)?.offset_for_timestamp(ts)?))).collect()
    }

    fn each<T>(
        &self,
        partitions: &[TopicPartition],
        value: impl Fn(&Partition) -> T,
    ) -> Result<HashMap<TopicPartition, T>> {
        partitions.iter().map(|tp| Ok((tp.clone(), value(&*self.partition_of(tp)?)))).collect()
    }

    fn partition_of(&self, tp: &TopicPartition) -> Result<Arc<Partition>> {
        self.log.topic(&tp.topic)?.partition(tp.partition)
    }

    /// How far `tp` (assigned) is behind: end offset − position.
    pub fn lag(&mut self, tp: &TopicPartition) -> Result<u64> {
        let n = self.find(tp)?;
        let position = self.valid_position(n)?;
        Ok(self.assigned[n].partition.end_offset().saturating_sub(position))
    }

    /// Commits the current position of every assigned partition; returns
    /// once the offsets are durable.
    pub fn commit(&mut self) -> Result<()> {
        let offsets: Vec<(TopicPartition, u64)> =
            self.assigned.iter().filter_map(|a| a.position.map(|p| (a.tp.clone(), p))).collect();
        self.commit_list(&offsets)
    }

    /// Commits the given offsets (each the next offset to read) of
    /// assigned partitions; returns once they are durable.
    pub fn commit_offsets(&mut self, offsets: &HashMap<TopicPartition, u64>) -> Result<()> {
        let mut list: Vec<(TopicPartition, u64)> = offsets.iter().map(|(tp, &o)| (tp.clone(), o)).collect();
        list.sort();
        for (tp, _) in &list {
            self.find(tp)?;
        }
        self.commit_list(&list)
    }

    fn commit_list(&mut self, offsets: &[(TopicPartition, u64)]) -> Result<()> {
        let group = self.group.as_ref().ok_or_else(|| Error::invalid("group_id", "committing needs a group_id"))?;
        self.last_commit = Instant::now();
        if offsets.is_empty() {
            return Ok(());
        }
        // A commit must not outlive the records it commits past: sync any
        // partition whose durable end is below its committed offset, so
        // that after a power loss no committed offset points past the end.
        for (tp, offset) in offsets {
            let partition = &self.assigned[self.find(tp)?].partition;
            if partition.synced_offset() < *offset {
                partition.sync()?;
            }
        }
        let member = match &self.mode {
            Mode::Subscribed { member, generation, .. } => Some((member.as_str(), *generation)),
            _ => None,
        };
        group.commit(member, offsets)
    }

    fn auto_commit_if_due(&mut self) -> Result<()> {
        if self.config.enable_auto_commit
            && self.group.is_some()
            && self.last_commit.elapsed() >= self.config.auto_commit_interval
        {
            self.commit_or_ignore_stale()?;
        }
        Ok(())
    }

    /// Auto commits lose to a completed rebalance: the partitions went to
    /// another member, which starts from the last successful commit.
    fn commit_or_ignore_stale(&mut self) -> Result<()> {
        match self.commit() {
            Err(Error::StaleGeneration { .. }) => Ok(()),
            other => other,
        }
    }

    /// The committed offset of `tp` in this consumer's group.
    pub fn committed(&self, tp: &TopicPartition) -> Result<Option<u64>> {
        let group = self.group.as_ref().ok_or_else(|| Error::invalid("group_id", "committed needs a group_id"))?;
        group.committed(tp)
    }

    /// Commits (if auto commit is on) and leaves the group.
    pub fn close(mut self) -> Result<()> {
        let committed =
            if self.config.enable_auto_commit && self.group.is_some() { self.commit_or_ignore_stale() } else { Ok(()) };
        self.config.enable_auto_commit = false;
        self.unsubscribe();
        committed
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.unsubscribe();
    }
}

/// Iterator over a consumer's records, from [`Consumer::iter`].
pub struct ConsumerIter<'a> {
    consumer: &'a mut Consumer,
    buffered: std::collections::VecDeque<ConsumerRecord>,
}

impl Iterator for ConsumerIter<'_> {
    type Item = Result<ConsumerRecord>;

    fn next(&mut self) -> Option<Result<ConsumerRecord>> {
        if let Some(record) = self.buffered.pop_front() {
            return Some(Ok(record));
        }
        let timeout = self.consumer.config.consumer_timeout.unwrap_or(Duration::MAX);
        match self.consumer.poll(timeout) {
            Ok(records) => {
                self.buffered.extend(records.iter());
                self.buffered.pop_front().map(Ok)
            }
            Err(error) => Some(Err(error)),
        }
    }
}
