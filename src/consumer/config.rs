//! How a consumer reads: Kafka's names, defaults and limits.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::group::Assignor;

/// Where to start when there is no committed offset, or the position left
/// the log (Kafka's `auto_offset_reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AutoOffsetReset {
    /// The log start offset.
    Earliest,
    /// The end offset: only records appended from now on.
    #[default]
    Latest,
    /// Fail with [`Error::NoOffset`].
    None,
}

/// How a consumer reads, with Kafka's names and defaults.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub(crate) group_id: Option<String>,
    pub(crate) auto_offset_reset: AutoOffsetReset,
    pub(crate) enable_auto_commit: bool,
    pub(crate) auto_commit_interval: Duration,
    pub(crate) max_poll_records: usize,
    pub(crate) consumer_timeout: Option<Duration>,
    pub(crate) assignor: Assignor,
    pub(crate) max_poll_interval: Duration,
    pub(crate) enable_partition_eof: bool,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            group_id: None,
            auto_offset_reset: AutoOffsetReset::Latest,
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            max_poll_records: 500,
            consumer_timeout: None,
            assignor: Assignor::Range,
            max_poll_interval: Duration::from_secs(300),
            enable_partition_eof: false,
        }
    }
}

impl ConsumerConfig {
    /// Longest interval a consumer setting accepts, as Kafka's (an `i32` of
    /// milliseconds, about 24.8 days).
    pub const MAX_INTERVAL: Duration = Duration::from_millis(i32::MAX as u64);
    /// Longest group id: its offsets file's temporary name must fit a
    /// 255-byte file name.
    pub const MAX_GROUP_ID_CHARS: usize = crate::group::MAX_GROUP_ID_CHARS;

    /// The group whose offsets this consumer commits and, with
    /// `subscribe`, whose partitions it shares. Without one, `subscribe`
    /// reads every partition of its topics and nothing can be committed.
    pub fn group_id(mut self, group_id: impl Into<String>) -> Self {
        self.group_id = Some(group_id.into());
        self
    }

    /// Where to start without a committed offset (default `Latest`).
    pub fn auto_offset_reset(mut self, reset: AutoOffsetReset) -> Self {
        self.auto_offset_reset = reset;
        self
    }

    /// Commit what was delivered automatically, inside `poll` every
    /// `auto_commit_interval` and on close (default on). Nothing is
    /// committed while a panic unwinds.
    pub fn enable_auto_commit(mut self, enable: bool) -> Self {
        self.enable_auto_commit = enable;
        self
    }

    /// How often auto commit commits (default 5 s, at most [`ConsumerConfig::MAX_INTERVAL`]).
    pub fn auto_commit_interval(mut self, interval: Duration) -> Self {
        self.auto_commit_interval = interval;
        self
    }

    /// Most records one `poll` returns (default 500, at least 1).
    pub fn max_poll_records(mut self, records: usize) -> Self {
        self.max_poll_records = records;
        self
    }

    /// How long the iterator waits for a record before it ends (default:
    /// forever), like kafka-python's `consumer_timeout_ms`.
    pub fn consumer_timeout(mut self, timeout: Duration) -> Self {
        self.consumer_timeout = Some(timeout);
        self
    }

    /// Longest a rebalance waits for this member's next `poll` before
    /// removing it from the group (default 5 min, Kafka's
    /// `max.poll.interval.ms`; 1 ms to [`ConsumerConfig::MAX_INTERVAL`]). A removed
    /// member's commits fail with [`Error::UnknownMember`]; its next poll
    /// joins the group again.
    pub fn max_poll_interval(mut self, interval: Duration) -> Self {
        self.max_poll_interval = interval;
        self
    }

    /// Report reaching the end of a partition (confluent-kafka's
    /// `enable.partition.eof`; default off): in
    /// [`ConsumerRecords::partition_eof`](crate::ConsumerRecords::partition_eof),
    /// once per time the position reaches the end — so a batch job knows
    /// when it has read everything there was.
    pub fn enable_partition_eof(mut self, enable: bool) -> Self {
        self.enable_partition_eof = enable;
        self
    }

    /// How the group splits partitions (default `Range`). Every member of a
    /// group must use the same one.
    pub fn assignor(mut self, assignor: Assignor) -> Self {
        self.assignor = assignor;
        self
    }

    /// Checks every setting against its limit.
    pub(crate) fn validate(&self) -> Result<()> {
        if !(1..=i32::MAX as usize).contains(&self.max_poll_records) {
            return Err(Error::invalid(
                "max_poll_records",
                format!("{} is outside 1..={}", self.max_poll_records, i32::MAX),
            ));
        }
        if self.max_poll_interval < Duration::from_millis(1) || self.max_poll_interval > Self::MAX_INTERVAL {
            let max = Self::MAX_INTERVAL;
            let reason = format!("{:?} is outside 1 ms..={max:?}", self.max_poll_interval);
            return Err(Error::invalid("max_poll_interval", reason));
        }
        if self.auto_commit_interval > Self::MAX_INTERVAL {
            let max = Self::MAX_INTERVAL;
            let reason = format!("{:?} is longer than {max:?}", self.auto_commit_interval);
            return Err(Error::invalid("auto_commit_interval", reason));
        }
        if let Some(group) = &self.group_id {
            crate::group::validate_group_id(group)?;
        }
        Ok(())
    }
}
