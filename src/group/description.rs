//! A group as `describe_group` reports it.

use crate::group::topic_partition::TopicPartition;

/// One member as `describe_group` reports it.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemberDescription {
    /// The member's id.
    pub member_id: String,
    /// The topics it subscribed to.
    pub subscription: Vec<String>,
    /// The partitions it holds in the current generation.
    pub assignment: Vec<TopicPartition>,
}

/// One committed offset as `describe_group` reports it.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommittedOffset {
    /// The partition.
    pub partition: TopicPartition,
    /// The committed offset: the next one the group will read.
    pub committed: u64,
    /// The partition's end offset now.
    pub end_offset: u64,
    /// `end_offset - committed`.
    pub lag: u64,
}

/// A group as `describe_group` reports it.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupDescription {
    /// The group id.
    pub group_id: String,
    /// The current generation (bumped by each completed rebalance).
    pub generation: u64,
    /// Whether a rebalance is under way.
    pub rebalancing: bool,
    /// The live members.
    pub members: Vec<MemberDescription>,
    /// Committed offsets, with the lag behind each partition's end.
    pub offsets: Vec<CommittedOffset>,
    /// Bytes of a torn last commit cut when the offsets were loaded (that
    /// commit never returned; the one before it stands). 0 normally.
    pub torn_commit_bytes: u64,
}
