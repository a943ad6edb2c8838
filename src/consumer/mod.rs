//! The consumer: Kafka's consumer API over the log, one per thread.
//!
//! `assign` reads chosen partitions; `subscribe` reads every partition of
//! some topics — shared with the other members of the consumer's group, or
//! all of them without a group — following rebalances and topic changes
//! inside `poll`. `poll` returns what is there, or blocks until an append
//! wakes it or the timeout passes.
//!
//! Delivery rules (at-least-once): a position is the next offset to deliver
//! to the application, and it moves only over what was delivered — the
//! records a `poll` returned, or those an iterator yielded. Commits (manual,
//! automatic inside `poll`, on `close`, on drop) store positions, so they
//! never cover a record the application did not get; and nothing is
//! committed while a panic unwinds.

mod config;
mod iter;
mod pattern;
mod rebalance;
mod records;
#[cfg(feature = "async")]
mod stream;
mod typed;
mod wakeup;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use config::{AutoOffsetReset, ConsumerConfig};
pub use iter::ConsumerIter;
pub use rebalance::{Rebalance, RebalanceListener};
pub use records::{ConsumerRecord, ConsumerRecords};
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub use stream::{ConsumerStream, PollFuture};
pub use typed::{TypedConsumer, TypedIter, TypedRecord};
pub use wakeup::WakeupHandle;

use crate::catalog::{Catalog, Topic};
use crate::error::{Error, Result};
use crate::group::{Directive, Group, JoinOptions, TopicPartition};
use crate::notify::Waker;
use crate::partition::Partition;
use pattern::TopicPattern;
use rebalance::Listener;

/// The next offset to deliver from an assigned partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// Not known yet: the committed offset, or `auto_offset_reset`, at the
    /// next fetch.
    Unknown,
    /// This offset.
    At(u64),
    /// Retention or truncation moved the log past it: reset by
    /// `auto_offset_reset` at the next fetch.
    OutOfRange,
}

/// A partition this consumer reads.
struct Assigned {
    tp: TopicPartition,
    topic: Arc<Topic>,
    partition: Arc<Partition>,
    position: Position,
    paused: bool,
    /// Whether reaching its end was reported and nothing was delivered
    /// from it since (`enable_partition_eof`).
    at_eof: bool,
}

enum Mode {
    Idle,
    Assigned,
    /// Subscribed without a group: every partition of the topics, followed
    /// as they are created, grow or are deleted.
    Alone {
        topics: Vec<String>,
    },
    /// A member of the consumer's group.
    Member {
        group: Arc<Group>,
        member: String,
        topics: Vec<String>,
        generation: u64,
    },
}

/// Reads records from a [`Log`](crate::Log). `Send`: one per thread (or
/// task); [`Consumer::wakeup_handle`] reaches it from others.
///
/// A consumer group's loop, at-least-once: poll, process, commit.
///
/// ```
/// # fn main() -> larder::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// use std::time::Duration;
/// use larder::{AutoOffsetReset, ConsumerConfig, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};
///
/// let log = Log::open(dir.path(), LogOptions::default())?;
/// log.create_topic("events", TopicConfig::new(2))?;
/// let producer = log.producer(ProducerConfig::default())?;
/// for n in 0..10u8 {
///     producer.send_direct(&ProducerRecord::new("events", &[n]))?;
/// }
/// let config = ConsumerConfig::default()
///     .group_id("loader")
///     .auto_offset_reset(AutoOffsetReset::Earliest)
///     .enable_auto_commit(false)
///     .enable_partition_eof(true);
/// let mut consumer = log.consumer(config)?;
/// consumer.subscribe(&["events"])?;
/// let mut processed = 0;
/// let mut ended = std::collections::HashSet::new();
/// while ended.len() < 2 {
///     let records = consumer.poll(Duration::from_secs(10))?;
///     processed += records.len(); // insert them somewhere
///     consumer.commit()?; // then commit: a crash before this replays, never skips
///     ended.extend(records.partition_eof().iter().cloned());
/// }
/// assert_eq!(processed, 10);
/// consumer.close()?;
/// # Ok(())
/// # }
/// ```
pub struct Consumer {
    log: Arc<Catalog>,
    config: ConsumerConfig,
    waker: Arc<Waker>,
    group: Option<Arc<Group>>,
    mode: Mode,
    assigned: Vec<Assigned>,
    /// Where the next fetch starts, round-robin over `assigned`.
    next: usize,
    last_commit: Instant,
    listener: Option<Box<dyn RebalanceListener + Send>>,
    /// Partitions whose `on_assigned` has not yet returned Ok: nothing is
    /// fetched until it has.
    pending_assigned: Option<Vec<TopicPartition>>,
    /// The pattern subscribed to, if any: the subscription follows the
    /// topics that match it.
    pattern: Option<TopicPattern>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer").field("config", &self.config).field("assignment", &self.assignment()).finish()
    }
}

