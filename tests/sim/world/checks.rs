//! The log checked against the model after every step: the topics listed
//! are those the model knows (never one deleted, nor one whose creation
//! failed), with their partition counts and durability; every partition
//! holds every acknowledged record at its offset, densely, none refused or
//! stored twice; every group's committed offsets are what the model allows,
//! never past the end, none left for a deleted topic; a group stores no file
//! until its first commit; and a consumer that panicked committed nothing.

use super::*;

impl World<'_> {
    /// Everything the model says must hold now.
    pub(super) fn check_log(&mut self) -> Result<(), String> {
        let log = self.log.as_ref().expect("open");
        let listed: BTreeSet<String> = log.list_topics().into_iter().collect();
        for name in &listed {
            if !self.model.topics.contains_key(name) {
                let why = if self.model.deleted.contains(name) {
                    "was deleted"
                } else if self.model.failed_creations.contains(name) {
                    "its creation failed"
                } else {
                    "was never created"
                };
                return Err(format!("topic {name} is listed but {why}"));
            }
        }
        let mut seen = HashSet::new();
        self.poisoned.clear();
        for (name, topic) in self.model.topics.iter_mut() {
            match (listed.contains(name), topic.limbo) {
                (false, true) => continue,
                (false, false) => return Err(format!("topic {name} is missing")),
                (true, true) => {
                    return Err(format!("topic {name}, taken out of the log by a failed deletion, is back"))
                }
                (true, false) => {}
            }
            let description = log.describe_topic(name).map_err(|e| format!("describe_topic({name}): {e}"))?;
            let count = description.partitions.len() as u32;
            let known = topic.partitions.len() as u32;
            if count != known {
                return Err(format!("topic {name} has {count} partitions, the model {known}"));
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
                // Retention until consumed alone removes only what some
                // group committed past.
                let tp = TopicPartition::new(name.as_str(), n as u32);
                let consumed = self.model.commit_high.get(&tp).copied().unwrap_or(0);
                let retains = topic.retains.then_some(if topic.until_consumed_only { consumed } else { u64::MAX });
                check_partition(
                    name,
                    n as u32,
                    &stored,
                    model,
                    (retains, topic.compacts),
                    &self.model.forbidden,
                    &mut seen,
                    self.totals,
                )?;
                if stored.is_poisoned() {
                    self.poisoned.insert((name.clone(), n as u32));
                }
            }
        }
        self.check_commits()
    }

    pub(super) fn check_commits(&mut self) -> Result<(), String> {
        let groups: Vec<String> = self.model.groups.keys().cloned().collect();
        for group in &groups {
            let offsets = self.group_offsets(group)?;
            self.check_group(group, &offsets)?;
        }
        self.check_panics_group()
    }

    /// Group `group`'s committed offsets, as `describe_group` reports them
    /// (none for `UnknownGroup`, which then must store nothing and be
    /// listed nowhere).
    fn group_offsets(&self, group: &str) -> Result<Vec<larder::CommittedOffset>, String> {
        let log = self.log.as_ref().expect("open");
        match log.describe_group(group) {
            Ok(description) => Ok(description.offsets),
            Err(Error::UnknownGroup { .. }) => {
                if self.model.groups.get(group) == Some(&Stored::Yes) {
                    return Err(format!("describe_group({group}): unknown, yet a commit of it returned Ok"));
                }
                let listed = log.list_groups().map_err(|e| format!("list_groups: {e}"))?;
                if listed.iter().any(|g| g == group) {
                    return Err(format!("describe_group({group}) is UnknownGroup, yet list_groups lists it"));
                }
                Ok(Vec::new())
            }
            Err(error) => Err(format!("describe_group({group}): {error}")),
        }
    }

    /// One group's committed offsets against the model.
    fn check_group(&mut self, group: &str, offsets: &[larder::CommittedOffset]) -> Result<(), String> {
        let mut present = BTreeSet::new();
        for offset in offsets {
            let tp = &offset.partition;
            if self.model.deleted.contains(&tp.topic) {
                return Err(format!(
                    "group {group} still has offset {} for {tp}, whose topic was deleted",
                    offset.committed
                ));
            }
            if self.model.topics.get(&tp.topic).is_none_or(|t| t.limbo) {
                continue;
            }
            present.insert(tp.clone());
            let Some(model) = self.model.commits.get(&(group.to_string(), tp.clone())) else {
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
        if self.model.groups.get(group) == Some(&Stored::No) && self.offsets_file(group).exists() {
            return Err(format!("group {group} has an offsets file, but never committed (or was deleted since)"));
        }
        Ok(())
    }

    /// The group of the consumers that panicked while processing: nothing
    /// committed, so no file and no such group.
    fn check_panics_group(&self) -> Result<(), String> {
        if self.offsets_file(PANIC_GROUP).exists() {
            return Err("a consumer committed while a panic unwound it: its group has an offsets file".into());
        }
        match self.log.as_ref().expect("open").describe_group(PANIC_GROUP) {
            Err(Error::UnknownGroup { .. }) => Ok(()),
            other => Err(format!("describe_group of a group nothing committed to: {other:?}")),
        }
    }

    fn offsets_file(&self, group: &str) -> std::path::PathBuf {
        self.dir.path().join("groups").join(format!("{group}.offsets"))
    }
}

/// Checks one partition against its model: offsets dense from the log
/// start to the end, every record intact and one the simulation sent, none
/// refused or duplicated, every acknowledged record at its offset (weak
/// ones settled first), and `synced <= end`, `start <= end`. Then marks
/// what larder reports synced. On a topic with a cleanup setting
/// (`retains`) the cleaner may move the start meanwhile: the scan starts
/// again from the new start, and records below it are no loss, if they
/// are below `retains` (with retention until consumed alone, the highest
/// offset a group committed; else any).
#[allow(clippy::too_many_arguments)]
pub(super) fn check_partition(
    topic: &str,
    partition: u32,
    stored: &Partition,
    model: &mut PartitionModel,
    (retains, compacts): (Option<u64>, bool),
    forbidden: &HashSet<u64>,
    seen: &mut HashSet<u64>,
    totals: &mut Totals,
) -> Result<(), String> {
    let at = format!("{topic}/{partition}");
    let synced = stored.synced_offset();
    let mut start = stored.log_start_offset();
    let end = stored.end_offset();
    if synced > end || start > end {
        return Err(format!("{at}: synced_offset {synced}, log_start_offset {start}, end_offset {end}"));
    }
    // Offset and id of each record, in order.
    let mut ids: Vec<(u64, u64)> = Vec::new();
    let mut rescans = 0;
    'scan: loop {
        ids.clear();
        for record in stored.iter_from(start) {
            let expected = ids.last().map_or(start, |&(offset, _)| offset + 1);
            let record = match record {
                Err(Error::OffsetOutOfRange { .. })
                    if retains.is_some() && rescans < 100 && stored.log_start_offset() > expected =>
                {
                    start = stored.log_start_offset();
                    rescans += 1;
                    continue 'scan;
                }
                other => other.map_err(|e| format!("{at}: reading offset {expected} failed: {e}"))?,
            };
            // Compaction's holes: offsets rise, not always by one.
            if record.offset() < expected || (record.offset() > expected && !compacts) {
                return Err(format!("{at}: offsets are not dense: {} where {expected} was due", record.offset()));
            }
            let id = content::verify(record.offset(), record.key(), record.value(), record.headers())
                .map_err(|e| format!("{at}: {e}"))?;
            ids.push((record.offset(), id));
        }
        break;
    }
    for &(offset, id) in &ids {
        if forbidden.contains(&id) {
            return Err(format!("{at}@{offset} holds record {id}, whose call failed without storing it"));
        }
        if !seen.insert(id) {
            return Err(format!("{at}@{offset} holds record {id}, which is stored twice"));
        }
    }
    let ended = ids.last().map_or(start, |&(offset, _)| offset + 1);
    if ended > end || (ended != end && !compacts) {
        return Err(format!("{at}: iteration ended at {ended}, the end offset is {end}"));
    }
    let id_at = |offset: u64| ids.binary_search_by_key(&offset, |&(o, _)| o).ok().map(|n| ids[n].1);
    // Weak acknowledgements (a cut raced them) below the start are gone.
    model.settle_weak(id_at);
    if let Some(below) = retains {
        if let Some((offset, acked)) = model.acked.range(below.min(start)..start).next() {
            return Err(format!(
                "{at}: acknowledged record {acked:?} at {offset} was removed by retention until consumed, \
                 though no group committed past {below}"
            ));
        }
        totals.records_cleaned += model.acked.range(..start).count() as u64;
        model.delete_before(start);
    }
    for &(offset, id) in &ids {
        model.supersede(offset, id);
    }
    for (offset, acked) in &model.acked {
        if let Some(id) = id_at(*offset).filter(|&id| id != acked.id) {
            return Err(format!("{at}@{offset} holds record {id}; record {} was acknowledged there", acked.id));
        }
    }
    if compacts {
        // Inside the log, an acknowledged record missing from its offset
        // was compacted away, which only a later record of its key allows.
        let gone: Vec<u64> =
            model.acked.range(start..end).filter(|(o, _)| id_at(**o).is_none()).map(|(o, _)| *o).collect();
        for offset in gone {
            let acked = &model.acked[&offset];
            if !acked.superseded {
                return Err(format!(
                    "{at}: acknowledged record {} at {offset} is gone, and no later record of its key supersedes it",
                    acked.id
                ));
            }
            model.acked.remove(&offset);
            totals.records_compacted += 1;
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
