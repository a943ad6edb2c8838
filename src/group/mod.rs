//! Consumer groups: committed offsets persisted per group (`offsets`), and
//! membership inside the log with Kafka's eager rebalance protocol
//! (`membership`, `assignor`). The two are under separate locks, taken in
//! that order: a commit checks membership, then appends and fdatasyncs
//! under the offsets lock only, so a slow disk never holds up a rebalance.

mod assignor;
mod description;
mod membership;
mod offsets;
pub(crate) use offsets::inspect as inspect_offsets;
mod topic_partition;

use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;

pub use assignor::Assignor;
pub use description::{CommittedOffset, GroupDescription, MemberDescription};
pub(crate) use membership::{Directive, JoinOptions};
pub use topic_partition::TopicPartition;

use crate::error::{Error, Result};
use crate::notify::Waker;
use crate::storage::Storage;
use membership::Membership;
use offsets::Offsets;

/// Extension of a group's offsets file.
pub(crate) const OFFSETS_EXTENSION: &str = "offsets";
/// Longest group id: its offsets file's temporary name,
/// `<id>.offsets.tmp`, must fit a 255-byte file name.
pub(crate) const MAX_GROUP_ID_CHARS: usize = 255 - ".offsets.tmp".len();

/// Checks a group id: Kafka's topic-name rule (it becomes a file name),
/// and at most `MAX_GROUP_ID_CHARS` characters.
pub fn validate_group_id(id: &str) -> Result<()> {
    crate::name::validate_name(id)?;
    if id.len() > MAX_GROUP_ID_CHARS {
        let reason = "longer than 243 characters (its offsets file name would pass 255 bytes)";
        return Err(Error::InvalidName { name: id.to_string(), reason });
    }
    Ok(())
}

/// A consumer group of one log.
///
/// Locks (docs/DESIGN.md, 6 then 7): `membership` (no I/O), then `offsets`
/// (a commit's append and fdatasync).
pub(crate) struct Group {
    id: String,
    membership: Mutex<Membership>,
    offsets: Mutex<Offsets>,
    /// Woken after each commit: the log's cleaner, which removes what
    /// every group consumed.
    on_commit: Arc<Waker>,
}

impl Group {
    /// Loads group `id`'s committed offsets from `dir` (none if the file
    /// does not exist; a damaged file is an error naming it, never a reset).
    /// `on_commit` is woken after each commit.
    pub(crate) fn load(dir: &Path, id: &str, storage: Arc<dyn Storage>, on_commit: Arc<Waker>) -> Result<Group> {
        let path = dir.join(format!("{id}.{OFFSETS_EXTENSION}"));
        let offsets = Offsets::load(id, path, storage)?;
        Ok(Group {
            id: id.to_string(),
            membership: Mutex::new(Membership::new(id)),
            offsets: Mutex::new(offsets),
            on_commit,
        })
    }

    /// Group `id` of a log open read-only: its committed offsets as another
    /// process stores them in `dir`, read again whenever they are asked for
    /// and the file changed; it never commits.
    pub(crate) fn load_read_only(
        dir: &Path,
        id: &str,
        storage: Arc<dyn Storage>,
        on_commit: Arc<Waker>,
    ) -> Result<Group> {
        let path = dir.join(format!("{id}.{OFFSETS_EXTENSION}"));
        let offsets = Offsets::load_read_only(id, path, storage)?;
        Ok(Group {
            id: id.to_string(),
            membership: Mutex::new(Membership::new(id)),
            offsets: Mutex::new(offsets),
            on_commit,
        })
    }

    /// The group's id.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// Whether the group exists: it has live members or stored offsets.
    pub(crate) fn exists(&self) -> bool {
        // Membership before offsets (the lock order).
        let members = self.membership.lock().len();
        let mut offsets = self.offsets.lock();
        // A read-only group whose file cannot be read exists: using it
        // fails by name.
        let readable = offsets.refresh().is_ok();
        members > 0 || offsets.stored() || !readable
    }

    /// Adds a member subscribed to `topics`; see [`Membership::join`].
    pub(crate) fn join(&self, topics: Vec<String>, options: JoinOptions, waker: Arc<Waker>) -> Result<String> {
        self.offsets.lock().check_open()?;
        self.membership.lock().join(topics, options, waker)
    }

    /// Removes a member; see [`Membership::leave`].
    pub(crate) fn leave(&self, member: &str, partitions: impl Fn(&str) -> u32) {
        self.membership.lock().leave(member, &partitions);
    }

