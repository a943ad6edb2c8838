//! Many threads produce to many partitions at once — queued and direct,
//! keyed and not — and afterwards every record is in the log exactly once,
//! at the offset its acknowledgement named, in send order per partition.

use std::collections::HashMap;

use larder::{Durability, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

const THREADS: u64 = 6;
const PER_THREAD: u64 = 3_000;

fn value(thread: u64, n: u64) -> Vec<u8> {
    format!("{thread}:{n}").into_bytes()
}

fn run(durability: Durability) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("events", TopicConfig::new(8).segment_bytes(64 << 10).durability(durability)).unwrap();
    let producer = log.producer(ProducerConfig::default().queue_capacity(1024)).unwrap();
    let acknowledged: Vec<Vec<(u32, u64, Vec<u8>)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|thread| {
                let producer = producer.clone();
                scope.spawn(move || {
                    let mut handles = Vec::new();
                    let mut acks = Vec::new();
                    for n in 0..PER_THREAD {
                        let value = value(thread, n);
                        let key = format!("key-{}", n % 13);
                        let mut record = ProducerRecord::new("events", &value);
                        if n % 3 == 0 {
                            record = record.key(key.as_bytes());
                        }
                        if thread % 2 == 0 {
                            handles.push((producer.send(&record).unwrap(), value));
                        } else {
                            let meta = producer.send_direct(&record).unwrap();
                            acks.push((meta.partition, meta.offset, value));
                        }
                    }
                    for (handle, value) in handles {
                        let meta = handle.get().unwrap();
                        assert_eq!(meta.durability, durability);
                        acks.push((meta.partition, meta.offset, value));
                    }
                    acks
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    producer.flush().unwrap();
    let mut expected: HashMap<(u32, u64), Vec<u8>> = HashMap::new();
    for (partition, offset, value) in acknowledged.into_iter().flatten() {
        assert!(
            expected.insert((partition, offset), value).is_none(),
            "offset {partition}/{offset} acknowledged twice"
        );
    }
    assert_eq!(expected.len() as u64, THREADS * PER_THREAD);
    let mut seen = 0;
    for partition in 0..8 {
        let log_partition = log.partition("events", partition).unwrap();
        let mut last_per_thread: HashMap<u64, u64> = HashMap::new();
        for record in log_partition.iter_from(0) {
            let record = record.unwrap();
            let value = record.value().unwrap().to_vec();
            assert_eq!(expected.get(&(partition, record.offset())), Some(&value), "{partition}/{}", record.offset());
            let text = String::from_utf8(value).unwrap();
            let (thread, n) = text.split_once(':').unwrap();
            let (thread, n): (u64, u64) = (thread.parse().unwrap(), n.parse().unwrap());
            if let Some(previous) = last_per_thread.insert(thread, n) {
                assert!(previous < n, "thread {thread}: {n} after {previous} in partition {partition}");
            }
            seen += 1;
        }
    }
    assert_eq!(seen, THREADS * PER_THREAD, "every record exactly once");
    drop(producer);
    log.close().unwrap();
    let reopened = Log::open(dir.path(), LogOptions::default()).unwrap();
    let total: u64 = reopened.describe_topic("events").unwrap().partitions.iter().map(|p| p.end_offset).sum();
    assert_eq!(total, THREADS * PER_THREAD);
    assert!(reopened.recovery_reports().iter().all(|(_, _, report)| report.clean_shutdown));
}

#[test]
fn buffered_topic() {
    run(Durability::Buffered);
}

#[test]
fn sync_topic() {
    run(Durability::Sync);
}

#[test]
fn interval_topic() {
    run(Durability::Interval(std::time::Duration::from_millis(5)));
}
