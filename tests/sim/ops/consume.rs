//! Consumer operations, and what a consumer's positions must be
//! (at-least-once): each member keeps a cursor per partition, the next
//! offset after the records delivered to it (or where it sought). A poll,
//! an iterator or a commit must start there while the cursor is inside the
//! log; once a truncation or deletion left it outside, at the log start
//! (`auto_offset_reset = earliest`). Without a cursor (a new assignment),
//! where it starts is reported for the world to check against the group's
//! committed offsets. A topic deleted under a consumer is reported by one
//! poll, once, and leaves its assignment. A consumer that panics while it
//! processes a poll commits nothing, even with auto commit on.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use larder::{Assignor, AutoOffsetReset, Consumer, ConsumerConfig, Error, Rebalance, TopicPartition};

use super::{commit_end, lock, read, read_batch, Effect, Op, Outcome, Shared};

/// The group of the consumers that panic (`Op::PanicInPoll`): nothing ever
/// commits to it, so it must never have an offsets file.
pub const PANIC_GROUP: &str = "panics";

/// The payload of a deliberate panic (the test's panic hook keeps quiet
/// about it): what the poll before it returned.
pub struct Deliberate(pub larder::Result<()>);

/// A consumer in a member slot, with what the model knows of it.
pub struct Member {
    pub consumer: Consumer,
    pub group: Option<String>,
    pub assignor: Assignor,
    /// Subscribed (a group member, with a group) rather than assigned.
    pub subscribed: bool,
    /// Rebalance callbacks run so far: a change means positions were
    /// dropped and taken again from the committed offsets.
    rebalances: Arc<AtomicU64>,
    /// Topics a poll reported deleted.
    told_deleted: BTreeSet<String>,
    /// The next offset to deliver from each partition, as the model knows it.
    cursors: BTreeMap<TopicPartition, Cursor>,
}

/// Where a member goes on in one partition.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    /// The offset after the last record delivered (or sought).
    next: u64,
    /// Seen outside the log (a truncation or deletion cut past it) at a
    /// call of the member's: the consumer may have reset it, to a log start
    /// at least this one, even in a poll that delivered nothing from it.
    reset_from: Option<u64>,
}

impl Cursor {
    fn at(next: u64) -> Cursor {
        Cursor { next, reset_from: None }
    }
}

/// Each assigned partition's `(log start, end)`, where it can be read.
type Ranges = BTreeMap<TopicPartition, (u64, u64)>;

pub(super) fn run(op: &Op, s: &Shared<'_>, out: &mut Outcome) -> larder::Result<()> {
    if let Op::Join { member, group, subscribe, assign, assignor } = op {
        let member_now = join(s, group.clone(), subscribe.as_deref(), assign, *assignor)?;
        lock(&s.members[*member]).get_or_insert(member_now);
        return Ok(());
    }
    if let Op::DeleteGroup { group } = op {
        let deleted = s.log.delete_group(group);
        let ended = match &deleted {
            Ok(()) => Some(true),
            Err(Error::Io { .. }) => Some(false),
            Err(_) => None,
        };
        out.effects.push(Effect::GroupDeleted { group: group.clone(), ended });
        return deleted;
    }
    if let Op::PanicInPoll { topic, partition } = op {
        return panic_in_poll(s, TopicPartition::new(topic.as_str(), *partition), out);
    }
    let slot = op.member().expect("a member operation");
    let mut slot = lock(&s.members[slot]);
    if let Op::Leave { .. } = op {
        return slot.take().map_or(Ok(()), |member| member.consumer.close());
    }
    let Some(member) = slot.as_mut() else { return Ok(()) };
    match op {
        Op::Poll { timeout_ms, .. } => member.poll(Duration::from_millis(*timeout_ms), out),
        Op::Consume { max, .. } => member.consume(*max, out),
        Op::Commit { .. } => member.commit(out),
        Op::CommitOffsets { pick, past_end, .. } => member.commit_offsets(*pick, *past_end, out),
        Op::Seek { pick, .. } => member.seek(*pick),
        _ => Ok(()),
    }
}

/// The configuration every member uses: no auto commit (the model knows
/// each commit), small polls, an iterator that ends at once when idle.
fn member_config(group: Option<&str>, assignor: Assignor) -> ConsumerConfig {
    let config = ConsumerConfig::default()
        .enable_auto_commit(false)
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .max_poll_records(16)
        .max_poll_interval(Duration::from_millis(200))
        .consumer_timeout(Duration::from_millis(1))
        .assignor(assignor);
    match group {
        Some(group) => config.group_id(group),
        None => config,
    }
}