    /// What `member` must do next; see [`Membership::sync`].
    pub(crate) fn sync(&self, member: &str, known_generation: u64, partitions: impl Fn(&str) -> u32) -> Directive {
        self.membership.lock().sync(member, known_generation, &partitions)
    }

    /// Lets the members follow a change of `topic`'s partitions.
    pub(crate) fn topic_changed(&self, topic: &str) {
        self.membership.lock().topic_changed(topic);
    }

    /// `member` revoked its partitions; see [`Membership::rejoin`].
    pub(crate) fn rejoin(&self, member: &str, partitions: impl Fn(&str) -> u32) {
        self.membership.lock().rejoin(member, &partitions);
    }

    /// Completes a rebalance whose members all rejoined (used after a join,
    /// when the new member may be alone).
    pub(crate) fn complete_if_ready(&self, partitions: impl Fn(&str) -> u32) {
        self.membership.lock().try_complete(&partitions);
    }

    /// Commits `offsets` durably. A group member must be of the current
    /// generation and hold every partition it commits. `deleted` says
    /// whether a partition's topic was deleted: asked under the offsets
    /// lock, which a deletion takes (to forget the topic's offsets) only
    /// after marking it deleted, so a commit either lands before the
    /// deletion forgets it, or is refused with [`Error::TopicDeleted`] —
    /// never left behind for a topic created again under the name.
    pub(crate) fn commit(
        &self,
        member: Option<(&str, u64)>,
        offsets: &[(TopicPartition, u64)],
        deleted: impl Fn(&TopicPartition) -> bool,
    ) -> Result<()> {
        if let Some((member, generation)) = member {
            self.membership.lock().check_commit(member, generation, offsets)?;
        }
        let mut stored = self.offsets.lock();
        if let Some((tp, _)) = offsets.iter().find(|(tp, _)| deleted(tp)) {
            return Err(Error::TopicDeleted { topic: tp.topic.clone() });
        }
        stored.store(offsets)?;
        drop(stored);
        self.on_commit.wake();
        Ok(())
    }

    /// Whether the group reads `topic`: a member subscribes to it, or the
    /// group has committed offsets for it.
    pub(crate) fn reads(&self, topic: &str) -> bool {
        self.membership.lock().subscribes(topic) || self.offsets.lock().all().keys().any(|tp| tp.topic == topic)
    }

    /// The committed offset of `tp`, if any.
    pub(crate) fn committed(&self, tp: &TopicPartition) -> Result<Option<u64>> {
        let mut offsets = self.offsets.lock();
        offsets.refresh()?;
        offsets.committed(tp)
    }

    /// The topics this group has committed offsets for.
    pub(crate) fn committed_topics(&self) -> Vec<String> {
        self.offsets.lock().topics()
    }

    /// Removes the committed offsets of `topic`'s partitions (it was
    /// deleted: a topic created again under its name starts afresh).
    pub(crate) fn forget_topic(&self, topic: &str) -> Result<()> {
        self.offsets.lock().forget_topic(topic)
    }

    /// Deletes the group's stored offsets (`kafka-consumer-groups
    /// --delete`): refused while it has members.
    pub(crate) fn delete(&self) -> Result<()> {
        let members = self.membership.lock().len();
        if members > 0 {
            return Err(Error::GroupNotEmpty { group: self.id.clone(), members });
        }
        self.offsets.lock().delete()
    }

    /// Closes the offsets file: every later commit or lookup fails with
    /// [`Error::Closed`]. Waits for a commit under way.
    pub(crate) fn close(&self) {
        self.offsets.lock().close();
        // Members blocked in a poll learn the log is closed.
        self.membership.lock().wake_all();
    }

    /// Members, generation and committed offsets; `end_offset` gives each
    /// partition's end.
    pub(crate) fn describe(&self, end_offset: impl Fn(&TopicPartition) -> u64) -> GroupDescription {
        let (generation, rebalancing, members) = self.membership.lock().describe();
        let mut stored = self.offsets.lock();
        // A read-only group describes what it read last if the file cannot
        // be read now.
        let _ = stored.refresh();
        let offsets = stored
            .all()
            .iter()
            .map(|(tp, &committed)| {
                let end = end_offset(tp);
                CommittedOffset {
                    partition: tp.clone(),
                    committed,
                    end_offset: end,
                    lag: end.saturating_sub(committed),
                }
            })
            .collect();
        GroupDescription {
            group_id: self.id.clone(),
            generation,
            rebalancing,
            members,
            offsets,
            torn_commit_bytes: stored.torn_commit_bytes(),
        }
    }
}
