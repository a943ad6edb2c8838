//! Reopening: `Log::close`, a simulated crash, or a crash and a power cut,
//! then `Log::open`, which must succeed without repair; the model settled
//! against what the reopened log holds. Also the use of handles after
//! `Log::close` (every kind fails with `Closed`, and no thread of the log
//! is left) and the final clean close.

use super::*;

impl World<'_> {
    /// Ends the log as `how` says, then opens it again (keeping scheduled
    /// faults armed if `keep_faults`), which must work without repair, and
    /// checks the model against what it finds.
    pub(super) fn reopen(&mut self, how: Reopen, keep_faults: bool) -> Result<(), String> {
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
        // Closing consumers without auto commit and producers with nothing
        // queued does no I/O: faults since the step are the background
        // syncer's. The close's own are those in this thread from here on.
        self.check_background_faults()?;
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
        if how == Reopen::Close {
            // The kernel wakes a thread's joiner before it takes the thread
            // out of /proc/self/task: a joined thread may show a moment
            // longer (seed 1391 once, on a loaded machine). One that
            // outlived the close stays.
            let deadline = std::time::Instant::now() + Duration::from_secs(2);
            let left = loop {
                let left: Vec<(u64, String)> =
                    larder_threads().into_iter().filter(|(tid, _)| !self.threads_before_open.contains(tid)).collect();
                if left.is_empty() || std::time::Instant::now() >= deadline {
                    break left;
                }
                std::thread::sleep(Duration::from_millis(1));
            };
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
            let (mine, theirs): (Vec<InjectedFault>, Vec<InjectedFault>) =
                self.new_faults().into_iter().partition(|f| f.thread == me);
            self.record(format!(
                "step {}: Log::open -> {:?}; injected {mine:?}; in the new log's threads {theirs:?}",
                self.step,
                opened.as_ref().map(drop).map_err(variant)
            ));
            // The new log's cleaner (or syncer) may already have met a
            // fault, which may have poisoned a partition.
            self.faulted_during_open = !theirs.is_empty();
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
                    if self.rng.one_in(2) {
                        self.power_cut()?;
                        *power_cut = true;
                    }
                    self.disk.clear_faults();
                }
            }
        }
        unreachable!("the second attempt returns")
    }

    /// Settles the model against a freshly opened log and checks it.
    pub(super) fn after_open(&mut self, log: Log, power_cut: bool) -> Result<(), String> {
        self.faulted_since_open = std::mem::take(&mut self.faulted_during_open);
        self.deleted_since_open = false;
        self.poisoned.clear();
        self.check_restarts(&log)?;
        let listed: BTreeSet<String> = log.list_topics().into_iter().collect();
        let names: Vec<String> = self.model.topics.keys().cloned().collect();
        for name in names {
            let topic = self.model.topics.get_mut(&name).expect("listed");
            if !listed.contains(&name) {
                if !topic.limbo {
                    return Err(format!("topic {name}, created and never deleted, is missing after reopen"));
                }
                // Its deletion completed after all: gone for good, and its
                // committed offsets with it.
                self.model.topics.remove(&name);
                self.model.forget_topic(&name);
                self.model.deleted.insert(name);
                continue;
            }
            let count = log.describe_topic(&name).map_err(|e| e.to_string())?.partitions.len() as u32;
            let known = topic.partitions.len() as u32;
            if count < known || count > topic.partitions_max.max(known) {
                return Err(format!(
                    "topic {name} has {count} partitions after reopen, the model {known}..={}",
                    topic.partitions_max
                ));
            }
            for (n, model) in topic.partitions.iter_mut().enumerate() {
                let stored = log.partition(&name, n as u32).map_err(|e| e.to_string())?;
                model.settle_failed_cuts(stored.log_start_offset(), stored.end_offset());
                if power_cut {
                    model.power_cut(stored.end_offset());
                }
            }
            topic.resize(count);
            topic.limbo = false;
        }
        self.adopt_uncertain_creations(&log, &listed)?;
        // A small queue: the default one (65 536 records) takes longer to
        // allocate than a whole seed's operations.
        let config = ProducerConfig::default().queue_capacity(256).max_block(SETTLE);
        let producer = log.producer(config).map_err(|e| format!("producer after reopen: {e}"))?;
        *lock(&self.producers[0]) = Some(producer);
        self.log = Some(log);
        self.check_log()
    }

    /// A topic whose creation failed on a sync and that this open found in
    /// place: adopted as it is, empty. Every other failed creation stays
    /// gone for good.
    fn adopt_uncertain_creations(&mut self, log: &Log, listed: &BTreeSet<String>) -> Result<(), String> {
        for name in std::mem::take(&mut self.model.uncertain_creations) {
            if !listed.contains(&name) {
                continue;
            }
            let description = log.describe_topic(&name).map_err(|e| e.to_string())?;
            let count = description.partitions.len() as u32;
            let topic = TopicModel::new(description.config.durability_level(), count);
            self.record(format!("  topic {name}, whose creation failed on a sync, was found in place: adopted"));
            self.model.failed_creations.remove(&name);
            self.model.topics.insert(name, topic);
        }
        Ok(())
    }

    /// A log that ended below its start (a power cut took unsynced records
    /// a deletion had passed) restarts empty at its start, and says where
    /// it ended.
    fn check_restarts(&self, log: &Log) -> Result<(), String> {
        for (topic, partition, report) in log.recovery_reports() {
            let Some(restarted) = report.restarted_from else { continue };
            let stored = log.partition(&topic, partition).map_err(|e| e.to_string())?;
            let (start, end) = (stored.log_start_offset(), stored.end_offset());
            if start != end || restarted >= start {
                return Err(format!("{topic}/{partition} restarted from end {restarted} but holds [{start}, {end})"));
            }
        }
        Ok(())
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
        let topic = self.model.usable_topics().first().map(|t| t.name.clone());
        let partition = topic.as_ref().and_then(|t| log.partition(t, 0).ok());
        let member = self.members.iter().find_map(|s| lock(s).take());
        Stale { log: log.clone(), producer, partition, member, topic }
    }

    /// Faults that fired outside any call of the simulation: the interval
    /// syncer's, each of which must have poisoned its partition, and the
    /// cleaner's.
    pub(super) fn check_background_faults(&mut self) -> Result<(), String> {
        for fault in self.new_faults() {
            match fault.thread.as_deref() {
                Some(SYNCER) => self.check_syncer_fault(&fault, &BTreeSet::new())?,
                Some(CLEANER) => {}
                _ => return Err(format!("a fault fired outside any call: {fault:?}")),
            }
        }
        Ok(())
    }
}

