//! A log directory is opened by one `Log` at a time: a second open from
//! this process or from another process fails with `Locked` naming the
//! directory, and succeeds once the first is closed.

use std::process::Command;

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
