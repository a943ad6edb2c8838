//! `larder verify`: placeholder replaced below.
use super::args::VerifyArgs;
use super::failure::Failure;
pub(crate) fn run(_args: VerifyArgs) -> Result<(), Failure> {
    Err(Failure::Other("not yet".into()))
}
