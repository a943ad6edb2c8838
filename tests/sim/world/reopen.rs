//! Reopening: `Log::close`, a simulated crash, or a crash and a power cut,
//! then `Log::open`, which must succeed without repair; the model settled
//! against what the reopened log holds. Also the use of handles after
//! `Log::close` and the final clean close.

use super::*;

impl World<'_> {
    /// Ends the log as `how` says, then opens it again (keeping scheduled
    /// faults armed if `keep_faults`), which must work without repair, and
    /// checks the model against what it finds.
    pub(super) fn reopen(&mut self, how: Reopen, keep_faults: bool) -> Result<(), String> {
        let how = match how {
            Reopen::PowerCut if self.stale_seal_gate() => Reopen::Crash,
            how => how,
        };
        let log = self.log.take().expect("open");
        let stale = (how == Reopen::Close).then(|| self.stale_handles(&log));
        for slot in &self.members {
            if let Some(Member { consumer, .. }) = lock(slot).take() {
                consumer.close().map_err(|e| format!("closing a consumer without auto commit failed: {e}"))?;
            }
        }
        for slot in &self.producers {
            if let (Some(producer), Reopen::Close) = (lock(slot).take(), how) {
                producer.close();
            }
        }
        // Faults met by dropping handles above belong to no call (see
        // BUG_FAILED_DELETE_TOPIC_DROPS_IT_FROM_MEMORY); the close's own
        // are those in this thread from here on.
        self.new_faults();
        let me = std::thread::current().name().map(str::to_string);
        match how {
            Reopen::Close => {
                let closed = log.close();
                let injected: Vec<InjectedFault> = self.new_faults().into_iter().filter(|f| f.thread == me).collect();
                self.record(format!(
                    "step {}: Log::close -> {:?}; injected {injected:?}",
                    self.step,
                    closed.as_ref().map_err(variant)
                ));
                match closed {
                    Err(error) if !self.faulted_since_open => {
                        return Err(format!("Log::close failed without a fault: {error}"))
                    }
                    Ok(()) if !injected.is_empty() => {
                        return Err(format!(
                            "Log::close returned Ok although injected faults failed its calls: {injected:?}"
                        ))
                    }
                    _ => {}
                }
                self.totals.clean_closes += 1;
            }
            Reopen::Crash | Reopen::PowerCut => {
                self.record(format!(
                    "step {}: simulate_crash{}",
                    self.step,
                    if how == Reopen::PowerCut { " + power_cut" } else { "" }
                ));
                log.simulate_crash();
                self.totals.process_crashes += u64::from(how == Reopen::Crash);
            }
        }
        if let Some(stale) = stale {
            stale.check_closed()?;
        }
        if how == Reopen::Close && !crate::KNOWN_BUG_CLOSE_DOES_NOT_JOIN_THE_INTERVAL_SYNCER {
            let left: Vec<(u64, String)> =
                larder_threads().into_iter().filter(|(tid, _)| !self.threads_before_open.contains(tid)).collect();
            if !left.is_empty() {
                return Err(format!("threads larder started outlive Log::close: {left:?}"));
            }
        }
        let mut power_cut = how == Reopen::PowerCut;
        if power_cut {
            self.power_cut()?;
        }
        if !keep_faults {
            self.disk.clear_faults();
        }
        let log = self.open(&mut power_cut)?;
        self.after_open(log, power_cut)
    }

    pub(super) fn power_cut(&mut self) -> Result<(), String> {
        // From this seed's own generator, so that a seed replays alone.
        let seed = self.rng.next();
        self.disk.power_cut(seed).map_err(|e| format!("the simulated power cut failed: {e}"))?;
        self.totals.power_cuts += 1;
        Ok(())
    }

    /// Opens the log; a failure must come from an injected fault, after
    /// which (maybe after another power cut) an open with the faults
    /// cleared must succeed.
    pub(super) fn open(&mut self, power_cut: &mut bool) -> Result<Log, String> {
        let options = LogOptions::default().storage(self.disk.clone());
        let me = std::thread::current().name().map(str::to_string);
        // Threads a crashed log left (they end by themselves) are not this
        // log's; those of this log must be gone once Log::close returns.
        self.threads_before_open = larder_threads().into_iter().map(|(tid, _)| tid).collect();
        for attempt in 0..2 {
            self.new_faults();
            let opened = Log::open(self.dir.path(), options.clone());
            let mine: Vec<InjectedFault> = self.new_faults().into_iter().filter(|f| f.thread == me).collect();
            self.record(format!(
                "step {}: Log::open -> {:?}; injected {mine:?}",
                self.step,
                opened.as_ref().map(drop).map_err(variant)
            ));
            match opened {
                Ok(log) if mine.is_empty() => return Ok(log),
                Ok(_) => {
                    return Err(format!("Log::open returned Ok although injected faults failed its calls: {mine:?}"))
                }
                Err(error) if mine.is_empty() || attempt == 1 => {
                    return Err(format!(
                        "Log::open failed without an injected fault (it must never need repair): {error}"
                    ));
                }
                Err(error) => {
                    let mine: Vec<&InjectedFault> = mine.iter().collect();
                    if !is_fault_error(&error, &mine) {
                        return Err(format!(
                            "Log::open failed with {error} after the injected faults {mine:?}: wrong error kind"
                        ));
                    }
                    self.totals.failed_opens += 1;
                    if self.rng.one_in(2) && !self.stale_seal_gate() {
                        self.power_cut()?;
                        *power_cut = true;
                    }
                    self.disk.clear_faults();
                }
            }
        }
        unreachable!("the second attempt returns")
    }

    /// Whether a power cut now could meet an interrupted roll after a
    /// reopen (`BUG_STALE_SEAL_MAKES_AN_INTERRUPTED_ROLL_CORRUPT`).
    pub(super) fn stale_seal_gate(&self) -> bool {
        crate::BUG_STALE_SEAL_MAKES_AN_INTERRUPTED_ROLL_CORRUPT && self.partition_faulted_since_open
    }

    /// Settles the model against a freshly opened log and checks it.
    pub(super) fn after_open(&mut self, log: Log, power_cut: bool) -> Result<(), String> {
        self.faulted_since_open = false;
        self.partition_faulted_since_open = false;
        self.deleted_since_open = false;
        self.poisoned.clear();
        self.model.loaded_groups.clear();
        let listed: BTreeSet<String> = log.list_topics().into_iter().collect();
        let names: Vec<String> = self.model.topics.keys().cloned().collect();
        for name in names {
            let topic = self.model.topics.get_mut(&name).expect("listed");
            if !listed.contains(&name) {
                if !topic.limbo {
                    return Err(format!("topic {name}, created and never deleted, is missing after reopen"));
                }
                if topic.meta_unsure && crate::BUG_OPEN_TRUSTS_UNSYNCED_DIRECTORY_ENTRIES {
                    // Its absence may not be durable either.
                    continue;
                }
                self.model.topics.remove(&name);
                self.model.deleted.insert(name);
                continue;
            }
            let count = log.describe_topic(&name).map_err(|e| e.to_string())?.partitions.len() as u32;
            let known = topic.partitions.len() as u32;
            let unsure = topic.limbo || topic.frozen;
            if count < known || count > topic.partitions_max.max(known) || (!unsure && count != known) {
                return Err(format!(
                    "topic {name} has {count} partitions after reopen, the model {known}..={}",
                    topic.partitions_max
                ));
            }
            if power_cut {
                for (n, model) in topic.partitions.iter_mut().enumerate() {
                    let end = log.partition(&name, n as u32).map_err(|e| e.to_string())?.end_offset();
                    model.power_cut(end);
                }
            }
            if topic.meta_unsure && crate::BUG_OPEN_TRUSTS_UNSYNCED_DIRECTORY_ENTRIES {
                // What this open found may not be durable: leave it unused.
                continue;
            }
            for model in &mut topic.partitions {
                model.stale_end = false;
            }
            topic.resize(count);
            topic.limbo = false;
            topic.frozen = false;
            topic.quarantined = false;
        }
        // A small queue: the default one (65 536 records) takes longer to
        // allocate than a whole seed's operations.
        let config = ProducerConfig::default().queue_capacity(256).max_block(SETTLE);
        let producer = log.producer(config).map_err(|e| format!("producer after reopen: {e}"))?;
        *lock(&self.producers[0]) = Some(producer);
        if self.disk.armed_faults() == 0 {
            let groups: BTreeSet<String> = self.model.commits.keys().map(|(g, _)| g.clone()).collect();
            let groups = groups.into_iter().filter(|g| !self.model.unsure_groups.contains(g));
            for group in groups {
                log.describe_group(&group).map_err(|e| format!("loading group {group} after reopen: {e}"))?;
                self.model.loaded_groups.insert(group);
            }
        }
        self.log = Some(log);
        self.check_log()
    }

    /// The last reopen (faults cleared), then a clean close that must
    /// succeed and leave every partition marked clean.
    pub(super) fn finish(&mut self) -> Result<(), String> {
        self.disk.clear_faults();
        self.step += 1;
        let how = *self.rng.pick(&[Reopen::Close, Reopen::Crash, Reopen::PowerCut]);
        self.reopen(how, false)?;
        for slot in &self.producers {
            if let Some(producer) = lock(slot).take() {
                producer.close();
            }
        }
        for slot in &self.members {
            if let Some(Member { consumer, .. }) = lock(slot).take() {
                consumer.close().map_err(|e| e.to_string())?;
            }
        }
        let log = self.log.take().expect("open");
        log.close().map_err(|e| format!("the final close failed with no fault scheduled: {e}"))?;
        let log = Log::open(self.dir.path(), LogOptions::default().storage(self.disk.clone()))
            .map_err(|e| format!("reopening after a clean close failed: {e}"))?;
        for (topic, partition, report) in log.recovery_reports() {
            if !report.clean_shutdown {
                return Err(format!("{topic}/{partition} was not marked clean by a clean close: {report:?}"));
            }
        }
        self.log = Some(log);
        self.check_log()?;
        self.log.take().expect("open").close().map_err(|e| format!("the last close failed: {e}"))
    }

    /// Handles kept across `Log::close`: each must fail afterwards.
    pub(super) fn stale_handles(&self, log: &Log) -> Stale {
        let producer = self.producers.iter().find_map(|slot| lock(slot).clone());
        let partition = self.model.usable_topics().first().and_then(|t| log.partition(&t.name, 0).ok());
        let member =
            if crate::KNOWN_BUG_COMMIT_AFTER_CLOSE { None } else { self.members.iter().find_map(|s| lock(s).take()) };
        let topic = self.model.usable_topics().first().map(|t| t.name.clone());
        Stale { producer, partition, member, topic }
    }
}

