//! Property: any sequence of appends, batches, rolls, syncs, truncations,
//! deletions of old records, clean reopens and crash-reopens leaves the
//! partition holding exactly what an in-memory model of the log holds.

mod common;

use std::collections::VecDeque;

use larder::partition::Partition;
use larder::record::NewRecord;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Append { len: usize, keyed: bool },
    Batch(Vec<usize>),
    Roll,
    Sync,
    Truncate { keep_per_mille: u64 },
    DeleteBefore { per_mille: u64 },
    Reopen,
    CrashAndReopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0usize..200, any::<bool>()).prop_map(|(len, keyed)| Op::Append { len, keyed }),
        3 => prop::collection::vec(0usize..120, 0..12).prop_map(Op::Batch),
        1 => Just(Op::Roll),
        1 => Just(Op::Sync),
        1 => (0u64..=1000).prop_map(|keep_per_mille| Op::Truncate { keep_per_mille }),
        1 => (0u64..=1000).prop_map(|per_mille| Op::DeleteBefore { per_mille }),
        1 => Just(Op::Reopen),
        1 => Just(Op::CrashAndReopen),
    ]
}

/// The model: the log start offset and the (key, value) of every offset from it.
struct Model {
    start: u64,
    records: VecDeque<(Option<Vec<u8>>, Vec<u8>)>,
}

impl Model {
    fn end(&self) -> u64 {
        self.start + self.records.len() as u64
    }

    fn next(&self, len: usize, keyed: bool) -> (Option<Vec<u8>>, Vec<u8>) {
        let end = self.end();
        let value = (0..len).map(|i| (end as usize * 7 + i) as u8).collect();
        (keyed.then(|| format!("k{end}").into_bytes()), value)
    }
}

fn apply(partition: Partition, model: &mut Model, op: &Op, dir: &std::path::Path) -> Partition {
    let options = || common::small(700).0.index_interval_bytes(64);
    match op {
        Op::Append { len, keyed } => {
            let (key, value) = model.next(*len, *keyed);
            let mut record = NewRecord::new(&value);
            record.key = key.as_deref();
            assert_eq!(partition.append(&record).unwrap().offset, model.end());
            model.records.push_back((key, value));
        }
        Op::Batch(lens) => {
            let mut batch = Vec::new();
            for &len in lens {
                let record = model.next(len, true);
                model.records.push_back(record);
            }
            let first = model.end() - lens.len() as u64;
            let owned: Vec<_> = model.records.iter().skip((first - model.start) as usize).collect();
            for (key, value) in &owned {
                batch.push(NewRecord { key: key.as_deref(), value: Some(value), ..NewRecord::default() });
            }
            assert_eq!(partition.append_batch(&batch).unwrap().offset, first);
        }
        Op::Roll => partition.roll().unwrap(),
        Op::Sync => assert_eq!(partition.sync().unwrap(), model.end()),
        Op::Truncate { keep_per_mille } => {
            let keep = model.records.len() as u64 * keep_per_mille / 1000;
            partition.truncate_to(model.start + keep).unwrap();
            model.records.truncate(keep as usize);
        }
        Op::DeleteBefore { per_mille } => {
            let drop = model.records.len() as u64 * per_mille / 1000;
            assert_eq!(partition.delete_before(model.start + drop).unwrap(), model.start + drop);
            model.records.drain(..drop as usize);
            model.start += drop;
        }
        Op::Reopen => {
            partition.close().unwrap();
            let reopened = Partition::open(dir, options()).unwrap();
            assert!(reopened.recovery_report().clean_shutdown);
            return reopened;
        }
        Op::CrashAndReopen => {
            partition.simulate_crash();
            let reopened = Partition::open(dir, options()).unwrap();
            assert_eq!(reopened.recovery_report().truncated_records, 0);
            return reopened;
        }
    }
    partition
}

fn assert_matches(partition: &Partition, model: &Model) {
    assert_eq!((partition.log_start_offset(), partition.end_offset()), (model.start, model.end()));
    let stored: Vec<_> = partition.iter_from(model.start).map(|r| r.unwrap()).collect();
    assert_eq!(stored.len(), model.records.len());
    for (n, (record, (key, value))) in stored.iter().zip(&model.records).enumerate() {
        assert_eq!(record.offset(), model.start + n as u64);
        assert_eq!(record.key(), key.as_deref());
        assert_eq!(record.value(), Some(&value[..]));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn partition_matches_model(ops in prop::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let (options, storage) = common::small(700);
        storage.skip_syncs(true);
        let mut partition = Partition::open(dir.path(), options.index_interval_bytes(64)).unwrap();
        let mut model = Model { start: 0, records: VecDeque::new() };
        for op in &ops {
            partition = apply(partition, &mut model, op, dir.path());
            prop_assert_eq!(partition.end_offset(), model.end());
        }
        assert_matches(&partition, &model);
        partition.close().unwrap();
        let partition = Partition::open(dir.path(), common::small(700).0).unwrap();
        assert_matches(&partition, &model);
    }
}