fn join(
    s: &Shared<'_>,
    group: Option<String>,
    subscribe: Option<&[String]>,
    assign: &[TopicPartition],
    assignor: Assignor,
) -> larder::Result<Member> {
    let mut consumer = s.log.consumer(member_config(group.as_deref(), assignor))?;
    let rebalances: Arc<AtomicU64> = Arc::default();
    let counter = Arc::clone(&rebalances);
    let counting = move |_: &mut Consumer, _: Rebalance<'_>| {
        counter.fetch_add(1, Ordering::AcqRel);
        Ok(())
    };
    match subscribe {
        Some(topics) => {
            consumer.subscribe_with_listener(&topics.iter().map(String::as_str).collect::<Vec<_>>(), counting)?
        }
        None => consumer.assign(assign)?,
    }
    let subscribed = subscribe.is_some() && group.is_some();
    let (told_deleted, cursors) = (BTreeSet::new(), BTreeMap::new());
    Ok(Member { consumer, group, assignor, subscribed, rebalances, told_deleted, cursors })
}

/// A consumer with auto commit on (every poll commits) polls `tp`, then
/// panics while it processes what it got; dropped while unwinding, it must
/// commit nothing (the world checks that its group stores nothing).
fn panic_in_poll(s: &Shared<'_>, tp: TopicPartition, out: &mut Outcome) -> larder::Result<()> {
    let config = ConsumerConfig::default()
        .group_id(PANIC_GROUP)
        .auto_commit_interval(Duration::ZERO)
        .auto_offset_reset(AutoOffsetReset::Earliest);
    let mut consumer = s.log.consumer(config)?;
    consumer.assign(std::slice::from_ref(&tp))?;
    let unwound = std::panic::catch_unwind(AssertUnwindSafe(move || {
        let mut consumer = consumer;
        let polled = consumer.poll(Duration::ZERO).map(|records| {
            for (topic, partition, batch) in records.batches() {
                read_batch(out, topic, partition, batch.first_offset(), batch.records());
            }
        });
        std::panic::panic_any(Deliberate(polled));
    }));
    match unwound.map_err(|payload| payload.downcast::<Deliberate>()) {
        Err(Ok(deliberate)) => deliberate.0,
        Err(Err(other)) => std::panic::resume_unwind(other),
        Ok(()) => unreachable!("the poll always panics"),
    }
}

impl Member {
    fn rebalanced_since(&self, count: u64) -> bool {
        self.rebalances.load(Ordering::Acquire) != count
    }

    fn ranges(&self) -> Ranges {
        let mut ranges = Ranges::new();
        for tp in self.consumer.assignment() {
            let one = std::slice::from_ref(&tp);
            let (Ok(start), Ok(end)) = (self.consumer.beginning_offsets(one), self.consumer.end_offsets(one)) else {
                continue;
            };
            ranges.insert(tp.clone(), (start[&tp], end[&tp]));
        }
        ranges
    }

    /// Checks that `tp` went on from `offset` (its first record delivered,
    /// or its position), then moves its cursor to `next`. `before` and
    /// `after` are the partitions' ranges around the call.
    fn went_on(
        &mut self,
        tp: &TopicPartition,
        offset: u64,
        next: u64,
        (before, after): (&Ranges, &Ranges),
        out: &mut Outcome,
    ) {
        let (Some(&(start_before, end_before)), Some(&(start_after, _))) = (before.get(tp), after.get(tp)) else {
            self.cursors.insert(tp.clone(), Cursor::at(next));
            return;
        };
        match self.cursors.get(tp) {
            Some(&Cursor { next: cursor, reset_from }) => {
                out.positions_checked += 1;
                let stayed = (start_after..=end_before).contains(&cursor);
                let reset = (start_before..=start_after).contains(&offset);
                let reset_before = reset_from.is_some_and(|low| (low..=start_after).contains(&offset));
                let (topic, partition) = (tp.topic.clone(), tp.partition);
                if offset > cursor && (stayed || !reset) && !reset_before {
                    // Over compaction's holes, or moved by a cut in the step.
                    out.effects.push(Effect::Skipped { topic, partition, from: cursor, to: offset, cursor: true });
                } else if offset != cursor && !stayed && offset > start_after && !reset && !reset_before {
                    // Reset to the log start (the cursor left the log), and
                    // from there over compaction's holes.
                    out.effects.push(Effect::Skipped { topic, partition, from: start_after, to: offset, cursor: true });
                } else if offset != cursor && (stayed || !reset) && !reset_before {
                    out.cut_violations.push(format!(
                        "{tp}: went on from {offset}; the records delivered end at {cursor} \
                         (log [{start_before}, {end_before}) before, start {start_after} after)"
                    ));
                }
            }
            None => out.effects.push(Effect::Started {
                group: self.group.clone(),
                tp: tp.clone(),
                offset,
                starts: (start_before, start_after),
            }),
        }
        self.cursors.insert(tp.clone(), Cursor::at(next));
    }

