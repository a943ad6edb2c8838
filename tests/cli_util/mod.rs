//! Shared by the tests of the `larder` command line: running the built
//! binary as a user does.
#![allow(dead_code)]

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs `larder --dir DIR ARGS...` with `input` on stdin. A command that
/// exits without reading its input (a usage error, say) is not a failure of
/// the test: the broken pipe is ignored and the exit status judged.
pub fn larder_bytes(dir: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_larder"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // A thread feeds stdin while the output is collected, so a large input
    // cannot deadlock against a full stdout pipe.
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || match stdin.write_all(&input) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        written => written.unwrap(),
    });
    let output = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    output
}

/// [`larder_bytes`] with text input.
pub fn larder(dir: &Path, args: &[&str], input: &str) -> Output {
    larder_bytes(dir, args, input.as_bytes())
}