/// Handles of a log kept across its close.
pub(super) struct Stale {
    producer: Option<Producer>,
    partition: Option<Arc<Partition>>,
    member: Option<Member>,
    topic: Option<String>,
}

impl Stale {
    pub(super) fn check_closed(mut self) -> Result<(), String> {
        if let (Some(producer), Some(topic)) = (&self.producer, &self.topic) {
            let value = content::value(0);
            let record = ProducerRecord::new(topic, &value);
            if producer.send_direct(&record).is_ok() || producer.send(&record).is_ok() {
                return Err("a producer still sent after Log::close".into());
            }
        }
        if let Some(partition) = &self.partition {
            if partition.append(&NewRecord::new(&content::value(0))).is_ok() {
                return Err("a partition still appended after Log::close".into());
            }
        }
        if let Some(Member { consumer, .. }) = &mut self.member {
            if consumer.commit().is_ok() && !consumer.assignment().is_empty() {
                return Err("a consumer still committed after Log::close".into());
            }
        }
        Ok(())
    }
}

/// Thread ids and names of the threads larder started in this process
/// (Linux: `/proc/self/task/*/comm`, names cut to 15 bytes; none elsewhere).
pub(super) fn larder_threads() -> Vec<(u64, String)> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Vec::new() };
    let thread = |path: std::path::PathBuf| {
        let tid = path.file_name()?.to_str()?.parse().ok()?;
        let name = std::fs::read_to_string(path.join("comm")).ok()?.trim_end().to_string();
        Some((tid, name))
    };
    let threads = tasks.filter_map(|task| thread(task.ok()?.path()));
    threads.filter(|(_, name)| name.starts_with("larder-")).collect()
}
