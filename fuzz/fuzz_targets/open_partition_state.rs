//! `partition.state` replaced by fuzzer bytes with its CRC fixed up (any
//! clean flag, log start offset and recovery point): opening never panics
//! or fails, loses no record past the log start, and every read and time
//! lookup is exact. Input layout: `larder_fuzz::input`.
#![no_main]

use larder_fuzz::partition_files::{run, PartitionFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| run(data, PartitionFile::State));
