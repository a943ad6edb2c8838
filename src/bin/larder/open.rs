//! Opening the log a command works on: as its owner, or — when another
//! process owns it — read-only, saying so on stderr.

use std::path::Path;

use larder::{Error, Log, LogOptions};

use super::failure::Failure;

/// Whether a command may create the log if there is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Create {
    Yes,
    No,
}

/// The log in `dir`: opened as its owner, or read-only if another process
/// owns it. A directory that holds no log is an error unless `create`.
pub(crate) fn open(dir: &Path, create: Create) -> Result<Log, Failure> {
    if create == Create::No && !dir.join("topics").is_dir() {
        let hint = "create one with `larder topics create`, or pass --dir / LARDER_DIR";
        return Err(Failure::Other(format!("{} holds no larder log ({hint})", dir.display())));
    }
    match Log::open(dir, LogOptions::default()) {
        Ok(log) => Ok(log),
        Err(Error::Locked { .. }) => {
            eprintln!("note: {} is open in another process: reading it read-only", dir.display());
            Ok(Log::open_read_only(dir)?)
        }
        Err(error) => Err(error.into()),
    }
}

/// Closes `log`, reporting a failure to close.
pub(crate) fn close(log: Log) -> Result<(), Failure> {
    Ok(log.close()?)
}
