//! Callbacks around a rebalance: a listener the consumer owns
//! ([`Consumer::subscribe_with_listener`]), or one borrowed for a single
//! poll ([`Consumer::poll_with`]) — which may hold references, such as the
//! database connection the poll loop itself uses.

use crate::consumer::Consumer;
use crate::error::Result;
use crate::group::TopicPartition;

/// A rebalance event, for listeners written as closures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rebalance<'a> {
    /// The consumer is about to lose these partitions.
    Revoked(&'a [TopicPartition]),
    /// The consumer now holds these partitions.
    Assigned(&'a [TopicPartition]),
}

/// Callbacks around a rebalance (kafka-python's
/// `ConsumerRebalanceListener`), run inside `poll` on the polling thread.
/// `on_revoked` always runs before the following `on_assigned`, and
/// `on_assigned` runs even with no partitions.
///
/// An error a callback returns is returned by `poll`. After a failed
/// `on_assigned`, nothing is fetched: the next `poll` calls it again (with
/// the same partitions) until it succeeds — so a listener that seeks to
/// offsets stored in a database never lets a record be read from anywhere
/// else. A failed `on_revoked` does not keep the partitions: they go to
/// their next owner, which starts from the last commit.
///
/// ```
/// # fn main() -> larder::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// use std::time::Duration;
/// use larder::{Consumer, ConsumerConfig, Log, LogOptions, RebalanceListener, TopicConfig, TopicPartition};
///
/// /// Commits before losing partitions, and says what it got.
/// struct CommitOnRevoke {
///     assigned: Vec<TopicPartition>,
/// }
///
/// impl RebalanceListener for CommitOnRevoke {
///     fn on_revoked(&mut self, consumer: &mut Consumer, _: &[TopicPartition]) -> larder::Result<()> {
///         consumer.commit() // the generation is still current here
///     }
///
///     fn on_assigned(&mut self, _: &mut Consumer, partitions: &[TopicPartition]) -> larder::Result<()> {
///         self.assigned = partitions.to_vec();
///         Ok(())
///     }
/// }
///
/// let log = Log::open(dir.path(), LogOptions::default())?;
/// log.create_topic("events", TopicConfig::new(2))?;
/// let mut consumer = log.consumer(ConsumerConfig::default().group_id("g"))?;
/// consumer.subscribe_with_listener(&["events"], CommitOnRevoke { assigned: Vec::new() })?;
/// consumer.poll(Duration::from_millis(10))?; // joins the group; on_assigned runs here
/// assert_eq!(consumer.assignment().len(), 2);
/// # Ok(())
/// # }
/// ```
pub trait RebalanceListener {
    /// The consumer is about to lose `partitions`; commit what was
    /// processed now (the generation is still current).
    fn on_revoked(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) -> Result<()> {
        let _ = (consumer, partitions);
        Ok(())
    }

    /// The consumer now holds `partitions`; seek here to start elsewhere
    /// than the committed offsets.
    fn on_assigned(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) -> Result<()> {
        let _ = (consumer, partitions);
        Ok(())
    }
}

/// A closure taking each [`Rebalance`] event is a listener.
impl<F: FnMut(&mut Consumer, Rebalance<'_>) -> Result<()>> RebalanceListener for F {
    fn on_revoked(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) -> Result<()> {
        self(consumer, Rebalance::Revoked(partitions))
    }

    fn on_assigned(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) -> Result<()> {
        self(consumer, Rebalance::Assigned(partitions))
    }
}

/// The listener a poll calls: borrowed for this poll, or the consumer's own.
pub(crate) enum Listener<'l> {
    Borrowed(&'l mut dyn RebalanceListener),
    Owned,
}

impl Listener<'_> {
    /// Calls the listener with `event`.
    pub(crate) fn call(&mut self, consumer: &mut Consumer, event: Rebalance<'_>) -> Result<()> {
        match self {
            Listener::Borrowed(listener) => dispatch(&mut **listener, consumer, event),
            Listener::Owned => {
                let Some(mut listener) = consumer.listener.take() else { return Ok(()) };
                let called = dispatch(&mut *listener, consumer, event);
                // A callback may have subscribed anew, with a listener of its own.
                consumer.listener.get_or_insert(listener);
                called
            }
        }
    }
}

fn dispatch(listener: &mut dyn RebalanceListener, consumer: &mut Consumer, event: Rebalance<'_>) -> Result<()> {
    match event {
        Rebalance::Revoked(partitions) => listener.on_revoked(consumer, partitions),
        Rebalance::Assigned(partitions) => listener.on_assigned(consumer, partitions),
    }
}
