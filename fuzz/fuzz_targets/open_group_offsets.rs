//! A group's `groups/<group>.offsets` replaced by fuzzer bytes with every
//! commit frame's CRC fixed up: loading the group never panics and fails
//! only with `Corrupt`; otherwise a consumer starts each partition at the
//! committed offset (or the log start if it lies outside the log), reads
//! exactly what was written, and its new commit survives a reopen. Input
//! layout: `larder_fuzz::input`.
#![no_main]

use larder_fuzz::log_files::{run, LogFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| run(data, LogFile::GroupOffsets));
