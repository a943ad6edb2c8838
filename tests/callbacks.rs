//! Every delivery callback fires exactly once, with the record's metadata,
//! in send order per partition; errors reach callbacks too; a callback added
//! after completion runs at once.

use std::sync::{Arc, Mutex};

use larder::{Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

#[test]
fn callbacks_fire_once_in_order_per_partition() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(4)).unwrap();
    let producer = log.producer(ProducerConfig::default().queue_capacity(256)).unwrap();
    let fired: Arc<Mutex<Vec<(u32, u64, usize)>>> = Arc::default();
    let sends = 20_000;
    for n in 0..sends {
        let fired = Arc::clone(&fired);
        let record = ProducerRecord::new("t", b"v").partition((n % 4) as u32);
        producer
            .send_with_callback(&record, move |result| {
                let meta = result.unwrap();
                fired.lock().unwrap().push((meta.partition, meta.offset, n));
            })
            .unwrap();
    }
    producer.flush().unwrap();
    let fired = fired.lock().unwrap();
    assert_eq!(fired.len(), sends, "each callback exactly once");
    for partition in 0..4u32 {
        let order: Vec<(u64, usize)> = fired.iter().filter(|f| f.0 == partition).map(|f| (f.1, f.2)).collect();
        let expected: Vec<(u64, usize)> = (0..sends / 4).map(|i| (i as u64, i * 4 + partition as usize)).collect();
        assert_eq!(order, expected, "partition {partition}: offsets and send order");
    }
}

#[test]
fn errors_reach_callbacks_and_late_callbacks_run_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(1)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    let handle = producer.send(&ProducerRecord::new("t", b"v")).unwrap();
    let meta = handle.get().unwrap();
    let seen = Arc::new(Mutex::new(None));
    let slot = Arc::clone(&seen);
    handle.on_delivery(move |result| *slot.lock().unwrap() = Some(result.unwrap().offset));
    assert_eq!(*seen.lock().unwrap(), Some(meta.offset), "ran at once, in this thread");
    // A topic deleted while its sends are queued fails them, callbacks included.
    let (release, released) = crossbeam_channel::bounded::<()>(0);
    let (entered, in_callback) = crossbeam_channel::bounded::<()>(1);
    producer
        .send_with_callback(&ProducerRecord::new("t", b"hold"), move |_| {
            entered.send(()).unwrap();
            released.recv().unwrap();
        })
        .unwrap();
    in_callback.recv().unwrap();
    let errors = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&errors);
    let doomed = producer
        .send_with_callback(&ProducerRecord::new("t", b"doomed"), move |r| {
            sink.lock().unwrap().push(r.unwrap_err().to_string())
        })
        .unwrap();
    log.delete_topic("t").unwrap();
    release.send(()).unwrap();
    assert!(matches!(doomed.get(), Err(larder::Error::UnknownTopic { .. })));
    producer.flush().unwrap();
    assert_eq!(errors.lock().unwrap().as_slice(), ["unknown topic \"t\""]);
}
