//! A `create_topic` that fails at any file call, and whose cleanup fails
//! too, leaves no topic: not in the open log, and not after a reopen; a
//! retry once the disk recovers creates it.

mod hooked;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use hooked::{eio, Hooked};
use larder::{Log, LogOptions, TopicConfig};

#[test]
fn a_failed_creation_whose_cleanup_failed_is_retried_and_survives_a_reopen() {
    for fail_from in 1.. {
        let dir = tempfile::tempdir().unwrap();
        let storage = Hooked::new();
        let log = Log::open(dir.path(), LogOptions::default().storage(storage.clone())).unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&calls);
        // From call `fail_from` on, every call fails: the creation's own
        // cleanup cannot run.
        storage.set(move |_, _| if seen.fetch_add(1, Ordering::SeqCst) + 1 >= fail_from { Err(eio()) } else { Ok(()) });
        let created = log.create_topic("t", TopicConfig::new(2));
        storage.clear();
        if created.is_ok() {
            assert!(fail_from > 1);
            break;
        }
        assert!(log.list_topics().is_empty(), "fail from call {fail_from}: {created:?}");
        let retried = log.create_topic("t", TopicConfig::new(2));
        assert!(retried.is_ok(), "fail from call {fail_from}: the retry after {created:?} failed: {retried:?}");
        log.close().unwrap();
        let log = Log::open(dir.path(), LogOptions::default()).unwrap();
        assert_eq!(log.list_topics(), ["t"], "fail from call {fail_from}");
        assert_eq!(log.describe_topic("t").unwrap().partitions.len(), 2);
    }
}
