//! A segment's `.tix` replaced by fuzzer bytes with its CRC fixed up:
//! opening never panics or fails, loses no record, every read returns
//! exactly what was written, and `offset_for_timestamp` only ever returns
//! a stored offset whose record is at least that recent. Input layout:
//! `larder_fuzz::input`.
#![no_main]

use larder_fuzz::partition_files::{run, PartitionFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| run(data, PartitionFile::TimeIndex));
