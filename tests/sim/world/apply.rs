//! Applying a step's outcomes to the model: topics created, deleted and
//! grown; groups committed to and deleted; records acknowledged (weakly
//! when a cut of their partition raced them), refused, cut or deleted;
//! syncs reported; records read and positions started checked against
//! what was acknowledged and committed.

use super::*;

impl World<'_> {
    pub(super) fn apply(&mut self, outcomes: &[Outcome], settled: &[Settled]) -> Result<(), String> {
        let effects: Vec<&Effect> = outcomes.iter().flat_map(|o| &o.effects).collect();
        let growing: BTreeSet<&str> =
            outcomes.iter().filter(|o| matches!(o.op, Op::AddPartitions { .. })).filter_map(|o| o.op.topic()).collect();
        // Partitions truncated or deleted from in this step.
        let cut: BTreeSet<(String, u32)> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Truncated { topic, partition, .. } | Effect::DeletedBefore { topic, partition, .. } => {
                    Some((topic.clone(), *partition))
                }
                _ => None,
            })
            .collect();
        for effect in &effects {
            let (tp, truncated_to, deleted_below) = match effect {
                Effect::Truncated { topic, partition, offset, .. } => {
                    (TopicPartition::new(topic.as_str(), *partition), Some(*offset), None)
                }
                Effect::DeletedBefore { topic, partition, offset, .. } => {
                    (TopicPartition::new(topic.as_str(), *partition), None, Some(*offset))
                }
                _ => continue,
            };
            for slot in &self.members {
                if let Some(member) = lock(slot).as_mut() {
                    member.cut(&tp, truncated_to, deleted_below);
                }
            }
        }
        self.check_starts(outcomes, &effects)?;
        self.apply_admin(&effects);
        self.apply_groups(outcomes, &effects);
        for effect in &effects {
            match effect {
                Effect::Truncated { topic, partition, offset, ok } => {
                    match self.model.partition(topic, *partition) {
                        Some(model) if *ok => model.truncate(*offset),
                        Some(model) => model.truncation_failed(*offset),
                        None => {}
                    }
                    self.model.truncated(topic, *partition);
                }
                Effect::DeletedBefore { topic, partition, offset, ok } => match self.model.partition(topic, *partition)
                {
                    Some(model) if *ok => model.delete_before(*offset),
                    Some(model) => model.deletion_failed(*offset),
                    None => {}
                },
                Effect::Wrote { topic, partition } => self.check_not_poisoned(topic, *partition)?,
                Effect::Forbidden { id } => {
                    self.model.forbidden.insert(*id);
                }
                _ => {}
            }
        }
        for ack in acks(&effects, settled)? {
            if !ack.stored {
                self.model.forbidden.insert(ack.id);
                continue;
            }
            let weak = cut.contains(&(ack.topic.to_string(), ack.partition));
            let by_key = ack.by_key && !growing.contains(ack.topic);
            self.apply_ack(Ack { by_key, ..ack }, weak)?;
        }
        for effect in &effects {
            match effect {
                // A sync racing a cut may report records replaced since;
                // the check after the step reads the synced offset again.
                Effect::SyncedTo { topic, partition, offset } if !cut.contains(&(topic.clone(), *partition)) => {
                    if let Some(model) = self.model.partition(topic, *partition) {
                        model.synced_below(*offset);
                    }
                }
                Effect::Read { topic, partition, offset, id } => {
                    // A read racing a cut may have returned a record cut since.
                    let raced = cut.contains(&(topic.clone(), *partition));
                    self.check_read(topic, *partition, *offset, *id, raced)?
                }
                Effect::Skipped { topic, partition, from, to, cursor } => {
                    let cut_in_step = outcomes.iter().any(|o| o.op.cuts());
                    self.check_skip(topic, *partition, *from..*to, *cursor && cut_in_step)?
                }
                Effect::ProducerClosed { producer } => {
                    lock(&self.producers[*producer]).take();
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Topics created (a failed creation leaves nothing, now or after a
    /// reopen), deleted (a failed deletion changed nothing if the topic is
    /// still listed, else its existence is settled by the next open), and
    /// grown (a failed growth leaves the running count; the next open may
    /// find the new one, see `TopicModel::partitions_max`).
    pub(super) fn apply_admin(&mut self, effects: &[&Effect]) {
        let listed: BTreeSet<String> = self.log.as_ref().expect("open").list_topics().into_iter().collect();
        for effect in effects {
            match effect {
                Effect::TopicCreated { name, partitions, durability, ok: true, .. } => {
                    let topic = TopicModel::new(*durability, *partitions);
                    self.model.topics.insert(name.clone(), topic);
                }
                Effect::TopicCreated { name, ok: false, uncertain, .. } => {
                    self.model.failed_creations.insert(name.clone());
                    if *uncertain {
                        self.model.uncertain_creations.insert(name.clone());
                    }
                }
                Effect::TopicDeleted { name, ok: true } => {
                    self.model.topics.remove(name);
                    self.model.forget_topic(name);
                    self.model.deleted.insert(name.clone());
                }
                Effect::TopicDeleted { name, ok: false } => {
                    if let Some(topic) = self.model.topics.get_mut(name).filter(|_| !listed.contains(name)) {
                        topic.limbo = true;
                    }
                }
                Effect::RetentionSet { topic, retention: Retention::Compact } => {
                    if let Some(topic) = self.model.topics.get_mut(topic) {
                        topic.compacts = true;
                    }
                }
                Effect::RetentionSet { topic, retention } => {
                    if let Some(topic) = self.model.topics.get_mut(topic) {
                        topic.retains = true;
                        topic.until_consumed_only &= *retention == Retention::UntilConsumed;
                    }
                }
                Effect::PartitionsAdded { name, to, ok } => {
                    let Some(topic) = self.model.topics.get_mut(name) else { continue };
                    if *ok && *to as usize > topic.partitions.len() {
                        topic.resize(*to);
                    } else if !ok {
                        topic.partitions_max = topic.partitions_max.max(*to);
                    }
                }
                _ => {}
            }
        }
    }

    /// Groups joined, committed to and deleted. A commit of nothing writes
    /// nothing; a deletion racing a commit of its group leaves both
    /// outcomes possible.
    pub(super) fn apply_groups(&mut self, outcomes: &[Outcome], effects: &[&Effect]) {
        for outcome in outcomes {
            if let Op::Join { group: Some(group), .. } | Op::DeleteGroup { group } = &outcome.op {
                self.model.groups.entry(group.clone()).or_default();
            }
        }
        let mut ends: BTreeMap<(String, TopicPartition), Vec<(u64, CommitEnd)>> = BTreeMap::new();
        let mut committed_groups = BTreeSet::new();
        for effect in effects {
            let Effect::Committed { group, offsets, end } = effect else { continue };
            committed_groups.insert(group.clone());
            // A deleted topic's partitions (one a failed deletion took out
            // of the log too) are left out of a commit, or refuse it; one
            // deleted in this step may have been stored first, then removed
            // by the deletion, which leaves the file.
            let (gone, live): (Vec<_>, Vec<_>) = offsets.iter().partition(|(tp, _)| self.model.gone(&tp.topic));
            if !live.is_empty() {
                self.model.group_committed(group, *end);
            } else if gone.iter().any(|(tp, _)| self.deleted_in_step.contains(&tp.topic)) && *end != CommitEnd::Refused
            {
                self.model.group_committed(group, CommitEnd::Uncertain);
            }
            for (tp, offset) in live {
                ends.entry((group.clone(), tp.clone())).or_default().push((*offset, *end));
            }
            // A failed deletion in this step took the topic out of the log
            // after the commit may have stored it: if the topic is back
            // after the next open, so may be this offset (seed 11056).
            let limbo = |tp: &TopicPartition| self.model.topics.get(&tp.topic).is_some_and(|t| t.limbo);
            for (tp, offset) in gone.iter().filter(|(tp, _)| self.deleted_in_step.contains(&tp.topic) && limbo(tp)) {
                if *end != CommitEnd::Refused {
                    ends.entry((group.clone(), tp.clone())).or_default().push((*offset, CommitEnd::Uncertain));
                }
            }
        }
        for ((group, tp), ends) in ends {
            self.model.commits_ended(&group, &tp, &ends);
        }
        for effect in effects {
            if let Effect::GroupDeleted { group, ended } = effect {
                self.model.group_deleted(group, *ended, committed_groups.contains(group));
            }
        }
    }

    /// A consumer that went on from a partition without a cursor (newly
    /// assigned) started at its group's committed offset, or, reset to the
    /// earliest, at the log start: never past records it was not given.
    /// Skipped when a cut or a commit or deletion of the group raced it.
    fn check_starts(&mut self, outcomes: &[Outcome], effects: &[&Effect]) -> Result<(), String> {
        if outcomes.iter().any(|o| o.op.cuts()) {
            return Ok(());
        }
        let changed: BTreeSet<&str> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Committed { group, .. } | Effect::GroupDeleted { group, .. } => Some(group.as_str()),
                _ => None,
            })
            .collect();
        for effect in effects {
            let Effect::Started { group, tp, offset, starts } = effect else { continue };
            if group.as_deref().is_some_and(|g| changed.contains(g))
                || self.model.partition(&tp.topic, tp.partition).is_none()
            {
                continue;
            }
            let reset = (starts.0..=starts.1).contains(offset);
            let model = group.as_ref().and_then(|g| self.model.commits.get(&(g.clone(), tp.clone())));
            // On a compacted topic the first record delivered may lie past
            // holes after the position it started from.
            // Compacted before this step, or made so in it (the model
            // learns of that after these checks).
            let compacting = self.model.topics.get(&tp.topic).is_some_and(|t| t.compacts)
                || effects.iter().any(|e| {
                    matches!(e, Effect::RetentionSet { topic, retention: Retention::Compact } if *topic == tp.topic)
                });
            let over_holes = |from: u64| {
                from <= *offset
                    && compacting
                    && self
                        .model
                        .partition_ref(&tp.topic, tp.partition)
                        .is_some_and(|p| p.acked.range(from..*offset).all(|(_, a)| a.superseded || a.weak))
            };
            let from_holes = over_holes(starts.0)
                || model.is_some_and(|m| m.history.iter().chain(&m.acked).chain(&m.uncertain).any(|&c| over_holes(c)));
            if !reset && !from_holes && !model.is_some_and(|m| m.allows_start(*offset)) {
                return Err(format!(
                    "a consumer of group {group:?} started {tp} at {offset}: neither the log start \
                     ({}..={}) nor a committed offset ({model:?})",
                    starts.0, starts.1
                ));
            }
            self.totals.positions_checked += 1;
        }
        Ok(())
    }

    pub(super) fn check_not_poisoned(&self, topic: &str, partition: u32) -> Result<(), String> {
        if self.poisoned.contains(&(topic.to_string(), partition)) {
            return Err(format!("a write to {topic}/{partition} succeeded although it was poisoned"));
        }
        Ok(())
    }

    pub(super) fn apply_ack(&mut self, ack: Ack<'_>, weak: bool) -> Result<(), String> {
        let Ack { topic, partition, offset, id, synced, by_key, .. } = ack;
        let Some(model) = self.model.topics.get_mut(topic) else { return Ok(()) };
        if by_key {
            let key = content::key(id).expect("keyed");
            let expected = larder::partitioner::partition_for_key(&key, model.partitions.len() as u32);
            if expected != partition {
                return Err(format!(
                    "record {id} with key {key:?} went to partition {partition}, Kafka's partitioner says {expected}"
                ));
            }
        }
        let Some(partition_model) = model.partitions.get_mut(partition as usize) else {
            return Err(format!(
                "record {id} acknowledged in {topic}/{partition}, a partition the topic does not surely have"
            ));
        };
        partition_model.ack(offset, id, synced, weak).map_err(|e| format!("{topic}/{partition}: {e}"))?;
        self.totals.records_acknowledged += 1;
        self.check_not_poisoned(topic, partition)
    }

    /// Offsets `skipped` went by unread: only compaction's holes may,
    /// each acknowledged record in them superseded by a later one of its
    /// key (unless a retention setting or a cut in the step explains it).
    fn check_skip(&mut self, topic: &str, partition: u32, skipped: Range<u64>, cut: bool) -> Result<(), String> {
        let Some(model) = self.model.topics.get(topic) else { return Ok(()) };
        if cut || model.retains {
            return Ok(());
        }
        let at = format!("{topic}/{partition}");
        if !model.compacts {
            return Err(format!("{at}: offsets {skipped:?} were skipped, but the topic is not compacted"));
        }
        let Some(partition) = model.partitions.get(partition as usize) else { return Ok(()) };
        match partition.acked.range(skipped.clone()).find(|(_, acked)| !acked.superseded && !acked.weak) {
            Some((offset, acked)) => Err(format!(
                "{at}: acknowledged record {} at {offset} was skipped ({skipped:?}), and no later record of its key \
                 supersedes it",
                acked.id
            )),
            None => {
                self.totals.holes_crossed += 1;
                Ok(())
            }
        }
    }

    pub(super) fn check_read(
        &mut self,
        topic: &str,
        partition: u32,
        offset: u64,
        id: u64,
        raced: bool,
    ) -> Result<(), String> {
        // A consumer may still read a deleted topic's partition it holds.
        let forbidden = self.model.forbidden.contains(&id);
        let Some(model) = self.model.partition(topic, partition) else { return Ok(()) };
        if forbidden {
            return Err(format!(
                "read record {id} at {topic}/{partition}@{offset}, whose call failed without storing it"
            ));
        }
        match model.acked.get(&offset) {
            Some(acked) if acked.id != id && !raced => Err(format!(
                "read record {id} at {topic}/{partition}@{offset}, where record {} was acknowledged",
                acked.id
            )),
            _ => Ok(()),
        }
    }
}

/// A record acknowledged (or refused) in a step, as the model learns it.
pub(super) struct Ack<'a> {
    topic: &'a str,
    partition: u32,
    offset: u64,
    id: u64,
    synced: bool,
    /// The partitioner chose its partition from its key.
    by_key: bool,
    /// False for a delivery that failed without storing the record.
    stored: bool,
}

