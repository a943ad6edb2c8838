//! Events for `tracing` subscribers, with the feature `tracing`: recovery
//! (torn tails cut, indexes rebuilt, repairs), poisoned partitions, full
//! disks, rebalances and slow fsyncs, each with its topic and partition.
//! Every event has the target `larder`. Without the feature, [`event!`]
//! expands to nothing: its arguments are not even evaluated, so the paths
//! that report pay nothing.
//!
//! Levels: `error` for what needs a person (a partition poisoned, damage
//! repaired away), `warn` for what a healthy system should rarely do (a
//! torn tail cut, a full disk, an fsync slower than
//! [`SLOW_SYNC`], a member removed from its group), `info` for the
//! ordinary news of a restart or a rebalance, `debug` for the rest.

use std::time::Duration;

/// An fdatasync slower than this is reported (at `warn`).
#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
pub(crate) const SLOW_SYNC: Duration = Duration::from_millis(100);

/// `event!(LEVEL, fields..., "message")`: a `tracing` event at `LEVEL`
/// (`ERROR`, `WARN`, `INFO`, `DEBUG`) with target `larder`; nothing
/// without the feature.
#[cfg(feature = "tracing")]
macro_rules! event {
    ($level:ident, $($field:tt)+) => {
        ::tracing::event!(target: "larder", ::tracing::Level::$level, $($field)+)
    };
}

/// Without the feature `tracing`: nothing.
#[cfg(not(feature = "tracing"))]
macro_rules! event {
    ($level:ident, $($field:tt)+) => {};
}

pub(crate) use event;
