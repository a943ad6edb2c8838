//! Shared by the Kafka mirror tests: a tansu broker (a Kafka-protocol
//! broker) on loopback, Kafka topics, a Kafka producer and a reader.
//!
//! The broker is the `tansu` binary named by `LARDER_TANSU`, or found on
//! the `PATH`; with neither, each test prints why it is skipped and
//! passes — unless `LARDER_REQUIRE_KAFKA` is set (CI sets it), then it
//! fails. `LARDER_KAFKA_BROKERS` names a broker already running (CI starts
//! one) for the tests that need not stop it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::{Headers as _, Message as _};
use rdkafka::{Offset, TopicPartitionList};

pub const INSTALL: &str =
    "cargo install tansu --version 0.6.0 --locked --debug --no-default-features --features libsql";

/// The tansu binary, if installed.
pub fn tansu() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("LARDER_TANSU") {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("tansu")).find(|p| p.is_file())
}

/// Prints why the test is skipped (or fails when CI requires the broker).
fn skip(test: &str) {
    let message = format!(
        "SKIPPED {test}: tansu (a Kafka-protocol broker) is not installed; install it with `{INSTALL}` \
         or point LARDER_TANSU at its binary"
    );
    assert!(std::env::var_os("LARDER_REQUIRE_KAFKA").is_none(), "{message}");
    eprintln!("{message}");
    println!("{message}");
}

/// A tansu broker on loopback: one this test started (and may stop and
/// restart), or the one `LARDER_KAFKA_BROKERS` names.
pub struct Broker {
    pub brokers: String,
    port: u16,
    binary: Option<PathBuf>,
    dir: Option<tempfile::TempDir>,
    child: Option<Child>,
}

impl Broker {
    /// The shared broker if one is named, else one of this test's own;
    /// `None` (after saying why) when tansu is not installed.
    pub fn any(test: &str) -> Option<Broker> {
        if let Ok(brokers) = std::env::var("LARDER_KAFKA_BROKERS") {
            return Some(Broker { brokers, port: 0, binary: None, dir: None, child: None });
        }
        Broker::own(test)
    }

    /// A broker of this test's own when tansu is installed, else the
    /// shared one: for records with headers, which tansu 0.6 reads back
    /// with one query per record that scans every header the broker holds
    /// (5 000 headers on a broker made a later read of 100 000 records
    /// without any take 47 s instead of 5).
    pub fn own_or_any(test: &str) -> Option<Broker> {
        if tansu().is_some() {
            return Broker::own(test);
        }
        Broker::any(test)
    }

    /// A broker of this test's own, with its own SQLite database.
    pub fn own(test: &str) -> Option<Broker> {
        let Some(binary) = tansu() else {
            skip(test);
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let mut broker =
            Broker { brokers: format!("127.0.0.1:{port}"), port, binary: Some(binary), dir: Some(dir), child: None };
        broker.start();
        Some(broker)
    }

    fn start(&mut self) {
        let (binary, dir) = (self.binary.as_ref().unwrap(), self.dir.as_ref().unwrap().path());
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("tansu.out")).unwrap();
        let child = Command::new(binary)
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            // tansu reads the database's path relative to its working
            // directory, even one written as an absolute path.
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(dir)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(60));
    }

    /// Waits until the broker answers a metadata request.
    pub fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let addr = self.brokers.split(',').next().unwrap().to_string();
        while TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "the broker at {addr} did not start: {}", self.output());
            std::thread::sleep(Duration::from_millis(50));
        }
        let client: BaseConsumer = client_config(&self.brokers).create().unwrap();
        while client.fetch_metadata(None, Duration::from_secs(2)).is_err() {
            assert!(Instant::now() < deadline, "the broker at {addr} does not answer: {}", self.output());
        }
    }

    /// Whether this test owns the broker process (and can stop it).
    pub fn is_own(&self) -> bool {
        self.binary.is_some()
    }

    /// Kills the broker (SIGKILL: the harshest stop).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the stopped broker again, same port, same database.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart a stopped broker");
        self.start();
    }

    /// What the broker printed (for failure messages).
    pub fn output(&self) -> String {
        self.dir.as_ref().and_then(|d| std::fs::read_to_string(d.path().join("tansu.out")).ok()).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn client_config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    config
}