    /// A truncation (to `truncated_to`) or a deletion (below `deleted_below`)
    /// of `tp` ran in a step: if it put the cursor outside the log, any call
    /// of the member's in that step may have reset it (to a log start no
    /// higher than the one after the step), though records appended since
    /// brought the end back past it.
    pub fn cut(&mut self, tp: &TopicPartition, truncated_to: Option<u64>, deleted_below: Option<u64>) {
        let Some(cursor) = self.cursors.get_mut(tp) else { return };
        let outside = truncated_to.is_some_and(|o| cursor.next > o) || deleted_below.is_some_and(|o| cursor.next < o);
        if outside {
            cursor.reset_from = Some(0);
        }
    }

    /// Notes the cursors outside the partitions' ranges as a call of the
    /// member's begins (`before`): the consumer may reset them.
    fn observe(&mut self, before: &Ranges) {
        for (tp, cursor) in self.cursors.iter_mut() {
            let Some(&(start, end)) = before.get(tp) else { continue };
            if !(start..=end).contains(&cursor.next) {
                cursor.reset_from = Some(cursor.reset_from.map_or(start, |low| low.min(start)));
            }
        }
    }

    /// A topic a poll reported deleted: once, and out of the assignment.
    fn told_deleted(&mut self, topic: &str, out: &mut Outcome) {
        if !self.told_deleted.insert(topic.to_string()) {
            out.violations.push(format!("topic {topic} was reported deleted twice"));
        }
        if let Some(tp) = self.consumer.assignment().into_iter().find(|tp| tp.topic == topic) {
            out.violations.push(format!("{tp} is still assigned after its topic was reported deleted"));
        }
        self.cursors.retain(|tp, _| tp.topic != topic);
    }

    /// Forgets the cursors a rebalance dropped: in a group, all of them (a
    /// partition taken back starts again from the committed offset);
    /// without one, only those of partitions no longer assigned (a
    /// subscription that follows its topics keeps the positions of the
    /// partitions it keeps).
    fn follow(&mut self, rebalances_before: u64) {
        if self.rebalanced_since(rebalances_before) && self.subscribed {
            self.cursors.clear();
        }
        let assigned: BTreeSet<TopicPartition> = self.consumer.assignment().into_iter().collect();
        self.cursors.retain(|tp, _| assigned.contains(tp));
    }

    fn poll(&mut self, timeout: Duration, out: &mut Outcome) -> larder::Result<()> {
        let (rebalances, before) = (self.rebalances.load(Ordering::Acquire), self.ranges());
        self.observe(&before);
        let records = match self.consumer.poll(timeout) {
            Ok(records) => records,
            Err(Error::TopicDeleted { topic }) => {
                self.told_deleted(&topic, out);
                return Err(Error::TopicDeleted { topic });
            }
            // Nothing was delivered: every cursor stands.
            Err(error) => return Err(error),
        };
        self.follow(rebalances);
        let after = self.ranges();
        for (topic, partition, batch) in records.batches() {
            read_batch(out, topic, partition, batch.first_offset(), batch.records());
            if !batch.is_empty() {
                let tp = TopicPartition::new(topic, partition);
                self.went_on(&tp, batch.first_offset(), batch.next_offset(), (&before, &after), out);
            }
        }
        Ok(())
    }

