//! Shared machinery of larder's structure-aware fuzz targets.
//!
//! Each file target starts from a realistic directory written with larder's
//! public API ([`scenario`]), replaces one file by fuzzer-chosen bytes
//! ([`input`]) whose CRC fields are recomputed from the byte maps of
//! docs/FORMAT.md ([`fixup`]) so larder's semantic checks run, not just its
//! checksums, then opens the directory and checks everything it returns
//! against what was written ([`check`], [`records`]).
//!
//! Seeds: `cargo run --example make_seeds` rewrites `seeds/` from these
//! scenarios.

pub mod check;
pub mod fixup;
pub mod input;
pub mod log_files;
pub mod partition_files;
pub mod records;
pub mod scenario;
pub mod snapshot;