/// The records a step acknowledged, from the operations and from the
/// deliveries of queued sends, and the deliveries that failed in a way
/// that promises the record was not stored.
fn acks<'a>(effects: &[&'a Effect], settled: &'a [Settled]) -> Result<Vec<Ack<'a>>, String> {
    let mut acks = Vec::new();
    for effect in effects {
        if let Effect::Acked { topic, partition, offset, id, synced, by_key } = effect {
            let (partition, offset, id, synced, by_key) = (*partition, *offset, *id, *synced, *by_key);
            acks.push(Ack { topic, partition, offset, id, synced, by_key, stored: true });
        }
    }
    for s in settled {
        match &s.result {
            Ok(meta) => {
                if &*meta.topic != s.topic.as_str() || (meta.durability == Durability::Sync) != s.sync_topic {
                    return Err(format!("record {}: delivery metadata {meta:?} does not match the send", s.id));
                }
                let (partition, offset, id, synced, by_key) =
                    (meta.partition, meta.offset, s.id, s.sync_topic, s.by_key);
                acks.push(Ack { topic: &s.topic, partition, offset, id, synced, by_key, stored: true });
            }
            Err(error) if s.refusal.is_none() && ops::may_be_stored(error, s.sync_topic) => {}
            Err(_) => acks.push(Ack {
                topic: &s.topic,
                partition: 0,
                offset: 0,
                id: s.id,
                synced: false,
                by_key: false,
                stored: false,
            }),
        }
    }
    Ok(acks)
}
