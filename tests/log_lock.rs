//! A log directory is opened by one `Log` at a time: a second open from
//! this process or from another process fails with `Locked` naming the
//! directory, and succeeds once the first is closed; an opener waits up to
//! its `lock_timeout` for a holder to let go (a process killed a moment ago).

use std::process::Command;
use std::time::Duration;

use larder::partition::{Partition, PartitionOptions};
use larder::{Error, Log, LogOptions};

const CHILD_DIR: &str = "LARDER_LOCK_TEST_DIR";

#[test]
fn second_open_in_this_process_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let error = Log::open(dir.path(), LogOptions::default()).unwrap_err();
    assert!(matches!(&error, Error::Locked { path } if path == dir.path()), "{error}");
    log.close().unwrap();
    Log::open(dir.path(), LogOptions::default()).unwrap();
}

#[test]
fn open_from_another_process_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_tries_to_open", "--nocapture", "--include-ignored"])
        .env(CHILD_DIR, dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("child saw: locked"), "{stdout}");
    drop(log);
}

/// Runs only as the child of `open_from_another_process_is_locked`.
#[test]
#[ignore = "run by open_from_another_process_is_locked in a child process"]
fn child_tries_to_open() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else { return };
    match Log::open(&dir, LogOptions::default()) {
        Err(Error::Locked { path }) if path == std::path::Path::new(&dir) => println!("child saw: locked"),
        other => panic!("expected Locked, got {other:?}"),
    }
}

#[test]
fn a_zero_lock_timeout_tries_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let error = Log::open(dir.path(), LogOptions::default().lock_timeout(Duration::ZERO)).unwrap_err();
    assert!(matches!(&error, Error::Locked { path } if path == dir.path()), "{error}");
    log.close().unwrap();
}

#[test]
fn an_opener_waits_for_a_lock_released_within_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    // Whether the closing thread runs before or during the wait, the open
    // succeeds: the timeout is far longer than any schedule of two threads.
    let (started, wait_started) = std::sync::mpsc::channel();
    let closer = std::thread::spawn(move || {
        wait_started.recv().unwrap();
        log.close().unwrap();
    });
    started.send(()).unwrap();
    let reopened = Log::open(dir.path(), LogOptions::default().lock_timeout(Duration::from_secs(600))).unwrap();
    closer.join().unwrap();
    reopened.close().unwrap();
}

#[test]
fn a_partition_opener_waits_for_its_lock_too() {
    let dir = tempfile::tempdir().unwrap();
    let partition = Partition::open(dir.path(), PartitionOptions::default()).unwrap();
    let error = Partition::open(dir.path(), PartitionOptions::default().lock_timeout(Duration::ZERO)).unwrap_err();
    assert!(matches!(&error, Error::Locked { .. }), "{error}");
    let closer = std::thread::spawn(move || partition.close().unwrap());
    let options = PartitionOptions::default().lock_timeout(Duration::from_secs(600));
    Partition::open(dir.path(), options).unwrap().close().unwrap();
    closer.join().unwrap();
}

const HOLDER_DIR: &str = "LARDER_LOCK_HOLDER_DIR";

#[test]
fn a_restart_right_after_kill_9_opens() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_holds_the_log", "--nocapture", "--include-ignored"])
        .env(HOLDER_DIR, dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(lines.any(|line| line.unwrap().contains("holder: open")));
    child.kill().unwrap(); // SIGKILL
                           // No retry loop: the lock wait covers the kernel's teardown of the child.
    let log = Log::open(dir.path(), LogOptions::default().lock_timeout(Duration::from_secs(600))).unwrap();
    child.wait().unwrap();
    log.close().unwrap();
}

/// Runs only as the child of `a_restart_right_after_kill_9_opens`: opens
/// the log and holds it until killed.
#[test]
#[ignore = "run by a_restart_right_after_kill_9_opens in a child process"]
fn child_holds_the_log() {
    let Some(dir) = std::env::var_os(HOLDER_DIR) else { return };
    let _log = Log::open(&dir, LogOptions::default()).unwrap();
    println!("holder: open");
    loop {
        std::thread::park();
    }
}
