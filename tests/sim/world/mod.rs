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
use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use larder::partition::Partition;
use larder::record::NewRecord;
use larder::storage::fault::{FaultError, FileCall, InjectedFault, SimStorage};
use larder::{
    Assignor, Durability, Error, Log, LogOptions, Producer, ProducerConfig, ProducerRecord, RecordMetadata,
    TopicPartition,
};

use super::content::{self, Rng};
use super::model::{CommitEnd, Model, PartitionModel, Stored, TopicModel, Usable};
use super::ops::{self, lock, Effect, Member, Op, Outcome, Refusal, Retention, Route, SendHow, Shared, PANIC_GROUP};
use super::run::{variant, Totals};

mod apply;
mod checks;
mod explain;
mod plan;
mod reopen;

use explain::is_fault_error;

const PRODUCERS: usize = 2;
const MEMBERS: usize = 4;
const GROUPS: [&str; 2] = ["g0", "g1"];
const SEGMENT_BYTES: [u32; 3] = [256, 512, 1024];
const MAX_TOPICS: usize = 4;
const SIM_MAX_PARTITIONS: u32 = 6;
/// Largest record a topic of the simulation accepts (a large record, a
/// few KiB, fits; a record drawn to be refused is one byte over).
const MAX_RECORD_BYTES: u32 = 8192;
/// Longest wait for a delivery or a flush before it counts as a hang.
const SETTLE: Duration = Duration::from_secs(20);
/// Threads whose injected faults are explained by how they report them.
const APPENDER: &str = "larder-appender";
const SYNCER: &str = "larder-interval-sync";
/// The cleaner's thread: its faults reach no caller (a failed pass is
/// retried at the next); those that poison show in later calls.
const CLEANER: &str = "larder-cleaner";

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

/// A member slot's consumer as a step began.
struct MemberInfo {
    group: Option<String>,
    assignor: Assignor,
    /// A member of its group (subscribed with a group).
    subscribed: bool,
}

