//! How the command line fails: a message naming what was wrong, on stderr,
//! exit code 2 for a usage error and 1 for any other failure. Never a
//! panic, never a backtrace.

use std::process::ExitCode;

/// Why a command failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The command line was wrong (exit code 2).
    Usage(String),
    /// What larder refused or could not do (exit code 1).
    Larder(larder::Error),
    /// Anything else that failed, described (exit code 1).
    Other(String),
    /// Output was cut by the reader (`larder consume ... | head`): not a
    /// failure, the command just stops.
    BrokenPipe,
}

impl Failure {
    /// A usage error: `what` names the argument, `reason` what is wrong.
    pub(crate) fn usage(what: &str, reason: impl std::fmt::Display) -> Failure {
        Failure::Usage(format!("{what}: {reason}"))
    }

    /// Prints the message; returns the exit code.
    pub(crate) fn report(self) -> ExitCode {
        match self {
            Failure::Usage(message) => {
                eprintln!("error: {message}\n\nFor more information, try '--help'.");
                ExitCode::from(2)
            }
            // A name that breaks Kafka's rule is what was typed: usage.
            Failure::Larder(error @ larder::Error::InvalidName { .. }) => {
                eprintln!("error: {error}");
                ExitCode::from(2)
            }
            Failure::Larder(error) => {
                eprintln!("error: {error}");
                ExitCode::from(1)
            }
            Failure::Other(message) => {
                eprintln!("error: {message}");
                ExitCode::from(1)
            }
            Failure::BrokenPipe => ExitCode::SUCCESS,
        }
    }
}

impl From<larder::Error> for Failure {
    fn from(error: larder::Error) -> Failure {
        Failure::Larder(error)
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Failure {
        match error.kind() {
            std::io::ErrorKind::BrokenPipe => Failure::BrokenPipe,
            _ => Failure::Other(format!("writing the output: {error}")),
        }
    }
}
