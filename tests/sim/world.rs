//! One seed's world: a log on a `SimStorage` disk, producer and consumer
//! slots, and the model. A step draws a few operations and runs them on
//! worker threads at once, settles every queued send, then checks what
//! must hold for any interleaving: errors are typed and explained by an
//! injected fault (or a concurrent deletion, a closed producer, a stale
//! generation), every fault reached the caller, and the log still holds
//! every acknowledged record at its offset, dense, with synced <= end and
//! committed offsets the model allows. A reopen step closes the log (or
//! crashes it, or crashes it and cuts the power) and opens it again, which
//! must succeed without repair.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use larder::fault::{FaultError, InjectedFault, SimStorage};
use larder::{
    Assignor, Durability, Error, Log, LogOptions, NewRecord, Partition, Producer, ProducerConfig, ProducerRecord,
    RecordMetadata, TopicPartition,
};

use super::content::{self, Rng};
use super::model::{CommitEnd, Model, PartitionModel, TopicModel};
use super::ops::{self, lock, Effect, Member, Op, Outcome, Route, Shared};
use super::run::{variant, Totals};

const PRODUCERS: usize = 2;
const MEMBERS: usize = 4;
const GROUPS: [&str; 2] = ["g0", "g1"];
const SEGMENT_BYTES: [u32; 3] = [256, 512, 1024];
const MAX_TOPICS: usize = 4;
const MAX_PARTITIONS: u32 = 6;
/// Longest wait for a delivery or a flush before it counts as a hang.
const SETTLE: Duration = Duration::from_secs(20);
/// Threads whose injected faults are explained by how they report them.
const APPENDER: &str = "larder-appender";
const SYNCER: &str = "larder-interval-sync";

/// How a reopen step ends the log it reopens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reopen {
    /// `Log::close`: everything acknowledged survives.
    Close,
    /// `simulate_crash`, the page cache kept: everything acknowledged survives.
    Crash,
    /// `simulate_crash`, then `power_cut`: what was synced survives.
    PowerCut,
}

/// A queued send once settled.
struct Settled {
    topic: String,
    id: u64,
    sync_topic: bool,
    by_key: bool,
    result: Result<RecordMetadata, Error>,
}

pub struct World<'t> {
    rng: Rng,
    dir: tempfile::TempDir,
    disk: Arc<SimStorage>,
    log: Option<Log>,
    producers: Vec<Mutex<Option<Producer>>>,
    members: Vec<Mutex<Option<Member>>>,
    model: Model,
    totals: &'t mut Totals,
    pub step: u64,
    serial: bool,
    /// A fault fired since the log was opened (so `Poisoned` is explained).
    faulted_since_open: bool,
    /// A topic deletion ran since the log was opened (so consumers may
    /// hold partitions of a deleted topic).
    deleted_since_open: bool,
    /// A fault hit a partition's file since the log was opened (a roll may
    /// have been interrupted).
    partition_faulted_since_open: bool,
    /// Partitions poisoned at the end of the last step.
    poisoned: BTreeSet<(String, u32)>,
    /// One line per step, for the report of a violation.
    pub history: Vec<String>,
}

