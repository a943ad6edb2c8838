//! The one public error type of larder, and its `Result` alias.
//!
//! Every variant carries what a caller needs to act on it: which file,
//! which position, which offset, which limit.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use errno::ENOSPC;

/// " of topic "t" partition 3", or nothing for a standalone partition.
fn where_(topic: &Option<String>, partition: &Option<u32>) -> String {
    match (topic, partition) {
        (Some(topic), Some(partition)) => format!(" of topic {topic:?} partition {partition}"),
        _ => String::new(),
    }
}

/// " of the value for topic "t"", " of the key", or nothing when a
/// serializer was called on its own.
fn serialized_what(topic: &Option<String>, field: &str) -> String {
    match (topic, field) {
        (_, "") => String::new(),
        (Some(topic), field) => format!(" of the {field} for topic {topic:?}"),
        (None, field) => format!(" of the {field}"),
    }
}

/// The file-system operation an [`Error::Io`] comes from. Whether a failure
/// of it leaves the partition's durable state unknown — and so poisons the
/// partition — is decided here, in [`IoOp::poisons`], and nowhere else.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IoOp {
    /// Creating (or truncating to empty) a file.
    Create,
    /// Opening an existing file.
    Open,
    /// Reading a file.
    Read,
    /// Writing bytes with a system call.
    Write,
    /// Allocating disk space for a file.
    Allocate,
    /// Cutting or extending a file.
    Truncate,
    /// fdatasync of a file.
    Sync,
    /// fsync of a directory.
    SyncDirectory,
    /// Renaming a file or directory.
    Rename,
    /// Removing a file.
    Remove,
    /// Removing a directory.
    RemoveDirectory,
    /// Creating a directory.
    CreateDirectory,
    /// Listing a directory.
    List,
    /// Reading a file's metadata.
    Stat,
    /// Mapping a file into memory.
    Map,
    /// Starting write-back of a mapped file (msync).
    Msync,
    /// Taking or opening a lock file.
    Lock,
    /// Starting a thread.
    SpawnThread,
}

impl IoOp {
    /// Whether a failure of this operation with `errno` leaves the written
    /// state of the file unknown, so the page cache is not trusted again:
    /// a failed sync (Linux may have dropped the dirty pages, whatever the
    /// error), or a failed write, truncation, rename or removal other than
    /// a full disk (part of it may have happened). Every other failure
    /// changed nothing (a create, open, allocation or listing that failed).
    pub fn poisons(self, errno: Option<i32>) -> bool {
        match self {
            IoOp::Sync | IoOp::SyncDirectory => true,
            IoOp::Write | IoOp::Truncate | IoOp::Rename | IoOp::Remove => errno != Some(ENOSPC),
            _ => false,
        }
    }

    fn name(self) -> &'static str {
        match self {
            IoOp::Create => "create",
            IoOp::Open => "open",
            IoOp::Read => "read",
            IoOp::Write => "write",
            IoOp::Allocate => "allocate",
            IoOp::Truncate => "truncate",
            IoOp::Sync => "sync",
            IoOp::SyncDirectory => "sync directory",
            IoOp::Rename => "rename",
            IoOp::Remove => "remove",
            IoOp::RemoveDirectory => "remove directory",
            IoOp::CreateDirectory => "create directory",
            IoOp::List => "list",
            IoOp::Stat => "stat",
            IoOp::Map => "mmap",
            IoOp::Msync => "msync",
            IoOp::Lock => "lock",
            IoOp::SpawnThread => "spawn thread",
        }
    }
}

impl std::fmt::Display for IoOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The operating-system error numbers larder tells apart (Linux values).
pub(crate) mod errno {
    /// `EIO`: an I/O error, what a failed write-back reports.
    #[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
    pub(crate) const EIO: i32 = 5;
    /// `EMFILE`: too many open files in the process.
    #[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
    pub(crate) const EMFILE: i32 = 24;
    /// `ENOSPC`: no space left on the device.
    pub(crate) const ENOSPC: i32 = 28;
}

