//! Reading a live log from another process, with real processes: an owner
//! process appends to two partitions of tiny segments (so it rolls all the
//! time) and deletes what the tailer has read (retention), while a tailer
//! process opened with `Log::open_read_only` follows it. The owner is then
//! killed with SIGKILL. The tailer must have seen every record exactly once,
//! in order, each with the exact bytes written — a prefix of what the owner
//! stored — and the owner's recovery afterwards must be unaffected.
//! A second test runs the reader as a user who cannot write the directory,
//! proving that read-only access writes nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use larder::{AutoOffsetReset, ConsumerConfig, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};
use larder::{Error, TopicPartition};

const DIR: &str = "LARDER_RO_DIR";
/// Where the tailer writes how far it has read (`p0 p1`); the owner deletes
/// nothing at or above it.
const PROGRESS: &str = "LARDER_RO_PROGRESS";
/// Created by the test once the owner is dead: the tailer stops at the end.
const STOP: &str = "LARDER_RO_STOP";
const PARTITIONS: u32 = 2;

/// The value written at `offset` of `partition`: its length varies, so
/// frames straddle probe reads and segment ends in every way.
fn value(partition: u32, offset: u64) -> Vec<u8> {
    let len = 20 + (offset * 13 % 300) as usize;
    (0..len).map(|i| (offset as usize * 7 + i + partition as usize * 3) as u8).collect()
}

fn child(test: &str, envs: &[(&str, &Path)]) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args(["--exact", test, "--nocapture", "--include-ignored"]);
    for (name, value) in envs {
        command.env(name, value);
    }
    command
}

#[test]
fn a_tailer_process_sees_every_record_once_across_rolls_retention_and_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let progress = dir.path().join("progress");
    let stop = dir.path().join("stop");
    let config = TopicConfig::new(PARTITIONS).segment_bytes(8192);
    Log::open(&log, LogOptions::default()).unwrap().create_topic("t", config).unwrap();

    let envs = [(DIR, log.as_path()), (PROGRESS, progress.as_path()), (STOP, stop.as_path())];
    let mut owner = child("child_owner", &envs).stdout(Stdio::null()).spawn().unwrap();
    let tailer = child("child_tailer", &envs).stdout(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    owner.kill().unwrap(); // SIGKILL, mid-append
    owner.wait().unwrap();
    std::fs::write(&stop, b"").unwrap();
    let output = tailer.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the tailer failed:\n{report}");
    let seen: Vec<u64> = report
        .lines()
        .find_map(|l| l.strip_prefix("seen "))
        .expect("the tailer's report")
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();

    eprintln!("the tailer saw {seen:?} records");
    // The owner's recovery is unaffected, and what the tailer saw is a
    // prefix of what it kept.
    let recovered = Log::open(&log, LogOptions::default()).unwrap();
    let mut deleted = 0;
    for p in 0..PARTITIONS {
        let partition = recovered.partition("t", p).unwrap();
        assert!(seen[p as usize] > 100, "partition {p}: the tailer kept up ({} records)", seen[p as usize]);
        assert!(seen[p as usize] <= partition.end_offset(), "partition {p}: the tailer saw only what was stored");
        for offset in partition.log_start_offset()..seen[p as usize] {
            assert_eq!(partition.read(offset).unwrap().value(), Some(&value(p, offset)[..]));
        }
        deleted += partition.log_start_offset();
        assert!(partition.segment_count() > 1);
    }
    eprintln!("retention removed {deleted} records while the tailer read");
    assert!(deleted > 0, "retention removed records while the tailer read");
}

