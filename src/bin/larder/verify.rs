//! `larder verify`: an fsck for larder. Checks every file of a log and
//! prints each finding with its file and byte position; exits 1 if any is
//! a problem (notes — a torn unsynced tail, an unsealed index — are what a
//! crash or a live owner leaves, and the next open repairs them).

use std::io::Write as _;
use std::path::Path;

use larder::inspect::{verify_log, Severity};

use super::args::VerifyArgs;
use super::failure::Failure;

pub(crate) fn run(dir: &Path, args: VerifyArgs) -> Result<(), Failure> {
    let dir = args.path.as_deref().unwrap_or(dir);
    let findings = verify_log(dir)?;
    let mut out = std::io::stdout().lock();
    for finding in &findings {
        writeln!(out, "{finding}")?;
    }
    let problems = findings.iter().filter(|f| f.severity == Severity::Problem).count();
    let notes = findings.len() - problems;
    writeln!(out, "{}: {problems} problems, {notes} notes", dir.display())?;
    match problems {
        0 => Ok(()),
        n => Err(Failure::Other(format!("{} has {n} problems", dir.display()))),
    }
}
