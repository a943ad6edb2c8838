//! What larder acknowledged, and so what must hold whatever the
//! interleaving: the records each partition must return at their offsets,
//! the records that must never appear, the topics that exist, and the
//! values each group's committed offsets may take.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use larder::{Durability, TopicPartition};

use super::content;

/// A record acknowledged at an offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acked {
    pub id: u64,
    /// Durable: acknowledged at `Durability::Sync`, or below a synced
    /// offset larder reported. Survives power loss.
    pub synced: bool,
    /// Acknowledged in a step that also truncated or deleted from its
    /// partition, so it may have gone before the step ended: if it is at
    /// its offset it must be intact, if not it is forgotten.
    pub weak: bool,
    /// Other records acknowledged at this offset in that same step (an
    /// append, a truncation, then an append again): one of them may be
    /// the one stored; each with whether it was acknowledged synced.
    pub alternatives: Vec<(u64, bool)>,
    /// A record of its key was acknowledged or seen stored at a higher
    /// offset: on a compacted topic the cleaner may remove this one.
    pub superseded: bool,
}

/// The acknowledged records of one partition, by offset. Unsynced ones
/// must be there until a power cut; synced ones until an explicit
/// truncation or deletion removes them.
#[derive(Debug, Default)]
pub struct PartitionModel {
    pub acked: BTreeMap<u64, Acked>,
    /// The lowest offset a `truncate_to` that failed on I/O since the log
    /// was opened cut to: the running log may still show the records from
    /// there on, the next open may not.
    pub failed_truncation: Option<u64>,
    /// The highest offset a `delete_before` that failed on I/O since the
    /// log was opened deleted below, likewise.
    pub failed_deletion: Option<u64>,
}

impl PartitionModel {
    /// Notes record `id` acknowledged at `offset`; two different records
    /// acknowledged at one offset is a violation.
    pub fn ack(&mut self, offset: u64, id: u64, synced: bool, weak: bool) -> Result<(), String> {
        let fresh = Acked { id, synced, weak, alternatives: Vec::new(), superseded: false };
        let entry = self.acked.entry(offset).or_insert(fresh);
        if entry.id != id && weak && entry.weak {
            entry.alternatives.push((id, synced));
            return Ok(());
        }
        if entry.id != id {
            return Err(format!("offset {offset} acknowledged twice: records {} and {id}", entry.id));
        }
        entry.synced |= synced;
        entry.weak &= weak;
        self.supersede(offset, id);
        Ok(())
    }

    /// Record `id` is at `offset` (acknowledged there, or seen stored):
    /// every acknowledged record of its key below is superseded, and so is
    /// this one if one of its key is acknowledged above.
    pub fn supersede(&mut self, offset: u64, id: u64) {
        let Some(key) = content::key(id) else { return };
        let same_key = |acked: &Acked| content::key(acked.id).as_deref() == Some(key.as_slice());
        let later = self.acked.range(offset + 1..).any(|(_, acked)| same_key(acked));
        for (_, acked) in self.acked.range_mut(..offset) {
            acked.superseded |= same_key(acked);
        }
        if let Some(acked) = self.acked.get_mut(&offset).filter(|_| later) {
            acked.superseded |= acked.id == id;
        }
    }

    /// Settles weak acknowledgements against what the partition holds:
    /// `id_at(offset)` is the id stored there, if any.
    pub fn settle_weak(&mut self, id_at: impl Fn(u64) -> Option<u64>) {
        self.acked.retain(|&offset, acked| {
            let stored = id_at(offset);
            let alternative = |id: u64| acked.alternatives.iter().find(|(a, _)| *a == id).map(|&(_, synced)| synced);
            // The one stored keeps its own durability, not the first one's.
            let candidate =
                stored.and_then(
                    |id| if id == acked.id { Some((id, acked.synced)) } else { Some((id, alternative(id)?)) },
                );
            match (acked.weak, candidate) {
                (false, _) => true,
                (true, Some((id, synced))) => {
                    (acked.id, acked.synced, acked.weak) = (id, synced, false);
                    acked.alternatives.clear();
                    true
                }
                (true, None) => false,
            }
        });
    }

