//! Helpers shared by the integration tests: deterministic record contents
//! and exact checks of what a partition returns.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use larder::partition::{Partition, PartitionOptions};
use larder::record::NewRecord;
use larder::storage::fault::FaultStorage;

/// The value stored at `offset` by [`append_values`]: its length varies so
/// frames are not all the same size.
pub fn value(offset: u64) -> Vec<u8> {
    let len = 5 + (offset * 7 % 23) as usize;
    (0..len).map(|i| (offset as usize * 31 + i) as u8).collect()
}

/// The key stored at `offset`.
pub fn key(offset: u64) -> Vec<u8> {
    format!("key-{offset}").into_bytes()
}

/// The timestamp stored at `offset`.
pub fn timestamp(offset: u64) -> i64 {
    1_700_000_000_000 + offset as i64 * 10
}

/// Appends records `from..to` one at a time, checking each offset.
pub fn append_values(partition: &Partition, from: u64, to: u64) {
    for offset in from..to {
        let (key, value) = (key(offset), value(offset));
        let record = NewRecord::new(&value).key(&key).timestamp(timestamp(offset));
        assert_eq!(partition.append(&record).unwrap().offset, offset);
    }
}

/// Asserts `partition` holds exactly the records `from..to` as appended.
pub fn assert_values(partition: &Partition, from: u64, to: u64) {
    assert_eq!(partition.log_start_offset(), from, "log start offset");
    assert_eq!(partition.end_offset(), to, "end offset");
    let offsets: Vec<u64> = partition.iter_from(from).map(|r| check(&r.unwrap())).collect();
    assert_eq!(offsets, (from..to).collect::<Vec<_>>());
}

/// Asserts `record` holds exactly what was appended at its offset.
pub fn check(record: &larder::record::Record) -> u64 {
    let offset = record.offset();
    assert_eq!(record.value(), Some(&value(offset)[..]), "value at {offset}");
    assert_eq!(record.key(), Some(&key(offset)[..]), "key at {offset}");
    assert_eq!(record.timestamp_ms(), timestamp(offset), "timestamp at {offset}");
    offset
}

/// Options with small segments and a fault layer the test can steer.
pub fn small(segment_bytes: u32) -> (PartitionOptions, Arc<FaultStorage>) {
    let storage = Arc::new(FaultStorage::new());
    (PartitionOptions::default().segment_bytes(segment_bytes).storage(storage.clone()), storage)
}

/// A closed partition in `dir` with `records` records in segments of
/// `segment_bytes`; returns its options and segment base offsets.
pub fn closed_partition(dir: &Path, segment_bytes: u32, records: u64) -> (PartitionOptions, Vec<u64>) {
    let (options, _) = small(segment_bytes);
    let partition = Partition::open(dir, options.clone()).unwrap();
    append_values(&partition, 0, records);
    let bases = partition.segment_base_offsets();
    partition.close().unwrap();
    (options, bases)
}

/// Path of a segment file of `dir`.
pub fn segment_file(dir: &Path, base: u64, extension: &str) -> PathBuf {
    dir.join(format!("{base:020}.{extension}"))
}

/// A small deterministic generator (xorshift64*), so failing seeds replay.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Sends `record` with a callback that holds the producer's appender
/// inside it until the returned sender sends (or is dropped): records sent
/// meanwhile stay queued. Returns once the callback is running.
pub fn hold_appender(
    producer: &larder::Producer,
    record: &larder::ProducerRecord<'_>,
) -> (larder::DeliveryHandle, crossbeam_channel::Sender<()>) {
    let (release, released) = crossbeam_channel::bounded::<()>(0);
    let (entered, in_callback) = crossbeam_channel::bounded::<()>(1);
    let held = producer
        .send_with_callback(record, move |_| {
            entered.send(()).unwrap();
            let _ = released.recv();
        })
        .unwrap();
    in_callback.recv().unwrap();
    (held, release)
}
