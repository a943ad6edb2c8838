//! The loop over seeds: runs each seed (catching a panic inside larder or
//! a violation), prints the command that replays a failing seed, and
//! prints the totals of the run. A watchdog aborts the process, with the
//! replay command, if one seed runs for minutes (a deadlock).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use larder::Error;

use super::ops::{panic_message, Deliberate};
use super::world::World;

/// Totals over a run, printed at its end.
#[derive(Default, Debug)]
pub struct Totals {
    pub seeds: u64,
    pub steps: u64,
    pub operations: u64,
    pub failed_operations: u64,
    pub faults_injected: u64,
    pub power_cuts: u64,
    pub process_crashes: u64,
    pub clean_closes: u64,
    pub failed_opens: u64,
    pub records_acknowledged: u64,
    pub records_verified: u64,
    pub records_read: u64,
    /// Acknowledged records a cleanup setting (retention) took from a
    /// partition's start: no loss.
    pub records_cleaned: u64,
    /// Acknowledged records compaction removed, each superseded by a later
    /// record of its key: no loss.
    pub records_compacted: u64,
    /// Reads, iterators and consumers that went over compaction's holes.
    pub holes_crossed: u64,
    pub commits_checked: u64,
    /// Queued sends that returned a handle: each outcome reached it.
    pub queued_sends: u64,
    /// Callbacks run, each exactly once for its send.
    pub callbacks: u64,
    /// Of those, callbacks on the appender thread whose `flush` was refused
    /// with `InCallback`.
    pub flushes_in_callbacks_refused: u64,
    /// Records drawn to be refused whose early outcome was checked.
    pub early_outcomes: u64,
    /// Positions (deliveries and commits) checked against what was
    /// delivered before.
    pub positions_checked: u64,
    /// How many failed calls returned each `larder::Error` variant.
    pub errors: BTreeMap<String, u64>,
}

/// The variant of `error`, with operation and errno for I/O errors:
/// `Io(sync, 5)`, `DiskFull`, `Poisoned`, ...
pub fn variant(error: &Error) -> String {
    match error {
        Error::Io { operation, source, .. } => {
            format!("Io({operation}, {})", source.raw_os_error().map_or("-".into(), |e| e.to_string()))
        }
        other => format!("{other:?}").split(|c: char| !c.is_alphanumeric()).next().unwrap_or("?").to_string(),
    }
}

pub fn replay_command(seed: u64) -> String {
    format!("LARDER_SEED={seed} cargo test --release --all-features --test simulation -- --nocapture")
}

/// Runs `seeds`; panics at the end if any failed, after printing each
/// failing seed's replay command and the totals.
pub fn run_seeds(seeds: impl Iterator<Item = u64>, serial: bool) {
    quiet_deliberate_panics();
    let started = Instant::now();
    let mut totals = Totals::default();
    let mut failed = Vec::new();
    // A crash of the whole process (SIGBUS from a map) says nothing; with
    // LARDER_SIM_TRACE=1 each seed is named on stderr before it runs (=2
    // adds each step as it ends).
    let trace = std::env::var("LARDER_SIM_TRACE").is_ok_and(|v| v == "1" || v == "2");
    for seed in seeds {
        watch(seed);
        if trace {
            eprintln!("seed {seed}");
        }
        // On a thread of its own named as worker 0, which runs the first
        // operation of each step (the world's own calls, between steps,
        // are told apart by when they happen).
        let worker = std::thread::Builder::new().name(super::world::worker_name(0));
        let outcome = std::thread::scope(|scope| {
            let seed_run = worker.spawn_scoped(scope, || run_seed(seed, &mut totals, serial)).expect("spawn worker 0");
            seed_run.join()
        });
        totals.seeds += 1;
        let report = match outcome {
            Ok(Ok(())) => continue,
            Ok(Err(report)) => report,
            Err(panic) => format!("panic: {}", panic_message(&*panic)),
        };
        eprintln!("simulation violation with seed {seed}:\n{report}\nreplay: {}\n", replay_command(seed));
        failed.push(seed);
    }
    watch(u64::MAX);
    print_totals(&totals, started.elapsed(), failed.len());
    assert!(failed.is_empty(), "{} seeds violated the model: {failed:?}", failed.len());
}

