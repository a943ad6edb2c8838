//! Log compaction of one partition (Kafka's `cleanup.policy=compact`):
//! the sealed segments old enough to clean keep only the latest record of
//! each key; tombstones (records with a key and no value) go once they are
//! older than `delete_retention_ms`. Offsets never change: removed records
//! leave holes that reads step over.
//!
//! Memory is bounded: the key map holds a 128-bit hash of each key and the
//! offset of its latest record, and is filled segment by segment, oldest
//! first, only as far as `map_bytes` allows; a pass cleans up to the last
//! segment that fit, and the next pass goes on from there.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use crate::clock::horizon;
use crate::error::Result;
use crate::partition::{Damage, Partition};
use crate::segment::compacted::{self, Survivor, SwapError};
use crate::segment::Segment;

/// Bytes one key map entry is counted as (hash, offset, table overhead).
const MAP_ENTRY_BYTES: usize = 40;

/// What a compaction is told by the topic's configuration and the clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CompactionRules {
    pub(crate) now_ms: i64,
    /// Records younger than this are not compacted yet (Kafka's
    /// `min.compaction.lag.ms`): a segment is cleanable once its newest
    /// record is this old.
    pub(crate) min_compaction_lag_ms: u64,
    /// Tombstones older than this are removed.
    pub(crate) delete_retention_ms: u64,
    /// Compact only when this share of the cleanable bytes has never been
    /// compacted (Kafka's `min.cleanable.dirty.ratio`).
    pub(crate) min_dirty_ratio: f64,
    /// Memory the key map may use.
    pub(crate) map_bytes: usize,
}

/// What a compaction of one partition did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Compaction {
    pub(crate) segments_rewritten: u64,
    pub(crate) records_removed: u64,
}

/// The 128-bit hash compaction identifies a key by: two SipHash runs with
/// different prefixes (a collision, which would wrongly remove a record, is
/// as unlikely as in Kafka's MD5-based map).
pub(crate) fn key_hash(key: &[u8]) -> u128 {
    let half = |seed: u8| {
        let mut hasher = DefaultHasher::new();
        seed.hash(&mut hasher);
        key.hash(&mut hasher);
        hasher.finish()
    };
    (u128::from(half(1)) << 64) | u128::from(half(2))
}

impl Partition {
    /// Compacts the partition's cleanable sealed segments by `rules`, as
    /// Kafka's cleaner does: the key map is filled from the first dirty
    /// (never compacted) segment on, as far as it holds whole segments;
    /// then every segment from the log start to the last one mapped is
    /// rewritten without what the map supersedes. Dirty segments in that
    /// range are rewritten even if nothing goes (they are clean from then
    /// on, so the next pass maps further); clean ones only if something does.
    pub(crate) fn compact(&self, rules: &CompactionRules) -> Result<Compaction> {
        self.check_writable("compact")?;
        let _one_at_a_time = self.compaction.lock();
        let cleanable = self.cleanable_segments(rules);
        let total: u64 = cleanable.iter().map(|s| s.log_bytes()).sum();
        let dirty: u64 = cleanable.iter().filter(|s| !s.is_compacted()).map(|s| s.log_bytes()).sum();
        if total == 0 || dirty == 0 || (dirty as f64) < rules.min_dirty_ratio * total as f64 {
            return Ok(Compaction::default());
        }
        let first_dirty = cleanable.iter().position(|s| !s.is_compacted()).unwrap_or(cleanable.len());
        let (map, mapped) = latest_offsets(&cleanable[first_dirty..], rules.map_bytes)?;
        if mapped == 0 {
            // Not even one dirty segment fits: no pass would ever progress.
            let most = rules.map_bytes / MAP_ENTRY_BYTES;
            let segment = cleanable[first_dirty].base_offset();
            let reason = format!(
                "segment {segment} of {} holds more than {most} distinct keys, all the map has room for",
                self.dir.display()
            );
            return Err(crate::error::Error::invalid("cleaner_map_bytes", reason));
        }
        let tombstone_horizon = horizon(rules.now_ms, rules.delete_retention_ms);
        let mut done = Compaction::default();
        for segment in &cleanable[..first_dirty + mapped] {
            let removed = self.compact_segment(segment, &map, tombstone_horizon)?;
            if let Some(removed) = removed {
                done.segments_rewritten += 1;
                done.records_removed += removed;
            }
        }
        Ok(done)
    }

    /// The sealed segments from the log start on whose newest record is at
    /// least `min_compaction_lag_ms` old, oldest first.
    fn cleanable_segments(&self, rules: &CompactionRules) -> Vec<Arc<Segment>> {
        let horizon = horizon(rules.now_ms, rules.min_compaction_lag_ms);
        self.sealed_from_start()
            .into_iter()
            .take_while(|s| s.max_timestamp_ms().is_none_or(|ts| ts <= horizon))
            .collect()
    }

