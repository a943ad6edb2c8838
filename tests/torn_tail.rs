//! Torn writes: garbage written from a random position to the end of the
//! unsynced tail (many seeds), and the tail cut, zeroed or garbled at every
//! byte position, always recover to exactly the valid prefix: no record
//! that fails its CRC is returned and no synced record is lost.

mod common;

use std::fs;
use std::path::Path;

use common::{append_values, check, segment_file, small, Rng};
use larder::partition::Partition;

/// Segment size: room for every record here, small enough that rewriting
/// the file for each of hundreds of damaged variants stays quick.
const SEGMENT_BYTES: u32 = 16 * 1024;

/// A partition whose one segment holds records `0..synced` synced and
/// `synced..total` unsynced, abandoned as by a crash. Returns the log's
/// bytes and the position where the unsynced tail starts and ends.
fn crashed(dir: &Path, synced: u64, total: u64) -> (Vec<u8>, usize, usize) {
    let (options, storage) = small(SEGMENT_BYTES);
    storage.skip_syncs(true);
    let partition = Partition::open(dir, options).unwrap();
    append_values(&partition, 0, synced);
    partition.sync().unwrap();
    let tail_start = 64 + (0..synced).map(|o| partition.read(o).unwrap().frame_len()).sum::<usize>();
    append_values(&partition, synced, total);
    let tail_end = tail_start + (synced..total).map(|o| partition.read(o).unwrap().frame_len()).sum::<usize>();
    partition.simulate_crash();
    (fs::read(segment_file(dir, 0, "log")).unwrap(), tail_start, tail_end)
}

/// Reopens and checks: every record returned is exactly what was appended
/// at its offset; at least `synced` records survive; offsets are dense.
fn reopen_and_check(dir: &Path, synced: u64, total: u64) -> u64 {
    let (options, storage) = small(SEGMENT_BYTES);
    storage.skip_syncs(true);
    let partition = Partition::open(dir, options).unwrap();
    let end = partition.end_offset();
    assert!((synced..=total).contains(&end), "end {end} outside {synced}..={total}");
    let offsets: Vec<u64> = partition.iter_from(0).map(|r| check(&r.unwrap())).collect();
    assert_eq!(offsets, (0..end).collect::<Vec<_>>());
    end
}

/// Records whose frames end at or before `position`.
fn records_before(dir_log: &[u8], position: usize) -> u64 {
    let (mut at, mut count) = (64, 0);
    while at + 8 <= dir_log.len() {
        let len = u32::from_le_bytes(dir_log[at..at + 4].try_into().unwrap()) as usize;
        if len == 0 || at + len > position {
            break;
        }
        at += len;
        count += 1;
    }
    count
}

#[test]
fn garbage_from_a_random_position_leaves_exactly_the_valid_prefix() {
    for seed in 0..200 {
        let dir = tempfile::tempdir().unwrap();
        let (log, tail_start, tail_end) = crashed(dir.path(), 10, 30);
        let mut rng = Rng::new(seed);
        let position = tail_start + rng.below((tail_end - tail_start) as u64) as usize;
        let mut damaged = log.clone();
        let garbage = rng.bytes(damaged.len() - position);
        damaged[position..].copy_from_slice(&garbage);
        fs::write(segment_file(dir.path(), 0, "log"), &damaged).unwrap();
        let end = reopen_and_check(dir.path(), 10, 30);
        assert_eq!(end, records_before(&log, position), "seed {seed}, garbage from {position}");
    }
}

#[test]
fn tail_cut_zeroed_or_garbled_at_every_byte_position() {
    let dir = tempfile::tempdir().unwrap();
    let (log, tail_start, tail_end) = crashed(dir.path(), 6, 14);
    let path = segment_file(dir.path(), 0, "log");
    let mut rng = Rng::new(7);
    for position in tail_start..=tail_end {
        let expected = records_before(&log, position);
        let cut = log[..position].to_vec();
        let mut zeroed = log.clone();
        zeroed[position..].fill(0);
        let mut garbled = log.clone();
        for byte in garbled.iter_mut().skip(position).take(rng.below(64) as usize + 1) {
            *byte ^= rng.next() as u8 | 1;
        }
        for (mode, bytes) in [("cut", cut), ("zeroed", zeroed), ("garbled", garbled)] {
            fs::write(&path, &bytes).unwrap();
            fs::remove_file(segment_file(dir.path(), 0, "idx")).ok();
            let end = reopen_and_check(dir.path(), 6, 14);
            assert_eq!(end, expected, "{mode} at {position}");
        }
    }
}

#[test]
fn torn_tail_is_reported_and_the_log_continues_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let (log, tail_start, _) = crashed(dir.path(), 5, 9);
    let mut damaged = log.clone();
    damaged[tail_start + 10] ^= 0xFF;
    fs::write(segment_file(dir.path(), 0, "log"), &damaged).unwrap();
    let (options, _) = small(SEGMENT_BYTES);
    let partition = Partition::open(dir.path(), options.clone()).unwrap();
    let report = partition.recovery_report().clone();
    assert_eq!(partition.end_offset(), 5);
    assert_eq!(report.truncated_records, 4);
    assert!(report.truncated_bytes > 0 && report.truncated_bytes <= (log.len() - tail_start) as u64);
    append_values(&partition, 5, 12);
    partition.simulate_crash();
    // The stale frames beyond the cut were zeroed, so none can come back.
    let partition = Partition::open(dir.path(), options).unwrap();
    common::assert_values(&partition, 0, 12);
}
