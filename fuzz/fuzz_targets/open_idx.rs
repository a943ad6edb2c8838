//! A segment's `.idx` replaced by fuzzer bytes, sealed or not, with
//! arbitrary entries and its header and entry CRCs fixed up: opening (with
//! and without repair) never panics or fails, loses no record, and every
//! read returns exactly what was written at its offset, or a typed
//! `Corrupt` error (a CRC-valid index may point anywhere). Input layout:
//! `larder_fuzz::input`.
#![no_main]

use larder_fuzz::partition_files::{run, PartitionFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| run(data, PartitionFile::Index));