/// Handles of a log kept across its close.
pub(super) struct Stale {
    log: Log,
    producer: Option<Producer>,
    partition: Option<Arc<Partition>>,
    member: Option<Member>,
    topic: Option<String>,
}

/// `what` returned `Closed`, as every call through a handle of a closed log must.
fn closed<T: std::fmt::Debug>(what: &str, result: larder::Result<T>) -> Result<(), String> {
    match result {
        Err(Error::Closed { .. }) => Ok(()),
        other => Err(format!("{what} after Log::close returned {other:?}, not Closed")),
    }
}

impl Stale {
    pub(super) fn check_closed(mut self) -> Result<(), String> {
        self.check_log()?;
        self.check_producer()?;
        self.check_partition()?;
        let Some(Member { consumer, .. }) = &mut self.member else { return Ok(()) };
        closed("Consumer::poll", consumer.poll(Duration::ZERO).map(|r| r.len()))?;
        closed("Consumer::commit", consumer.commit())?;
        closed("Consumer::commit_offsets", consumer.commit_offsets(&Default::default()))?;
        closed("Consumer::assign", consumer.assign(&[]))?;
        closed("Consumer::subscribe", consumer.subscribe(&["t1"]))
    }

    /// Another clone of the log.
    fn check_log(&self) -> Result<(), String> {
        let log = &self.log;
        let topic = self.topic.as_deref().unwrap_or("t1");
        closed("Log::create_topic", log.create_topic("after-close", larder::TopicConfig::new(1)))?;
        closed("Log::describe_topic", log.describe_topic(topic).map(drop))?;
        closed("Log::partition", log.partition(topic, 0).map(drop))?;
        closed("Log::add_partitions", log.add_partitions(topic, SIM_MAX_PARTITIONS))?;
        closed("Log::delete_topic", log.delete_topic(topic))?;
        closed("Log::producer", log.producer(ProducerConfig::default().queue_capacity(1)).map(drop))?;
        closed("Log::consumer", log.consumer(larder::ConsumerConfig::default()).map(drop))?;
        closed("Log::list_groups", log.list_groups())?;
        closed("Log::describe_group", log.describe_group(GROUPS[0]).map(drop))?;
        closed("Log::delete_group", log.delete_group(GROUPS[0]))?;
        match log.list_topics() {
            topics if topics.is_empty() => Ok(()),
            topics => Err(format!("Log::list_topics after Log::close returned {topics:?}")),
        }
    }

    /// A producer: every send, and flush; no callback runs.
    fn check_producer(&self) -> Result<(), String> {
        let (Some(producer), Some(topic)) = (&self.producer, &self.topic) else { return Ok(()) };
        let value = content::value(0);
        let record = ProducerRecord::new(topic, &value);
        closed("Producer::send_direct", producer.send_direct(&record))?;
        closed("Producer::send", producer.send(&record).map(drop))?;
        closed("Producer::try_send", producer.try_send(&record).map(drop))?;
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        let sent =
            producer.send_with_callback(&record, move |_| flag.store(true, std::sync::atomic::Ordering::Release));
        closed("Producer::send_with_callback", sent.map(drop))?;
        if ran.load(std::sync::atomic::Ordering::Acquire) {
            return Err("a callback ran for a send refused after Log::close".into());
        }
        closed("Producer::flush", producer.flush())
    }

    /// A partition: writes, reads, syncs and iterators.
    fn check_partition(&self) -> Result<(), String> {
        let Some(partition) = &self.partition else { return Ok(()) };
        closed("Partition::append", partition.append(&NewRecord::new(&content::value(0))))?;
        closed("Partition::sync", partition.sync())?;
        closed("Partition::roll", partition.roll())?;
        closed("Partition::truncate_to", partition.truncate_to(partition.end_offset()))?;
        closed("Partition::delete_before", partition.delete_before(0))?;
        if partition.end_offset() > partition.log_start_offset() {
            closed("Partition::read", partition.read(partition.log_start_offset()).map(drop))?;
            let mut records = partition.iter_from(partition.log_start_offset());
            closed("Partition::iter_from", records.next().transpose().map(drop))?;
            if records.next().is_some() {
                return Err("Partition::iter_from went on after its error".into());
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
