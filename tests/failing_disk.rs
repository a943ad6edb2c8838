//! A failed sync poisons the partition: that sync and every later write
//! fail with a typed error, reads still work, and reopening recovers. A full
//! disk (failed allocation) fails the append with a typed error, damages
//! nothing, and appends succeed again once space is back.

mod common;

use common::{append_values, assert_values, small};
use larder::{Error, NewRecord, Partition};

#[test]
fn failed_sync_poisons_until_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (options, storage) = small(1 << 16);
    let partition = Partition::open(dir.path(), options.clone()).unwrap();
    append_values(&partition, 0, 10);
    storage.fail_syncs(true);
    let error = partition.sync().unwrap_err();
    assert!(
        matches!(&error, Error::Io { operation: "sync", source, .. } if source.raw_os_error() == Some(5)),
        "{error}"
    );
    assert!(partition.is_poisoned());
    storage.fail_syncs(false);
    for attempt in [partition.append(&NewRecord::new(b"x")).map(drop), partition.sync().map(drop)] {
        assert!(matches!(attempt, Err(Error::Poisoned { .. })), "{attempt:?}");
    }
    assert_eq!(
        partition.truncate_to(5).unwrap_err().to_string(),
        Error::Poisoned { path: dir.path().into() }.to_string()
    );
    assert_values(&partition, 0, 10);
    assert!(matches!(partition.close(), Err(Error::Poisoned { .. })));
    let partition = Partition::open(dir.path(), options).unwrap();
    assert!(!partition.recovery_report().clean_shutdown);
    assert_values(&partition, 0, 10);
    append_values(&partition, 10, 12);
    partition.sync().unwrap();
}

#[test]
fn failed_sync_during_roll_poisons() {
    let dir = tempfile::tempdir().unwrap();
    let (options, storage) = small(300);
    let partition = Partition::open(dir.path(), options).unwrap();
    append_values(&partition, 0, 3);
    storage.fail_syncs(true);
    let error = (3..50).find_map(|o| partition.append(&NewRecord::new(&common::value(o))).err()).unwrap();
    assert!(matches!(error, Error::Io { .. }), "{error}");
    assert!(partition.is_poisoned());
}

#[test]
fn full_disk_fails_appends_without_damage_and_recovers_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let (options, storage) = small(400);
    let partition = Partition::open(dir.path(), options.clone()).unwrap();
    append_values(&partition, 0, 5);
    storage.fail_allocations(true);
    let mut next = 5;
    let error = loop {
        match partition
            .append(&NewRecord::new(&common::value(next)).key(&common::key(next)).timestamp(common::timestamp(next)))
        {
            Ok(appended) => {
                assert_eq!(appended.offset, next);
                next += 1;
            }
            Err(error) => break error,
        }
    };
    assert!(
        matches!(&error, Error::Io { operation: "allocate", source, .. } if source.raw_os_error() == Some(28)),
        "{error}"
    );
    assert!(!partition.is_poisoned());
    assert_values(&partition, 0, next);
    storage.fail_allocations(false);
    append_values(&partition, next, next + 20);
    partition.close().unwrap();
    let partition = Partition::open(dir.path(), options).unwrap();
    assert_values(&partition, 0, next + 20);
}
