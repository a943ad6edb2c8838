//! Committed offsets: auto commit inside poll and on close lets a restarted
//! consumer resume right after the last processed record; manual commits
//! store exactly what was asked; a commit from a stale generation and one
//! for a partition not assigned fail with typed errors; a member leaving
//! hands its partitions over with nothing lost or repeated past committed
//! offsets; a damaged offsets file is refused by name, never reset to 0.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use larder::{
    AutoOffsetReset, Consumer, ConsumerConfig, Error, Log, LogOptions, ProducerConfig, ProducerRecord,
    RebalanceListener, TopicConfig, TopicPartition,
};

fn setup(partitions: u32, records: u32) -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(partitions)).unwrap();
    append(&log, 0, records);
    (dir, log)
}

fn append(log: &Log, from: u32, to: u32) {
    let producer = log.producer(ProducerConfig::default()).unwrap();
    let partitions = log.describe_topic("t").unwrap().partitions.len() as u32;
    for n in from..to {
        producer.send_direct(&ProducerRecord::new("t", format!("{n}").as_bytes()).partition(n % partitions)).unwrap();
    }
}

fn config(group: &str) -> ConsumerConfig {
    ConsumerConfig::default().group_id(group).auto_offset_reset(AutoOffsetReset::Earliest)
}

fn values(consumer: &mut Consumer, timeout: Duration) -> Vec<u32> {
    consumer
        .poll(timeout)
        .unwrap()
        .iter()
        .map(|r| std::str::from_utf8(r.value().unwrap()).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn auto_commit_then_restart_resumes_after_the_last_processed_record() {
    let (_dir, log) = setup(1, 100);
    let tp = TopicPartition::new("t", 0);
    let mut consumer = log.consumer(config("g").max_poll_records(30).auto_commit_interval(Duration::ZERO)).unwrap();
    consumer.subscribe(&["t"]).unwrap();
    assert_eq!(values(&mut consumer, Duration::from_secs(1)), (0..30).collect::<Vec<_>>());
    // The next poll commits what the previous one returned, then fetches.
    assert_eq!(values(&mut consumer, Duration::from_secs(1)), (30..60).collect::<Vec<_>>());
    assert_eq!(consumer.committed(&tp).unwrap(), Some(30));
    consumer.close().unwrap(); // commits 60
    let mut restarted = log.consumer(config("g").max_poll_records(1000)).unwrap();
    restarted.subscribe(&["t"]).unwrap();
    assert_eq!(restarted.committed(&tp).unwrap(), Some(60));
    assert_eq!(values(&mut restarted, Duration::from_secs(1)), (60..100).collect::<Vec<_>>());
}

#[test]
fn manual_commit_stores_exactly_what_was_asked_and_survives_reopen() {
    let (dir, log) = setup(2, 40);
    let (p0, p1) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1));
    let mut consumer = log.consumer(config("manual").enable_auto_commit(false)).unwrap();
    consumer.assign(&[p0.clone(), p1.clone()]).unwrap();
    assert_eq!(values(&mut consumer, Duration::from_secs(1)).len(), 40);
    assert_eq!(consumer.committed(&p0).unwrap(), None, "no auto commit");
    consumer.commit_offsets(&HashMap::from([(p0.clone(), 7)])).unwrap();
    consumer.commit().unwrap();
    assert_eq!((consumer.committed(&p0).unwrap(), consumer.committed(&p1).unwrap()), (Some(20), Some(20)));
    consumer.commit_offsets(&HashMap::from([(p1.clone(), 5)])).unwrap();
    let error = consumer.commit_offsets(&HashMap::from([(TopicPartition::new("t", 9), 1)])).unwrap_err();
    assert!(matches!(&error, Error::NotAssigned { topic, partition: 9 } if topic == "t"), "{error}");
    drop(consumer);
    log.close().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let mut consumer = log.consumer(config("manual").enable_auto_commit(false)).unwrap();
    consumer.assign(&[p0.clone(), p1.clone()]).unwrap();
    assert_eq!((consumer.position(&p0).unwrap(), consumer.position(&p1).unwrap()), (20, 5));
    let described = log.describe_group("manual").unwrap();
    let lags: Vec<(u32, u64, u64)> =
        described.offsets.iter().map(|o| (o.partition.partition, o.committed, o.lag)).collect();
    assert_eq!(lags, vec![(0, 20, 0), (1, 5, 15)]);
    assert_eq!(log.list_groups().unwrap(), vec!["manual".to_string()]);
}

