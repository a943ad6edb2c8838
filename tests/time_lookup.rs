//! `offset_for_timestamp` returns the first offset whose timestamp is >= the
//! target, across segments and with out-of-order timestamps, before and
//! after reopen (from the persisted or the rebuilt time index).

mod common;

use common::small;
use larder::partition::Partition;
use larder::record::NewRecord;

fn brute_force(timestamps: &[i64], target: i64) -> Option<u64> {
    timestamps.iter().position(|&t| t >= target).map(|i| i as u64)
}

#[test]
fn lookup_matches_a_linear_search() {
    let dir = tempfile::tempdir().unwrap();
    let (options, _) = small(600);
    let options = options.index_interval_bytes(100);
    let mut rng = common::Rng::new(3);
    let timestamps: Vec<i64> = (0..300).map(|i| i * 10 + rng.below(40) as i64).collect();
    let partition = Partition::open(dir.path(), options.clone()).unwrap();
    for &ts in &timestamps {
        partition.append(&NewRecord::new(b"some value").timestamp(ts)).unwrap();
    }
    assert!(partition.segment_count() > 5);
    let check = |partition: &Partition| {
        for target in (-10..3100).step_by(7) {
            assert_eq!(partition.offset_for_timestamp(target).unwrap(), brute_force(&timestamps, target), "{target}");
        }
    };
    check(&partition);
    partition.close().unwrap();
    let partition = Partition::open(dir.path(), options.clone()).unwrap();
    check(&partition);
    partition.simulate_crash();
    let partition = Partition::open(dir.path(), options).unwrap();
    check(&partition);
}

#[test]
fn lookup_respects_the_log_start_offset() {
    let dir = tempfile::tempdir().unwrap();
    let partition = Partition::open(dir.path(), small(1 << 16).0).unwrap();
    for ts in [100, 200, 300, 400] {
        partition.append(&NewRecord::new(b"v").timestamp(ts)).unwrap();
    }
    partition.delete_before(2).unwrap();
    assert_eq!(partition.offset_for_timestamp(0).unwrap(), Some(2));
    assert_eq!(partition.offset_for_timestamp(350).unwrap(), Some(3));
    assert_eq!(partition.offset_for_timestamp(401).unwrap(), None);
}
