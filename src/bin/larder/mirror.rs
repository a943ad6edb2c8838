//! `larder mirror out|in` (features `cli` and `kafka`): a log's topics
//! copied into a Kafka cluster, or a cluster's topics into the log, at
//! least once, until stopped (Ctrl-C or a kill is safe: what was not
//! committed is copied again by the next run) or, with `--stop-when-idle`,
//! once there is nothing left to copy.

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use larder::mirror::{MirrorIn, MirrorInConfig, MirrorOut, MirrorOutConfig, MirrorStats, PartitionMapping};
use larder::Log;

use super::args::{Mapping, MirrorArgs, MirrorCommand};
use super::failure::Failure;
use super::open::{close, open, Create};

/// How often the command looks at the mirror's figures.
const TICK: Duration = Duration::from_millis(100);

pub(crate) fn run(dir: &Path, command: MirrorCommand) -> Result<(), Failure> {
    let (args, out) = match command {
        MirrorCommand::Out(args) => (args, true),
        MirrorCommand::In(args) => (args, false),
    };
    let log = open(dir, if out { Create::No } else { Create::Yes })?;
    if log.is_read_only() {
        let reason = "a mirror commits its progress: stop the process that has the log open, or run the mirror in it";
        return Err(Failure::Other(format!("cannot mirror {}: {reason}", dir.display())));
    }
    let stats = if out { run_out(&log, &args)? } else { run_in(&log, &args)? };
    let direction = if out { "to" } else { "from" };
    writeln!(
        std::io::stdout(),
        "mirrored {} records ({} bytes) {direction} {}",
        stats.records,
        stats.bytes,
        args.brokers
    )?;
    close(log)
}

fn run_out(log: &Log, args: &MirrorArgs) -> Result<MirrorStats, Failure> {
    let mut config = MirrorOutConfig::new(args.brokers.clone())
        .group_id(args.group.clone().unwrap_or_else(|| "larder-mirror-out".into()))
        .partition_mapping(mapping(args.partition_mapping))
        .batch_records(args.batch_records)
        .connect_timeout(Duration::from_secs(args.connect_timeout));
    for (from, to) in routes(&args.topics)? {
        config = config.topic_as(from, to);
    }
    for (key, value) in settings(&args.settings)? {
        config = config.set(key, value);
    }
    let mirror = MirrorOut::start(log, config)?;
    watch(args, "out", || mirror.stats())?;
    Ok(mirror.stop()?)
}

fn run_in(log: &Log, args: &MirrorArgs) -> Result<MirrorStats, Failure> {
    let Some(group) = args.group.clone() else {
        return Err(Failure::usage("--group", "mirror in reads as a Kafka consumer group: name it"));
    };
    let mut config = MirrorInConfig::new(args.brokers.clone(), group)
        .partition_mapping(mapping(args.partition_mapping))
        .batch_records(args.batch_records)
        .connect_timeout(Duration::from_secs(args.connect_timeout));
    for (from, to) in routes(&args.topics)? {
        config = config.topic_as(from, to);
    }
    for (key, value) in settings(&args.settings)? {
        config = config.set(key, value);
    }
    let mirror = MirrorIn::start(log, config)?;
    watch(args, "in", || mirror.stats())?;
    Ok(mirror.stop()?)
}

/// Prints the figures every `--stats-interval` seconds; returns once the
/// mirror stopped on its own, or was idle with nothing left to copy for
/// `--stop-when-idle` milliseconds.
fn watch(args: &MirrorArgs, direction: &str, stats: impl Fn() -> MirrorStats) -> Result<(), Failure> {
    let interval = Duration::from_secs(args.stats_interval);
    let (mut last_print, mut last_change, mut last_records) = (Instant::now(), Instant::now(), 0);
    loop {
        std::thread::sleep(TICK);
        let now = stats();
        if !now.running {
            return Ok(()); // stop() returns the failure
        }
        if now.records != last_records {
            (last_records, last_change) = (now.records, Instant::now());
        }
        if !interval.is_zero() && last_print.elapsed() >= interval {
            eprintln!("{}", line(direction, &now));
            last_print = Instant::now();
        }
        if let Some(idle_ms) = args.stop_when_idle {
            let idle = last_change.elapsed() >= Duration::from_millis(idle_ms);
            // A mirror in knows its partitions once the group assigned them.
            if idle && now.lag() == 0 && now.connected && !now.partitions.is_empty() {
                return Ok(());
            }
        }
    }
}

/// One progress line: totals, rate, lag, retries, the last error.
fn line(direction: &str, stats: &MirrorStats) -> String {
    let mut line = format!(
        "mirror {direction}: {} records, {:.0} records/s, lag {}, retries {}",
        stats.records,
        stats.records_per_second,
        stats.lag(),
        stats.retries
    );
    if let (Some(error), false) = (&stats.last_error, stats.connected) {
        line.push_str(&format!(", retrying after: {error}"));
    }
    line
}

fn mapping(mapping: Mapping) -> PartitionMapping {
    match mapping {
        Mapping::Same => PartitionMapping::Same,
        Mapping::Murmur2 => PartitionMapping::Murmur2,
    }
}

/// `FROM` or `FROM:TO` pairs.
fn routes(topics: &[String]) -> Result<Vec<(&str, &str)>, Failure> {
    topics
        .iter()
        .map(|spec| match spec.split_once(':') {
            None => Ok((spec.as_str(), spec.as_str())),
            Some((from, to)) if !from.is_empty() && !to.is_empty() => Ok((from, to)),
            Some(_) => Err(Failure::usage("--topic", format!("{spec:?} is not TOPIC or FROM:TO"))),
        })
        .collect()
}

/// `KEY=VALUE` client settings.
fn settings(settings: &[String]) -> Result<Vec<(&str, &str)>, Failure> {
    settings
        .iter()
        .map(|spec| spec.split_once('=').ok_or_else(|| Failure::usage("--set", format!("{spec:?} is not KEY=VALUE"))))
        .collect()
}
