//! A mirror with a bad configuration refuses to start with a typed error
//! naming what is wrong — through the library and the `larder mirror`
//! command: no broker listening, a Kafka topic that does not exist,
//! partition counts that differ, a larder topic that does not exist,
//! settings the mirror's guarantees rest on. The unreachable broker needs
//! no broker and always runs; the rest are skipped, saying so, without
//! tansu.
#![cfg(all(feature = "kafka", feature = "cli"))]

mod kafka_util;

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use larder::mirror::{MirrorIn, MirrorInConfig, MirrorOut, MirrorOutConfig};
use larder::{Error, Log, LogOptions, TopicConfig};

use kafka_util::{create_kafka_topic, larder_binary, unique, Broker};

/// A loopback address nothing listens on.
fn dead_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    address
}

fn log_with(topic: &str, partitions: u32) -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic(topic, TopicConfig::new(partitions)).unwrap();
    (dir, log)
}

fn larder(dir: &std::path::Path, args: &[&str]) -> (i32, String) {
    let output = Command::new(larder_binary()).arg("--dir").arg(dir).args(args).output().unwrap();
    (output.status.code().unwrap(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn an_unreachable_broker_is_named_within_the_connect_timeout() {
    let brokers = dead_address();
    let (dir, log) = log_with("events", 1);
    let started = Instant::now();
    let config = MirrorOutConfig::new(brokers.clone()).topic("events").connect_timeout(Duration::from_secs(2));
    let error = MirrorOut::start(&log, config).unwrap_err();
    assert!(matches!(&error, Error::BrokerUnreachable { brokers: b, .. } if *b == brokers), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert!(error.to_string().contains(&brokers), "{error}");

    let config = MirrorInConfig::new(brokers.clone(), "g").topic("events").connect_timeout(Duration::from_secs(2));
    assert!(matches!(MirrorIn::start(&log, config), Err(Error::BrokerUnreachable { .. })));
    log.close().unwrap();

    let (code, stderr) =
        larder(dir.path(), &["mirror", "out", "--brokers", &brokers, "--topic", "events", "--connect-timeout", "2"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("Kafka broker unreachable") && stderr.contains(&brokers), "{stderr}");
}

#[test]
fn settings_and_names_are_checked_before_any_connection() {
    let (_dir, log) = log_with("events", 1);
    let brokers = dead_address();
    let cases: Vec<(MirrorOutConfig, &str)> = vec![
        (MirrorOutConfig::new(brokers.clone()), "topics"),
        (MirrorOutConfig::new("  ").topic("events"), "brokers"),
        (MirrorOutConfig::new(brokers.clone()).topic("events").set("acks", "1"), "settings"),
        (MirrorOutConfig::new(brokers.clone()).topic("events").set("enable.idempotence", "false"), "settings"),
        (MirrorOutConfig::new(brokers.clone()).topic("events").batch_records(0), "batch_records"),
        (MirrorOutConfig::new(brokers.clone()).topic("events").topic("events"), "topics"),
    ];
    for (config, field) in cases {
        match MirrorOut::start(&log, config) {
            Err(Error::InvalidArgument { name, .. }) => assert_eq!(name, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    let bad_name = MirrorOutConfig::new(brokers.clone()).topic_as("events", "../x");
    assert!(matches!(MirrorOut::start(&log, bad_name), Err(Error::InvalidName { .. })));
    let missing = MirrorOutConfig::new(brokers.clone()).topic("no-such-topic");
    assert!(matches!(MirrorOut::start(&log, missing), Err(Error::UnknownTopic { topic }) if topic == "no-such-topic"));
    let in_group = MirrorInConfig::new(brokers.clone(), "g").topic("events").set("enable.auto.commit", "true");
    assert!(matches!(MirrorIn::start(&log, in_group), Err(Error::InvalidArgument { name: "settings", .. })));
    // The mirror in's lag is made of the client's statistics.
    let no_stats = MirrorInConfig::new(brokers, "g").topic("events").set("statistics.interval.ms", "0");
    match MirrorIn::start(&log, no_stats) {
        Err(Error::InvalidArgument { name: "settings", reason }) => assert!(reason.contains("statistics"), "{reason}"),
        other => panic!("statistics.interval.ms: {other:?}"),
    }
    log.close().unwrap();
}

#[test]
fn a_missing_kafka_topic_and_a_partition_count_mismatch_are_named() {
    let Some(broker) = Broker::any("kafka_bad_config") else { return };
    let missing = unique("never-created");
    let three = unique("three-partitions");
    create_kafka_topic(&broker.brokers, &three, 3);
    let (dir, log) = log_with(&missing, 1);
    log.create_topic(&three, TopicConfig::new(2)).unwrap();

    let config = MirrorOutConfig::new(broker.brokers.clone()).topic(&missing);
    let error = MirrorOut::start(&log, config).unwrap_err();
    assert!(matches!(&error, Error::KafkaTopicMissing { topic, .. } if *topic == missing), "{error:?}");
    let config = MirrorInConfig::new(broker.brokers.clone(), "g").topic(&missing);
    assert!(matches!(MirrorIn::start(&log, config), Err(Error::KafkaTopicMissing { .. })));

    let config = MirrorOutConfig::new(broker.brokers.clone()).topic(&three);
    let error = MirrorOut::start(&log, config).unwrap_err();
    let expected = Error::PartitionCountMismatch {
        topic: three.clone(),
        partitions: 2,
        kafka_topic: three.clone(),
        kafka_partitions: 3,
    };
    assert_eq!(error.to_string(), expected.to_string());
    let config = MirrorInConfig::new(broker.brokers.clone(), "g").topic(&three);
    assert!(matches!(MirrorIn::start(&log, config), Err(Error::PartitionCountMismatch { partitions: 2, .. })));
    log.close().unwrap();

    let (code, stderr) = larder(dir.path(), &["mirror", "out", "--brokers", &broker.brokers, "--topic", &missing]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(&format!("Kafka topic {missing:?} does not exist")), "{stderr}");
    let (code, stderr) = larder(dir.path(), &["mirror", "out", "--brokers", &broker.brokers, "--topic", &three]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("has 2 partitions") && stderr.contains("has 3"), "{stderr}");
}
