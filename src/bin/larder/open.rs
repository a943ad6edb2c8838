//! Opening the log a command works on: as its owner, or — when another
//! process owns it — read-only, saying so on stderr. A command that only
//! reads always opens it read-only: as an owner it would run recovery
//! (cutting a torn tail a user came to look at) and the cleaner (deleting
//! a stopped application's expired segments), and it could not read a log
//! it may not write.

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
    if create == Create::No {
        check_exists(dir)?;
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

/// The log in `dir`, read-only, for a command that only reads: nothing
/// stored changes, whoever owns the log.
pub(crate) fn open_to_read(dir: &Path) -> Result<Log, Failure> {
    check_exists(dir)?;
    if owned_elsewhere(dir) {
        eprintln!("note: {} is open in another process: reading it read-only", dir.display());
    }
    Ok(Log::open_read_only(dir)?)
}

/// Whether another process holds the log's lock (docs/FORMAT.md: `LOCK`,
/// locked exclusively while a `Log` is open). Probed with a shared lock
/// taken and dropped at once; a file that cannot be opened says nothing.
fn owned_elsewhere(dir: &Path) -> bool {
    let Ok(file) = std::fs::File::open(dir.join("LOCK")) else { return false };
    let probe = fs2::FileExt::try_lock_shared(&file);
    let _ = fs2::FileExt::unlock(&file);
    probe.is_err()
}

/// Fails unless `dir` holds a log.
fn check_exists(dir: &Path) -> Result<(), Failure> {
    if dir.join("topics").is_dir() {
        return Ok(());
    }
    let hint = "create one with `larder topics create`, or pass --dir / LARDER_DIR";
    Err(Failure::Other(format!("{} holds no larder log ({hint})", dir.display())))
}

/// Closes `log`, reporting a failure to close.
pub(crate) fn close(log: Log) -> Result<(), Failure> {
    Ok(log.close()?)
}
