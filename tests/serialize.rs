//! With the `serde` feature: stats, recovery reports, topic and group
//! descriptions and errors serialize (to JSON here), with the field names
//! of their Rust types, for a status endpoint or a command-line tool.
#![cfg(feature = "serde")]

use larder::{AutoOffsetReset, ConsumerConfig, Error, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

#[test]
fn reports_descriptions_stats_and_errors_serialize() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("events", TopicConfig::new(1).retention_ms(60_000)).unwrap();
    log.producer(ProducerConfig::default()).unwrap().send_direct(&ProducerRecord::new("events", b"v")).unwrap();
    let mut consumer =
        log.consumer(ConsumerConfig::default().group_id("g").auto_offset_reset(AutoOffsetReset::Earliest)).unwrap();
    consumer.subscribe(&["events"]).unwrap();
    while consumer.poll(std::time::Duration::from_secs(60)).unwrap().is_empty() {}
    consumer.commit().unwrap();

    let stats = serde_json::to_value(log.stats().unwrap()).unwrap();
    assert_eq!(stats["topics"][0]["name"], "events");
    assert_eq!(stats["topics"][0]["partitions"][0]["records_appended"], 1);
    assert_eq!(stats["groups"][0]["partitions"][0]["committed"], 1);

    let topic = serde_json::to_value(log.describe_topic("events").unwrap()).unwrap();
    assert_eq!(topic["partitions"][0]["end_offset"], 1);
    assert_eq!(topic["config"]["partitions"], 1);
    let group = serde_json::to_value(log.describe_group("g").unwrap()).unwrap();
    assert_eq!(group["offsets"][0]["partition"]["topic"], "events");

    let reports = log.recovery_reports();
    let report = serde_json::to_value(&reports[0].2).unwrap();
    assert_eq!(report["clean_shutdown"], false);

    let error = log.describe_topic("missing").unwrap_err();
    let json = serde_json::to_value(&error).unwrap();
    assert_eq!(json["kind"], "UnknownTopic");
    assert_eq!(json["message"], error.to_string());
    assert_eq!(Error::Wakeup.kind(), "Wakeup");
}