/// `Result` with larder's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in larder.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system call on a file or directory failed.
    #[error("I/O error during {operation} on {path}: {source}")]
    Io {
        /// What larder was doing.
        operation: IoOp,
        /// The file or directory concerned.
        path: PathBuf,
        /// The error the operating system returned (shared, so the error can
        /// be handed to every sender waiting on the same failed write).
        source: Arc<io::Error>,
    },

    /// A record is larger than the partition's `max_record_bytes`.
    #[error("record of {size_bytes} bytes exceeds max_record_bytes = {max_record_bytes}")]
    RecordTooLarge {
        /// Encoded size of the record (frame) in bytes.
        size_bytes: u64,
        /// The limit in force.
        max_record_bytes: u32,
    },

    /// A field of a record is too long to be framed (key or value over 4 GiB,
    /// header name over 64 KiB).
    #[error("record field {field} of {size_bytes} bytes exceeds its format limit of {limit_bytes}")]
    FieldTooLarge {
        /// Which field.
        field: &'static str,
        /// Its length in bytes.
        size_bytes: u64,
        /// The most the format can hold.
        limit_bytes: u64,
    },

    /// The disk is full: space for the next records could not be allocated.
    /// Nothing stored was changed; appends succeed again once there is room.
    #[error("disk full: no space for the next records{} in {path}", where_(topic, partition))]
    DiskFull {
        /// The topic, when the partition belongs to one.
        topic: Option<String>,
        /// The partition number, when the partition belongs to a topic.
        partition: Option<u32>,
        /// The file that could not grow.
        path: PathBuf,
    },

    /// A timestamp outside what larder accepts (negative).
    #[error("invalid timestamp {timestamp_ms} ms: timestamps must be >= 0")]
    InvalidTimestamp {
        /// The rejected timestamp in milliseconds since the Unix epoch.
        timestamp_ms: i64,
    },

    /// An offset outside `[log_start_offset, end_offset)` was requested.
    #[error("offset {offset} is out of range [{log_start_offset}, {end_offset})")]
    OffsetOutOfRange {
        /// The requested offset.
        offset: u64,
        /// The first offset still stored.
        log_start_offset: u64,
        /// The offset the next append will get.
        end_offset: u64,
    },

    /// A commit named an offset past its partition's end offset — from
    /// `commit_offsets`, or from `commit` after a `seek` past the end. It
    /// would make the group skip every record later appended below it
    /// (and `u64::MAX` would erase the commit), so nothing was committed.
    #[error("commit of offset {offset} for {topic}/{partition} refused: past the end offset {end_offset}")]
    CommitPastEnd {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The offset the commit named.
        offset: u64,
        /// The partition's end offset when the commit was made.
        end_offset: u64,
    },

    /// An option or argument is out of its allowed range.
    #[error("invalid argument {name}: {reason}")]
    InvalidArgument {
        /// The option or argument.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// Stored data failed validation where a crash cannot explain it: below
    /// the last sync point, or in a segment followed by other segments.
    #[error("corruption in {path} at byte position {position}: {reason}")]
    Corrupt {
        /// The file that holds the bad bytes.
        path: PathBuf,
        /// Byte position of the first bad byte (or frame) in that file.
        position: u64,
        /// What failed (checksum, offset, length, ...).
        reason: String,
    },

    /// A file has a magic or version larder does not understand.
    #[error("{path} is not a larder file of a supported version: {reason}")]
    UnsupportedFile {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },

    /// The directory is open already, in this process or another (its lock
    /// file is held).
    #[error("{path} is locked: it is open already, in this process or another")]
    Locked {
        /// The locked directory.
        path: PathBuf,
    },

    /// The log or partition was opened read-only (`Log::open_read_only`,
    /// `Partition::open_read_only`): it reads what another process writes
    /// and changes nothing, so appends, syncs, commits and admin calls are
    /// refused.
    #[error("cannot {operation}: {path} is open read-only (open it with Log::open or Partition::open to write)")]
    ReadOnly {
        /// What was refused: `"append"`, `"commit"`, `"create a topic"`, ...
        operation: &'static str,
        /// The log or partition directory.
        path: PathBuf,
    },

    /// A topic name (or group id) breaks Kafka's rule: 1 to 249 characters
    /// of `[A-Za-z0-9._-]`, not `.` or `..`.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The rejected name (lossily printable).
        name: String,
        /// Which part of the rule it breaks.
        reason: &'static str,
    },

    /// No topic of that name exists.
    #[error("unknown topic {topic:?}")]
    UnknownTopic {
        /// The topic asked for.
        topic: String,
    },

    /// A topic of that name exists already with another configuration
    /// (`create_topic` with the same configuration succeeds and changes
    /// nothing, as a declarative setup wants), or another admin call is
    /// deleting it.
    #[error("topic {topic:?} exists already: {reason}")]
    TopicExists {
        /// The topic.
        topic: String,
        /// How the existing topic differs from the one asked for.
        reason: String,
    },

    /// An explicit partition number is not below the topic's count.
    #[error("partition {partition} of topic {topic:?} does not exist (it has {partitions})")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: u32,
        /// How many partitions the topic has.
        partitions: u32,
    },

    /// A commit came from a group member whose generation is no longer the
    /// group's (a rebalance completed since); Kafka's `CommitFailedError`.
    #[error(
        "commit refused: group {group:?} is at generation {current}, the commit came from generation {generation}"
    )]
    StaleGeneration {
        /// The group.
        group: String,
        /// The member's generation.
        generation: u64,
        /// The group's current generation.
        current: u64,
    },

    /// A commit came from a member the group no longer has (it left, or
    /// was removed for keeping a rebalance waiting); Kafka's
    /// `UNKNOWN_MEMBER_ID`.
    #[error("group {group:?} has no member {member:?} (it left or was removed)")]
    UnknownMember {
        /// The group.
        group: String,
        /// The member.
        member: String,
    },

    /// A consumer joined a group whose members use another assignor;
    /// Kafka's `INCONSISTENT_GROUP_PROTOCOL`.
    #[error("group {group:?} assigns with {group_assignor}; a member asked for {requested}")]
    InconsistentGroupProtocol {
        /// The group.
        group: String,
        /// The assignor the group's members use (`"Range"`, `"RoundRobin"`).
        group_assignor: String,
        /// The assignor the joining consumer asked for.
        requested: String,
    },

    /// No group of that id exists (no members, nothing committed).
    #[error("unknown group {group:?}")]
    UnknownGroup {
        /// The group asked for.
        group: String,
    },

    /// A group cannot be deleted while it has members.
    #[error("group {group:?} has {members} live members; it can be deleted only when empty")]
    GroupNotEmpty {
        /// The group.
        group: String,
        /// How many members it has.
        members: usize,
    },

    /// A topic a consumer read was deleted; its partitions were revoked.
    /// Reported once by the consumer's next `poll`, and by a commit that
    /// names one of its partitions (nothing of it is committed).
    #[error("topic {topic:?} was deleted")]
    TopicDeleted {
        /// The topic.
        topic: String,
    },

    /// A consumed record's key or value could not be deserialized (Kafka's
    /// `RecordDeserializationException`). The records before it were
    /// returned; the consumer's position stays on this record, so it can be
    /// logged and skipped with `seek(offset + 1)`.
    #[error("cannot deserialize the {field} of {topic}/{partition} offset {offset}: {reason}")]
    Deserialization {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The record's offset.
        offset: u64,
        /// `"key"` or `"value"`.
        field: &'static str,
        /// What the deserializer reported.
        reason: String,
    },

    /// A consumer operation named a partition the consumer is not assigned.
    #[error("partition {topic}/{partition} is not assigned to this consumer")]
    NotAssigned {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
    },

    /// No offset to start from: nothing committed and `auto_offset_reset`
    /// is `None`, or the position left the log and the policy is `None`.
    #[error("no valid offset for {topic}/{partition} and auto_offset_reset is none")]
    NoOffset {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
    },

    /// A topic's bounded buffer (`TopicConfig::buffer_bytes`) had no room
    /// for the record: at once (`WhenFull::Reject`, or a record larger than
    /// the whole buffer), or after waiting `max_block` for consumers to
    /// commit and the cleaner to free space (`WhenFull::Block`).
    #[error("topic {topic:?}'s buffer of {buffer_bytes} bytes is full (waited {waited_ms} ms)")]
    BufferFull {
        /// The topic.
        topic: String,
        /// The buffer's bound.
        buffer_bytes: u64,
        /// How long the send waited for room, in milliseconds.
        waited_ms: u64,
    },

    /// A record without a key was sent to a compacted topic (Kafka's
    /// "compacted topic cannot accept message without key"): compaction
    /// keeps the latest record per key, so every record needs one.
    #[error("topic {topic:?} is compacted: every record needs a key")]
    MissingKey {
        /// The topic.
        topic: String,
    },

    /// The producer's queue stayed full for `max_block`.
    #[error("producer queue of {capacity} records stayed full for {max_block_ms} ms")]
    QueueFull {
        /// The queue's capacity in records.
        capacity: usize,
        /// How long `send` waited, in milliseconds (0 for `try_send`).
        max_block_ms: u64,
    },

    /// The producer's `buffer_memory` (Kafka's `buffer.memory`) had no room
    /// for the record: the records queued before it were not written within
    /// `max_block`, or the record alone is larger than the whole bound.
    #[error("producer buffer_memory of {buffer_memory} bytes has no room for {requested_bytes} more bytes (waited {waited_ms} ms)")]
    BufferExhausted {
        /// The bound, in bytes.
        buffer_memory: u64,
        /// Bytes the record needed.
        requested_bytes: u64,
        /// How long the send waited, in milliseconds.
        waited_ms: u64,
    },

    /// Waiting for a delivery or a flush took longer than allowed.
    #[error("timed out after {waited_ms} ms waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: &'static str,
        /// How long, in milliseconds.
        waited_ms: u64,
    },

    /// The handle, or the log it belongs to, was closed: nothing more can
    /// be done through it (open the log again for a new handle).
    #[error("the {what} is closed")]
    Closed {
        /// What was closed: `"log"`, `"producer"`, `"partition"`, ...
        what: &'static str,
    },

    /// [`Consumer::wakeup`](crate::Consumer::wakeup) (or a
    /// [`WakeupHandle`](crate::WakeupHandle)) ended a poll: the one
    /// blocked then, or the next one. Nothing was delivered or committed
    /// by it; the consumer is as before and may poll again (or close).
    #[error("the poll was interrupted by a wakeup")]
    Wakeup,

    /// A call that waits for the producer's appender thread was made on that
    /// thread, from a delivery callback: it would wait for itself. Callbacks
    /// must not block (Kafka refuses `flush` in a callback too).
    #[error("{operation} cannot be called from a delivery callback: callbacks run on the producer's appender thread, which it would wait for")]
    InCallback {
        /// The refused call.
        operation: &'static str,
    },

    /// A serializer could not turn a key or value into bytes. Serializers
    /// build it with [`Error::serialization`]; a typed producer's send adds
    /// the topic and the field.
    #[error("serialization{} failed: {reason}", serialized_what(topic, field))]
    Serialization {
        /// The topic of the send, or `None` for a serializer called on its own.
        topic: Option<String>,
        /// `"key"` or `"value"`: which one failed, or `""` for a serializer
        /// called on its own.
        field: &'static str,
        /// What the serializer reported.
        reason: String,
    },

    /// An earlier sync failed, so the partition no longer trusts its page
    /// cache and refuses writes until it is reopened.
    #[error("partition {path} is poisoned by an earlier failed sync; reopen it to recover")]
    Poisoned {
        /// The partition directory.
        path: PathBuf,
    },

    /// The Kafka mirror could not reach any of its bootstrap brokers when it
    /// started (a mirror already running backs off and retries instead).
    #[cfg(feature = "kafka")]
    #[cfg_attr(docsrs, doc(cfg(feature = "kafka")))]
    #[error("Kafka broker unreachable at {brokers}: {reason}")]
    BrokerUnreachable {
        /// The bootstrap servers tried.
        brokers: String,
        /// What the Kafka client reported.
        reason: String,
    },

    /// A topic the Kafka mirror is to write to or read from does not exist in
    /// the Kafka cluster (the mirror never creates Kafka topics).
    #[cfg(feature = "kafka")]
    #[cfg_attr(docsrs, doc(cfg(feature = "kafka")))]
    #[error("Kafka topic {topic:?} does not exist at {brokers}: create it first")]
    KafkaTopicMissing {
        /// The Kafka topic.
        topic: String,
        /// The bootstrap servers asked.
        brokers: String,
    },

    /// A larder topic and the Kafka topic it is mirrored to or from have
    /// different partition counts while the mirror is to keep partition
    /// numbers ([`PartitionMapping::Same`](crate::mirror::PartitionMapping::Same)).
    #[cfg(feature = "kafka")]
    #[cfg_attr(docsrs, doc(cfg(feature = "kafka")))]
    #[error(
        "larder topic {topic:?} has {partitions} partitions but Kafka topic {kafka_topic:?} has {kafka_partitions}: \
         make the counts equal or choose PartitionMapping::Murmur2"
    )]
    PartitionCountMismatch {
        /// The larder topic.
        topic: String,
        /// Its partition count.
        partitions: u32,
        /// The Kafka topic.
        kafka_topic: String,
        /// Its partition count.
        kafka_partitions: u32,
    },

    /// The Kafka client refused a setting or failed in a way the mirror
    /// cannot retry (a fatal producer error, a rejected configuration).
    #[cfg(feature = "kafka")]
    #[cfg_attr(docsrs, doc(cfg(feature = "kafka")))]
    #[error("Kafka client failed while {operation}: {reason}")]
    Kafka {
        /// What the mirror was doing.
        operation: &'static str,
        /// What the Kafka client reported.
        reason: String,
    },
}