    /// Rewrites `segment` without the records `map` says are superseded
    /// and the tombstones older than `tombstone_horizon`, and swaps the
    /// result in. Returns how many records it removed, or `None` if it left
    /// the segment as it was (clean, and nothing to remove; or no longer
    /// part of the partition).
    fn compact_segment(
        &self,
        segment: &Arc<Segment>,
        map: &HashMap<u128, u64>,
        tombstone_horizon: i64,
    ) -> Result<Option<u64>> {
        let base = segment.base_offset();
        let end = segment.end_offset();
        let mut kept = Vec::new();
        let mut removed = 0;
        for_each_record(segment, |record, position| {
            let offset = record.offset();
            let key = record.key();
            let latest = key.is_none_or(|key| map.get(&key_hash(key)).is_none_or(|&latest| latest <= offset));
            let is_tombstone = key.is_some() && record.value().is_none();
            let expired = is_tombstone && record.timestamp_ms() < tombstone_horizon;
            if latest && !expired {
                kept.push((offset, record.timestamp_ms(), position, record.frame_len()));
            } else {
                removed += 1;
            }
        })?;
        if removed == 0 && segment.is_compacted() {
            return Ok(None);
        }
        let storage = &*self.options.storage;
        let interval = self.config.index_interval_bytes();
        let survivors = kept.into_iter().map(|(offset, timestamp_ms, position, len)| Survivor {
            offset,
            timestamp_ms,
            frame: segment.log().bytes(position, len),
        });
        compacted::write_cleaned(storage, &self.dir, base, end, survivors, interval, segment.max_timestamp_ms())?;
        self.install_compacted(segment).map(|installed| installed.then_some(removed))
    }

    /// Replaces compacted segment `holder` by its records below `offset`,
    /// as a compacted segment ending there (for a truncation, under the
    /// writer lock).
    pub(super) fn compacted_prefix(&self, holder: &Arc<Segment>, offset: u64) -> Result<Arc<Segment>> {
        let storage = &*self.options.storage;
        let base = holder.base_offset();
        let mut kept = Vec::new();
        for_each_record(holder, |record, position| {
            if record.offset() < offset {
                kept.push((record.offset(), record.timestamp_ms(), position, record.frame_len()));
            }
        })?;
        let survivors = kept.into_iter().map(|(offset, timestamp_ms, position, len)| Survivor {
            offset,
            timestamp_ms,
            frame: holder.log().bytes(position, len),
        });
        let interval = self.config.index_interval_bytes();
        compacted::write_cleaned(storage, &self.dir, base, offset, survivors, interval, holder.max_timestamp_ms())?;
        match compacted::swap_in(storage, &self.dir, base) {
            Ok(()) => {}
            Err(SwapError::Uncommitted(error) | SwapError::Committed(error)) => return Err(error),
        }
        Segment::open_compacted(&self.dir, base, offset)
    }

    /// Swaps the compacted files of `old` in, under the writer lock, if
    /// `old` is still part of the partition (a truncation or deletion may
    /// have taken it out meanwhile: then the compacted files are dropped).
    fn install_compacted(&self, old: &Arc<Segment>) -> Result<bool> {
        let storage = &*self.options.storage;
        let base = old.base_offset();
        let mut guard = self.writer.lock();
        let still_there = match self.writable(&mut guard) {
            Ok(_) => self.segments.read().iter().any(|s| Arc::ptr_eq(s, old)),
            Err(error) => {
                compacted::remove_cleaned(storage, &self.dir, base);
                return Err(error);
            }
        };
        if !still_there {
            compacted::remove_cleaned(storage, &self.dir, base);
            return Ok(false);
        }
        match compacted::swap_in(storage, &self.dir, base) {
            Ok(()) => {}
            Err(SwapError::Uncommitted(error)) => return self.check(Err(error), Damage::Operation),
            Err(SwapError::Committed(error)) => return self.check(Err(error), Damage::Files),
        }
        let opened = Segment::open_compacted(&self.dir, base, old.end_offset());
        let fresh = self.check(opened, Damage::Files)?;
        debug_assert_eq!(fresh.end_offset(), old.end_offset());
        let mut segments = self.segments.write();
        if let Some(slot) = segments.iter_mut().find(|s| Arc::ptr_eq(s, old)) {
            *slot = fresh;
        }
        // Records already read from it stay valid; iterators look the next
        // offset up again, in the new segment.
        old.retire();
        self.recount_sealed(&segments);
        drop(segments);
        self.debug_check_invariants(guard.as_ref());
        Ok(true)
    }
}

/// The latest offset of each key in `segments`, oldest first, while the
/// map holds at most `map_bytes` of entries. Returns the map and how many
/// segments it covers whole. A segment mapped only in part adds nothing
/// wrong: its entries name records that exist, newer than any they
/// supersede in the segments before it.
fn latest_offsets(segments: &[Arc<Segment>], map_bytes: usize) -> Result<(HashMap<u128, u64>, usize)> {
    let most_entries = map_bytes / MAP_ENTRY_BYTES;
    let mut map = HashMap::new();
    for (n, segment) in segments.iter().enumerate() {
        let mut full = false;
        for_each_record(segment, |record, _| {
            let Some(key) = record.key().filter(|_| !full) else { return };
            let hash = key_hash(key);
            if map.len() >= most_entries && !map.contains_key(&hash) {
                full = true;
                return;
            }
            map.insert(hash, record.offset());
        })?;
        if full {
            return Ok((map, n));
        }
    }
    Ok((map, segments.len()))
}

/// Calls `visit(record, position)` for every record of a sealed segment
/// (validated as any read is), with the position of its frame in the log.
fn for_each_record(segment: &Segment, mut visit: impl FnMut(&crate::record::RecordView<'_>, usize)) -> Result<()> {
    let mut at = segment.base_offset();
    while at < segment.end_offset() {
        let batch = segment.read_batch(at, 4096)?;
        for view in batch.iter() {
            visit(&view, segment.position(view.offset() - segment.base_offset()));
        }
        if batch.next_offset() <= at {
            break;
        }
        at = batch.next_offset();
    }
    Ok(())
}