/// Where seeds keep their logs: `LARDER_SIM_DIR`, else a tmpfs if there
/// is one (nothing is really synced, since the simulated disk decides what
/// is durable, so memory serves and spares the disk other tests fsync),
/// else the system's temporary directory.
fn scratch_dir() -> std::path::PathBuf {
    if let Some(dir) = std::env::var_os("LARDER_SIM_DIR") {
        return dir.into();
    }
    let shm = Path::new("/dev/shm");
    let writable = shm.is_dir() && shm.metadata().is_ok_and(|m| !m.permissions().readonly());
    if writable {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

pub fn worker_name(n: usize) -> String {
    format!("sim-worker-{n}")
}

impl<'t> World<'t> {
    pub fn new(seed: u64, totals: &'t mut Totals, serial: bool) -> Result<World<'t>, String> {
        let dir =
            tempfile::Builder::new().prefix("larder-sim-").tempdir_in(scratch_dir()).map_err(|e| e.to_string())?;
        let disk = Arc::new(SimStorage::new());
        let log = Log::open(dir.path(), LogOptions::default().storage(disk.clone()))
            .map_err(|e| format!("the first open failed: {e}"))?;
        Ok(World {
            rng: Rng::new(seed),
            dir,
            disk,
            log: Some(log),
            producers: (0..PRODUCERS).map(|_| Mutex::new(None)).collect(),
            members: (0..MEMBERS).map(|_| Mutex::new(None)).collect(),
            model: Model::default(),
            totals,
            step: 0,
            serial,
            faulted_since_open: false,
            deleted_since_open: false,
            partition_faulted_since_open: false,
            poisoned: BTreeSet::new(),
            history: Vec::new(),
        })
    }

    /// The whole seed: a setup step, random steps with faults scheduled at
    /// random points, then a final reopen and a clean close.
    pub fn run(&mut self) -> Result<(), String> {
        let steps = 8 + self.rng.below(20);
        // Five seeds in six inject one to three faults, at random steps.
        let fault_count = if self.rng.one_in(6) { 0 } else { 1 + self.rng.below(3) };
        let faults: Vec<(u64, larder::fault::Fault)> = (0..fault_count)
            .map(|_| (self.rng.below(steps), larder::fault::Fault::from_seed(self.rng.next(), 8)))
            .collect();
        let setup = self.setup_ops();
        self.run_ops(setup)?;
        let mut clear_at = None;
        for step in 0..steps {
            for (_, fault) in faults.iter().filter(|(at, _)| *at == step) {
                self.history.push(format!("schedule {fault:?}"));
                self.disk.schedule(*fault);
                if fault.sticky {
                    clear_at = Some(step + 1 + self.rng.below(6));
                }
            }
            if clear_at == Some(step) && self.disk.clear_faults() > 0 {
                self.history.push("faults cleared".into());
            }
            self.step += 1;
            self.totals.steps += 1;
            if self.rng.one_in(12) {
                let how =
                    *self.rng.pick(&[Reopen::Close, Reopen::Close, Reopen::Crash, Reopen::PowerCut, Reopen::PowerCut]);
                let keep_faults = self.rng.one_in(4);
                self.reopen(how, keep_faults)?;
            } else {
                let ops = self.plan_ops();
                self.run_ops(ops)?;
            }
        }
        self.finish()
    }

    fn setup_ops(&mut self) -> Vec<Op> {
        let mut ops = vec![Op::NewProducer { producer: 0, queue_capacity: 1024 }];
        for _ in 0..1 + self.rng.below(2) {
            ops.push(self.plan_create_topic());
        }
        ops
    }

    // ---- planning ----------------------------------------------------

    fn plan_ops(&mut self) -> Vec<Op> {
        let count = 1 + self.rng.below(4) as usize;
        let mut ops: Vec<Op> = Vec::new();
        for _ in 0..count * 3 {
            if ops.len() == count {
                break;
            }
            let Some(op) = self.plan_op(&ops) else { continue };
            if exclusive(&op) {
                if ops.is_empty() {
                    return vec![op];
                }
                continue;
            }
            ops.push(op);
        }
        ops
    }

    fn plan_op(&mut self, planned: &[Op]) -> Option<Op> {
        let topics = self.model.usable_topics();
        let live_producers: Vec<usize> = (0..PRODUCERS).filter(|&n| lock(&self.producers[n]).is_some()).collect();
        let busy: BTreeSet<usize> = planned.iter().filter_map(Op::member).collect();
        let (occupied, free): (Vec<usize>, Vec<usize>) =
            (0..MEMBERS).filter(|n| !busy.contains(n)).partition(|&n| lock(&self.members[n]).is_some());
        let deleting: BTreeSet<&str> =
            planned.iter().filter(|op| matches!(op, Op::DeleteTopic { .. })).filter_map(Op::topic).collect();
        // A failed roll must not race another write to its topic while that
        // bug stands: with a fault armed, one write per topic per step.
        let one_writer = crate::BUG_FAILED_ROLL_LEAVES_ORPHAN_SEGMENT && self.disk.armed_faults() > 0;
        let written: BTreeSet<&str> = if one_writer {
            planned.iter().filter(|op| op.writes()).filter_map(Op::topic).collect()
        } else {
            BTreeSet::new()
        };
        let r = self.rng.below(100);
        if topics.is_empty() {
            return (self.model.topics.len() < MAX_TOPICS).then(|| self.plan_create_topic());
        }
        let (topic, partitions, durability, writable) = self.rng.pick(&topics).clone();
        let writes = matches!(r, 0..=25 | 32..=47 | 53..=59);
        if writes && (!writable || written.contains(topic.as_str())) {
            return None;
        }
        let partition = self.rng.below(u64::from(partitions)) as u32;
        let sync_topic = durability == Durability::Sync;
        let needs_producer = r < 30;
        if needs_producer && live_producers.is_empty() {
            let producer = self.rng.below(PRODUCERS as u64) as usize;
            return Some(Op::NewProducer { producer, queue_capacity: 1 + self.rng.below(64) as usize });
        }
        let producer = if live_producers.is_empty() { 0 } else { *self.rng.pick(&live_producers) };
        let route = if self.rng.one_in(2) { Route::Partition(partition) } else { Route::Partitioner };
        Some(match r {
            0..=13 => Op::SendDirect { producer, topic, route, id: self.model.new_id(false), sync_topic },
            14..=25 => {
                let callback = self.rng.one_in(3);
                Op::Send { producer, topic, route, id: self.model.new_id(false), sync_topic, callback }
            }
            26..=28 => Op::Flush { producer },
            29 => Op::CloseProducer { producer },
            30..=31 => {
                let empty: Vec<usize> = (0..PRODUCERS).filter(|n| !live_producers.contains(n)).collect();
                if empty.is_empty() {
                    return None;
                }
                let producer = *self.rng.pick(&empty);
                Op::NewProducer { producer, queue_capacity: 1 + self.rng.below(64) as usize }
            }
            32..=41 => Op::Append { topic, partition, id: self.model.new_id(false) },
            42..=47 => {
                let large = self.rng.one_in(12);
                let count = if large { 3 } else { 1 + self.rng.below(5) };
                let ids = (0..count).map(|_| self.model.new_id(large)).collect();
                Op::AppendBatch { topic, partition, ids }
            }
            48..=52 => Op::Sync { topic, partition },
            53..=56 => {
                let interval = matches!(durability, Durability::Interval(_));
                if deleting.contains(topic.as_str()) || (interval && crate::KNOWN_BUG_SYNC_TRUNCATE_RACE) {
                    return None;
                }
                let pick = self.rng.next();
                if r <= 54 {
                    Op::Truncate { topic, partition, pick }
                } else {
                    Op::DeleteBefore { topic, partition, pick }
                }
            }
            57..=59 => Op::Roll { topic, partition },
            60..=63 => Op::Read { topic, partition, pick: self.rng.next() },
            64..=66 => Op::Iterate { topic, partition, pick: self.rng.next(), max: 1 + self.rng.below(40) as usize },
            67..=68 => {
                if self.model.topics.len() >= MAX_TOPICS {
                    return None;
                }
                self.plan_create_topic()
            }
            69 => {
                if topics.len() < 2 || deleting.contains(topic.as_str()) {
                    return None;
                }
                Op::DeleteTopic { name: topic }
            }
            70 => {
                if partitions >= MAX_PARTITIONS || deleting.contains(topic.as_str()) {
                    return None;
                }
                let to = partitions + 1 + self.rng.below(2) as u32;
                Op::AddPartitions { name: topic, to: to.min(MAX_PARTITIONS) }
            }
            71..=74 => {
                let member = *self.rng.pick(&free.iter().copied().chain([MEMBERS]).collect::<Vec<_>>());
                if member == MEMBERS {
                    return None;
                }
                let groups: Vec<&str> =
                    GROUPS.iter().copied().filter(|g| !self.model.unsure_groups.contains(*g)).collect();
                if groups.is_empty() {
                    return None;
                }
                let group = self.rng.pick(&groups).to_string();
                let assignor = *self.rng.pick(&[Assignor::Range, Assignor::RoundRobin]);
                let picked: Vec<(String, u32, Durability, bool)> =
                    (0..1 + self.rng.below(2)).map(|_| self.rng.pick(&topics).clone()).collect();
                if self.rng.one_in(2) {
                    let mut names: Vec<String> = picked.into_iter().map(|(t, _, _, _)| t).collect();
                    names.dedup();
                    Op::Join { member, group, subscribe: Some(names), assign: Vec::new(), assignor }
                } else {
                    let mut assign: Vec<TopicPartition> = picked
                        .into_iter()
                        .map(|(t, n, _, _)| TopicPartition::new(t, self.rng.below(u64::from(n)) as u32))
                        .collect();
                    assign.dedup();
                    Op::Join { member, group, subscribe: None, assign, assignor }
                }
            }
            _ => {
                if occupied.is_empty() {
                    return None;
                }
                let member = *self.rng.pick(&occupied);
                match r {
                    75 => Op::Leave { member },
                    76..=84 => Op::Poll { member, timeout_ms: self.rng.below(4) },
                    85..=91 => Op::Commit { member },
                    92..=95 => Op::CommitOffsets { member, pick: self.rng.next() },
                    _ => Op::Seek { member, pick: self.rng.next() },
                }
            }
        })
    }

    fn plan_create_topic(&mut self) -> Op {
        let durability = match self.rng.below(3) {
            0 => Durability::Buffered,
            1 => Durability::Sync,
            _ => Durability::Interval(Duration::from_millis(self.rng.between(5, 40))),
        };
        Op::CreateTopic {
            name: self.model.new_topic_name(),
            partitions: 1 + self.rng.below(3) as u32,
            segment_bytes: *self.rng.pick(&SEGMENT_BYTES),
            durability,
        }
    }

    // ---- running a step ----------------------------------------------

    fn run_ops(&mut self, ops: Vec<Op>) -> Result<(), String> {
        if ops.is_empty() {
            return Ok(());
        }
        let before = self.disk.injected().len();
        let outcomes = self.execute(&ops);
        let settled = self.settle(&outcomes)?;
        let injected: Vec<InjectedFault> = self.disk.injected()[before..].to_vec();
        self.note(&outcomes, &settled, &injected);
        self.faulted_since_open |= !injected.is_empty();
        self.partition_faulted_since_open |= injected.iter().any(|f| topic_partition_of(&f.path).is_some());
        self.deleted_since_open |= ops.iter().any(|op| matches!(op, Op::DeleteTopic { .. }));
        self.check_outcomes(&outcomes, &settled, &injected)?;
        self.apply(&outcomes, &settled)?;
        self.check_log()?;
        self.check_failed_writes(&outcomes, &settled)
    }

    /// After a write failed on I/O: a partition reported `DiskFull` must not
    /// be poisoned (appends succeed again once there is room); and a topic
    /// whose failed write left its partition unpoisoned takes no more
    /// writes until the next open while `BUG_FAILED_ROLL_LEAVES_ORPHAN_SEGMENT`.
    fn check_failed_writes(&mut self, outcomes: &[Outcome], settled: &[Settled]) -> Result<(), String> {
        let mut failed: Vec<(String, Option<u32>, &Error)> = Vec::new();
        for outcome in outcomes {
            let (Some(error), Some(topic)) = (&outcome.error, outcome.op.topic()) else { continue };
            let partition = match &outcome.op {
                Op::Append { partition, .. }
                | Op::AppendBatch { partition, .. }
                | Op::Roll { partition, .. }
                | Op::Truncate { partition, .. }
                | Op::DeleteBefore { partition, .. }
                | Op::SendDirect { route: Route::Partition(partition), .. } => Some(*partition),
                Op::SendDirect { .. } => None,
                _ => continue,
            };
            failed.push((topic.to_string(), partition, error));
        }
        for s in settled {
            if let Err(error) = &s.result {
                failed.push((s.topic.clone(), None, error));
            }
        }
        for (topic, partition, error) in failed {
            let partition = match error {
                Error::DiskFull { partition: Some(p), .. } => Some(*p),
                Error::Io { .. } => partition,
                _ => continue,
            };
            let poisoned = partition.is_some_and(|p| self.poisoned.contains(&(topic.clone(), p)));
            if matches!(error, Error::DiskFull { .. })
                && poisoned
                && !crate::BUG_DISK_FULL_REPORTED_FOR_A_POISONING_FAILURE
            {
                return Err(format!(
                    "{topic}/{partition:?} reported DiskFull but is poisoned: appends will not resume"
                ));
            }
            if !poisoned && crate::BUG_FAILED_ROLL_LEAVES_ORPHAN_SEGMENT {
                if let Some(model) = self.model.topics.get_mut(&topic) {
                    model.quarantined = true;
                }
            }
        }
        Ok(())
    }

    /// Runs `ops` at once, one worker thread each (one after another when
    /// serial, for an exact replay).
    fn execute(&self, ops: &[Op]) -> Vec<Outcome> {
        let log = self.log.as_ref().expect("the log is open");
        let shared = Shared { log, producers: &self.producers, members: &self.members };
        let shared = &shared;
        std::thread::scope(|scope| {
            let spawn = |n: usize| {
                let op = &ops[n];
                std::thread::Builder::new()
                    .name(worker_name(n))
                    .spawn_scoped(scope, move || ops::execute(op, shared))
                    .expect("spawn a worker")
            };
            if self.serial {
                (0..ops.len()).map(|n| spawn(n).join().expect("panics are caught")).collect()
            } else {
                let workers: Vec<_> = (0..ops.len()).map(spawn).collect();
                workers.into_iter().map(|w| w.join().expect("panics are caught")).collect()
            }
        })
    }

    /// Waits for every queued send, flushes every producer, and checks each
    /// callback ran once with the handle's outcome.
    fn settle(&mut self, outcomes: &[Outcome]) -> Result<Vec<Settled>, String> {
        let mut settled = Vec::new();
        for effect in outcomes.iter().flat_map(|o| &o.effects) {
            let Effect::Queued { topic, id, sync_topic, by_key, handle, .. } = effect else { continue };
            let result = handle.wait(SETTLE);
            if let Err(Error::Timeout { .. }) = result {
                return Err(format!("hang: the delivery of record {id} did not complete in {SETTLE:?}"));
            }
            settled.push(Settled { topic: topic.clone(), id: *id, sync_topic: *sync_topic, by_key: *by_key, result });
        }
        for slot in &self.producers {
            let producer = lock(slot).clone();
            if let Some(Err(Error::Timeout { .. })) = producer.map(|p| p.flush_timeout(SETTLE)) {
                return Err(format!("hang: a producer's flush did not return in {SETTLE:?}"));
            }
        }
        let callbacks = outcomes.iter().flat_map(|o| &o.effects).filter_map(|e| match e {
            Effect::Queued { id, callback: Some(log), .. } => Some((*id, log)),
            _ => None,
        });
        for (id, log) in callbacks {
            let ran = lock(log);
            let handle = &settled.iter().find(|s| s.id == id).expect("settled").result;
            let same = match (ran.first(), handle) {
                (Some(Ok(a)), Ok(b)) => a == b,
                (Some(Err(a)), Err(b)) => a.to_string() == b.to_string(),
                _ => false,
            };
            if ran.len() != 1 || !same {
                return Err(format!(
                    "the callback of record {id} ran {} times with {ran:?}; the handle says {handle:?}",
                    ran.len()
                ));
            }
        }
        Ok(settled)
    }

    fn note(&mut self, outcomes: &[Outcome], settled: &[Settled], injected: &[InjectedFault]) {
        self.totals.operations += outcomes.len() as u64;
        self.totals.faults_injected += injected.len() as u64;
        let mut line = format!("step {}:", self.step);
        for outcome in outcomes {
            self.totals.records_read += outcome.records_read;
            let result = match (&outcome.error, &outcome.panic) {
                (_, Some(panic)) => format!("PANIC {panic}"),
                (Some(error), _) => {
                    self.totals.failed_operations += 1;
                    *self.totals.errors.entry(variant(error)).or_default() += 1;
                    format!("Err({})", variant(error))
                }
                (None, None) => "Ok".into(),
            };
            line.push_str(&format!("\n    {:?} -> {result}", outcome.op));
        }
        for s in settled {
            if let Err(error) = &s.result {
                *self.totals.errors.entry(format!("delivery {}", variant(error))).or_default() += 1;
                line.push_str(&format!("\n    delivery of {} -> Err({})", s.id, variant(error)));
            }
        }
        for fault in injected {
            line.push_str(&format!(
                "\n    injected {:?} {:?} on {} in {:?}",
                fault.call,
                fault.error,
                fault.path.display(),
                fault.thread
            ));
        }
        self.history.push(line);
    }

    // ---- checks of outcomes --------------------------------------------

    fn check_outcomes(
        &self,
        outcomes: &[Outcome],
        settled: &[Settled],
        injected: &[InjectedFault],
    ) -> Result<(), String> {
        let deleted: BTreeSet<&str> =
            outcomes.iter().filter(|o| matches!(o.op, Op::DeleteTopic { .. })).filter_map(|o| o.op.topic()).collect();
        for (n, outcome) in outcomes.iter().enumerate() {
            let op = &outcome.op;
            if let Some(panic) = &outcome.panic {
                return Err(format!("larder panicked in {op:?}: {panic}"));
            }
            if let Some(violation) = outcome.violations.first() {
                return Err(format!("{op:?}: {violation}"));
            }
            let name = worker_name(n);
            let mine: Vec<&InjectedFault> = injected.iter().filter(|f| f.thread.as_deref() == Some(&name)).collect();
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
                && matches!(error, Error::UnknownTopic { .. } | Error::InvalidArgument { .. } | Error::Io { .. });
            if !(by_fault || by_poison || by_deletion) {
                return Err(format!(
                    "the delivery of record {} to {} failed with {error} without a fault to explain it",
                    s.id, s.topic
                ));
            }
        }
        if !appender.is_empty() && !settled.iter().any(|s| s.result.is_err()) {
            return Err(format!(
                "the appender thread swallowed injected faults {appender:?}: every delivery succeeded"
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
    fn explained(&self, op: &Op, error: &Error, deleted: &BTreeSet<&str>, outcomes: &[Outcome]) -> Result<(), String> {
        let topic_gone =
            op.topic().is_some_and(|t| deleted.contains(t)) || (op.is_consumer() && self.deleted_since_open);
        let closed =
            |slot: &usize| outcomes.iter().any(|o| matches!(&o.op, Op::CloseProducer { producer } if producer == slot));
        let raced_growth = |name: &str| {
            outcomes.iter().filter(|o| matches!(&o.op, Op::AddPartitions { name: n, .. } if n == name)).count() > 1
        };
        let explained = match error {
            Error::Poisoned { .. } => self.faulted_since_open,
            Error::UnknownTopic { .. }
            | Error::UnknownPartition { .. }
            | Error::OffsetOutOfRange { .. }
            | Error::Io { .. }
            | Error::DiskFull { .. } => topic_gone,
            Error::InvalidArgument { .. } => {
                topic_gone || matches!(op, Op::AddPartitions { name, .. } if raced_growth(name))
            }
            Error::StaleGeneration { .. } | Error::NotAssigned { .. } => {
                matches!(op, Op::Commit { .. } | Op::CommitOffsets { .. })
            }
            Error::ProducerClosed => match op {
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

    /// A fault in the interval syncer must poison the partition it synced.
    fn check_syncer_fault(&self, fault: &InjectedFault, deleted: &BTreeSet<&str>) -> Result<(), String> {
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

    fn apply(&mut self, outcomes: &[Outcome], settled: &[Settled]) -> Result<(), String> {
        let effects: Vec<&Effect> = outcomes.iter().flat_map(|o| &o.effects).collect();
        let growing: BTreeSet<&str> =
            outcomes.iter().filter(|o| matches!(o.op, Op::AddPartitions { .. })).filter_map(|o| o.op.topic()).collect();
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
        let mut acks: Vec<(&str, u32, u64, u64, bool, bool)> = Vec::new();
        for effect in &effects {
            match effect {
                Effect::Acked { topic, partition, offset, id, synced, by_key } => {
                    acks.push((topic, *partition, *offset, *id, *synced, *by_key))
                }
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
                    acks.push((&s.topic, meta.partition, meta.offset, s.id, s.sync_topic, s.by_key));
                }
                Err(error) if ops::may_be_stored(error, s.sync_topic) => {}
                Err(_) => {
                    self.model.forbidden.insert(s.id);
                }
            }
        }
        for (topic, partition, offset, id, synced, by_key) in acks {
            self.apply_ack(topic, partition, offset, id, synced, by_key && !growing.contains(topic))?;
        }
        for effect in &effects {
            match effect {
                Effect::SyncedTo { topic, partition, offset } => {
                    if let Some(model) = self.model.partition(topic, *partition) {
                        model.synced_below(*offset);
                    }
                }
                Effect::Read { topic, partition, offset, id } => self.check_read(topic, *partition, *offset, *id)?,
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

    fn apply_admin(&mut self, effects: &[&Effect]) {
        for effect in effects {
            match effect {
                Effect::TopicCreated { name, partitions, durability, ok } => {
                    if *ok {
                        self.model.topics.insert(name.clone(), TopicModel::new(*durability, *partitions));
                    } else if crate::KNOWN_BUG_CREATE_TOPIC_NOT_ATOMIC {
                        let mut topic = TopicModel::new(*durability, 0);
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

    fn apply_commits(&mut self, effects: &[&Effect]) {
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

    fn check_not_poisoned(&self, topic: &str, partition: u32) -> Result<(), String> {
        if self.poisoned.contains(&(topic.to_string(), partition)) {
            return Err(format!("a write to {topic}/{partition} succeeded although it was poisoned"));
        }
        Ok(())
    }

    fn apply_ack(
        &mut self,
        topic: &str,
        partition: u32,
        offset: u64,
        id: u64,
        synced: bool,
        by_key: bool,
    ) -> Result<(), String> {
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
        partition_model.ack(offset, id, synced).map_err(|e| format!("{topic}/{partition}: {e}"))?;
        self.totals.records_acknowledged += 1;
        self.check_not_poisoned(topic, partition)
    }

    fn check_read(&mut self, topic: &str, partition: u32, offset: u64, id: u64) -> Result<(), String> {
        // A consumer may still read a deleted topic's partition it holds.
        let forbidden = self.model.forbidden.contains(&id);
        let Some(model) = self.model.partition(topic, partition) else { return Ok(()) };
        if forbidden {
            return Err(format!(
                "read record {id} at {topic}/{partition}@{offset}, whose call failed without storing it"
            ));
        }
        match model.acked.get(&offset) {
            Some(acked) if acked.id != id => Err(format!(
                "read record {id} at {topic}/{partition}@{offset}, where record {} was acknowledged",
                acked.id
            )),
            _ => Ok(()),
        }
    }

    // ---- checks of the log -------------------------------------------

    /// Everything the model says must hold now.
    fn check_log(&mut self) -> Result<(), String> {
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

    fn check_commits(&mut self) -> Result<(), String> {
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

    // ---- reopening -----------------------------------------------------

    /// Ends the log as `how` says, then opens it again (keeping scheduled
    /// faults armed if `keep_faults`), which must work without repair, and
    /// checks the model against what it finds.
    fn reopen(&mut self, how: Reopen, keep_faults: bool) -> Result<(), String> {
        let before = self.disk.injected().len();
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
        match how {
            Reopen::Close => {
                let closed = log.close();
                let injected: Vec<InjectedFault> = self.disk.injected()[before..].to_vec();
                self.faulted_since_open |= !injected.is_empty();
                self.partition_faulted_since_open |= injected.iter().any(|f| topic_partition_of(&f.path).is_some());
                self.history.push(format!(
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
                self.history.push(format!(
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

    fn power_cut(&mut self) -> Result<(), String> {
        // From this seed's own generator, so that a seed replays alone.
        let seed = self.rng.next();
        self.disk.power_cut(seed).map_err(|e| format!("the simulated power cut failed: {e}"))?;
        self.totals.power_cuts += 1;
        Ok(())
    }

    /// Opens the log; a failure must come from an injected fault, after
    /// which (maybe after another power cut) an open with the faults
    /// cleared must succeed.
    fn open(&mut self, power_cut: &mut bool) -> Result<Log, String> {
        let options = LogOptions::default().storage(self.disk.clone());
        let me = std::thread::current().name().map(str::to_string);
        for attempt in 0..2 {
            let before = self.disk.injected().len();
            let opened = Log::open(self.dir.path(), options.clone());
            let mine: Vec<InjectedFault> =
                self.disk.injected()[before..].iter().filter(|f| f.thread == me).cloned().collect();
            self.totals.faults_injected += mine.len() as u64;
            self.history.push(format!(
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
                    self.partition_faulted_since_open |= mine.iter().any(|f| topic_partition_of(&f.path).is_some());
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
    fn stale_seal_gate(&self) -> bool {
        crate::BUG_STALE_SEAL_MAKES_AN_INTERRUPTED_ROLL_CORRUPT && self.partition_faulted_since_open
    }

    /// Settles the model against a freshly opened log and checks it.
    fn after_open(&mut self, log: Log, power_cut: bool) -> Result<(), String> {
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
            if topic.meta_unsure && crate::BUG_OPEN_TRUSTS_UNSYNCED_TOPIC_META {
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
        let producer = log.producer(ProducerConfig::default()).map_err(|e| format!("producer after reopen: {e}"))?;
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
    fn finish(&mut self) -> Result<(), String> {
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
    fn stale_handles(&self, log: &Log) -> Stale {
        let producer = self.producers.iter().find_map(|slot| lock(slot).clone());
        let partition = self.model.usable_topics().first().and_then(|(t, _, _, _)| log.partition(t, 0).ok());
        let member =
            if crate::KNOWN_BUG_COMMIT_AFTER_CLOSE { None } else { self.members.iter().find_map(|s| lock(s).take()) };
        let topic = self.model.usable_topics().first().map(|(t, _, _, _)| t.clone());
        Stale { producer, partition, member, topic }
    }
}

/// Handles of a log kept across its close.
struct Stale {
    producer: Option<Producer>,
    partition: Option<Arc<Partition>>,
    member: Option<Member>,
    topic: Option<String>,
}

impl Stale {
    fn check_closed(mut self) -> Result<(), String> {
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

/// Operations that run alone in their step while a known bug makes them
/// unsafe to race.
fn exclusive(op: &Op) -> bool {
    match op {
        Op::Truncate { .. } | Op::DeleteBefore { .. } => crate::EXCLUSIVE_TRUNCATION,
        Op::AddPartitions { .. } => crate::KNOWN_BUG_ADD_PARTITIONS_KEPT_IN_MEMORY,
        _ => false,
    }
}

/// Whether `error` is what one of the injected `faults` returns.
fn is_fault_error(error: &Error, faults: &[&InjectedFault]) -> bool {
    match error {
        Error::Io { source, .. } => faults.iter().any(|f| source.raw_os_error() == Some(f.error.raw_os_error())),
        Error::DiskFull { .. } => faults.iter().any(|f| f.error == FaultError::NoSpace),
        _ => false,
    }
}

/// The topic and partition a file belongs to: `<log>/topics/<topic>/<n>/<file>`.
fn topic_partition_of(path: &Path) -> Option<(String, u32)> {
    let partition_dir = path.parent()?;
    let partition = partition_dir.file_name()?.to_str()?.parse().ok()?;
    let topic = partition_dir.parent()?.file_name()?.to_str()?.to_string();
    Some((topic, partition))
}

/// Checks one partition against its model: offsets dense from the log
/// start to the end, every record intact and one the simulation sent, none
/// refused or duplicated, every acknowledged record at its offset, and
/// `synced <= end`, `start <= end`. Then marks what larder reports synced.
fn check_partition(
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
    let mut expected = start;
    for record in stored.iter_from(start) {
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
        if let Some(acked) = model.acked.get(&expected).filter(|a| a.id != id) {
            return Err(format!("{at}@{expected} holds record {id}; record {} was acknowledged there", acked.id));
        }
        expected += 1;
    }
    if expected != end {
        return Err(format!("{at}: iteration ended at {expected}, the end offset is {end}"));
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
