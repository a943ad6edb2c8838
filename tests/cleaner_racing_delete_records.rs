//! A cleaner pass judges a partition's sealed segments from one look at
//! them; a `delete_records` landing while it judges must not shift what it
//! removes onto segments its policy keeps.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use larder::clock::Clock;
use larder::{Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

const T0: i64 = 1_700_000_000_000;

/// A clock that, once armed, parks its next reader until released.
#[derive(Debug)]
struct ParkingClock {
    now_ms: AtomicI64,
    armed: AtomicBool,
    parked: Mutex<Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>>,
}

impl Clock for ParkingClock {
    fn now_ms(&self) -> i64 {
        if self.armed.swap(false, Ordering::SeqCst) {
            let (tell, wait) = self.parked.lock().unwrap().take().unwrap();
            tell.send(()).unwrap();
            wait.recv().unwrap();
        }
        self.now_ms.load(Ordering::SeqCst)
    }
}

#[test]
fn delete_records_during_a_pass_does_not_make_it_remove_unexpired_segments() {
    let dir = tempfile::tempdir().unwrap();
    let bases_probe = {
        // Where segments of 1 KiB start for 100 records of 100 B.
        let probe = tempfile::tempdir().unwrap();
        let log = Log::open(probe.path(), LogOptions::default()).unwrap();
        log.create_topic("t", TopicConfig::new(1).segment_bytes(1024)).unwrap();
        fill(&log);
        let bases = log.partition("t", 0).unwrap().segment_base_offsets();
        log.close().unwrap();
        bases
    };
    let (parked_tx, parked_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let clock = Arc::new(ParkingClock {
        now_ms: AtomicI64::new(T0),
        armed: AtomicBool::new(false),
        parked: Mutex::new(Some((parked_tx, release_rx))),
    });
    let options = LogOptions::default().clock(clock.clone()).cleaner_interval(Duration::from_secs(3600));
    let log = Arc::new(Log::open(dir.path(), options).unwrap());
    log.create_topic("t", TopicConfig::new(1).segment_bytes(1024).retention_ms(60_000)).unwrap();
    fill(&log);
    let partition = log.partition("t", 0).unwrap();
    let bases = partition.segment_base_offsets();
    assert_eq!(bases, bases_probe);
    assert!(bases.len() > 4);
    assert_eq!(log.run_cleaner().unwrap().segments_deleted, 0);

    // Only the first segment is past retention now: its newest record is
    // stamped T0 + bases[1] - 1, the second's T0 + bases[2] - 1. A pass
    // that has looked at the segments parks on the clock while
    // delete_records removes the first two.
    clock.now_ms.store(T0 + 60_000 + bases[1] as i64, Ordering::SeqCst);
    clock.armed.store(true, Ordering::SeqCst);
    let pass = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || log.run_cleaner())
    };
    parked_rx.recv().unwrap();
    assert_eq!(log.delete_records("t", 0, bases[2]).unwrap(), bases[2]);
    release_tx.send(()).unwrap();
    pass.join().unwrap().unwrap();
    assert_eq!(partition.log_start_offset(), bases[2], "the pass removed a segment no policy allows it to remove");
    for offset in bases[2]..partition.end_offset() {
        assert_eq!(partition.read(offset).unwrap().offset(), offset);
    }
}

fn fill(log: &Log) {
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for n in 0..100 {
        let record = ProducerRecord::new("t", &[7u8; 100]).partition(0).timestamp(T0 + n);
        producer.send_direct(&record).unwrap();
    }
    producer.close();
}
