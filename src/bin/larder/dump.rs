//! `larder dump`: placeholder replaced below.
use super::args::DumpArgs;
use super::failure::Failure;
pub(crate) fn run(_args: DumpArgs) -> Result<(), Failure> {
    Err(Failure::Other("not yet".into()))
}
