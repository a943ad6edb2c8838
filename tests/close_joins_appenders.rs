//! `Log::close` returns only once every thread the log started is gone,
//! even while a user thread closes a producer at the same moment: the
//! second closer used to return while the first was still joining the
//! appender.

use std::sync::Barrier;

use larder::{Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

/// Threads of this process named `larder-appender`.
fn appenders() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim() == "larder-appender")
        .count()
}

#[test]
fn no_appender_outlives_log_close_racing_a_producer_close() {
    for round in 0..200 {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), LogOptions::default()).unwrap();
        log.create_topic("t", TopicConfig::new(1)).unwrap();
        let producer = log.producer(ProducerConfig::default()).unwrap();
        for _ in 0..50 {
            producer.send(&ProducerRecord::new("t", b"queued")).unwrap();
        }
        let barrier = Barrier::new(2);
        std::thread::scope(|scope| {
            let (barrier, producer) = (&barrier, &producer);
            scope.spawn(move || {
                barrier.wait();
                producer.close();
            });
            barrier.wait();
            log.close().unwrap();
            assert_eq!(appenders(), 0, "round {round}: an appender outlived Log::close");
        });
    }
}
