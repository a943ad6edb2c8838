//! Admin calls racing `Log::close`. `close` promises that when it returns
//! no file of the log is open and every handle fails with `Closed`; an
//! admin call that was already past its `check_open` when `close` ran
//! must not open partitions afterwards (they are closed by no one, keep
//! their locks, and block a reopen of the directory).

mod hooked;

use std::path::Path;
use std::sync::{Arc, Barrier};

use hooked::{Call, Hooked};
use larder::{ConsumerConfig, Error, Log, LogOptions, TopicConfig, TopicPartition};

fn open_files_under(dir: &Path) -> Vec<String> {
    let dir = dir.canonicalize().unwrap();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.starts_with(&dir))
        .map(|target| target.display().to_string())
        .collect()
}

/// Parks the first call `pick` selects until the test releases it.
fn park_on(
    storage: &Hooked,
    pick: impl Fn(Call, &Path) -> bool + Send + Sync + 'static,
) -> (Arc<Barrier>, Arc<Barrier>) {
    let (entered, release) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
    let (e, r) = (entered.clone(), release.clone());
    let armed = std::sync::atomic::AtomicBool::new(true);
    storage.set(move |call, path| {
        if pick(call, path) && armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            e.wait();
            r.wait();
        }
        Ok(())
    });
    (entered, release)
}

#[test]
fn create_topic_racing_close_leaves_no_partition_open() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Hooked::new();
    let log = Log::open(dir.path(), LogOptions::default().storage(storage.clone())).unwrap();
    let (entered, release) =
        park_on(&storage, |call, path| call == Call::CreateDir && path.to_string_lossy().ends_with("t~c"));
    let creator = {
        let log = log.clone();
        std::thread::spawn(move || {
            let created = log.create_topic("t", TopicConfig::new(2));
            (log, created)
        })
    };
    entered.wait(); // create_topic is past its checks, building the topic
    log.close().unwrap();
    release.wait();
    let (other, created) = creator.join().unwrap();
    // The handle that created it is still alive, as an application's would be.
    let reopened = Log::open(dir.path(), LogOptions::default());
    assert!(reopened.is_ok(), "reopen after close failed: {:?}", reopened.err());
    drop(reopened);
    assert_eq!(open_files_under(dir.path()), Vec::<String>::new(), "files open after close");
    assert!(matches!(created, Err(Error::Closed { .. })), "create_topic finished on a closed log: {created:?}");
    drop(other);
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
        park_on(&storage, |call, path| call == Call::Create && path.to_string_lossy().contains("topic.meta.tmp"));
    let grower = {
        let log = log.clone();
        std::thread::spawn(move || {
            let grown = log.add_partitions("t", 3);
            (log, grown)
        })
    };
    entered.wait(); // the new partitions are open; topic.meta is being replaced
    log.close().unwrap();
    release.wait();
    let (other, grown) = grower.join().unwrap();
    eprintln!("add_partitions on a closing log returned {grown:?}");
    let reopened = Log::open(dir.path(), LogOptions::default());
    assert!(reopened.is_ok(), "reopen after close failed: {:?}", reopened.err());
    drop(reopened);
    assert_eq!(open_files_under(dir.path()), Vec::<String>::new(), "files open after close");
    drop((other, consumer));
}
