//! Wake-ups for consumers blocked in `poll`: a consumer registers its
//! [`Waker`] with every partition it reads (and with its group); an append
//! wakes the registered wakers. Appends pay one atomic load while nobody
//! waits.

use std::sync::atomic::{fence, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

/// One consumer's wake-up flag.
#[derive(Debug, Default)]
pub(crate) struct Waker {
    woken: Mutex<bool>,
    cond: Condvar,
}

impl Waker {
    /// Sets the flag and wakes the waiting thread, if any.
    pub(crate) fn wake(&self) {
        *self.woken.lock() = true;
        self.cond.notify_one();
    }

    /// Waits until woken or `deadline`; returns whether it was woken. A
    /// wake that came before the wait is not lost: it ends the wait at once.
    pub(crate) fn wait_until(&self, deadline: Instant) -> bool {
        let mut woken = self.woken.lock();
        while !*woken {
            if self.cond.wait_until(&mut woken, deadline).timed_out() {
                break;
            }
        }
        std::mem::replace(&mut *woken, false)
    }

    /// Forgets an earlier wake, before checking for data again.
    pub(crate) fn reset(&self) {
        *self.woken.lock() = false;
    }
}

/// The wakers registered with one partition (or group).
#[derive(Debug, Default)]
pub(crate) struct Watchers {
    count: AtomicUsize,
    list: Mutex<Vec<Arc<Waker>>>,
}

impl Watchers {
    /// Registers `waker`.
    pub(crate) fn add(&self, waker: &Arc<Waker>) {
        let mut list = self.list.lock();
        list.push(Arc::clone(waker));
        self.count.store(list.len(), Ordering::SeqCst);
    }

    /// Unregisters `waker`.
    pub(crate) fn remove(&self, waker: &Arc<Waker>) {
        let mut list = self.list.lock();
        list.retain(|w| !Arc::ptr_eq(w, waker));
        self.count.store(list.len(), Ordering::SeqCst);
    }

    /// Whether any waker is registered (someone waits for new data).
    pub(crate) fn is_watched(&self) -> bool {
        self.count.load(Ordering::SeqCst) > 0
    }

    /// Wakes every registered waker. Called after new data is published:
    /// the fence orders that publication before the load of `count`, and a
    /// consumer registers (SeqCst) before it looks for data, so either the
    /// consumer sees the data or this call sees the consumer.
    pub(crate) fn notify(&self) {
        fence(Ordering::SeqCst);
        if self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        for waker in self.list.lock().iter() {
            waker.wake();
        }
    }
}