    /// Records at or after `offset` may be gone (`truncate_to`).
    pub fn truncate(&mut self, offset: u64) {
        self.acked.split_off(&offset);
    }

    /// Records below `offset` may be gone (`delete_before`).
    pub fn delete_before(&mut self, offset: u64) {
        self.acked = self.acked.split_off(&offset);
    }

    /// A `truncate_to(offset)` failed on I/O: maybe done, maybe not.
    pub fn truncation_failed(&mut self, offset: u64) {
        self.truncate(offset);
        self.failed_truncation = Some(self.failed_truncation.map_or(offset, |o| o.min(offset)));
    }

    /// A `delete_before(offset)` failed on I/O: maybe done, maybe not.
    pub fn deletion_failed(&mut self, offset: u64) {
        self.delete_before(offset);
        self.failed_deletion = Some(self.failed_deletion.map_or(offset, |o| o.max(offset)));
    }

    /// After an open that found the log at `[start, end)`: the cuts that
    /// failed since the last open were done or not, as it shows.
    pub fn settle_failed_cuts(&mut self, start: u64, end: u64) {
        if let Some(offset) = self.failed_truncation.take() {
            self.truncate(offset.max(end));
        }
        if let Some(offset) = self.failed_deletion.take() {
            self.delete_before(offset.min(start));
        }
    }

    /// larder reported every offset below `offset` durable.
    pub fn synced_below(&mut self, offset: u64) {
        for acked in self.acked.range_mut(..offset).map(|(_, a)| a) {
            acked.synced = true;
        }
    }

    /// After a power cut: unsynced records past the recovered end are gone;
    /// those below it survived and must still be what was acknowledged.
    pub fn power_cut(&mut self, end: u64) {
        self.acked.retain(|&offset, acked| acked.synced || offset < end);
    }
}

/// A topic as the model knows it.
#[derive(Debug)]
pub struct TopicModel {
    pub durability: Durability,
    /// One per partition the topic surely has.
    pub partitions: Vec<PartitionModel>,
    /// A deletion of it failed after taking it out of the running log
    /// (its directory renamed away, that rename maybe not durable):
    /// whether it exists is known only after the next open.
    pub limbo: bool,
    /// The most partitions the next open may find: more than it has when
    /// an `add_partitions` failed and could not put the old `topic.meta`
    /// back either (it then keeps the new partitions on disk, so that
    /// either file opens). The running log keeps its count.
    pub partitions_max: u32,
    /// A cleanup setting was given to it (`alter_topic`, maybe by a call
    /// that failed): the cleaner may remove records from its partitions'
    /// starts at any time, so a start that moved is no loss.
    pub retains: bool,
    /// Only `UntilConsumed` was ever given (no `retention_bytes` or
    /// `retention_ms`, which stay in the configuration as a safety
    /// valve): the cleaner may remove only records some group committed
    /// past.
    pub until_consumed_only: bool,
    /// `alter_topic` made it compacted (or tried to): the cleaner may
    /// remove superseded records from its sealed segments, leaving holes.
    pub compacts: bool,
}

impl TopicModel {
    pub fn new(durability: Durability, partitions: u32) -> TopicModel {
        let partitions_max = partitions;
        let partitions = (0..partitions).map(|_| PartitionModel::default()).collect();
        TopicModel {
            durability,
            partitions,
            limbo: false,
            partitions_max,
            retains: false,
            until_consumed_only: true,
            compacts: false,
        }
    }

    /// Whether operations may target it: it surely exists.
    pub fn usable(&self) -> bool {
        !self.limbo
    }

