//! `larder perf produce` when its senders cannot send: a record larger
//! than the topic allows, or a size no buffer can hold, ends the run with
//! exit 1 (or 2 for the size) and a message, promptly — never a progress
//! line repeated forever, never a panic. Each case runs the built binary
//! under a deadline.
#![cfg(feature = "cli")]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `larder --dir DIR ARGS...`; `None` if it was still running after
/// `deadline` (it is killed then).
fn run_within(dir: &std::path::Path, args: &[&str], deadline: Duration) -> Option<(i32, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_larder"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    Some((output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stderr).into_owned()))
}

#[test]
fn perf_produce_whose_records_are_refused_fails_instead_of_reporting_forever() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["perf", "produce", "p", "--num-records", "3", "--record-size", "2000000", "--reporting-interval", "1"];
    let (code, stderr) = run_within(dir.path(), &args, Duration::from_secs(20)).expect("perf produce never ended");
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.starts_with("error: ") && !stderr.contains("panicked"), "{stderr}");
}

#[test]
fn perf_produce_with_an_impossible_record_size_is_a_usage_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["perf", "produce", "p", "--num-records", "1", "--record-size", "18446744073709551615"];
    let (code, stderr) = run_within(dir.path(), &args, Duration::from_secs(20)).expect("perf produce never ended");
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--record-size") && !stderr.contains("panicked"), "{stderr}");
}
