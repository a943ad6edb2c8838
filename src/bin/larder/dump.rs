//! `larder dump`: kafka-dump-log for every larder file — header, entries,
//! each frame's offset, timestamp, sizes and CRC verdict. Exits 1 if any
//! file has a problem.

use std::io::Write as _;

use larder::inspect::{dump_file, DumpOptions, Severity};

use super::args::DumpArgs;
use super::failure::Failure;

pub(crate) fn run(args: DumpArgs) -> Result<(), Failure> {
    let options = DumpOptions { print_data: args.print_data, index_sanity_check: args.index_sanity_check };
    let mut out = std::io::stdout().lock();
    let mut problems = 0;
    for path in &args.files {
        let dump = dump_file(path, options)?;
        writeln!(out, "Dumping {}", path.display())?;
        for line in &dump.lines {
            writeln!(out, "{line}")?;
        }
        for finding in &dump.findings {
            writeln!(out, "{finding}")?;
            problems += usize::from(finding.severity == Severity::Problem);
        }
    }
    match problems {
        0 => Ok(()),
        n => Err(Failure::Other(format!("{n} problems found"))),
    }
}
