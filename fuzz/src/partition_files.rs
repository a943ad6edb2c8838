//! The driver of the partition file targets (`.idx`, `.tix`,
//! `partition.state`): restore a scenario's partition, replace one file by
//! the fuzzer's bytes with their CRCs fixed up, open, and check; then
//! append, close, reopen and check again (recovery must be stable).
//!
//! The `.log` files are intact, so for the indexes open must succeed and no
//! record may be lost: they are rebuilt when they cannot be trusted. The
//! state file is authoritative for the log start (records below it are
//! gone) and vouches for synced records: one that contradicts the segments
//! is refused by name, otherwise open succeeds with every record from the
//! start on.

use std::fs;
use std::path::Path;

use larder::Error;
use larder::partition::Partition;

use crate::check::{assert_typed_open_error, check_partition, Expected};
use crate::fixup;
use crate::input::{Input, ABSENT, REPAIR};
use crate::records::Written;
use crate::scenario::{self, BuiltPartition};
use crate::snapshot::segment_file;

/// Generation of the record appended after recovery.
const AFTER_RECOVERY: u8 = 9;

/// The file a target replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionFile {
    /// A segment's dense offset index, sealed or not.
    Index,
    /// A segment's sparse time index.
    TimeIndex,
    /// `partition.state`.
    State,
}

impl PartitionFile {
    /// The file's name in the partition directory, for the segment `pick`
    /// selects; and the bytes after the fix-up.
    pub fn damage(self, built: &BuiltPartition, input: &Input<'_>) -> (String, Vec<u8>) {
        let bases = built.snapshot.segment_bases("");
        let base = bases[input.pick as usize % bases.len()];
        let mut bytes = input.file.to_vec();
        let name = match self {
            PartitionFile::Index => {
                let log_len = built.snapshot.file(segment_file(base, "log")).map_or(0, <[u8]>::len);
                fixup::index_file(&mut bytes, log_len as u64, input.fixup);
                segment_file(base, "idx")
            }
            PartitionFile::TimeIndex => {
                fixup::time_index_file(&mut bytes, input.fixup);
                segment_file(base, "tix")
            }
            PartitionFile::State => {
                fixup::metadata_file(&mut bytes, input.fixup);
                "partition.state".to_string()
            }
        };
        (name, bytes)
    }

    /// What a partition with this file damaged must still show.
    fn expected<'a>(self, built: &BuiltPartition, records: &'a [Written]) -> Expected<'a> {
        let history = &built.history;
        Expected {
            records,
            log_start_offset: (self != PartitionFile::State).then_some(history.log_start_offset),
            end_offset: Some(history.end_offset()),
            reads_may_fail: self == PartitionFile::Index,
            exact_time_lookup: self != PartitionFile::TimeIndex,
        }
    }
}

/// Runs one fuzz input against `file`.
pub fn run(data: &[u8], file: PartitionFile) {
    let Some(input) = Input::parse(data) else { return };
    let built = &scenario::partitions()[input.scenario as usize % scenario::partitions().len()];
    let dir = scenario::scratch_dir();
    built.snapshot.restore(dir.path());
    let (name, bytes) = file.damage(built, &input);
    replace(&dir.path().join(name), &bytes, input.has(ABSENT));
    let options = scenario::partition_options(built.segment_bytes).repair(input.has(REPAIR));
    let partition = match Partition::open(dir.path(), options) {
        Ok(partition) => partition,
        // A state file that contradicts the segments (records it vouches
        // for are missing, or a start past anything stored) is refused by
        // name rather than acted on.
        Err(Error::Corrupt { path, .. }) if file == PartitionFile::State && path.ends_with("partition.state") => return,
        Err(error) => {
            assert_typed_open_error(&error);
            panic!("a damaged {file:?} must not stop open (the logs are intact): {error}");
        }
    };
    if file == PartitionFile::State && partition.recovery_report().restarted_from.is_some() {
        // The state put the start past the records, within what the last
        // segment could hold (as a power cut after a deletion can): the
        // log restarts empty there; the start is the state's to move.
        assert_eq!(partition.log_start_offset(), partition.end_offset());
        return;
    }
    let expected = file.expected(built, &built.history.records);
    check_partition(&partition, &expected);
    append_close_reopen(partition, dir.path(), built, &expected);
}

/// Writes `bytes` to `path`, or removes it when `absent`.
pub fn replace(path: &Path, bytes: &[u8], absent: bool) {
    if absent {
        let _ = fs::remove_file(path);
    } else {
        fs::write(path, bytes).unwrap();
    }
}

/// Appends a record, reads it back, closes, reopens without repair and
/// checks everything again: what one open accepted, the next must too.
fn append_close_reopen(partition: Partition, dir: &Path, built: &BuiltPartition, expected: &Expected<'_>) {
    let (start, end) = (partition.log_start_offset(), partition.end_offset());
    let mut records = expected.records[..end as usize].to_vec();
    let written = Written::for_offset(end, AFTER_RECOVERY);
    assert_eq!(written.append_to(&partition).unwrap().offset, end);
    written.assert_returned(end, &partition.read(end).unwrap().view().into());
    records.push(written);
    partition.close().unwrap();
    let options = scenario::partition_options(built.segment_bytes);
    let reopened = Partition::open(dir, options).unwrap_or_else(|e| panic!("reopen after a clean close: {e}"));
    let again = Expected { records: &records, log_start_offset: Some(start), end_offset: Some(end + 1), ..*expected };
    check_partition(&reopened, &again);
}