/// A topic name no other test (nor an earlier run on the shared broker)
/// used: topics are never deleted (tansu's SQLite backend deletes every
/// topic with one).
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}-{}-{}-{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Creates a Kafka topic and waits until its metadata shows it.
pub fn create_kafka_topic(brokers: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = client_config(brokers).create().unwrap();
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let results = futures::executor::block_on(admin.create_topics([&new], &AdminOptions::new())).unwrap();
    for result in results {
        result.unwrap();
    }
    let client: BaseConsumer = client_config(brokers).create().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metadata = client.fetch_metadata(None, Duration::from_secs(5)).unwrap();
        let found = metadata.topics().iter().find(|t| t.name() == topic);
        if found.is_some_and(|t| t.partitions().len() == partitions as usize) {
            return;
        }
        assert!(Instant::now() < deadline, "topic {topic} never showed in the metadata");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Prints what the Kafka client logs (warnings and errors; everything
/// `LARDER_KAFKA_DEBUG`, librdkafka's `debug` setting, asks for).
pub struct Printing;

impl rdkafka::client::ClientContext for Printing {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        eprintln!("kafka client {level:?} {facility}: {message}");
    }
}

impl rdkafka::consumer::ConsumerContext for Printing {}

/// A record as read from Kafka or larder, for comparing the two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub partition: u32,
    pub offset: u64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub timestamp_ms: i64,
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Reads every partition of a Kafka topic from its start to its high
/// watermark as of the call (failing after `timeout`): records per
/// partition, in order.
pub fn read_kafka(brokers: &str, topic: &str, partitions: u32, timeout: Duration) -> Vec<Vec<Seen>> {
    let mut config = client_config(brokers);
    config.set("group.id", unique("reader")).set("enable.auto.commit", "false");
    // tansu 0.6 fills a fetch from each partition up to the request's whole
    // limit and starves the rest: keep the limit small.
    config.set("fetch.max.bytes", "1048576").set("fetch.wait.max.ms", "50");
    if let Ok(debug) = std::env::var("LARDER_KAFKA_DEBUG") {
        config.set("debug", debug);
    }
    let consumer: BaseConsumer<Printing> = config.create_with_context(Printing).unwrap();
    let mut list = TopicPartitionList::new();
    let mut left = Vec::new();
    for p in 0..partitions {
        list.add_partition_offset(topic, p as i32, Offset::Beginning).unwrap();
        let (low, high) = consumer.fetch_watermarks(topic, p as i32, Duration::from_secs(10)).unwrap();
        assert_eq!(low, 0, "partition {p} of {topic} starts at {low}");
        left.push(high);
    }
    consumer.assign(&list).unwrap();
    let mut out = vec![Vec::new(); partitions as usize];
    let deadline = Instant::now() + timeout;
    while left.iter().any(|l| *l > 0) {
        assert!(Instant::now() < deadline, "{topic}: records still to read per partition: {left:?}");
        let Some(message) = consumer.poll(Duration::from_millis(200)) else { continue };
        let message = message.unwrap();
        let headers = message
            .headers()
            .map(|h| h.iter().map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec())).collect())
            .unwrap_or_default();
        left[message.partition() as usize] -= 1;
        out[message.partition() as usize].push(Seen {
            partition: message.partition() as u32,
            offset: message.offset() as u64,
            key: message.key().map(<[u8]>::to_vec),
            value: message.payload().map(<[u8]>::to_vec),
            timestamp_ms: message.timestamp().to_millis().unwrap(),
            headers,
        });
    }
    out
}

/// Every record of a larder topic, per partition, in order.
pub fn read_larder(log: &larder::Log, topic: &str) -> Vec<Vec<Seen>> {
    let partitions = log.describe_topic(topic).unwrap().partitions.len() as u32;
    (0..partitions)
        .map(|p| {
            let partition = log.partition(topic, p).unwrap();
            let end = partition.refresh().unwrap();
            let mut records = Vec::new();
            let mut offset = partition.log_start_offset();
            while offset < end {
                let batch = partition.read_batch(offset, 10_000).unwrap();
                for record in batch.records() {
                    records.push(Seen {
                        partition: p,
                        offset: record.offset(),
                        key: record.key().map(<[u8]>::to_vec),
                        value: record.value().map(<[u8]>::to_vec),
                        timestamp_ms: record.timestamp_ms(),
                        headers: record.headers().map(|(k, v)| (k.to_string(), v.to_vec())).collect(),
                    });
                    offset = record.offset() + 1;
                }
            }
            records
        })
        .collect()
}

/// A record's key and value: what tells records apart in these tests.
type Identity<'a> = (&'a Option<Vec<u8>>, &'a Option<Vec<u8>>);

/// At least once, no gaps: `copy` (one partition of the destination, in
/// order) holds every record of `source` (that partition of the source, in
/// order), and each record of `copy` is at most one past the furthest
/// source record seen before it — a redelivery starts again from an earlier
/// record, never skips one. Returns the duplicates counted.
pub fn check_at_least_once(source: &[Seen], copy: &[Seen], what: &str) -> usize {
    let index: HashMap<Identity<'_>, usize> = source.iter().enumerate().map(|(n, s)| ((&s.key, &s.value), n)).collect();
    assert_eq!(index.len(), source.len(), "{what}: the source's records must be unique");
    let mut next = 0usize; // one past the furthest source record seen
    let mut seen = vec![false; source.len()];
    let mut duplicates = 0;
    for (n, record) in copy.iter().enumerate() {
        let Some(&at) = index.get(&(&record.key, &record.value)) else {
            panic!("{what}: record {n} of the copy is not in the source: {record:?}");
        };
        assert!(at <= next, "{what}: gap: copy record {n} is source record {at}, but only up to {next} came before");
        let s = &source[at];
        assert_eq!((&record.headers, record.timestamp_ms), (&s.headers, s.timestamp_ms), "{what}: record {at}");
        duplicates += usize::from(seen[at]);
        seen[at] = true;
        next = next.max(at + 1);
    }
    let missing = seen.iter().filter(|s| !**s).count();
    assert_eq!(missing, 0, "{what}: {missing} of {} source records never arrived", source.len());
    duplicates
}

/// The path of the `larder` binary built for these tests.
pub fn larder_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_larder"))
}
