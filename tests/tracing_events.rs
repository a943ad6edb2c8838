//! With the `tracing` feature: recovery (a torn tail cut), a poisoned
//! partition, a completed rebalance and a cleaner run each emit an event
//! with target `larder`, at the documented level, with the topic (or
//! group) and partition as fields. A subscriber that records every event
//! on this thread checks them.
#![cfg(feature = "tracing")]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{append_values, small};
use larder::clock::ManualClock;
use larder::partition::Partition;
use larder::{AutoOffsetReset, ConsumerConfig, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// One event: its level, target and fields as `name=value` text.
#[derive(Debug, Clone)]
struct Seen {
    level: Level,
    target: String,
    fields: String,
}

#[derive(Default, Clone)]
struct Recorder(Arc<Mutex<Vec<Seen>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        let metadata = event.metadata();
        let seen = Seen { level: *metadata.level(), target: metadata.target().to_string(), fields: fields.0 };
        self.0.lock().unwrap().push(seen);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Recorder {
    /// The one event whose fields hold every one of `parts`.
    fn find(&self, parts: &[&str]) -> Seen {
        let events = self.0.lock().unwrap();
        let found: Vec<&Seen> = events.iter().filter(|e| parts.iter().all(|p| e.fields.contains(p))).collect();
        assert!(!found.is_empty(), "no event with {parts:?} in {events:#?}");
        found[0].clone()
    }
}

#[test]
fn recovery_and_poisoning_are_reported() {
    let recorder = Recorder::default();
    let dir = tempfile::tempdir().unwrap();
    tracing::subscriber::with_default(recorder.clone(), || {
        let (options, storage) = small(1 << 20);
        storage.skip_syncs(true);
        let partition = Partition::open(dir.path(), options.clone()).unwrap();
        append_values(&partition, 0, 3);
        partition.simulate_crash();
        // Garble the last record's bytes: a torn write.
        let log = common::segment_file(dir.path(), 0, "log");
        let mut bytes = std::fs::read(&log).unwrap();
        let end = bytes.iter().rposition(|&b| b != 0).unwrap();
        bytes[end - 3] ^= 0xff;
        std::fs::write(&log, bytes).unwrap();
        let partition = Partition::open(dir.path(), options).unwrap();
        assert!(partition.recovery_report().truncated_bytes > 0);
        let cut = recorder.find(&["recovery cut a torn tail"]);
        assert_eq!((cut.level, cut.target.as_str()), (Level::WARN, "larder"));
        assert!(cut.fields.contains("records=1"), "{cut:?}");

        storage.skip_syncs(false);
        storage.fail_syncs(true);
        append_values(&partition, 2, 3);
        assert!(partition.sync().is_err());
        assert!(partition.sync().is_err());
        let poisoned = recorder.find(&["partition poisoned"]);
        assert_eq!(poisoned.level, Level::ERROR);
        // Reported once, not at every refused write.
        assert_eq!(recorder.0.lock().unwrap().iter().filter(|e| e.fields.contains("poisoned")).count(), 1);
    });
}

#[test]
fn rebalances_and_cleaner_runs_are_reported_with_their_names() {
    let recorder = Recorder::default();
    let dir = tempfile::tempdir().unwrap();
    tracing::subscriber::with_default(recorder.clone(), || {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let log = Log::open(dir.path(), LogOptions::default().clock(clock.clone())).unwrap();
        log.create_topic("events", TopicConfig::new(1).segment_bytes(256).retention_ms(1_000)).unwrap();
        let producer = log.producer(ProducerConfig::default()).unwrap();
        for _ in 0..20 {
            producer.send_direct(&ProducerRecord::new("events", &[1; 40]).timestamp(1_000_000)).unwrap();
        }
        let config = ConsumerConfig::default().group_id("loader").auto_offset_reset(AutoOffsetReset::Earliest);
        let mut consumer = log.consumer(config).unwrap();
        consumer.subscribe(&["events"]).unwrap();
        assert!(!consumer.poll(Duration::from_secs(60)).unwrap().is_empty());
        let rebalance = recorder.find(&["rebalance completed", "group=\"loader\""]);
        assert_eq!(rebalance.level, Level::INFO);
        assert!(rebalance.fields.contains("generation=1"), "{rebalance:?}");

        clock.advance(10_000);
        let report = log.run_cleaner().unwrap();
        assert!(report.segments_deleted > 0);
        let cleaned = recorder.find(&["cleaner removed records", "topic=\"events\""]);
        assert_eq!(cleaned.level, Level::INFO);
        assert!(cleaned.fields.contains(&format!("segments_deleted={}", report.segments_deleted)), "{cleaned:?}");
    });
}