/// With the `serde` feature, an error serializes as its variant's name
/// and its message: `{"kind": "UnknownTopic", "message": "unknown topic
/// \"t\""}`, for a status endpoint or a command-line tool.
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl serde::Serialize for Error {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut fields = serializer.serialize_struct("Error", 2)?;
        fields.serialize_field("kind", &self.kind())?;
        fields.serialize_field("message", &self.to_string())?;
        fields.end()
    }
}

impl Error {
    /// The variant's name, `"UnknownTopic"` for [`Error::UnknownTopic`]:
    /// for logs and metrics labels.
    pub fn kind(&self) -> String {
        let debug = format!("{self:?}");
        debug.split(|c: char| !c.is_alphanumeric()).next().unwrap_or_default().to_string()
    }

    /// A [`Error::Serialization`] saying why: what a
    /// [`Serializer`](crate::serializer::Serializer) returns when it cannot
    /// serialize. The typed producer fills in the topic and the field.
    pub fn serialization(reason: impl Into<String>) -> Self {
        Error::Serialization { topic: None, field: "", reason: reason.into() }
    }

    /// Wraps an I/O error with the operation and path it came from.
    pub(crate) fn io(operation: IoOp, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io { operation, path: path.into(), source: Arc::new(source) }
    }

    /// Whether this failure poisons the partition it happened in (see
    /// [`IoOp::poisons`]).
    pub(crate) fn poisons(&self) -> bool {
        matches!(self, Error::Io { operation, source, .. } if operation.poisons(source.raw_os_error()))
    }

    /// Whether this is the operating system reporting a full disk.
    pub(crate) fn is_no_space(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.raw_os_error() == Some(ENOSPC))
    }

    /// Builds a [`Error::Corrupt`].
    pub(crate) fn corrupt(path: impl Into<PathBuf>, position: u64, reason: impl Into<String>) -> Self {
        Error::Corrupt { path: path.into(), position, reason: reason.into() }
    }

    /// Builds an [`Error::InvalidArgument`].
    pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidArgument { name, reason: reason.into() }
    }
}