    /// Up to `max` records through the iterator, then out of the loop: the
    /// positions stay on the first record not yielded.
    fn consume(&mut self, max: usize, out: &mut Outcome) -> larder::Result<()> {
        let before = self.ranges();
        self.observe(&before);
        let mut yielded = Vec::new();
        let mut rebalances = self.rebalances.load(Ordering::Acquire);
        let mut ended = Ok(());
        for next in self.consumer.iter().take(max) {
            // A rebalance inside the iterator's poll drops every position.
            let now = self.rebalances.load(Ordering::Acquire);
            let rebalanced = now != rebalances;
            rebalances = now;
            match next {
                Ok(record) => yielded.push((rebalanced, record)),
                Err(error) => {
                    ended = Err(error);
                    break;
                }
            }
        }
        let after = self.ranges();
        for (rebalanced, record) in &yielded {
            if *rebalanced && self.subscribed {
                self.cursors.clear();
            }
            let (topic, partition, offset) = (record.topic(), record.partition(), record.offset());
            read(out, topic, partition, offset, offset, record.key(), record.value(), record.headers());
            self.went_on(&TopicPartition::new(topic, partition), offset, offset + 1, (&before, &after), out);
        }
        if let Err(Error::TopicDeleted { topic }) = &ended {
            self.told_deleted(topic, out);
        }
        ended
    }

    /// `commit`: each position must be where the cursor says; the group's
    /// committed offsets become them.
    fn commit(&mut self, out: &mut Outcome) -> larder::Result<()> {
        let before = self.ranges();
        self.observe(&before);
        let mut positions = Vec::new();
        for tp in self.consumer.assignment() {
            positions.push((tp.clone(), self.consumer.position(&tp)?));
        }
        let after = self.ranges();
        for (tp, position) in &positions {
            self.went_on(tp, *position, *position, (&before, &after), out);
        }
        let committed = self.consumer.commit();
        self.committed(positions, committed, out)
    }

    /// `commit_offsets` of one assigned partition: an offset inside its
    /// range, or past its end (which must be refused).
    fn commit_offsets(&mut self, pick: u64, past_end: bool, out: &mut Outcome) -> larder::Result<()> {
        let assignment = self.consumer.assignment();
        let Some(tp) = assignment.get(pick as usize % assignment.len().max(1)).cloned() else {
            return self.consumer.commit_offsets(&HashMap::new());
        };
        let one = std::slice::from_ref(&tp);
        let (start, end) = (self.consumer.beginning_offsets(one)?[&tp], self.consumer.end_offsets(one)?[&tp]);
        let offset = if past_end { end + 1 + pick % 3 } else { start + pick % (end.saturating_sub(start) + 1) };
        let committed = self.consumer.commit_offsets(&HashMap::from([(tp.clone(), offset)]));
        if committed.is_ok() && past_end {
            let end_now = self.consumer.end_offsets(one).map_or(0, |ends| ends[&tp]);
            if offset > end_now {
                out.violations.push(format!("{tp}: commit_offsets({offset}) past the end {end_now} returned Ok"));
            }
        }
        self.committed(vec![(tp, offset)], committed, out)
    }

    /// Tells the model how a commit of `offsets` ended; a consumer without
    /// a group cannot commit.
    fn committed(
        &self,
        offsets: Vec<(TopicPartition, u64)>,
        committed: larder::Result<()>,
        out: &mut Outcome,
    ) -> larder::Result<()> {
        match &self.group {
            Some(group) => {
                let end = commit_end(&committed);
                out.effects.push(Effect::Committed { group: group.clone(), offsets, end });
            }
            None if committed.is_ok() => out.violations.push("a consumer without a group_id committed".into()),
            None => {}
        }
        committed
    }

    /// Seeks one assigned partition to an offset in its range, or to its
    /// beginning or end; the cursor follows an explicit offset.
    fn seek(&mut self, pick: u64) -> larder::Result<()> {
        let assignment = self.consumer.assignment();
        let Some(tp) = assignment.get(pick as usize % assignment.len().max(1)).cloned() else { return Ok(()) };
        match pick % 4 {
            0 => {
                self.cursors.clear();
                self.consumer.seek_to_beginning(&[])
            }
            1 => {
                // The end as the seek found it (a concurrent append may
                // have moved it since): `position` says which.
                self.consumer.seek_to_end(std::slice::from_ref(&tp))?;
                let position = self.consumer.position(&tp)?;
                self.cursors.insert(tp, Cursor::at(position));
                Ok(())
            }
            _ => {
                let one = std::slice::from_ref(&tp);
                let (start, end) = (self.consumer.beginning_offsets(one)?[&tp], self.consumer.end_offsets(one)?[&tp]);
                let offset = start + pick % (end.saturating_sub(start) + 1);
                self.consumer.seek(&tp, offset)?;
                self.cursors.insert(tp, Cursor::at(offset));
                Ok(())
            }
        }
    }
}
