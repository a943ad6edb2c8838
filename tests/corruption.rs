//! A bad frame where a crash cannot explain it — below the sync point, or in
//! a segment followed by segments holding data — refuses to open with an
//! error naming the file and position; `repair(true)` cuts it instead and
//! says what was dropped. Unknown files never break opening.

mod common;

use std::fs;

use common::{append_values, assert_values, closed_partition, segment_file, small};
use larder::partition::Partition;
use larder::Error;

#[test]
fn bad_frame_below_the_sync_point_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (options, _) = small(1 << 20);
    let partition = Partition::open(dir.path(), options.clone()).unwrap();
    append_values(&partition, 0, 20);
    partition.sync().unwrap();
    let frame_7_at = 64 + (0..7).map(|o| partition.read(o).unwrap().frame_len()).sum::<usize>();
    append_values(&partition, 20, 25);
    partition.simulate_crash();
    let path = segment_file(dir.path(), 0, "log");
    let mut bytes = fs::read(&path).unwrap();
    bytes[frame_7_at + 20] ^= 0x01;
    fs::write(&path, &bytes).unwrap();
    let error = Partition::open(dir.path(), options.clone()).unwrap_err();
    match &error {
        Error::Corrupt { path: at, position, .. } => {
            assert_eq!(at, &path);
            assert_eq!(*position, frame_7_at as u64);
        }
        other => panic!("expected corruption, got {other}"),
    }
    assert!(error.to_string().contains("00000000000000000000.log"), "{error}");
    // Refusing changed nothing: the same error again.
    assert!(matches!(Partition::open(dir.path(), options.clone()), Err(Error::Corrupt { .. })));
    let repaired = Partition::open(dir.path(), options.repair(true)).unwrap();
    let report = repaired.recovery_report().clone();
    assert!(report.repaired.as_deref().unwrap().contains("cut at offset 7"), "{report:?}");
    assert_values(&repaired, 0, 7);
}

#[test]
fn bad_frame_in_an_older_segment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (options, bases) = closed_partition(dir.path(), 400, 60);
    let path = segment_file(dir.path(), bases[1], "log");
    let mut bytes = fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x80;
    fs::write(&path, &bytes).unwrap();
    let error = Partition::open(dir.path(), options.clone()).unwrap_err();
    assert!(matches!(&error, Error::Corrupt { path: p, .. } if p == &path), "{error}");
    let repaired = Partition::open(dir.path(), options.repair(true)).unwrap();
    let end = bases[2] - 1;
    assert_values(&repaired, 0, end);
    assert!(repaired.recovery_report().truncated_records >= 60 - end);
    append_values(&repaired, end, end + 5);
    assert_values(&repaired, 0, end + 5);
}

#[test]
fn a_missing_middle_segment_is_a_gap_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (options, bases) = closed_partition(dir.path(), 400, 60);
    fs::remove_file(segment_file(dir.path(), bases[1], "log")).unwrap();
    let error = Partition::open(dir.path(), options.clone()).unwrap_err();
    assert!(error.to_string().contains(&format!("previous one ends at {}", bases[1])), "{error}");
    let repaired = Partition::open(dir.path(), options.repair(true)).unwrap();
    assert_values(&repaired, 0, bases[1]);
}

#[test]
fn unknown_files_and_directories_do_not_break_opening() {
    let dir = tempfile::tempdir().unwrap();
    let (options, _) = closed_partition(dir.path(), 400, 30);
    fs::write(dir.path().join("notes.txt"), b"hello").unwrap();
    fs::write(dir.path().join("12.log"), b"not ours").unwrap();
    fs::write(dir.path().join("99999999999999999999.idx"), b"orphan index").unwrap();
    fs::create_dir(dir.path().join("subdir")).unwrap();
    let partition = Partition::open(dir.path(), options).unwrap();
    assert_values(&partition, 0, 30);
    assert!(dir.path().join("notes.txt").exists());
}

#[test]
fn a_directory_named_like_a_segment_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(segment_file(dir.path(), 0, "log")).unwrap();
    let error = Partition::open(dir.path(), small(400).0).unwrap_err();
    assert!(matches!(error, Error::Corrupt { .. }), "{error}");
}

#[test]
fn a_file_where_the_partition_directory_should_be_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("partition");
    fs::write(&path, b"x").unwrap();
    let error = Partition::open(&path, small(400).0).unwrap_err();
    assert!(matches!(error, Error::InvalidArgument { name: "dir", .. }), "{error}");
    assert_eq!(fs::read(&path).unwrap(), b"x");
}

#[test]
fn a_second_open_of_an_open_partition_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let partition = Partition::open(dir.path(), small(400).0).unwrap();
    append_values(&partition, 0, 3);
    let error = Partition::open(dir.path(), small(400).0).unwrap_err();
    assert!(matches!(&error, Error::Locked { path } if path == dir.path()), "{error}");
    assert_values(&partition, 0, 3);
    drop(partition);
    assert_values(&Partition::open(dir.path(), small(400).0).unwrap(), 0, 3);
}
