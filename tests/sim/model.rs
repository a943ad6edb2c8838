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
    /// the one stored.
    pub alternatives: Vec<u64>,
}

/// The acknowledged records of one partition, by offset. Unsynced ones
/// must be there until a power cut; synced ones until an explicit
/// truncation or deletion removes them.
#[derive(Debug, Default)]
pub struct PartitionModel {
    pub acked: BTreeMap<u64, Acked>,
    /// A `truncate_to` failed since the log was opened: its end offset in
    /// memory may be past the end on disk
    /// (`BUG_FAILED_TRUNCATE_KEEPS_THE_OLD_END`).
    pub stale_end: bool,
}

impl PartitionModel {
    /// Notes record `id` acknowledged at `offset`; two different records
    /// acknowledged at one offset is a violation.
    pub fn ack(&mut self, offset: u64, id: u64, synced: bool, weak: bool) -> Result<(), String> {
        let entry = self.acked.entry(offset).or_insert(Acked { id, synced, weak, alternatives: Vec::new() });
        if entry.id != id && weak && entry.weak {
            entry.alternatives.push(id);
            return Ok(());
        }
        if entry.id != id {
            return Err(format!("offset {offset} acknowledged twice: records {} and {id}", entry.id));
        }
        entry.synced |= synced;
        entry.weak &= weak;
        Ok(())
    }

    /// Settles weak acknowledgements against what the partition holds:
    /// `id_at(offset)` is the id stored there, if any.
    pub fn settle_weak(&mut self, id_at: impl Fn(u64) -> Option<u64>) {
        self.acked.retain(|&offset, acked| {
            let stored = id_at(offset);
            let candidate = stored.filter(|id| *id == acked.id || acked.alternatives.contains(id));
            match (acked.weak, candidate) {
                (false, _) => true,
                (true, Some(id)) => {
                    (acked.id, acked.weak) = (id, false);
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
    pub segment_bytes: u32,
    /// One per partition the topic surely has.
    pub partitions: Vec<PartitionModel>,
    /// A create or delete of it failed: whether it exists is known only
    /// after the next open.
    pub limbo: bool,
    /// An `add_partitions` failed: until the next open its count may be
    /// anything up to `partitions_max`.
    pub frozen: bool,
    pub partitions_max: u32,
    /// A `create_topic`, `add_partitions` or `delete_topic` of it failed:
    /// its `topic.meta` or its directory may be renamed (or removed)
    /// without that being durable.
    pub meta_unsure: bool,
    /// A write failed without poisoning: no more writes until the next
    /// open (`BUG_FAILED_ROLL_LEAVES_ORPHAN_SEGMENT`).
    pub quarantined: bool,
}

impl TopicModel {
    pub fn new(durability: Durability, segment_bytes: u32, partitions: u32) -> TopicModel {
        let partitions_max = partitions;
        let partitions = (0..partitions).map(|_| PartitionModel::default()).collect();
        TopicModel {
            durability,
            segment_bytes,
            partitions,
            limbo: false,
            frozen: false,
            partitions_max,
            meta_unsure: false,
            quarantined: false,
        }
    }

    /// Whether operations may target it: it surely exists, with a known count.
    pub fn usable(&self) -> bool {
        !self.limbo && !self.frozen
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
    pub segment_bytes: u32,
    /// Writes may target it (it is not quarantined).
    pub writable: bool,
}

/// What a group's committed offset for one partition may be.
#[derive(Debug, Default)]
pub struct CommitModel {
    /// Values set by the last commits that returned Ok (several when they
    /// raced in one step); empty while none returned Ok.
    pub acked: BTreeSet<u64>,
    /// Values of failed commits since, which may have reached the file.
    pub uncertain: BTreeSet<u64>,
    /// A truncation since may have left the committed offset past the end.
    pub past_end_allowed: bool,
}

impl CommitModel {
    pub fn allows(&self, committed: Option<u64>) -> bool {
        match committed {
            None => self.acked.is_empty(),
            Some(value) => self.acked.contains(&value) || self.uncertain.contains(&value),
        }
    }
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
    /// Ids of records whose call failed in a way that promises they were
    /// not stored: they must never be read.
    pub forbidden: HashSet<u64>,
    /// Groups loaded by the open log (their offsets are in memory).
    pub loaded_groups: BTreeSet<String>,
    /// Groups whose load failed: not used again while
    /// `BUG_GROUP_LOAD_TRUSTS_UNSYNCED_OFFSETS` stands.
    pub unsure_groups: BTreeSet<String>,
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

    /// Topics operations may target.
    pub fn usable_topics(&self) -> Vec<Usable> {
        let usable = self.topics.iter().filter(|(_, t)| t.usable());
        usable
            .map(|(name, t)| Usable {
                name: name.clone(),
                partitions: t.partitions.len() as u32,
                durability: t.durability,
                segment_bytes: t.segment_bytes,
                writable: !t.quarantined,
            })
            .collect()
    }

    pub fn partition(&mut self, topic: &str, partition: u32) -> Option<&mut PartitionModel> {
        self.topics.get_mut(topic)?.partitions.get_mut(partition as usize)
    }

    /// Applies the commits of one step to `(group, tp)`.
    pub fn commits_ended(&mut self, group: &str, tp: &TopicPartition, ends: &[(u64, CommitEnd)]) {
        let stale_end = self.partition(&tp.topic, tp.partition).is_some_and(|p| p.stale_end);
        let model = self.commits.entry((group.to_string(), tp.clone())).or_default();
        let acked: BTreeSet<u64> = ends.iter().filter(|(_, e)| *e == CommitEnd::Acked).map(|(v, _)| *v).collect();
        if !acked.is_empty() {
            model.acked = acked;
            model.uncertain.clear();
            model.past_end_allowed = false;
        }
        model.uncertain.extend(ends.iter().filter(|(_, e)| *e == CommitEnd::Uncertain).map(|(v, _)| *v));
        model.past_end_allowed |= stale_end;
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
}
