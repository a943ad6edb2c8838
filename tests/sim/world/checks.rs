//! Checks after each step: every outcome's error typed and explained,
//! every injected fault reported by the call that hit it, the model updated
//! with what was acknowledged, and the whole log checked against it.

use super::*;

impl World<'_> {
    pub(super) fn check_outcomes(
        &self,
        outcomes: &[Outcome],
        settled: &[Settled],
        injected: &[InjectedFault],
    ) -> Result<(), String> {
        let deleted: BTreeSet<&str> =
            outcomes.iter().filter(|o| matches!(o.op, Op::DeleteTopic { .. })).filter_map(|o| o.op.topic()).collect();
        let failed_deletions: BTreeSet<&str> = outcomes
            .iter()
            .filter(|o| matches!(o.op, Op::DeleteTopic { .. }) && o.error.is_some())
            .filter_map(|o| o.op.topic())
            .collect();
        for (n, outcome) in outcomes.iter().enumerate() {
            let op = &outcome.op;
            if let Some(panic) = &outcome.panic {
                return Err(format!("larder panicked in {op:?}: {panic}"));
            }
            if let Some(violation) = outcome.violations.first() {
                return Err(format!("{op:?}: {violation}"));
            }
            let cuts = |o: &&Outcome| matches!(o.op, Op::Truncate { .. } | Op::DeleteBefore { .. });
            let raced = outcomes.iter().filter(cuts).filter(|o| o.op.topic() == op.topic()).count() > 1;
            if let Some(violation) = outcome.raced_violations.first().filter(|_| !raced) {
                return Err(format!("{op:?}: {violation}"));
            }
            let name = worker_name(n);
            let mine: Vec<&InjectedFault> = injected
                .iter()
                .filter(|f| {
                    f.thread.as_deref() == Some(&name) && !self.dropped_with_a_failed_deletion(f, &failed_deletions)
                })
                .collect();
            match (&outcome.error, mine.is_empty()) {
                (None, false) => {
                    return Err(format!("{op:?} returned Ok although an injected fault failed its call: {mine:?}"));
                }
                (Some(error), false) if !is_fault_error(error, &mine) => {
                    return Err(format!(
                        "{op:?} failed with {error} after the injected fault {mine:?}: wrong error kind"
                    ));
                }
                (Some(error), true) => self.explained(op, error, &deleted, outcomes)?,
                _ => {}
            }
        }
        let appender: Vec<&InjectedFault> = injected.iter().filter(|f| f.thread.as_deref() == Some(APPENDER)).collect();
        for s in settled {
            let Err(error) = &s.result else { continue };
            let by_fault = !appender.is_empty() && is_fault_error(error, &appender);
            let by_poison = matches!(error, Error::Poisoned { .. }) && self.faulted_since_open;
            let by_deletion = deleted.contains(s.topic.as_str())
                && matches!(
                    error,
                    Error::UnknownTopic { .. }
                        | Error::InvalidArgument { .. }
                        | Error::Io { .. }
                        | Error::Poisoned { .. }
                );
            if !(by_fault || by_poison || by_deletion) {
                return Err(format!(
                    "the delivery of record {} to {} failed with {error} without a fault to explain it",
                    s.id, s.topic
                ));
            }
        }
        // Faults the appender met dropping the last handle of a topic whose
        // deletion failed reach no delivery (see that gate).
        let reportable: Vec<&&InjectedFault> =
            appender.iter().filter(|f| !self.dropped_with_a_failed_deletion(f, &failed_deletions)).collect();
        if !reportable.is_empty() && !settled.iter().any(|s| s.result.is_err()) {
            return Err(format!(
                "the appender thread swallowed injected faults {reportable:?}: every delivery succeeded"
            ));
        }
        for fault in injected {
            match fault.thread.as_deref() {
                Some(SYNCER) => self.check_syncer_fault(fault, &deleted)?,
                Some(APPENDER) => {}
                Some(name) if name.starts_with("sim-worker-") => {}
                other => return Err(format!("a fault fired in unexpected thread {other:?}: {fault:?}")),
            }
        }
        Ok(())
    }

    /// Whether `error`, with no fault injected into `op`'s thread, has a
    /// legitimate cause.
    pub(super) fn explained(
        &self,
        op: &Op,
        error: &Error,
        deleted: &BTreeSet<&str>,
        outcomes: &[Outcome],
    ) -> Result<(), String> {
        let topic_gone =
            op.topic().is_some_and(|t| deleted.contains(t)) || (op.is_consumer() && self.deleted_since_open);
        let closed =
            |slot: &usize| outcomes.iter().any(|o| matches!(&o.op, Op::CloseProducer { producer } if producer == slot));
        let raced_growth = |name: &str| {
            outcomes.iter().filter(|o| matches!(&o.op, Op::AddPartitions { name: n, .. } if n == name)).count() > 1
        };
        // Another truncation or deletion of the same topic in this step may
        // have moved the range this op read just before its call.
        let cuts = |o: &&Outcome| matches!(o.op, Op::Truncate { .. } | Op::DeleteBefore { .. });
        let raced_cut =
            outcomes.iter().filter(cuts).filter(|o| o.op.topic() == op.topic() && !std::ptr::eq(&o.op, op)).count() > 0;
        let explained = match error {
            // A deleted topic's files are gone: a holder of its partition may
            // meet ENOENT, which poisons it.
            Error::Poisoned { .. } => self.faulted_since_open || topic_gone,
            Error::OffsetOutOfRange { .. } => topic_gone || raced_cut,
            // A truncation may have moved the end below a position.
            Error::CommitPastEnd { .. } => raced_cut && matches!(op, Op::Commit { .. } | Op::CommitOffsets { .. }),
            Error::UnknownTopic { .. } | Error::UnknownPartition { .. } | Error::Io { .. } | Error::DiskFull { .. } => {
                topic_gone
            }
            Error::InvalidArgument { .. } => {
                topic_gone || matches!(op, Op::AddPartitions { name, .. } if raced_growth(name))
            }
            Error::StaleGeneration { .. } | Error::NotAssigned { .. } => {
                matches!(op, Op::Commit { .. } | Op::CommitOffsets { .. })
            }
            Error::Closed { .. } => match op {
                Op::SendDirect { producer, .. } | Op::Send { producer, .. } | Op::Flush { producer } => {
                    closed(producer)
                }
                _ => false,
            },
            _ => false,
        };
        if explained {
            Ok(())
        } else {
            Err(format!("{op:?} failed with {error} ({}) though no fault explains it", variant(error)))
        }
    }

    /// Whether `fault` hit a file of a topic whose deletion failed, which
    /// the last holder of its partitions closes on drop, ignoring errors
    /// (`BUG_FAILED_DELETE_TOPIC_DROPS_IT_FROM_MEMORY`).
    pub(super) fn dropped_with_a_failed_deletion(&self, fault: &InjectedFault, failed_now: &BTreeSet<&str>) -> bool {
        let Some((topic, _)) = topic_partition_of(&fault.path) else { return false };
        let failed = failed_now.contains(topic.as_str()) || self.model.topics.get(&topic).is_some_and(|m| m.limbo);
        crate::BUG_FAILED_DELETE_TOPIC_DROPS_IT_FROM_MEMORY && failed
    }

    /// A fault in the interval syncer must poison the partition it synced.
    pub(super) fn check_syncer_fault(&self, fault: &InjectedFault, deleted: &BTreeSet<&str>) -> Result<(), String> {
        let Some((topic, partition)) = topic_partition_of(&fault.path) else {
            return Err(format!("the interval syncer failed on {fault:?}, which is not a partition's file"));
        };
        if deleted.contains(topic.as_str()) || !self.model.topics.contains_key(&topic) {
            return Ok(());
        }
        let log = self.log.as_ref().expect("open");
        let poisoned = log.partition(&topic, partition).is_ok_and(|p| p.is_poisoned());
        if !poisoned {
            return Err(format!("the interval syncer swallowed {fault:?}: {topic}/{partition} is not poisoned"));
        }
        Ok(())
    }

    // ---- applying outcomes to the model ------------------------------

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
        self.apply_admin(&effects);
        self.apply_commits(&effects);
        for outcome in outcomes {
            let loaded = outcome.effects.iter().any(|e| matches!(e, Effect::GroupLoaded { .. }));
            if let (Op::Join { group, .. }, Some(Error::Io { .. }), false) = (&outcome.op, &outcome.error, loaded) {
                if crate::BUG_GROUP_LOAD_TRUSTS_UNSYNCED_OFFSETS {
                    self.model.unsure_groups.insert(group.clone());
                }
            }
        }
        for effect in &effects {
            match effect {
                Effect::Truncated { topic, partition, offset, ok } => {
                    if let Some(model) = self.model.partition(topic, *partition) {
                        model.truncate(*offset);
                        model.stale_end |= !ok && crate::BUG_FAILED_TRUNCATE_KEEPS_THE_OLD_END;
                    }
                    self.model.truncated(topic, *partition);
                }
                Effect::DeletedBefore { topic, partition, offset } => {
                    if let Some(model) = self.model.partition(topic, *partition) {
                        model.delete_before(*offset);
                    }
                }
                Effect::Wrote { topic, partition } => self.check_not_poisoned(topic, *partition)?,
                _ => {}
            }
        }
        let mut acks: Vec<Ack<'_>> = Vec::new();
        for effect in &effects {
            match effect {
                Effect::Acked { topic, partition, offset, id, synced, by_key } => acks.push(Ack {
                    topic,
                    partition: *partition,
                    offset: *offset,
                    id: *id,
                    synced: *synced,
                    by_key: *by_key,
                }),
                Effect::Forbidden { id } => {
                    self.model.forbidden.insert(*id);
                }
                _ => {}
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
                    acks.push(Ack { topic: &s.topic, partition, offset, id, synced, by_key });
                }
                Err(error) if ops::may_be_stored(error, s.sync_topic) => {}
                Err(_) => {
                    self.model.forbidden.insert(s.id);
                }
            }
        }
        for ack in acks {
            let weak = cut.contains(&(ack.topic.to_string(), ack.partition));
            let by_key = ack.by_key && !growing.contains(ack.topic);
            self.apply_ack(Ack { by_key, ..ack }, weak)?;
        }
        for effect in &effects {
            match effect {
                Effect::SyncedTo { topic, partition, offset } => {
                    if let Some(model) = self.model.partition(topic, *partition) {
                        model.synced_below(*offset);
                    }
                }
                Effect::Read { topic, partition, offset, id } => {
                    // A read racing a cut may have returned a record cut since.
                    let raced = cut.contains(&(topic.clone(), *partition));
                    self.check_read(topic, *partition, *offset, *id, raced)?
                }
                Effect::GroupLoaded { group } => {
                    self.model.loaded_groups.insert(group.clone());
                }
                Effect::ProducerClosed { producer } => {
                    lock(&self.producers[*producer]).take();
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub(super) fn apply_admin(&mut self, effects: &[&Effect]) {
        for effect in effects {
            match effect {
                Effect::TopicCreated { name, partitions, durability, segment_bytes, ok } => {
                    if *ok {
                        let topic = TopicModel::new(*durability, *segment_bytes, *partitions);
                        self.model.topics.insert(name.clone(), topic);
                    } else if crate::KNOWN_BUG_CREATE_TOPIC_NOT_ATOMIC {
                        let mut topic = TopicModel::new(*durability, *segment_bytes, 0);
                        topic.limbo = true;
                        topic.meta_unsure = true;
                        topic.partitions_max = *partitions;
                        self.model.topics.insert(name.clone(), topic);
                    }
                }
                Effect::TopicDeleted { name, ok: true } => {
                    self.model.topics.remove(name);
                    self.model.deleted.insert(name.clone());
                }
                Effect::TopicDeleted { name, ok: false } => {
                    if let Some(topic) = self.model.topics.get_mut(name) {
                        topic.limbo = true;
                        topic.meta_unsure |= crate::BUG_OPEN_TRUSTS_UNSYNCED_DIRECTORY_ENTRIES;
                    }
                }
                Effect::PartitionsAdded { name, to, ok } => {
                    let Some(topic) = self.model.topics.get_mut(name) else { continue };
                    if *ok {
                        if *to as usize > topic.partitions.len() {
                            topic.resize(*to);
                        }
                    } else if crate::KNOWN_BUG_ADD_PARTITIONS_KEPT_IN_MEMORY {
                        topic.frozen = true;
                        topic.meta_unsure = true;
                        topic.partitions_max = topic.partitions_max.max(*to);
                    }
                }
                _ => {}
            }
        }
    }

    pub(super) fn apply_commits(&mut self, effects: &[&Effect]) {
        let mut ends: BTreeMap<(String, TopicPartition), Vec<(u64, CommitEnd)>> = BTreeMap::new();
        for effect in effects {
            if let Effect::Committed { group, offsets, end } = effect {
                for (tp, offset) in offsets {
                    ends.entry((group.clone(), tp.clone())).or_default().push((*offset, *end));
                }
            }
        }
        for ((group, tp), ends) in ends {
            self.model.commits_ended(&group, &tp, &ends);
        }
    }

    pub(super) fn check_not_poisoned(&self, topic: &str, partition: u32) -> Result<(), String> {
        if self.poisoned.contains(&(topic.to_string(), partition)) {
            return Err(format!("a write to {topic}/{partition} succeeded although it was poisoned"));
        }
        Ok(())
    }

    pub(super) fn apply_ack(&mut self, ack: Ack<'_>, weak: bool) -> Result<(), String> {
        let Ack { topic, partition, offset, id, synced, by_key } = ack;
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

    // ---- checks of the log -------------------------------------------

    /// Everything the model says must hold now.
    pub(super) fn check_log(&mut self) -> Result<(), String> {
        let log = self.log.as_ref().expect("open");
        let listed: BTreeSet<String> = log.list_topics().into_iter().collect();
        for name in &listed {
            if !self.model.topics.contains_key(name) {
                let why = if self.model.deleted.contains(name) { "was deleted" } else { "was never created" };
                return Err(format!("topic {name} is listed but {why}"));
            }
        }
        let mut seen = HashSet::new();
        self.poisoned.clear();
        for (name, topic) in self.model.topics.iter_mut() {
            if !listed.contains(name) {
                if topic.limbo {
                    continue;
                }
                return Err(format!("topic {name} is missing"));
            }
            let description = log.describe_topic(name).map_err(|e| format!("describe_topic({name}): {e}"))?;
            let count = description.partitions.len() as u32;
            let known = topic.partitions.len() as u32;
            if count < known || count > topic.partitions_max.max(known) {
                return Err(format!(
                    "topic {name} has {count} partitions, the model {known}..={}",
                    topic.partitions_max
                ));
            }
            if description.config.durability_level() != topic.durability {
                return Err(format!(
                    "topic {name} has durability {:?}, created with {:?}",
                    description.config.durability_level(),
                    topic.durability
                ));
            }
            for (n, model) in topic.partitions.iter_mut().enumerate() {
                let stored = log.partition(name, n as u32).map_err(|e| format!("partition({name}, {n}): {e}"))?;
                check_partition(name, n as u32, &stored, model, &self.model.forbidden, &mut seen, self.totals)?;
                if stored.is_poisoned() {
                    self.poisoned.insert((name.clone(), n as u32));
                }
            }
        }
        self.check_commits()
    }

    pub(super) fn check_commits(&mut self) -> Result<(), String> {
        let log = self.log.as_ref().expect("open");
        for group in &self.model.loaded_groups {
            let description = log.describe_group(group).map_err(|e| format!("describe_group({group}): {e}"))?;
            let mut present = BTreeSet::new();
            for offset in &description.offsets {
                let tp = &offset.partition;
                if self.model.topics.get(&tp.topic).is_none_or(|t| t.limbo) {
                    continue;
                }
                present.insert(tp.clone());
                let Some(model) = self.model.commits.get(&(group.clone(), tp.clone())) else {
                    return Err(format!(
                        "group {group} has offset {} for {tp}, which it never committed",
                        offset.committed
                    ));
                };
                if !model.allows(Some(offset.committed)) {
                    return Err(format!(
                        "group {group}: committed {tp} = {}, the model allows {model:?}",
                        offset.committed
                    ));
                }
                if offset.committed > offset.end_offset && !model.past_end_allowed {
                    return Err(format!(
                        "group {group}: committed {tp} = {} is past the end {}",
                        offset.committed, offset.end_offset
                    ));
                }
                self.totals.commits_checked += 1;
            }
            for ((g, tp), model) in &self.model.commits {
                let live = self.model.topics.get(&tp.topic).is_some_and(|t| !t.limbo);
                if g == group && live && !model.allows(None) && !present.contains(tp) {
                    return Err(format!("group {group}: the acknowledged commit of {tp} ({model:?}) is gone"));
                }
            }
        }
        Ok(())
    }
}

/// Whether `error` is what one of the injected `faults` returns.
pub(super) fn is_fault_error(error: &Error, faults: &[&InjectedFault]) -> bool {
    match error {
        Error::Io { source, .. } => faults.iter().any(|f| source.raw_os_error() == Some(f.error.raw_os_error())),
        Error::DiskFull { .. } => faults.iter().any(|f| f.error == FaultError::NoSpace),
        _ => false,
    }
}

/// The topic and partition a file belongs to: `<log>/topics/<topic>/<n>/<file>`.
pub(super) fn topic_partition_of(path: &Path) -> Option<(String, u32)> {
    let partition_dir = path.parent()?;
    let partition = partition_dir.file_name()?.to_str()?.parse().ok()?;
    let topic = partition_dir.parent()?.file_name()?.to_str()?.to_string();
    Some((topic, partition))
}

/// A record acknowledged in a step, as the model learns it.
pub(super) struct Ack<'a> {
    topic: &'a str,
    partition: u32,
    offset: u64,
    id: u64,
    synced: bool,
    /// The partitioner chose its partition from its key.
    by_key: bool,
}

/// Checks one partition against its model: offsets dense from the log
/// start to the end, every record intact and one the simulation sent, none
/// refused or duplicated, every acknowledged record at its offset (weak
/// ones settled first), and `synced <= end`, `start <= end`. Then marks
/// what larder reports synced.
pub(super) fn check_partition(
    topic: &str,
    partition: u32,
    stored: &Partition,
    model: &mut PartitionModel,
    forbidden: &HashSet<u64>,
    seen: &mut HashSet<u64>,
    totals: &mut Totals,
) -> Result<(), String> {
    let at = format!("{topic}/{partition}");
    let synced = stored.synced_offset();
    let start = stored.log_start_offset();
    let end = stored.end_offset();
    if synced > end || start > end {
        return Err(format!("{at}: synced_offset {synced}, log_start_offset {start}, end_offset {end}"));
    }
    let mut ids = Vec::new();
    for record in stored.iter_from(start) {
        let expected = start + ids.len() as u64;
        let record = record.map_err(|e| format!("{at}: reading offset {expected} failed: {e}"))?;
        if record.offset() != expected {
            return Err(format!("{at}: offsets are not dense: {} where {expected} was due", record.offset()));
        }
        let id = content::verify(expected, record.key(), record.value(), record.headers())
            .map_err(|e| format!("{at}: {e}"))?;
        if forbidden.contains(&id) {
            return Err(format!("{at}@{expected} holds record {id}, whose call failed without storing it"));
        }
        if !seen.insert(id) {
            return Err(format!("{at}@{expected} holds record {id}, which is stored twice"));
        }
        ids.push(id);
    }
    if start + ids.len() as u64 != end {
        return Err(format!("{at}: iteration ended at {}, the end offset is {end}", start + ids.len() as u64));
    }
    let id_at = |offset: u64| offset.checked_sub(start).and_then(|n| ids.get(n as usize).copied());
    model.settle_weak(id_at);
    for (offset, acked) in &model.acked {
        if let Some(id) = id_at(*offset).filter(|&id| id != acked.id) {
            return Err(format!("{at}@{offset} holds record {id}; record {} was acknowledged there", acked.id));
        }
    }
    if let Some((offset, acked)) = model.acked.range(..start).next() {
        return Err(format!(
            "{at}: acknowledged record {acked:?} at {offset} is below the log start {start}, never deleted"
        ));
    }
    if let Some((offset, acked)) = model.acked.range(end..).next() {
        return Err(format!("{at}: acknowledged record {acked:?} at {offset} is lost: the end offset is {end}"));
    }
    totals.records_verified += model.acked.len() as u64;
    model.synced_below(synced);
    Ok(())
}