impl Consumer {
    pub(crate) fn new(log: Arc<Catalog>, config: ConsumerConfig) -> Result<Consumer> {
        config.validate()?;
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
            pending_assigned: None,
            pattern: None,
        })
    }

    /// Reads exactly `partitions`, outside any group membership (Kafka's
    /// `assign`). Replaces an earlier assignment or subscription; an empty
    /// list unassigns.
    pub fn assign(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.log.check_open()?;
        refuse_duplicates("partitions", partitions)?;
        let resolved = self.resolve(partitions)?;
        self.unsubscribe();
        self.mode = Mode::Assigned;
        self.take(resolved);
        Ok(())
    }

    /// Subscribes to `topics` (Kafka's `subscribe`): with a `group_id`, the
    /// consumer joins its group and reads the partitions the group gives
    /// it; without one, it reads every partition of the topics. Topics that
    /// do not exist yet are read once created; partitions arrive with the
    /// next `poll`. An empty list unsubscribes.
    pub fn subscribe(&mut self, topics: &[&str]) -> Result<()> {
        self.subscribe_inner(topics, None)
    }

    /// As [`Consumer::subscribe`], with rebalance callbacks the consumer
    /// keeps (see [`Consumer::poll_with`] for a listener that borrows).
    pub fn subscribe_with_listener(
        &mut self,
        topics: &[&str],
        listener: impl RebalanceListener + Send + 'static,
    ) -> Result<()> {
        self.subscribe_inner(topics, Some(Box::new(listener)))
    }

    fn subscribe_inner(&mut self, topics: &[&str], listener: Option<Box<dyn RebalanceListener + Send>>) -> Result<()> {
        self.log.check_open()?;
        for topic in topics {
            crate::name::validate_name(topic)?;
        }
        refuse_duplicates("topics", topics)?;
        self.unsubscribe();
        if topics.is_empty() {
            return Ok(());
        }
        let topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
        self.set_topics(topics)?;
        self.listener = listener;
        Ok(())
    }

    /// Subscribes to every topic whose whole name matches the regular
    /// expression `pattern` (kafka-python's `subscribe(pattern=...)`), now
    /// and as topics are created and deleted: the subscription follows at
    /// the next `poll`, as a rebalance (partitions held are revoked, then
    /// the new set assigned). The syntax is the common core of Kafka's
    /// patterns — characters, `.`, `\.`, `\d`, `\w`, classes `[a-z0-9_-]`
    /// and `[^...]`, groups, `|`, `*`, `+`, `?` (anchors `^` and `$` are
    /// accepted: every match is of the whole name); anything else is
    /// refused with [`Error::InvalidArgument`] naming `pattern`.
    ///
    /// ```
    /// # fn main() -> larder::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use larder::{AutoOffsetReset, ConsumerConfig, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};
    ///
    /// let log = Log::open(dir.path(), LogOptions::default())?;
    /// log.create_topic("events.eu", TopicConfig::new(1))?;
    /// log.create_topic("audit", TopicConfig::new(1))?;
    /// let config = ConsumerConfig::default().group_id("all-events").auto_offset_reset(AutoOffsetReset::Earliest);
    /// let mut consumer = log.consumer(config)?;
    /// consumer.subscribe_pattern(r"events\..*")?;
    /// // A topic created later is followed too.
    /// log.create_topic("events.us", TopicConfig::new(1))?;
    /// log.producer(ProducerConfig::default())?.send_direct(&ProducerRecord::new("events.us", b"hi"))?;
    /// let records = consumer.poll(Duration::from_secs(10))?;
    /// assert_eq!(consumer.subscription(), ["events.eu", "events.us"]);
    /// assert_eq!(records.iter().next().map(|r| r.topic().to_string()).as_deref(), Some("events.us"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn subscribe_pattern(&mut self, pattern: &str) -> Result<()> {
        self.subscribe_pattern_inner(pattern, None)
    }

    /// As [`Consumer::subscribe_pattern`], with rebalance callbacks the
    /// consumer keeps.
    pub fn subscribe_pattern_with_listener(
        &mut self,
        pattern: &str,
        listener: impl RebalanceListener + Send + 'static,
    ) -> Result<()> {
        self.subscribe_pattern_inner(pattern, Some(Box::new(listener)))
    }

    fn subscribe_pattern_inner(
        &mut self,
        pattern: &str,
        listener: Option<Box<dyn RebalanceListener + Send>>,
    ) -> Result<()> {
        self.log.check_open()?;
        let pattern = TopicPattern::new(pattern)?;
        self.unsubscribe();
        self.log.topic_watchers().add(&self.waker);
        let topics = self.log.list_topics().into_iter().filter(|t| pattern.matches(t)).collect();
        self.pattern = Some(pattern);
        self.set_topics(topics)?;
        self.listener = listener;
        Ok(())
    }

    /// The topics subscribed to now (for a pattern, those matching it
    /// now), sorted as given; empty with `assign` or no subscription.
    pub fn subscription(&self) -> Vec<String> {
        match &self.mode {
            Mode::Alone { topics } | Mode::Member { topics, .. } => topics.clone(),
            Mode::Idle | Mode::Assigned => Vec::new(),
        }
    }

    /// From no subscription, subscribes to `topics`: joins the group, or
    /// follows the topics alone. Nothing for an empty list.
    fn set_topics(&mut self, topics: Vec<String>) -> Result<()> {
        if topics.is_empty() {
            return Ok(());
        }
        match self.group.clone() {
            Some(group) => self.join(group, topics)?,
            None => {
                self.log.topic_watchers().add(&self.waker);
                self.mode = Mode::Alone { topics };
            }
        }
        Ok(())
    }

    /// Follows the topics matching the subscribed pattern: if they changed,
    /// the partitions held are revoked and the group rejoined with the new
    /// list (without a group, `follow_topics` does the rest).
    fn follow_pattern(&mut self, listener: &mut Listener<'_>) -> Result<()> {
        let Some(pattern) = &self.pattern else { return Ok(()) };
        let matched: Vec<String> = self.log.list_topics().into_iter().filter(|t| pattern.matches(t)).collect();
        if matched == self.subscription() {
            return Ok(());
        }
        if let Mode::Alone { topics } = &mut self.mode {
            *topics = matched;
            return Ok(());
        }
        let mut revoked = Ok(());
        if let Mode::Member { .. } = self.mode {
            if self.config.enable_auto_commit && !std::thread::panicking() {
                self.commit_or_ignore_stale()?;
            }
            let held = self.assignment();
            revoked = listener.call(self, Rebalance::Revoked(&held));
            self.release_all();
            self.pending_assigned = None;
            if let Mode::Member { group, member, .. } = std::mem::replace(&mut self.mode, Mode::Idle) {
                group.leave(&member, |t| self.log.partition_count(t));
            }
        }
        self.set_topics(matched)?;
        revoked
    }

    fn join(&mut self, group: Arc<Group>, topics: Vec<String>) -> Result<()> {
        let options = JoinOptions { assignor: self.config.assignor, max_poll_interval: self.config.max_poll_interval };
        let member = group.join(topics.clone(), options, Arc::clone(&self.waker))?;
        group.complete_if_ready(|t| self.log.partition_count(t));
        self.mode = Mode::Member { group, member, topics, generation: 0 };
        Ok(())
    }

    /// Leaves the group (or drops the manual assignment), committing what
    /// was delivered first if auto commit is on.
    pub fn unsubscribe(&mut self) {
        if self.config.enable_auto_commit {
            let _ = self.commit_or_ignore_stale();
        }
        self.leave();
    }

    /// Leaves without committing anything.
    fn leave(&mut self) {
        self.release_all();
        self.pending_assigned = None;
        self.pattern = None;
        self.log.topic_watchers().remove(&self.waker);
        if let Mode::Member { group, member, .. } = std::mem::replace(&mut self.mode, Mode::Idle) {
            group.leave(&member, |t| self.log.partition_count(t));
        }
        self.listener = None;
    }

    /// The partitions this consumer holds now.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.assigned.iter().map(|a| a.tp.clone()).collect()
    }

    /// Returns up to `max_poll_records` records from the assigned, not
    /// paused partitions, blocking up to `timeout` until there are some;
    /// their partitions' positions move past them. Rebalances, topic
    /// changes and auto commits happen here. A topic deleted under the
    /// consumer is reported once, as [`Error::TopicDeleted`].
    pub fn poll(&mut self, timeout: Duration) -> Result<ConsumerRecords> {
        self.poll_inner(timeout, Listener::Owned, true)
    }

    /// As [`Consumer::poll`], with `listener` called for rebalances instead
    /// of the consumer's own. It may borrow what the poll loop uses (a
    /// database connection, say), and an error it returns is this poll's.
    ///
    /// ```
    /// # fn main() -> larder::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::collections::HashMap;
    /// use std::time::Duration;
    /// use larder::{Consumer, ConsumerConfig, Log, LogOptions, Rebalance, TopicConfig, TopicPartition};
    ///
    /// let log = Log::open(dir.path(), LogOptions::default())?;
    /// log.create_topic("events", TopicConfig::new(2))?;
    /// // Offsets kept beside the rows they produced (a database, here a map).
    /// let stored: HashMap<TopicPartition, u64> = HashMap::from([(TopicPartition::new("events", 1), 0)]);
    /// let mut consumer = log.consumer(ConsumerConfig::default().group_id("loader").enable_auto_commit(false))?;
    /// consumer.subscribe(&["events"])?;
    /// let records = consumer.poll_with(Duration::from_millis(10), &mut |consumer: &mut Consumer, event: Rebalance<'_>| {
    ///     if let Rebalance::Assigned(partitions) = event {
    ///         for tp in partitions {
    ///             consumer.seek(tp, stored.get(tp).copied().unwrap_or(0))?;
    ///         }
    ///     }
    ///     Ok(())
    /// })?;
    /// assert!(records.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn poll_with(&mut self, timeout: Duration, listener: &mut dyn RebalanceListener) -> Result<ConsumerRecords> {
        self.poll_inner(timeout, Listener::Borrowed(listener), true)
    }

    /// Polls; with `deliver`, the returned records count as delivered
    /// (their positions move past them), otherwise the caller delivers
    /// them one by one.
    fn poll_inner(&mut self, timeout: Duration, mut listener: Listener<'_>, deliver: bool) -> Result<ConsumerRecords> {
        self.log.check_open()?;
        self.check_wakeup()?;
        // No deadline (a timeout too long to add) means waiting until data.
        let deadline = Instant::now().checked_add(timeout);
        self.auto_commit_if_due()?;
        loop {
            self.waker.reset();
            self.follow(&mut listener)?;
            let records = self.fetch(deliver)?;
            if !records.is_empty() || !records.partition_eof.is_empty() {
                return Ok(records);
            }
            match deadline {
                Some(deadline) if deadline <= Instant::now() => return Ok(records),
                Some(deadline) => self.waker.wait_until(deadline),
                None => self.waker.wait_until(Instant::now() + Duration::from_secs(3600)),
            };
            self.log.check_open()?;
            self.check_wakeup()?;
        }
    }

    /// Fails with [`Error::Wakeup`] if a wakeup is pending (and clears it).
    fn check_wakeup(&self) -> Result<()> {
        match self.waker.take_interrupt() {
            true => Err(Error::Wakeup),
            false => Ok(()),
        }
    }

    /// Makes the poll under way, or the next one, return [`Error::Wakeup`]
    /// (Kafka's `wakeup`). From another thread, use a
    /// [`WakeupHandle`]: the consumer itself is used by one thread.
    pub fn wakeup(&self) {
        self.waker.interrupt();
    }

    /// A handle that ends this consumer's blocked poll from another
    /// thread — a signal handler's thread, a shutdown hook — with
    /// [`Error::Wakeup`].
    pub fn wakeup_handle(&self) -> WakeupHandle {
        WakeupHandle { waker: Arc::clone(&self.waker) }
    }

    /// Records one at a time, polling as needed; ends after
    /// `consumer_timeout` without a record (never, without one). Each
    /// record counts as delivered when it is yielded: breaking out of the
    /// loop leaves the position on the first record not yielded.
    pub fn iter(&mut self) -> ConsumerIter<'_> {
        ConsumerIter::new(self)
    }

    /// Follows whatever changed since the last poll: deleted topics,
    /// the group's rebalances or the subscribed topics' partitions, and
    /// retries an `on_assigned` that failed.
    fn follow(&mut self, listener: &mut Listener<'_>) -> Result<()> {
        self.follow_pattern(listener)?;
        self.drop_deleted_topics(listener)?;
        match &self.mode {
            Mode::Member { .. } => self.follow_group(listener)?,
            Mode::Alone { .. } => self.follow_topics(listener)?,
            Mode::Idle | Mode::Assigned => {}
        }
        if let Some(partitions) = self.pending_assigned.clone() {
            listener.call(self, Rebalance::Assigned(&partitions))?;
            self.pending_assigned = None;
        }
        Ok(())
    }

    /// Revokes the partitions of topics deleted since the last poll and
    /// reports the first such topic; nothing of it is returned again.
    fn drop_deleted_topics(&mut self, listener: &mut Listener<'_>) -> Result<()> {
        let Some(deleted) = self.assigned.iter().find(|a| a.topic.is_deleted()).map(|a| a.topic.name().to_string())
        else {
            return Ok(());
        };
        let lost: Vec<TopicPartition> =
            self.assigned.iter().filter(|a| a.topic.is_deleted()).map(|a| a.tp.clone()).collect();
        let revoked = listener.call(self, Rebalance::Revoked(&lost));
        self.release(|a| a.topic.is_deleted());
        revoked?;
        Err(Error::TopicDeleted { topic: deleted })
    }

    /// Without a group: takes every partition of the subscribed topics that
    /// exist now, if that changed (revoking all, then assigning all, as a
    /// rebalance would; positions of partitions kept are kept).
    fn follow_topics(&mut self, listener: &mut Listener<'_>) -> Result<()> {
        let Mode::Alone { topics } = &self.mode else { return Ok(()) };
        let wanted: Vec<TopicPartition> = topics
            .iter()
            .flat_map(|t| (0..self.log.partition_count(t)).map(move |p| TopicPartition::new(t.as_str(), p)))
            .collect();
        let current = self.assignment();
        if wanted == current {
            return Ok(());
        }
        let revoked = listener.call(self, Rebalance::Revoked(&current));
        let kept: HashMap<TopicPartition, Position> =
            self.assigned.iter().map(|a| (a.tp.clone(), a.position)).collect();
        let mut resolved = self.resolve_existing(&wanted);
        for assigned in &mut resolved {
            assigned.position = kept.get(&assigned.tp).copied().unwrap_or(Position::Unknown);
        }
        let partitions = self.assignment_of(&resolved);
        self.take(resolved);
        self.pending_assigned = Some(partitions);
        revoked
    }

    /// Follows the group's rebalances: revoke, rejoin, take the new share.
    fn follow_group(&mut self, listener: &mut Listener<'_>) -> Result<()> {
        let Mode::Member { group, member, generation, .. } = &self.mode else { return Ok(()) };
        let (group, member, known) = (Arc::clone(group), member.clone(), *generation);
        match group.sync(&member, known, |t| self.log.partition_count(t)) {
            Directive::Steady | Directive::Waiting => Ok(()),
            Directive::Removed => {
                let lost = self.assignment();
                let revoked = listener.call(self, Rebalance::Revoked(&lost));
                self.release_all();
                if let Mode::Member { group, topics, .. } = std::mem::replace(&mut self.mode, Mode::Idle) {
                    self.join(group, topics)?;
                }
                revoked?;
                self.follow_group(listener)
            }
            Directive::Revoke => {
                let revoked = self.assignment();
                // A failed commit does not hold the rebalance up (Kafka logs
                // it in `onJoinPrepare` and goes on): the partitions go to
                // their next owner, which starts from the last commit that
                // succeeded (redelivery, never a skip), and the failure is
                // this poll's error. Returned before rejoining, it would
                // come back at every poll and stall the whole group.
                let committed = match self.config.enable_auto_commit && !std::thread::panicking() {
                    true => self.commit_or_ignore_stale(),
                    false => Ok(()),
                };
                let called = listener.call(self, Rebalance::Revoked(&revoked));
                self.release_all();
                self.pending_assigned = None;
                group.rejoin(&member, |t| self.log.partition_count(t));
                committed?;
                called?;
                self.follow_group(listener)
            }
            Directive::Assign(new_generation, partitions) => {
                let resolved = self.resolve_existing(&partitions);
                if let Mode::Member { generation, .. } = &mut self.mode {
                    *generation = new_generation;
                }
                self.take(resolved);
                self.pending_assigned = Some(partitions);
                Ok(())
            }
        }
    }

    /// Fetches from the assigned, not paused partitions, up to
    /// `max_poll_records`; with `deliver`, positions move past what is
    /// returned.
    fn fetch(&mut self, deliver: bool) -> Result<ConsumerRecords> {
        let mut records = ConsumerRecords::default();
        if self.pending_assigned.is_some() {
            return Ok(records);
        }
        let mut remaining = self.config.max_poll_records;
        let count = self.assigned.len();
        for step in 0..count {
            let n = (self.next + step) % count;
            if self.assigned[n].paused {
                continue;
            }
            let position = self.valid_position(n)?;
            let report_eof = deliver && self.config.enable_partition_eof;
            let assigned = &mut self.assigned[n];
            let end = assigned.partition.end_offset();
            if position >= end {
                if report_eof && !assigned.at_eof {
                    assigned.at_eof = true;
                    records.partition_eof.push(assigned.tp.clone());
                }
                continue;
            }
            let batch = match assigned.partition.read_batch(position, remaining) {
                Ok(batch) => batch,
                // Retention or truncation moved the log since the position
                // was checked: reset it by the policy at the next fetch.
                Err(Error::OffsetOutOfRange { .. }) => {
                    assigned.position = Position::OutOfRange;
                    continue;
                }
                // Deleted since `follow` looked (its partitions are closed
                // now): nothing more of it is read, and the next `follow`
                // reports it as `TopicDeleted`, never as a closed log.
                Err(Error::Closed { .. }) if assigned.topic.is_deleted() => continue,
                Err(error) => return Err(error),
            };
            if deliver {
                assigned.position = Position::At(batch.next_offset());
                assigned.at_eof = report_eof && batch.next_offset() >= end;
                if assigned.at_eof {
                    records.partition_eof.push(assigned.tp.clone());
                }
            }
            remaining -= batch.len();
            records.batches.push((Arc::clone(assigned.topic.name()), assigned.tp.partition, batch));
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
        let candidate = match (assigned.position, &self.group) {
            (Position::At(offset), _) => Some(offset),
            (Position::Unknown, Some(group)) => group.committed(&assigned.tp)?,
            _ => None,
        };
        let position = match candidate {
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
        self.assigned[n].position = Position::At(position);
        Ok(position)
    }

    /// Marks the record at `offset` of `assigned[n]` delivered.
    pub(crate) fn delivered(&mut self, n: usize, offset: u64) {
        self.assigned[n].position = Position::At(offset + 1);
        self.assigned[n].at_eof = false;
    }

    /// Index in `assigned` of `(topic, partition)`.
    pub(crate) fn index_of(&self, topic: &str, partition: u32) -> Option<usize> {
        self.assigned.iter().position(|a| a.tp.partition == partition && a.tp.topic == topic)
    }

    /// Moves the position of `(topic, partition)` back to `offset`: records
    /// a poll returned that the caller could not deliver.
    pub(crate) fn undeliver(&mut self, topic: &str, partition: u32, offset: u64) {
        if let Some(n) = self.index_of(topic, partition) {
            self.assigned[n].position = Position::At(offset);
        }
    }

    /// The configured iterator timeout.
    pub(crate) fn consumer_timeout(&self) -> Option<Duration> {
        self.config.consumer_timeout
    }

    /// Polls for the iterators: records are delivered one by one.
    pub(crate) fn poll_undelivered(&mut self, timeout: Duration) -> Result<ConsumerRecords> {
        self.poll_inner(timeout, Listener::Owned, false)
    }

    fn resolve(&self, partitions: &[TopicPartition]) -> Result<Vec<Assigned>> {
        partitions
            .iter()
            .map(|tp| {
                let topic = self.log.topic(&tp.topic)?;
                let partition = topic.partition(tp.partition)?;
                Ok(Assigned {
                    tp: tp.clone(),
                    topic,
                    partition,
                    position: Position::Unknown,
                    paused: false,
                    at_eof: false,
                })
            })
            .collect()
    }

    /// The partitions of `partitions` that exist now (a topic may have been
    /// deleted since the group assigned it: the next rebalance follows).
    fn resolve_existing(&self, partitions: &[TopicPartition]) -> Vec<Assigned> {
        partitions.iter().filter_map(|tp| self.resolve(std::slice::from_ref(tp)).ok()?.pop()).collect()
    }

    fn assignment_of(&self, assigned: &[Assigned]) -> Vec<TopicPartition> {
        assigned.iter().map(|a| a.tp.clone()).collect()
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
        self.release(|_| true);
    }

    /// Stops reading the assigned partitions `which` selects.
    fn release(&mut self, which: impl Fn(&Assigned) -> bool) {
        let (released, kept): (Vec<Assigned>, Vec<Assigned>) = self.assigned.drain(..).partition(|a| which(a));
        for a in released {
            a.partition.watchers().remove(&self.waker);
        }
        self.assigned = kept;
        self.next = 0;
    }

    fn find(&self, tp: &TopicPartition) -> Result<usize> {
        self.index_of(&tp.topic, tp.partition)
            .ok_or_else(|| Error::NotAssigned { topic: tp.topic.clone(), partition: tp.partition })
    }

    /// The next offset `poll` returns from `tp` (assigned).
    pub fn position(&mut self, tp: &TopicPartition) -> Result<u64> {
        self.log.check_open()?;
        let n = self.find(tp)?;
        self.valid_position(n)
    }

    /// Makes `offset` the next one read from `tp` (assigned). An offset
    /// outside the log is reset by `auto_offset_reset` at the next poll.
    ///
    /// ```
    /// # fn main() -> larder::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use larder::{ConsumerConfig, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig, TopicPartition};
    ///
    /// let log = Log::open(dir.path(), LogOptions::default())?;
    /// log.create_topic("events", TopicConfig::new(1))?;
    /// let producer = log.producer(ProducerConfig::default())?;
    /// for value in [b"a", b"b", b"c"] {
    ///     producer.send_direct(&ProducerRecord::new("events", value))?;
    /// }
    /// let mut consumer = log.consumer(ConsumerConfig::default())?;
    /// let tp = TopicPartition::new("events", 0);
    /// consumer.assign(&[tp.clone()])?;
    /// consumer.seek(&tp, 1)?; // replay from offset 1
    /// let records = consumer.poll(Duration::from_secs(10))?;
    /// assert_eq!(records.iter().map(|r| r.offset()).collect::<Vec<_>>(), [1, 2]);
    /// assert_eq!(consumer.position(&tp)?, 3);
    /// # Ok(())
    /// # }
    /// ```
    pub fn seek(&mut self, tp: &TopicPartition, offset: u64) -> Result<()> {
        self.log.check_open()?;
        let n = self.find(tp)?;
        self.assigned[n].position = Position::At(offset);
        self.assigned[n].at_eof = false;
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
        self.log.check_open()?;
        let targets = if partitions.is_empty() { self.assignment() } else { partitions.to_vec() };
        for tp in &targets {
            let n = self.find(tp)?;
            self.assigned[n].position = Position::At(to(&self.assigned[n].partition));
            self.assigned[n].at_eof = false;
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
        self.log.check_open()?;
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
    /// given, or `None` if no record is that recent. Negative timestamps
    /// are refused with [`Error::InvalidTimestamp`], as Kafka refuses them.
    pub fn offsets_for_times(
        &self,
        times: &HashMap<TopicPartition, i64>,
    ) -> Result<HashMap<TopicPartition, Option<u64>>> {
        if let Some(&timestamp_ms) = times.values().find(|&&ts| ts < 0) {
            return Err(Error::InvalidTimestamp { timestamp_ms });
        }
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
        self.log.check_open()?;
        let n = self.find(tp)?;
        let position = self.valid_position(n)?;
        Ok(self.assigned[n].partition.end_offset().saturating_sub(position))
    }

    /// Commits the position of every assigned partition — what was
    /// delivered; returns once the offsets are durable. Partitions of a
    /// topic deleted meanwhile are left out (the next `poll` reports the
    /// deletion): their offsets went with the topic. A position past its
    /// partition's end (a `seek` there, not yet reset by a `poll`) is
    /// refused with [`Error::CommitPastEnd`], and nothing is committed:
    /// the group would skip the records later appended below it. (The
    /// automatic commits — in `poll`, on close, on drop — leave such a
    /// partition's last commit as it is.)
    pub fn commit(&mut self) -> Result<()> {
        // Closed before anything else: a handle of a closed log says so,
        // whatever its positions.
        self.log.check_open()?;
        let offsets = self.committable(false)?;
        self.commit_list(&offsets)
    }

    /// The positions a commit stores: those of the assigned partitions,
    /// but for deleted topics, and positions past the end refused — or,
    /// with `skip_past_end`, left out.
    fn committable(&self, skip_past_end: bool) -> Result<Vec<(TopicPartition, u64)>> {
        let mut offsets = Vec::new();
        for a in self.assigned.iter().filter(|a| !a.topic.is_deleted()) {
            let Position::At(offset) = a.position else { continue };
            let end_offset = a.partition.end_offset();
            if offset <= end_offset {
                offsets.push((a.tp.clone(), offset));
            } else if !skip_past_end {
                let (topic, partition) = (a.tp.topic.clone(), a.tp.partition);
                return Err(Error::CommitPastEnd { topic, partition, offset, end_offset });
            }
        }
        Ok(offsets)
    }

    /// Commits the given offsets (each the next offset to read, at most the
    /// partition's end) of assigned partitions; returns once they are
    /// durable. For committing less than a poll returned — the records
    /// processed so far of a batch, say. An offset past the end is refused
    /// with [`Error::CommitPastEnd`], a deleted topic's partition with
    /// [`Error::TopicDeleted`]; then nothing is committed.
    ///
    /// ```
    /// # fn main() -> larder::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::collections::HashMap;
    /// use std::time::Duration;
    /// use larder::{AutoOffsetReset, ConsumerConfig, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig, TopicPartition};
    ///
    /// let log = Log::open(dir.path(), LogOptions::default())?;
    /// log.create_topic("events", TopicConfig::new(1))?;
    /// let producer = log.producer(ProducerConfig::default())?;
    /// for n in 0..5u8 {
    ///     producer.send_direct(&ProducerRecord::new("events", &[n]))?;
    /// }
    /// let config = ConsumerConfig::default().group_id("g").auto_offset_reset(AutoOffsetReset::Earliest);
    /// let mut consumer = log.consumer(config.enable_auto_commit(false))?;
    /// consumer.subscribe(&["events"])?;
    /// let records = consumer.poll(Duration::from_secs(10))?;
    /// // Only the first two records were processed: commit past them.
    /// let last = records.iter().nth(1).expect("two records");
    /// let tp = TopicPartition::new(last.topic(), last.partition());
    /// consumer.commit_offsets(&HashMap::from([(tp.clone(), last.offset() + 1)]))?;
    /// assert_eq!(consumer.committed(&tp)?, Some(2));
    /// # Ok(())
    /// # }
    /// ```
    pub fn commit_offsets(&mut self, offsets: &HashMap<TopicPartition, u64>) -> Result<()> {
        self.log.check_open()?;
        let mut list: Vec<(TopicPartition, u64)> = offsets.iter().map(|(tp, &o)| (tp.clone(), o)).collect();
        list.sort();
        for (tp, offset) in &list {
            let assigned = &self.assigned[self.find(tp)?];
            if assigned.topic.is_deleted() {
                return Err(Error::TopicDeleted { topic: tp.topic.clone() });
            }
            let end_offset = assigned.partition.end_offset();
            if *offset > end_offset {
                let (topic, partition) = (tp.topic.clone(), tp.partition);
                return Err(Error::CommitPastEnd { topic, partition, offset: *offset, end_offset });
            }
        }
        self.commit_list(&list)
    }

    fn commit_list(&mut self, offsets: &[(TopicPartition, u64)]) -> Result<()> {
        self.log.check_open()?;
        let group = self.group.as_ref().ok_or_else(|| Error::invalid("group_id", "committing needs a group_id"))?;
        self.last_commit = Instant::now();
        if offsets.is_empty() {
            return Ok(());
        }
        // A commit must not outlive the records it commits past: sync any
        // partition whose durable end is below its committed offset, so
        // that after a power loss no committed offset points past the end.
        for (tp, offset) in offsets {
            let assigned = &self.assigned[self.find(tp)?];
            let partition = &assigned.partition;
            if partition.is_poisoned() {
                // What a poisoned partition holds durably is unknown.
                return Err(Error::Poisoned { path: partition.dir().to_path_buf() });
            }
            if partition.synced_offset() < *offset {
                partition.sync().map_err(|error| match error {
                    // Deleted meanwhile: its partitions are closed.
                    Error::Closed { .. } if assigned.topic.is_deleted() => {
                        Error::TopicDeleted { topic: tp.topic.clone() }
                    }
                    error => error,
                })?;
            }
        }
        let member = match &self.mode {
            Mode::Member { member, generation, .. } => Some((member.as_str(), *generation)),
            _ => None,
        };
        let topics: HashMap<&str, &Arc<Topic>> =
            self.assigned.iter().map(|a| (a.tp.topic.as_str(), &a.topic)).collect();
        group.commit(member, offsets, |tp| topics.get(tp.topic.as_str()).is_some_and(|t| t.is_deleted()))
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

    /// An automatic commit (auto commit, close, drop): never while a panic
    /// unwinds, never without a group, and lost to a completed rebalance
    /// (the partitions went to another member, which starts from the last
    /// successful commit).
    fn commit_or_ignore_stale(&mut self) -> Result<()> {
        if self.group.is_none() || std::thread::panicking() {
            return Ok(());
        }
        match self.committable(true).and_then(|offsets| self.commit_list(&offsets)) {
            Err(
                Error::StaleGeneration { .. }
                | Error::UnknownMember { .. }
                | Error::Closed { .. }
                // Deleted meanwhile: the next poll reports it.
                | Error::TopicDeleted { .. },
            ) => Ok(()),
            other => other,
        }
    }

    /// The committed offset of `tp` in this consumer's group.
    pub fn committed(&self, tp: &TopicPartition) -> Result<Option<u64>> {
        let group = self.group.as_ref().ok_or_else(|| Error::invalid("group_id", "committed needs a group_id"))?;
        group.committed(tp)
    }

    /// Commits what was delivered (if auto commit is on) and leaves the
    /// group.
    pub fn close(mut self) -> Result<()> {
        let committed = if self.config.enable_auto_commit { self.commit_or_ignore_stale() } else { Ok(()) };
        self.leave();
        committed
    }
}

impl Drop for Consumer {
    /// As `close`, ignoring errors; while a panic unwinds, it only leaves
    /// the group, committing nothing.
    fn drop(&mut self) {
        self.unsubscribe();
    }
}

/// Refuses a list naming something twice.
fn refuse_duplicates<T: std::hash::Hash + Eq + std::fmt::Debug>(name: &'static str, items: &[T]) -> Result<()> {
    let mut seen = HashSet::new();
    match items.iter().find(|item| !seen.insert(*item)) {
        Some(item) => Err(Error::invalid(name, format!("{item:?} is listed twice"))),
        None => Ok(()),
    }
}
