//! `larder`: the command line of a larder log (cargo feature `cli`), named
//! and behaving as Kafka's tools do — `kafka-topics`,
//! `kafka-console-producer`, `kafka-console-consumer`,
//! `kafka-consumer-groups`, `kafka-dump-log`, the perf tests — on a log
//! directory instead of a broker. It uses larder's public API only.
//!
//! A log another process owns is opened read-only (and the tool says so):
//! everything that reads works; what writes fails with a message naming
//! the operation. Exit codes: 0 success, 1 failure, 2 usage error.

mod args;
mod consume;
mod dump;
mod failure;
mod groups;
#[cfg(feature = "kafka")]
mod mirror;
mod open;
mod perf;
mod produce;
mod topics;
mod verify;

use std::process::ExitCode;

use clap::Parser as _;

use args::{Cli, Command};
use failure::Failure;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // Help and version go to stdout with 0; usage errors exit 2.
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() { 2 } else { 0 });
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let dir = cli.dir;
    match cli.command {
        Command::Topics { command } => topics::run(&dir, command),
        Command::Produce(args) => produce::run(&dir, args),
        Command::Consume(args) => consume::run(&dir, args),
        Command::Groups { command } => groups::run(&dir, command),
        Command::Dump(args) => dump::run(args),
        Command::Verify(args) => verify::run(&dir, args),
        Command::Perf { command } => perf::run(&dir, command),
        #[cfg(feature = "kafka")]
        Command::Mirror { command } => mirror::run(&dir, command),
    }
}