/// A queued send once settled.
struct Settled {
    topic: String,
    id: u64,
    sync_topic: bool,
    by_key: bool,
    how: SendHow,
    /// Drawn to be refused: its outcome was checked as such.
    refusal: Option<Refusal>,
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
    /// A fault fired in a thread of the new log while it opened.
    faulted_during_open: bool,
    /// A topic deletion ran since the log was opened (so consumers may
    /// hold partitions of a deleted topic).
    deleted_since_open: bool,
    /// A topic deletion ran in the step being checked.
    deleted_in_step: BTreeSet<String>,
    /// Ids of larder's threads that existed before the log was opened.
    threads_before_open: BTreeSet<u64>,
    /// Injected faults already accounted for (background threads fire some
    /// between steps; the next step accounts for them).
    faults_seen: usize,
    /// Prints each history line as it is recorded (`LARDER_SIM_TRACE=2`).
    trace: bool,
    /// Partitions poisoned at the end of the last step.
    poisoned: BTreeSet<(String, u32)>,
    /// The member slots as the step being checked began.
    members_before: Vec<Option<MemberInfo>>,
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

impl MemberInfo {
    fn of(member: &Member) -> MemberInfo {
        MemberInfo { group: member.group.clone(), assignor: member.assignor, subscribed: member.subscribed }
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
            faulted_during_open: false,
            deleted_since_open: false,
            deleted_in_step: BTreeSet::new(),
            faults_seen: 0,
            threads_before_open: BTreeSet::new(),
            trace: std::env::var("LARDER_SIM_TRACE").is_ok_and(|v| v == "2"),
            poisoned: BTreeSet::new(),
            members_before: Vec::new(),
            history: Vec::new(),
        })
    }

    /// The whole seed: a setup step, random steps with faults scheduled at
    /// random points, then a final reopen and a clean close.
    pub fn run(&mut self) -> Result<(), String> {
        let steps = 8 + self.rng.below(20);
        // Five seeds in six inject one to three faults, at random steps.
        let fault_count = if self.rng.one_in(6) { 0 } else { 1 + self.rng.below(3) };
        let faults: Vec<(u64, larder::storage::fault::Fault)> = (0..fault_count)
            .map(|_| (self.rng.below(steps), larder::storage::fault::Fault::from_seed(self.rng.next(), 8)))
            .collect();
        let setup = self.setup_ops();
        self.run_ops(setup)?;
        let mut clear_at = None;
        for step in 0..steps {
            for (_, fault) in faults.iter().filter(|(at, _)| *at == step) {
                self.record(format!("schedule {fault:?}"));
                self.disk.schedule(*fault);
                if fault.sticky {
                    clear_at = Some(step + 1 + self.rng.below(6));
                }
            }
            if clear_at == Some(step) && self.disk.clear_faults() > 0 {
                self.record("faults cleared".into());
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

    /// Adds a line to the history (printed at once when tracing, so a
    /// crash of the whole process still shows the steps before it).
    fn record(&mut self, line: String) {
        if self.trace {
            eprintln!("  {line}");
        }
        self.history.push(line);
    }

    fn run_ops(&mut self, ops: Vec<Op>) -> Result<(), String> {
        if ops.is_empty() {
            return Ok(());
        }
        self.members_before = self.members.iter().map(|slot| lock(slot).as_ref().map(MemberInfo::of)).collect();
        // Worker 0 is also the thread the world checks from: a fault that
        // fired there between steps hit a check, not an operation.
        let checking = Some(worker_name(0));
        if let Some(fault) = self.disk.injected()[self.faults_seen..].iter().find(|f| f.thread == checking) {
            return Err(format!("a fault fired in the world's own calls between steps: {fault:?}"));
        }
        let outcomes = self.execute(&ops);
        self.deleted_in_step = ops
            .iter()
            .filter(|op| matches!(op, Op::DeleteTopic { .. }))
            .filter_map(Op::topic)
            .map(String::from)
            .collect();
        self.deleted_since_open |= !self.deleted_in_step.is_empty();
        let settled = self.settle(&outcomes);
        let injected = self.new_faults();
        let settled = settled?;
        self.note(&outcomes, &settled, &injected);
        self.totals.positions_checked += outcomes.iter().map(|o| o.positions_checked).sum::<u64>();
        self.check_outcomes(&outcomes, &settled, &injected)?;
        self.apply(&outcomes, &settled)?;
        self.check_log()?;
        self.check_failed_writes(&outcomes, &settled, &injected)
    }

    /// After a write failed on I/O: a partition reported `DiskFull` must not
    /// be poisoned (appends succeed again once there is room), unless
    /// another fault of the step hit its files (another call, or a
    /// background thread, may have poisoned it).
    fn check_failed_writes(
        &mut self,
        outcomes: &[Outcome],
        settled: &[Settled],
        injected: &[InjectedFault],
    ) -> Result<(), String> {
        let mut failed: Vec<(String, &Error)> = Vec::new();
        for outcome in outcomes {
            if let (Some(error), Some(topic), true) = (&outcome.error, outcome.op.topic(), outcome.op.writes()) {
                failed.push((topic.to_string(), error));
            }
        }
        for s in settled {
            if let Err(error) = &s.result {
                failed.push((s.topic.clone(), error));
            }
        }
        for (topic, error) in failed {
            let Error::DiskFull { partition: Some(partition), .. } = error else { continue };
            let here = (topic.clone(), *partition);
            // A fault on one of its files, or on its directory (a sync).
            let on = |path: &Path| {
                explain::topic_partition_of(path).as_ref() == Some(&here)
                    || explain::topic_partition_of(&path.join("file")).as_ref() == Some(&here)
            };
            let faults_here = injected.iter().filter(|f| on(&f.path));
            if faults_here.count() > 1 {
                continue;
            }
            if self.poisoned.contains(&here) {
                return Err(format!("{topic}/{partition} reported DiskFull but is poisoned: appends will not resume"));
            }
        }
        Ok(())
    }

    /// The faults fired since the last call, in any thread, now accounted
    /// for: counted, and noted as explaining a poisoned partition.
    fn new_faults(&mut self) -> Vec<InjectedFault> {
        let all = self.disk.injected();
        let new = all[self.faults_seen..].to_vec();
        self.faults_seen = all.len();
        self.totals.faults_injected += new.len() as u64;
        self.faulted_since_open |= !new.is_empty();
        new
    }

    /// Runs `ops` at once, one worker thread each (one after another when
    /// serial, for an exact replay). The first runs on this thread, which
    /// is worker 0 (see `run::run_seeds`): a thread started per operation
    /// costs more than most operations, on a busy machine.
    fn execute(&self, ops: &[Op]) -> Vec<Outcome> {
        let log = self.log.as_ref().expect("the log is open");
        let shared =
            Shared { log, producers: &self.producers, members: &self.members, max_record_bytes: MAX_RECORD_BYTES };
        let shared = &shared;
        debug_assert_eq!(std::thread::current().name(), Some(worker_name(0).as_str()));
        std::thread::scope(|scope| {
            let spawn = |n: usize| {
                let op = &ops[n];
                std::thread::Builder::new()
                    .name(worker_name(n))
                    .spawn_scoped(scope, move || ops::execute(op, shared))
                    .expect("spawn a worker")
            };
            let Some((first, _)) = ops.split_first() else { return Vec::new() };
            if self.serial {
                let rest = (1..ops.len()).map(|n| spawn(n).join().expect("panics are caught"));
                std::iter::once(ops::execute(first, shared)).chain(rest).collect()
            } else {
                let workers: Vec<_> = (1..ops.len()).map(spawn).collect();
                let first = ops::execute(first, shared);
                std::iter::once(first)
                    .chain(workers.into_iter().map(|w| w.join().expect("panics are caught")))
                    .collect()
            }
        })
    }

    /// Waits for every queued send, flushes every producer, and checks each
    /// send's outcome reached its handle and its callback alike, once.
    fn settle(&mut self, outcomes: &[Outcome]) -> Result<Vec<Settled>, String> {
        let mut settled = Vec::new();
        for effect in outcomes.iter().flat_map(|o| &o.effects) {
            let Effect::Queued(queued) = effect else { continue };
            let result = queued.handle.wait(SETTLE);
            if let Err(Error::Timeout { .. }) = result {
                return Err(format!("hang: the delivery of record {} did not complete in {SETTLE:?}", queued.id));
            }
            let (topic, id, sync_topic, by_key) = (queued.topic.clone(), queued.id, queued.sync_topic, queued.by_key);
            let (how, refusal) = (queued.how, queued.refusal);
            settled.push(Settled { topic, id, sync_topic, by_key, how, refusal, result });
        }
        for slot in &self.producers {
            let producer = lock(slot).clone();
            if let Some(Err(Error::Timeout { .. })) = producer.map(|p| p.flush_timeout(SETTLE)) {
                return Err(format!("hang: a producer's flush did not return in {SETTLE:?}"));
            }
        }
        for effect in outcomes.iter().flat_map(|o| &o.effects) {
            match effect {
                Effect::Queued(queued) => {
                    let result = &settled.iter().find(|s| s.id == queued.id).expect("settled").result;
                    self.check_early_outcome(queued, result)?;
                    self.check_callback(queued, result)?;
                }
                Effect::SendRefused { id, callback: Some(log) } if !lock(log).is_empty() => {
                    return Err(format!("record {id}: send returned Err, yet its callback ran: {:?}", lock(log)));
                }
                _ => {}
            }
        }
        self.totals.queued_sends += settled.len() as u64;
        self.totals.early_outcomes += settled.iter().filter(|s| s.refusal.is_some()).count() as u64;
        Ok(settled)
    }

    /// A record drawn to be refused gets its error before `send` returns:
    /// the handle complete, the callback run on the sending thread. So does
    /// any record refused before it was queued.
    fn check_early_outcome(&self, queued: &ops::Queued, result: &Result<RecordMetadata, Error>) -> Result<(), String> {
        let id = queued.id;
        let topic_gone = self.deleted_in_step.contains(&queued.topic);
        if let Some(refusal) = queued.refusal {
            let expected = result.as_ref().err().is_some_and(|e| refusal.expects(e, topic_gone));
            if !expected || !queued.done_at_return {
                return Err(format!(
                    "record {id}, drawn to be refused ({refusal:?}): the handle says {result:?}, \
                     complete when send returned: {}",
                    queued.done_at_return
                ));
            }
        }
        let only_early = matches!(
            result,
            Err(Error::RecordTooLarge { .. }
                | Error::InvalidTimestamp { .. }
                | Error::UnknownPartition { .. }
                | Error::QueueFull { .. })
        ) || (matches!(result, Err(Error::UnknownTopic { .. })) && !topic_gone);
        let Some(log) = queued.callback.as_ref().filter(|_| only_early) else { return Ok(()) };
        let runs = lock(log);
        let on_sender = runs.first().is_some_and(|run| run.thread == queued.sender);
        if !queued.done_at_return || queued.runs_at_return != 1 || !on_sender {
            return Err(format!(
                "record {id} refused before it was queued ({result:?}): complete at return {}, callback runs \
                 at return {}, runs {runs:?}; the callback must have run on the sending thread before send returned",
                queued.done_at_return, queued.runs_at_return
            ));
        }
        Ok(())
    }

    /// A callback runs exactly once, with the handle's outcome; a `flush`
    /// from it on the appender thread is `InCallback`, never a deadlock.
    fn check_callback(&mut self, queued: &ops::Queued, result: &Result<RecordMetadata, Error>) -> Result<(), String> {
        let Some(log) = &queued.callback else { return Ok(()) };
        let id = queued.id;
        let runs = lock(log);
        let same = match (runs.first().map(|run| &run.result), result) {
            (Some(Ok(a)), Ok(b)) => a == b,
            (Some(Err(a)), Err(b)) => a.to_string() == b.to_string(),
            _ => false,
        };
        if runs.len() != 1 || !same {
            return Err(format!(
                "the callback of record {id} ran {} times: {runs:?}; the handle says {result:?}",
                runs.len()
            ));
        }
        let run = &runs[0];
        let flushed_right = match run.thread.as_deref() {
            Some(APPENDER) => matches!(run.flush, Err(Error::InCallback { .. })),
            _ => matches!(run.flush, Ok(()) | Err(Error::Closed { .. })),
        };
        if !flushed_right {
            return Err(format!("record {id}: flush in its callback on {:?} returned {:?}", run.thread, run.flush));
        }
        self.totals.callbacks += 1;
        self.totals.flushes_in_callbacks_refused += u64::from(run.thread.as_deref() == Some(APPENDER));
        Ok(())
    }

    fn note(&mut self, outcomes: &[Outcome], settled: &[Settled], injected: &[InjectedFault]) {
        self.totals.operations += outcomes.len() as u64;
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
        self.record(line);
    }
}