    pub fn resize(&mut self, partitions: u32) {
        self.partitions.resize_with(partitions as usize, PartitionModel::default);
        self.partitions_max = partitions;
    }
}

/// A topic operations may target, as planning sees it.
#[derive(Debug, Clone)]
pub struct Usable {
    pub name: String,
    pub partitions: u32,
    pub durability: Durability,
}

/// What a group's committed offset for one partition may be.
#[derive(Debug, Default)]
pub struct CommitModel {
    /// Values set by the last commits that returned Ok (several when they
    /// raced in one step); empty while none returned Ok.
    pub acked: BTreeSet<u64>,
    /// Values of failed commits since, which may have reached the file.
    pub uncertain: BTreeSet<u64>,
    /// A truncation since may have left the committed offset past the end
    /// (as in Kafka: a commit is not moved by a truncation).
    pub past_end_allowed: bool,
    /// A `delete_group` that failed (or raced a commit) may have removed
    /// it: none is allowed too.
    pub maybe_removed: bool,
    /// Every value a commit may ever have stored: a consumer that took its
    /// position from the committed offset may have done so at any poll
    /// since it was assigned the partition, delivering from it later.
    pub history: BTreeSet<u64>,
}

impl CommitModel {
    pub fn allows(&self, committed: Option<u64>) -> bool {
        match committed {
            None => self.acked.is_empty() || self.maybe_removed,
            Some(value) => self.acked.contains(&value) || self.uncertain.contains(&value),
        }
    }

    /// Whether a consumer may have started from `offset` as a committed
    /// offset, now or earlier.
    pub fn allows_start(&self, offset: u64) -> bool {
        self.allows(Some(offset)) || self.history.contains(&offset)
    }
}

/// Whether a group's offsets file exists: a group writes none until its
/// first commit, and `delete_group` removes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stored {
    /// Never committed, or deleted since.
    #[default]
    No,
    /// A commit returned Ok since.
    Yes,
    /// A commit or a deletion failed on I/O: either.
    Maybe,
}

/// How a commit ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitEnd {
    /// Returned Ok: durable.
    Acked,
    /// Failed on I/O: may or may not have reached the file.
    Uncertain,
    /// Refused before writing (stale generation, not assigned, ...).
    Refused,
}

/// Everything the simulation was told, per seed.
#[derive(Debug, Default)]
pub struct Model {
    pub topics: BTreeMap<String, TopicModel>,
    /// Topics deleted by a call that returned Ok: they never come back.
    pub deleted: BTreeSet<String>,
    pub commits: BTreeMap<(String, TopicPartition), CommitModel>,
    /// The highest offset any group's commit of each partition may have
    /// stored (acknowledged or not), ever: what retention until consumed
    /// may have removed below.
    pub commit_high: BTreeMap<TopicPartition, u64>,
    /// Ids of records whose call failed in a way that promises they were
    /// not stored: they must never be read.
    pub forbidden: HashSet<u64>,
    /// Whether each group used so far stores anything.
    pub groups: BTreeMap<String, Stored>,
    /// Topics whose creation failed: they must not exist, now or after
    /// any reopen.
    pub failed_creations: BTreeSet<String>,
    /// Of those, the ones that failed on a sync since the last open: the
    /// next open may find them whole (then they are adopted, empty).
    pub uncertain_creations: BTreeSet<String>,
    next_id: u64,
    next_topic: u64,
}

impl Model {
    /// A fresh record id, large or not (see `content::is_large`).
    pub fn new_id(&mut self, large: bool) -> u64 {
        loop {
            self.next_id += 1;
            if content::is_large(self.next_id) == large {
                return self.next_id;
            }
        }
    }

    /// A topic name never used before in this seed, so a deleted topic's
    /// leftovers (files, committed offsets) can never be mistaken for a
    /// later topic's.
    pub fn new_topic_name(&mut self) -> String {
        self.next_topic += 1;
        format!("t{}", self.next_topic)
    }

