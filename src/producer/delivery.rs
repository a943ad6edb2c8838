//! The outcome of one send: [`DeliveryHandle`] to wait for it, callbacks run
//! with it, and the guard that refuses waiting on the appender thread.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};
use crate::producer::record::RecordMetadata;

thread_local! {
    /// Set on a producer's appender thread, where delivery callbacks run:
    /// a call there that waits for the appender would wait for itself.
    pub(crate) static ON_APPENDER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this is an appender thread (running a delivery callback).
pub(crate) fn on_appender() -> bool {
    ON_APPENDER.with(std::cell::Cell::get)
}

/// Fails with [`Error::InCallback`] on an appender thread.
pub(crate) fn refuse_on_appender(operation: &'static str) -> Result<()> {
    if on_appender() {
        return Err(Error::InCallback { operation });
    }
    Ok(())
}

/// A delivery callback, boxed.
pub(crate) type Callback = Box<dyn FnOnce(Result<&RecordMetadata, &Error>) + Send>;

/// Where one send stands: pending with the callbacks to run and the
/// tasks awaiting it (`async`), or done.
enum DeliveryState {
    Pending(Vec<Callback>, Vec<std::task::Waker>),
    Done(Result<RecordMetadata>),
}

/// The shared state of one queued send. Its lock is a leaf
/// (docs/DESIGN.md, 12); callbacks run after it is released.
pub(crate) struct Delivery {
    state: Mutex<DeliveryState>,
    done: Condvar,
}

impl Delivery {
    /// A pending delivery, with `callback` registered first.
    pub(crate) fn new(callback: Option<Callback>) -> Arc<Delivery> {
        let callbacks = callback.into_iter().collect();
        Arc::new(Delivery { state: Mutex::new(DeliveryState::Pending(callbacks, Vec::new())), done: Condvar::new() })
    }

    /// Records the outcome, wakes waiters, then runs the callbacks (outside
    /// the lock, in registration order).
    pub(crate) fn complete(&self, result: Result<RecordMetadata>) {
        let (callbacks, tasks) = {
            let mut state = self.state.lock();
            match std::mem::replace(&mut *state, DeliveryState::Done(result.clone())) {
                DeliveryState::Pending(callbacks, tasks) => (callbacks, tasks),
                DeliveryState::Done(first) => {
                    *state = DeliveryState::Done(first);
                    return;
                }
            }
        };
        self.done.notify_all();
        for task in tasks {
            task.wake();
        }
        for callback in callbacks {
            callback(result.as_ref());
        }
    }
}

/// The handle of a send: wait for its outcome (kafka-python's
/// `future.get(timeout)`) or register callbacks. A send refused before
/// queueing returns a handle that is complete already. Dropping it does not
/// cancel the send.
///
/// With the `async` feature it is a [`Future`](std::future::Future) of the
/// outcome, woken by the appender when the record is acknowledged — no
/// thread waits for it, and any executor can await it:
///
/// ```
/// # #[cfg(feature = "async")]
/// # fn main() -> larder::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// use larder::{Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};
///
/// let log = Log::open(dir.path(), LogOptions::default())?;
/// log.create_topic("events", TopicConfig::new(1))?;
/// let producer = log.producer(ProducerConfig::default())?;
/// let meta = futures::executor::block_on(async {
///     producer.send(&ProducerRecord::new("events", b"hello"))?.await
/// })?;
/// assert_eq!(meta.offset, 0);
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "async"))]
/// # fn main() {}
/// ```
#[derive(Clone)]
pub struct DeliveryHandle {
    pub(crate) delivery: Arc<Delivery>,
}

impl std::fmt::Debug for DeliveryHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryHandle").field("done", &self.is_done()).finish()
    }
}

impl DeliveryHandle {
    /// Waits up to `timeout` for the outcome.
    pub fn wait(&self, timeout: Duration) -> Result<RecordMetadata> {
        let Some(deadline) = Instant::now().checked_add(timeout) else { return self.get() };
        let mut state = self.delivery.state.lock();
        loop {
            if let DeliveryState::Done(result) = &*state {
                return result.clone();
            }
            refuse_on_appender("DeliveryHandle::wait")?;
            if self.delivery.done.wait_until(&mut state, deadline).timed_out() {
                if let DeliveryState::Done(result) = &*state {
                    return result.clone();
                }
                return Err(Error::Timeout { what: "delivery", waited_ms: timeout.as_millis() as u64 });
            }
        }
    }

    /// Waits for the outcome without a time limit.
    pub fn get(&self) -> Result<RecordMetadata> {
        let mut state = self.delivery.state.lock();
        loop {
            if let DeliveryState::Done(result) = &*state {
                return result.clone();
            }
            refuse_on_appender("DeliveryHandle::get")?;
            self.delivery.done.wait(&mut state);
        }
    }

    /// Whether the send is acknowledged or failed.
    pub fn is_done(&self) -> bool {
        matches!(&*self.delivery.state.lock(), DeliveryState::Done(_))
    }

    /// Runs `callback` with the outcome: on the producer's thread when it
    /// arrives, or at once in this thread if it already has.
    pub fn on_delivery(&self, callback: impl FnOnce(Result<&RecordMetadata, &Error>) + Send + 'static) {
        let mut state = self.delivery.state.lock();
        match &mut *state {
            DeliveryState::Pending(callbacks, _) => callbacks.push(Box::new(callback)),
            DeliveryState::Done(result) => {
                let result = result.clone();
                drop(state);
                callback(result.as_ref());
            }
        }
    }
}

/// The outcome, once the appender has it: `send(..)?.await`.
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
impl std::future::Future for DeliveryHandle {
    type Output = Result<RecordMetadata>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        let mut state = self.delivery.state.lock();
        match &mut *state {
            DeliveryState::Done(result) => std::task::Poll::Ready(result.clone()),
            DeliveryState::Pending(_, tasks) => {
                if !tasks.iter().any(|task| task.will_wake(cx.waker())) {
                    tasks.push(cx.waker().clone());
                }
                std::task::Poll::Pending
            }
        }
    }
}