/// Keeps the panic hook from printing the panics the simulation makes on
/// purpose (a consumer that fails while processing, `Op::PanicInPoll`);
/// every other panic is printed as before.
fn quiet_deliberate_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<Deliberate>().is_none() {
                previous(info);
            }
        }));
    });
}

fn run_seed(seed: u64, totals: &mut Totals, serial: bool) -> Result<(), String> {
    let mut world = World::new(seed, totals, serial)?;
    world.run().map_err(|violation| {
        // A replay of one seed prints all its steps; a run of many, the last few.
        let shown = if std::env::var("LARDER_SEED").is_ok() { usize::MAX } else { 12 };
        let recent = world.history.iter().rev().take(shown).rev().cloned().collect::<Vec<_>>().join("\n  ");
        format!("step {}: {violation}\nlast steps:\n  {recent}", world.step)
    })
}

fn print_totals(totals: &Totals, elapsed: Duration, violations: usize) {
    println!("simulation: {} seeds in {:.1} s", totals.seeds, elapsed.as_secs_f64());
    println!(
        "  {} steps, {} operations ({} failed with a typed error), {} faults injected",
        totals.steps, totals.operations, totals.failed_operations, totals.faults_injected
    );
    println!(
        "  {} power cuts, {} process crashes, {} clean closes, {} opens failed by a fault (then opened)",
        totals.power_cuts, totals.process_crashes, totals.clean_closes, totals.failed_opens
    );
    println!(
        "  {} records acknowledged, {} acknowledged-record checks, {} records read back, {} committed offsets checked",
        totals.records_acknowledged, totals.records_verified, totals.records_read, totals.commits_checked
    );
    println!(
        "  {} queued sends settled ({} refused early), {} callbacks run once each ({} flushes in them refused)",
        totals.queued_sends, totals.early_outcomes, totals.callbacks, totals.flushes_in_callbacks_refused
    );
    println!("  {} consumer positions checked against what was delivered", totals.positions_checked);
    println!("  {} acknowledged records removed by a retention setting (no loss)", totals.records_cleaned);
    println!(
        "  {} acknowledged records compacted away, each superseded (no loss); {} reads over holes",
        totals.records_compacted, totals.holes_crossed
    );
    let errors: Vec<String> = totals.errors.iter().map(|(name, n)| format!("{name}: {n}")).collect();
    println!("  errors by variant: {}", errors.join(", "));
    println!("  violations: {violations}");
}

/// The seed running now and since when (`u64::MAX`: none).
static CURRENT_SEED: AtomicU64 = AtomicU64::new(u64::MAX);
static SEED_STARTED: OnceLock<std::sync::Mutex<Instant>> = OnceLock::new();
/// A seed takes milliseconds; one running this long is stuck.
const HANG: Duration = Duration::from_secs(180);

fn watch(seed: u64) {
    let started = SEED_STARTED.get_or_init(|| {
        std::thread::spawn(watchdog);
        std::sync::Mutex::new(Instant::now())
    });
    *started.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    CURRENT_SEED.store(seed, Ordering::SeqCst);
}

fn watchdog() {
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let seed = CURRENT_SEED.load(Ordering::SeqCst);
        let started = *SEED_STARTED.get().expect("set").lock().unwrap_or_else(|p| p.into_inner());
        if seed != u64::MAX && started.elapsed() > HANG {
            eprintln!("simulation: seed {seed} ran for over {HANG:?}: a hang. replay: {}", replay_command(seed));
            std::process::abort();
        }
    }
}