#[test]
#[ignore = "run by a_tailer_process_sees_every_record_once_across_rolls_retention_and_a_kill in a child process"]
fn child_owner() {
    let (Some(dir), Some(progress)) = (std::env::var_os(DIR), std::env::var_os(PROGRESS)) else { return };
    let log = Log::open(&dir, LogOptions::default()).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    let mut next = [0u64; PARTITIONS as usize];
    loop {
        for p in 0..PARTITIONS {
            for _ in 0..50 {
                let value = value(p, next[p as usize]);
                let sent = producer.send_direct(&ProducerRecord::new("t", &value).partition(p)).unwrap();
                assert_eq!(sent.offset, next[p as usize]);
                next[p as usize] += 1;
            }
        }
        // Retention, bounded by what the tailer has read.
        if let Some(read) = read_progress(Path::new(&progress)) {
            for p in 0..PARTITIONS {
                let before = read[p as usize].saturating_sub(100).min(next[p as usize]);
                log.delete_records("t", p, before).unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn read_progress(path: &Path) -> Option<Vec<u64>> {
    let text = std::fs::read_to_string(path).ok()?;
    text.split(' ').map(|n| n.trim().parse().ok()).collect()
}

#[test]
#[ignore = "run by a_tailer_process_sees_every_record_once_across_rolls_retention_and_a_kill in a child process"]
fn child_tailer() {
    let (Some(dir), Some(progress), Some(stop)) =
        (std::env::var_os(DIR), std::env::var_os(PROGRESS), std::env::var_os(STOP).map(PathBuf::from))
    else {
        return;
    };
    let log = Log::open_read_only(&dir).unwrap();
    let config = ConsumerConfig::default().auto_offset_reset(AutoOffsetReset::Earliest).max_poll_records(700);
    let mut consumer = log.consumer(config).unwrap();
    let partitions: Vec<_> = (0..PARTITIONS).map(|p| TopicPartition::new("t", p)).collect();
    consumer.assign(&partitions).unwrap();
    let mut next = vec![0u64; PARTITIONS as usize];
    let mut quiet_since: Option<Instant> = None;
    loop {
        let records = consumer.poll(Duration::from_millis(50)).unwrap();
        for record in records.iter() {
            let p = record.partition() as usize;
            assert_eq!(record.offset(), next[p], "partition {p}: every record once, in order");
            assert_eq!(record.value(), Some(&value(p as u32, record.offset())[..]), "partition {p}: exact bytes");
            next[p] += 1;
        }
        let text = next.iter().map(u64::to_string).collect::<Vec<_>>().join(" ");
        let staged = PathBuf::from(&progress).with_extension("new");
        std::fs::write(&staged, text).unwrap();
        std::fs::rename(&staged, &progress).unwrap();
        // Once the owner is dead, two quiet polls in a row mean the end.
        match (records.is_empty(), stop.exists()) {
            (true, true) if quiet_since.is_some_and(|t| t.elapsed() > Duration::from_millis(300)) => break,
            (true, true) => quiet_since = quiet_since.or(Some(Instant::now())),
            _ => quiet_since = None,
        }
    }
    println!("seen {}", next.iter().map(u64::to_string).collect::<Vec<_>>().join(" "));
}

/// Runs `command` as a user who cannot write `dir`: `nobody` through
/// `setpriv` when the test runs as root (root writes anywhere), else the
/// current user once the directory is made read-only. `None` if neither
/// can be arranged here.
fn unprivileged(mut command: Command, dir: &Path) -> Option<Command> {
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .is_some_and(|ids| ids.split_whitespace().nth(1) == Some("0"));
    if !root {
        set_mode_tree(dir, false);
        return Some(command);
    }
    Command::new("setpriv").arg("--version").output().ok()?;
    let program = command.get_program().to_owned();
    let mut wrapped = Command::new("setpriv");
    wrapped.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]).arg(program);
    wrapped.args(command.get_args());
    for (name, value) in command.get_envs() {
        if let Some(value) = value {
            wrapped.env(name, value);
        }
    }
    command = wrapped;
    Some(command)
}

/// Makes every directory under `dir` readable and searchable by anyone,
/// and writable by its owner only if `writable`.
fn set_mode_tree(dir: &Path, writable: bool) {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = if writable { 0o755 } else { 0o555 };
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            set_mode_tree(&entry.path(), writable);
        }
    }
}

/// Every file under `dir` with its length, modification time and content.
fn snapshot(dir: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        if meta.is_dir() {
            files.extend(snapshot(&entry.path()));
        } else {
            files.push((entry.path(), meta.len(), meta.modified().unwrap(), std::fs::read(entry.path()).unwrap()));
        }
    }
    files.sort();
    files
}

#[test]
fn a_reader_that_cannot_write_the_directory_reads_everything() {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("log");
    let owner = Log::open(&log_dir, LogOptions::default()).unwrap();
    owner.create_topic("t", TopicConfig::new(PARTITIONS).segment_bytes(4096)).unwrap();
    let producer = owner.producer(ProducerConfig::default()).unwrap();
    for offset in 0..300 {
        producer.send_direct(&ProducerRecord::new("t", &value(0, offset)).partition(0)).unwrap();
    }
    let mut committer = owner.consumer(ConsumerConfig::default().group_id("g").enable_auto_commit(false)).unwrap();
    committer.assign(&[TopicPartition::new("t", 0)]).unwrap();
    committer.seek(&TopicPartition::new("t", 0), 120).unwrap();
    committer.commit().unwrap();
    set_mode_tree(dir.path(), true);

    let before = snapshot(&log_dir);
    let reader = child("child_unprivileged_reader", &[(DIR, log_dir.as_path())]);
    let Some(mut reader) = unprivileged(reader, &log_dir) else {
        eprintln!("skipped: no way to run as a user who cannot write here (root without setpriv)");
        return;
    };
    let output = reader.output().unwrap();
    set_mode_tree(&log_dir, true);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the reader failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("reader ok"), "the reader ran its checks:\n{stdout}");
    assert_eq!(snapshot(&log_dir), before, "the reader changed nothing");
    drop(committer);
    drop(producer);
    owner.close().unwrap();
}

#[test]
#[ignore = "run by a_reader_that_cannot_write_the_directory_reads_everything in a child process"]
fn child_unprivileged_reader() {
    let Some(dir) = std::env::var_os(DIR).map(PathBuf::from) else { return };
    // The premise: this process cannot write there.
    let denied = std::fs::File::create(dir.join("probe")).unwrap_err();
    assert_eq!(denied.kind(), std::io::ErrorKind::PermissionDenied);

    let log = Log::open_read_only(&dir).unwrap();
    assert_eq!(log.list_topics(), ["t"]);
    let partition = log.partition("t", 0).unwrap();
    assert_eq!(partition.end_offset(), 300);
    assert!(partition.segment_count() > 1);
    for offset in 0..300 {
        assert_eq!(partition.read(offset).unwrap().value(), Some(&value(0, offset)[..]));
    }
    let group = log.describe_group("g").unwrap();
    assert_eq!((group.offsets[0].committed, group.offsets[0].lag), (120, 180));
    let config = ConsumerConfig::default().group_id("g").enable_auto_commit(false);
    let mut consumer = log.consumer(config).unwrap();
    consumer.subscribe(&["t"]).unwrap();
    let records = consumer.poll(Duration::from_secs(2)).unwrap();
    assert_eq!(records.iter().next().unwrap().offset(), 120, "resumes at the committed offset");
    assert!(matches!(consumer.commit(), Err(Error::ReadOnly { .. })));
    drop(consumer);
    log.close().unwrap();
    println!("reader ok");
}