#[test]
fn commit_from_a_removed_member_is_refused() {
    let (_dir, log) = setup(2, 10);
    let slow_config = config("g").enable_auto_commit(false).max_poll_interval(Duration::from_millis(50));
    let mut slow = log.consumer(slow_config).unwrap();
    slow.subscribe(&["t"]).unwrap();
    slow.poll(Duration::from_millis(50)).unwrap();
    assert_eq!(slow.assignment().len(), 2);
    let mut fast = log.consumer(config("g").enable_auto_commit(false)).unwrap();
    fast.subscribe(&["t"]).unwrap();
    // A rebalance started; until it completes `slow` may still commit.
    slow.commit().unwrap();
    // `slow` does not poll; after its max_poll_interval the group drops it
    // and completes the rebalance without it.
    std::thread::sleep(Duration::from_millis(80));
    fast.poll(Duration::from_millis(50)).unwrap();
    assert_eq!(fast.assignment().len(), 2, "fast took every partition");
    let described = log.describe_group("g").unwrap();
    assert_eq!((described.members.len(), described.generation), (1, 2));
    let error = slow.commit().unwrap_err();
    assert!(matches!(&error, Error::UnknownMember { group, .. } if group == "g"), "{error}");
    // Its next poll joins again, and the two share the partitions.
    slow.poll(Duration::from_millis(10)).unwrap();
    fast.poll(Duration::from_millis(10)).unwrap();
    slow.poll(Duration::from_millis(10)).unwrap();
    assert_eq!((slow.assignment().len(), fast.assignment().len()), (1, 1));
    slow.commit().unwrap();
}

