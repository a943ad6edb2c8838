//! Ending a blocked poll from another thread (Kafka's `wakeup`), for a
//! clean shutdown: the poll returns [`Error::Wakeup`](crate::Error::Wakeup).

use std::sync::Arc;

use crate::notify::Waker;

/// Ends a consumer's blocked `poll` from any thread, from
/// [`Consumer::wakeup_handle`](crate::Consumer::wakeup_handle): `Clone +
/// Send + Sync`, and harmless once the consumer is gone.
///
/// ```
/// # fn main() -> larder::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// use std::time::Duration;
/// use larder::{ConsumerConfig, Error, Log, LogOptions, TopicConfig};
///
/// let log = Log::open(dir.path(), LogOptions::default())?;
/// log.create_topic("events", TopicConfig::new(1))?;
/// let mut consumer = log.consumer(ConsumerConfig::default())?;
/// consumer.subscribe(&["events"])?;
/// let wakeup = consumer.wakeup_handle();
/// let stopper = std::thread::spawn(move || wakeup.wakeup());
/// // Blocks until the other thread's wakeup (or a record) arrives.
/// loop {
///     match consumer.poll(Duration::from_secs(3600)) {
///         Err(Error::Wakeup) => break,
///         other => drop(other?),
///     }
/// }
/// stopper.join().unwrap();
/// consumer.close()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct WakeupHandle {
    pub(crate) waker: Arc<Waker>,
}

impl WakeupHandle {
    /// Makes the consumer's poll under way return [`Error::Wakeup`](crate::Error::Wakeup)
    /// at once, or, if none is under way, its next one. Several wakeups
    /// before a poll end that one poll only.
    pub fn wakeup(&self) {
        self.waker.interrupt();
    }
}
