//! Model-based: a byte string drives appends, batches, reads, rolls,
//! truncations, deletions, syncs and crash-and-reopen cycles, and after
//! every step the partition must agree with an in-memory model.
#![no_main]

use std::collections::VecDeque;
use std::sync::Arc;

use larder::storage::fault::FaultStorage;
use larder::partition::{Partition, PartitionOptions};
use larder::record::NewRecord;
use libfuzzer_sys::fuzz_target;

fn options() -> PartitionOptions {
    let storage = Arc::new(FaultStorage::new());
    storage.skip_syncs(true);
    PartitionOptions::default().segment_bytes(512).index_interval_bytes(64).storage(storage)
}

fuzz_target!(|ops: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = Partition::open(dir.path(), options()).unwrap();
    let (mut start, mut model) = (0u64, VecDeque::<Vec<u8>>::new());
    for pair in ops.chunks(2).take(200) {
        let (op, arg) = (pair[0], *pair.get(1).unwrap_or(&0));
        let end = start + model.len() as u64;
        match op % 8 {
            0 | 1 => {
                let value = vec![arg; arg as usize % 97];
                assert_eq!(partition.append(&NewRecord::new(&value)).unwrap().offset, end);
                model.push_back(value);
            }
            2 => {
                let values: Vec<Vec<u8>> = (0..arg % 9).map(|i| vec![i; (arg as usize + i as usize) % 61]).collect();
                let batch: Vec<NewRecord<'_>> = values.iter().map(|v| NewRecord::new(v)).collect();
                assert_eq!(partition.append_batch(&batch).unwrap().offset, end);
                model.extend(values);
            }
            3 if !model.is_empty() => {
                let offset = start + arg as u64 % model.len() as u64;
                let record = partition.read(offset).unwrap();
                assert_eq!(record.value(), Some(&model[(offset - start) as usize][..]));
            }
            4 => partition.roll().unwrap(),
            5 => {
                let keep = arg as u64 % (model.len() as u64 + 1);
                partition.truncate_to(start + keep).unwrap();
                model.truncate(keep as usize);
            }
            6 => {
                let drop = arg as u64 % (model.len() as u64 + 1);
                partition.delete_before(start + drop).unwrap();
                model.drain(..drop as usize);
                start += drop;
            }
            _ => {
                if arg % 2 == 0 {
                    partition.simulate_crash();
                } else {
                    partition.close().unwrap();
                }
                partition = Partition::open(dir.path(), options()).unwrap();
            }
        }
        assert_eq!((partition.log_start_offset(), partition.end_offset()), (start, start + model.len() as u64));
    }
    let stored: Vec<Vec<u8>> = partition.iter_from(start).map(|r| r.unwrap().value().unwrap().to_vec()).collect();
    assert_eq!(stored, Vec::from(model));
});
