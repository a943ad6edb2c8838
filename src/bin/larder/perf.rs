//! `larder perf`: placeholder replaced below.
use super::args::PerfCommand;
use super::failure::Failure;
use std::path::Path;
pub(crate) fn run(_dir: &Path, _command: PerfCommand) -> Result<(), Failure> {
    Err(Failure::Other("not yet".into()))
}