    /// Whether `topic` was taken out of the running log by a deletion
    /// (one that returned Ok, or failed after it).
    pub fn gone(&self, topic: &str) -> bool {
        self.deleted.contains(topic) || self.topics.get(topic).is_some_and(|t| t.limbo)
    }

    /// Topics operations may target.
    pub fn usable_topics(&self) -> Vec<Usable> {
        let usable = self.topics.iter().filter(|(_, t)| t.usable());
        usable
            .map(|(name, t)| Usable {
                name: name.clone(),
                partitions: t.partitions.len() as u32,
                durability: t.durability,
            })
            .collect()
    }

    pub fn partition(&mut self, topic: &str, partition: u32) -> Option<&mut PartitionModel> {
        self.topics.get_mut(topic)?.partitions.get_mut(partition as usize)
    }

    pub fn partition_ref(&self, topic: &str, partition: u32) -> Option<&PartitionModel> {
        self.topics.get(topic)?.partitions.get(partition as usize)
    }

    /// Applies the commits of one step to `(group, tp)`.
    pub fn commits_ended(&mut self, group: &str, tp: &TopicPartition, ends: &[(u64, CommitEnd)]) {
        let model = self.commits.entry((group.to_string(), tp.clone())).or_default();
        let acked: BTreeSet<u64> = ends.iter().filter(|(_, e)| *e == CommitEnd::Acked).map(|(v, _)| *v).collect();
        if !acked.is_empty() {
            model.acked = acked;
            model.uncertain.clear();
            model.past_end_allowed = false;
            model.maybe_removed = false;
        }
        model.uncertain.extend(ends.iter().filter(|(_, e)| *e == CommitEnd::Uncertain).map(|(v, _)| *v));
        let stored = ends.iter().filter(|(_, e)| *e != CommitEnd::Refused).map(|(v, _)| *v);
        model.history.extend(stored.clone());
        if let Some(high) = stored.max() {
            let entry = self.commit_high.entry(tp.clone()).or_default();
            *entry = (*entry).max(high);
        }
    }

    /// How the commits of one step changed whether `group` stores a file.
    pub fn group_committed(&mut self, group: &str, end: CommitEnd) {
        let stored = self.groups.entry(group.to_string()).or_default();
        *stored = match (end, *stored) {
            (CommitEnd::Acked, _) => Stored::Yes,
            (CommitEnd::Uncertain, Stored::No) => Stored::Maybe,
            (_, stored) => stored,
        };
    }

    /// `delete_group(group)` ended: `Some(true)` returned Ok, `Some(false)`
    /// failed on I/O (maybe part done), `None` was refused. `raced`: a
    /// commit of the group ran in the same step, before or after it.
    pub fn group_deleted(&mut self, group: &str, deleted: Option<bool>, raced: bool) {
        let Some(ok) = deleted else { return };
        for (_, model) in self.commits.iter_mut().filter(|((g, _), _)| g == group) {
            if ok && !raced {
                let history = std::mem::take(&mut model.history);
                *model = CommitModel { history, ..CommitModel::default() };
            } else {
                model.maybe_removed = true;
            }
        }
        let stored = self.groups.entry(group.to_string()).or_default();
        *stored = if ok && !raced { Stored::No } else { Stored::Maybe };
    }

    /// A truncation of `topic`/`partition`: committed offsets of every group
    /// may now be past its end.
    pub fn truncated(&mut self, topic: &str, partition: u32) {
        for ((_, tp), model) in self.commits.iter_mut() {
            if tp.topic == topic && tp.partition == partition {
                model.past_end_allowed = true;
            }
        }
    }

    /// `topic` is gone for good (deleted, or found gone by an open): its
    /// committed offsets went with it, in every group.
    pub fn forget_topic(&mut self, topic: &str) {
        self.commits.retain(|(_, tp), _| tp.topic != topic);
    }
}
