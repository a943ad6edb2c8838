//! Appends 2 M records of 100 B in batches of 1000 then reads them back
//! sequentially; a fixed workload to profile (`perf record`).
use larder::{NewRecord, Partition, PartitionOptions};
fn main() {
    let dir = tempfile::tempdir().unwrap();
    let partition = Partition::open(dir.path(), PartitionOptions::default()).unwrap();
    let value = [7u8; 100];
    let batch = vec![NewRecord::new(&value); 1000];
    let single = std::env::args().nth(1).as_deref() == Some("single");
    let start = std::time::Instant::now();
    for _ in 0..2000 {
        if single {
            for record in &batch {
                partition.append(record).unwrap();
            }
        } else {
            partition.append_batch(&batch).unwrap();
        }
    }
    println!("append: {:?}", start.elapsed());
    if std::env::args().nth(1).is_some() {
        return;
    }
    let start = std::time::Instant::now();
    for _ in 0..8 {
        let mut offset = 0;
        while offset < 2_000_000 {
            offset = partition.read_batch(offset, 500).unwrap().next_offset();
        }
    }
    println!("read_batch only 8x: {:?}", start.elapsed());
    let start = std::time::Instant::now();
    for _ in 0..8 {
        let (mut offset, mut n) = (0, 0);
        while offset < 2_000_000 {
            let batch = partition.read_batch(offset, 500).unwrap();
            n += batch.iter().filter(|r| r.value().is_some()).count();
            offset = batch.next_offset();
        }
        assert_eq!(n, 2_000_000);
    }
    println!("read 4x: {:?}", start.elapsed());
    let start = std::time::Instant::now();
    let n = partition.iter_from(0).filter(|r| r.as_ref().unwrap().value().is_some()).count();
    println!("read {n}: {:?}", start.elapsed());
}