#[test]
fn a_member_leaving_hands_over_without_loss_or_repeats_past_commits() {
    let (_dir, log) = setup(4, 400);
    let mut a = log.consumer(config("g").max_poll_records(50).enable_auto_commit(false)).unwrap();
    let mut b = log.consumer(config("g").max_poll_records(50).enable_auto_commit(false)).unwrap();
    a.subscribe(&["t"]).unwrap();
    b.subscribe(&["t"]).unwrap();
    let mut seen_a = Vec::new();
    for _ in 0..20 {
        seen_a.extend(values(&mut a, Duration::from_millis(20)));
        values(&mut b, Duration::from_millis(0));
        if a.assignment().len() == 2 && b.assignment().len() == 2 && seen_a.len() >= 100 {
            break;
        }
    }
    assert_eq!(a.assignment().len(), 2);
    a.commit().unwrap();
    let committed_by_a: Vec<u32> = seen_a.clone();
    a.close().unwrap();
    // b takes over all four partitions and reads from a's commits on.
    let mut seen_b = Vec::new();
    for _ in 0..50 {
        seen_b.extend(values(&mut b, Duration::from_millis(20)));
        if b.assignment().len() == 4 && seen_b.len() + committed_by_a.len() >= 400 {
            break;
        }
    }
    assert_eq!(b.assignment().len(), 4);
    let mut all: Vec<u32> = committed_by_a.into_iter().chain(seen_b).collect();
    all.sort_unstable();
    assert_eq!(all, (0..400).collect::<Vec<_>>(), "nothing lost, nothing repeated past committed offsets");
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl RebalanceListener for Recorder {
    fn on_revoked(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) -> larder::Result<()> {
        consumer.commit()?; // still allowed: the generation is current
        self.0.lock().unwrap().push(format!("revoked {}", partitions.len()));
        Ok(())
    }

    fn on_assigned(&mut self, _consumer: &mut Consumer, partitions: &[TopicPartition]) -> larder::Result<()> {
        self.0.lock().unwrap().push(format!("assigned {}", partitions.len()));
        Ok(())
    }
}

#[test]
fn rebalance_callbacks_revoke_before_assign_and_assign_even_when_empty() {
    let (_dir, log) = setup(1, 10);
    let (first_events, second_events) = (Recorder::default(), Recorder::default());
    let mut first = log.consumer(config("g").enable_auto_commit(false)).unwrap();
    first.subscribe_with_listener(&["t"], first_events.clone()).unwrap();
    first.poll(Duration::from_millis(50)).unwrap();
    let mut second = log.consumer(config("g").enable_auto_commit(false)).unwrap();
    second.subscribe_with_listener(&["t"], second_events.clone()).unwrap();
    first.poll(Duration::from_millis(10)).unwrap();
    second.poll(Duration::from_millis(50)).unwrap();
    first.poll(Duration::from_millis(50)).unwrap();
    assert_eq!(*first_events.0.lock().unwrap(), ["assigned 1", "revoked 1", "assigned 1"]);
    assert_eq!(*second_events.0.lock().unwrap(), ["assigned 0"], "one partition, two members: one gets none");
}

#[test]
fn positions_seek_pause_lag_and_reset_policies() {
    let (_dir, log) = setup(1, 50);
    let tp = TopicPartition::new("t", 0);
    let mut consumer = log.consumer(ConsumerConfig::default().max_poll_records(10)).unwrap();
    consumer.assign(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(consumer.position(&tp).unwrap(), 50, "latest by default");
    consumer.seek_to_beginning(&[]).unwrap();
    assert_eq!((consumer.position(&tp).unwrap(), consumer.lag(&tp).unwrap()), (0, 50));
    assert_eq!(values(&mut consumer, Duration::ZERO), (0..10).collect::<Vec<_>>());
    consumer.seek(&tp, 45).unwrap();
    assert_eq!(values(&mut consumer, Duration::ZERO), (45..50).collect::<Vec<_>>());
    consumer.seek(&tp, 20).unwrap();
    consumer.pause(std::slice::from_ref(&tp)).unwrap();
    assert!(consumer.poll(Duration::from_millis(10)).unwrap().is_empty());
    assert_eq!(consumer.paused(), vec![tp.clone()]);
    consumer.resume(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(values(&mut consumer, Duration::ZERO)[0], 20);
    // Past the end, or before the log start: auto_offset_reset applies.
    consumer.seek(&tp, 1_000).unwrap();
    assert_eq!(consumer.position(&tp).unwrap(), 50);
    log.partition("t", 0).unwrap().delete_before(30).unwrap();
    let mut earliest = log.consumer(ConsumerConfig::default().auto_offset_reset(AutoOffsetReset::Earliest)).unwrap();
    earliest.assign(std::slice::from_ref(&tp)).unwrap();
    earliest.seek(&tp, 3).unwrap();
    assert_eq!(values(&mut earliest, Duration::ZERO)[0], 30);
    let mut none = log.consumer(ConsumerConfig::default().auto_offset_reset(AutoOffsetReset::None)).unwrap();
    none.assign(std::slice::from_ref(&tp)).unwrap();
    let error = none.poll(Duration::ZERO).unwrap_err();
    assert!(matches!(&error, Error::NoOffset { topic, partition: 0 } if topic == "t"), "{error}");
    let other = TopicPartition::new("t", 5);
    assert!(matches!(consumer.seek(&other, 0), Err(Error::NotAssigned { partition: 5, .. })));
    assert!(matches!(consumer.assign(&[other]), Err(Error::UnknownPartition { partition: 5, partitions: 1, .. })));
    let ends = consumer.end_offsets(std::slice::from_ref(&tp)).unwrap();
    let starts = consumer.beginning_offsets(std::slice::from_ref(&tp)).unwrap();
    assert_eq!((starts[&tp], ends[&tp]), (30, 50));
}

#[test]
fn a_torn_last_commit_falls_back_and_damage_before_good_commits_is_refused() {
    let (dir, log) = setup(1, 10);
    let tp = TopicPartition::new("t", 0);
    let mut consumer = log.consumer(config("g")).unwrap();
    consumer.assign(std::slice::from_ref(&tp)).unwrap();
    for offset in [3, 4, 7] {
        consumer.commit_offsets(&HashMap::from([(tp.clone(), offset)])).unwrap();
    }
    drop(consumer);
    log.close().unwrap();
    let path = dir.path().join("groups").join("g.offsets");
    let good = std::fs::read(&path).unwrap();
    // Each commit of one partition is one frame of 8 + 4 + 2 + 1 + 4 + 8 bytes.
    let frame = 27;
    // Torn last commit (a crash while appending it): the commit before stands.
    for cut in 1..frame {
        std::fs::write(&path, &good[..good.len() - cut]).unwrap();
        let log = Log::open(dir.path(), LogOptions::default()).unwrap();
        let consumer = log.consumer(config("g")).unwrap();
        assert_eq!(consumer.committed(&tp).unwrap(), Some(4), "cut {cut} bytes off the last commit");
        assert_eq!(log.describe_group("g").unwrap().torn_commit_bytes, (frame - cut) as u64, "reported, not silent");
    }
    // A damaged commit with good ones after it cannot be a torn write.
    let mut damaged = good.clone();
    let middle = damaged.len() - frame - 3;
    damaged[middle] ^= 0xFF;
    std::fs::write(&path, &damaged).unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let error = log.consumer(config("g")).unwrap_err();
    assert!(matches!(&error, Error::Corrupt { path: p, .. } if p == &path), "{error}");
    assert!(matches!(log.describe_group("g"), Err(Error::Corrupt { .. })));
    for bad in ["", "..", "a/b"] {
        assert!(matches!(log.consumer(config(bad)), Err(Error::InvalidName { .. })), "{bad:?}");
    }
}
