//! Admin calls racing `Log::close`. `close` promises that when it returns
//! no file of the log is open and every handle fails with `Closed`; an
//! admin call that was already past its `check_open` when `close` ran
//! must not open partitions afterwards (they are closed by no one, keep
//! their locks, and block a reopen of the directory), nor write to the
//! directory once `close` returned and released its lock.
//!
//! Each test parks the admin call inside its file work, starts `close`,
//! waits until the log refuses calls (close has begun), then releases the
//! admin call: `close` may wait for it, but must not return before it is
//! done and closed.

mod hooked;

use std::thread::JoinHandle;

use hooked::{open_files_under, Call, Hooked};
use larder::{ConsumerConfig, Error, Log, LogOptions, TopicConfig, TopicPartition};

/// Closes `log` on a thread of its own, returning once close has begun
/// (`probe`, another handle of the log, is refused).
fn start_close(log: Log, probe: &Log) -> JoinHandle<larder::Result<()>> {
    let closer = std::thread::spawn(move || log.close());
    while probe.list_groups().is_ok() {
        std::thread::yield_now();
    }
    closer
}

#[test]
fn create_topic_racing_close_leaves_no_partition_open() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Hooked::new();
    let log = Log::open(dir.path(), LogOptions::default().storage(storage.clone())).unwrap();
    let (entered, release) =
        storage.park_on(|call, path| call == Call::CreateDir && path.to_string_lossy().ends_with("t~c"));
    let creator = {
        let log = log.clone();
        std::thread::spawn(move || {
            let created = log.create_topic("t", TopicConfig::new(2));
            (log, created)
        })
    };
    entered.wait(); // create_topic is past its checks, building the topic
    let probe = log.clone();
    let closer = start_close(log, &probe);
    release.wait();
    closer.join().unwrap().unwrap();
    // The handle that created it is still alive, as an application's would be.
    assert_eq!(open_files_under(dir.path()), Vec::<String>::new(), "files open after close");
    let (other, created) = creator.join().unwrap();
    let reopened = Log::open(dir.path(), LogOptions::default());
    assert!(reopened.is_ok(), "reopen after close failed: {:?}", reopened.err());
    // Admitted before close began, it finished: whole, or not at all.
    let expected: Vec<String> = match &created {
        Ok(()) => vec!["t".into()],
        Err(Error::Closed { .. }) => vec![],
        Err(error) => panic!("create_topic racing close: {error:?}"),
    };
    let reopened = reopened.unwrap();
    assert_eq!(reopened.list_topics(), expected, "create_topic returned {created:?}");
    if created.is_ok() {
        assert_eq!(reopened.describe_topic("t").unwrap().partitions.len(), 2);
    }
    drop((reopened, other, probe));
}

#[test]
fn add_partitions_racing_close_leaves_no_partition_open() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Hooked::new();
    let log = Log::open(dir.path(), LogOptions::default().storage(storage.clone())).unwrap();
    log.create_topic("t", TopicConfig::new(1)).unwrap();
    // A consumer of the topic, kept across the close (it holds the topic).
    let mut consumer = log.consumer(ConsumerConfig::default()).unwrap();
    consumer.assign(&[TopicPartition::new("t", 0)]).unwrap();
    let (entered, release) =
        storage.park_on(|call, path| call == Call::Create && path.to_string_lossy().contains("topic.meta.tmp"));
    let grower = {
        let log = log.clone();
        std::thread::spawn(move || {
            let grown = log.add_partitions("t", 3);
            (log, grown)
        })
    };
    entered.wait(); // the new partitions are open; topic.meta is being replaced
    let probe = log.clone();
    let closer = start_close(log, &probe);
    release.wait();
    closer.join().unwrap().unwrap();
    assert_eq!(open_files_under(dir.path()), Vec::<String>::new(), "files open after close");
    let (other, grown) = grower.join().unwrap();
    let reopened = Log::open(dir.path(), LogOptions::default());
    assert!(reopened.is_ok(), "reopen after close failed: {:?}", reopened.err());
    let partitions = reopened.unwrap().describe_topic("t").unwrap().partitions.len();
    match &grown {
        Ok(()) => assert_eq!(partitions, 3),
        Err(Error::Closed { .. }) => assert_eq!(partitions, 1),
        Err(error) => panic!("add_partitions racing close: {error:?}"),
    }
    drop((other, consumer, probe));
}
