//! A topic's `topic.meta` replaced by fuzzer bytes with its CRC fixed up:
//! opening the log never panics and fails only with a typed error; if it
//! opens, every partition holds exactly what was written whatever the
//! configuration now says, a consumer reads it all, and an append, close and
//! reopen keep it. Input layout: `larder_fuzz::input`.
#![no_main]

use larder_fuzz::log_files::{run, LogFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| run(data, LogFile::TopicMeta));
