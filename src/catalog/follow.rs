//! The catalog of a log opened read-only: the topics and groups another
//! process owns, read without a lock or a write, and followed as that
//! process creates, grows and deletes topics.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex, RwLock};

use crate::catalog::cleaner::CleanerSettings;
use crate::catalog::config::META_FILE;
use crate::catalog::topic::{Topic, TopicEnv, CREATING_MARKER};
use crate::catalog::{Catalog, Cleaner, TOPICS_DIR};
use crate::clock::Clock;
use crate::error::{Error, IoOp, Result};
use crate::name::validate_name;
use crate::storage::Storage;

impl Catalog {
    /// Opens the catalog of the log in `dir` read-only: every topic's
    /// partitions followed (`Partition::open_read_only`), groups read
    /// without ever being written. Nothing is created, cut or removed.
    /// No cleaner thread is started for it, and a pass is refused.
    pub(crate) fn open_read_only(dir: &Path, storage: Arc<dyn Storage>, clock: Arc<dyn Clock>) -> Result<Catalog> {
        let topics_dir = dir.join(TOPICS_DIR);
        if !topics_dir.is_dir() {
            let reason = format!("{} is not a larder log (it has no {TOPICS_DIR} directory)", dir.display());
            return Err(Error::invalid("dir", reason));
        }
        // The cleaner is never run: its waker wakes nobody.
        let cleaner = Cleaner::new(CleanerSettings { clock, interval: Duration::MAX, map_bytes: 0 });
        let env = TopicEnv { storage: Arc::clone(&storage), cleaner: Arc::clone(cleaner.waker()) };
        let mut topics = BTreeMap::new();
        for name in topic_names(&topics_dir)? {
            if let Some(topic) = open_topic(&topics_dir, &name, &env)? {
                topics.insert(name, Arc::new(topic));
            }
        }
        Ok(Catalog {
            dir: dir.to_path_buf(),
            storage,
            env,
            cleaner,
            auto_create: None,
            topics: Arc::new(RwLock::new(topics)),
            busy: Mutex::new(Default::default()),
            busy_done: Condvar::new(),
            groups: Mutex::new(BTreeMap::new()),
            closed: AtomicBool::new(false),
            admitted: RwLock::new(()),
            topic_watchers: Default::default(),
            read_only: true,
        })
    }

    /// Whether the catalog was opened read-only.
    pub(crate) fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Fails with [`Error::ReadOnly`] naming `operation` when read-only.
    pub(crate) fn check_writable(&self, operation: &'static str) -> Result<()> {
        match self.read_only {
            true => Err(Error::ReadOnly { operation, path: self.dir.clone() }),
            false => Ok(()),
        }
    }

    /// Catches up with the owner's admin calls: topics created since are
    /// opened, topics deleted are marked deleted (consumers reading them
    /// are told) and let go, grown topics get their new partitions. Groups
    /// follow the changes as they do in the owner. Read-only catalogs only.
    pub(crate) fn follow(&self) -> Result<()> {
        if !self.read_only {
            return Ok(());
        }
        self.check_open()?;
        let topics_dir = self.topics_dir();
        let names = topic_names(&topics_dir)?;
        let known: Vec<(String, Arc<Topic>)> =
            self.topics.read().iter().map(|(n, t)| (n.clone(), Arc::clone(t))).collect();
        for (name, topic) in &known {
            if names.binary_search(name).is_err() {
                self.topics.write().remove(name);
                topic.mark_deleted();
                for partition in topic.partitions() {
                    partition.abandon();
                }
                self.topic_changed(name);
            } else if topic.follow_read_only()? {
                self.topic_changed(name);
            }
        }
        for name in names.iter().filter(|n| !known.iter().any(|(k, _)| k == *n)) {
            if let Some(topic) = open_topic(&topics_dir, name, &self.env)? {
                self.topics.write().insert(name.clone(), Arc::new(topic));
                self.topic_changed(name);
            }
        }
        Ok(())
    }
}

/// Names of the complete topics in `topics_dir` (valid names, with a
/// `topic.meta`, finished), sorted; topics being created or deleted are not yet, or
/// no longer, topics.
fn topic_names(topics_dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let entries = std::fs::read_dir(topics_dir).map_err(|e| Error::io(IoOp::List, topics_dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(IoOp::List, topics_dir, e))?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else { continue };
        let path = entry.path();
        if validate_name(&name).is_ok() && path.join(META_FILE).is_file() && !path.join(CREATING_MARKER).exists() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Topic `name` opened read-only; `None` if it went away meanwhile.
fn open_topic(topics_dir: &Path, name: &str, env: &TopicEnv) -> Result<Option<Topic>> {
    let dir = topics_dir.join(name);
    match Topic::open_read_only(dir.clone(), name, env) {
        Ok(topic) => Ok(Some(topic)),
        Err(_) if !dir.join(META_FILE).exists() => Ok(None),
        Err(error) => Err(error),
    }
}
