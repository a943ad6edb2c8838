//! Wake-ups for consumers blocked in `poll`: a consumer registers its
//! [`Waker`] with every partition it reads (and with its group); an append
//! wakes the registered wakers. Appends pay one atomic load while nobody
//! waits. A blocked thread waits on the waker's condition variable; an
//! async poll leaves its task's waker here instead, and the same wake
//! wakes it.

use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

/// One consumer's wake-up flag.
#[derive(Debug, Default)]
pub(crate) struct Waker {
    woken: Mutex<Woken>,
    cond: Condvar,
    /// Set by [`Waker::interrupt`] (`Consumer::wakeup`), taken by the poll
    /// it ends.
    interrupted: AtomicBool,
}

/// The flag, and the task waiting for it, if an async poll is.
#[derive(Debug, Default)]
struct Woken {
    woken: bool,
    task: Option<std::task::Waker>,
}

impl Waker {
    /// Sets the flag and wakes the waiting thread or task, if any.
    pub(crate) fn wake(&self) {
        let task = {
            let mut woken = self.woken.lock();
            woken.woken = true;
            woken.task.take()
        };
        self.cond.notify_one();
        // Outside the lock: a task waker may run an executor's code.
        if let Some(task) = task {
            task.wake();
        }
    }

    /// Asks the poll under way, or the next one, to return early
    /// ([`Waker::take_interrupt`] tells it), and wakes it.
    pub(crate) fn interrupt(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// Whether an interrupt is pending; clears it.
    pub(crate) fn take_interrupt(&self) -> bool {
        self.interrupted.swap(false, Ordering::SeqCst)
    }

    /// Leaves `task` to be woken by the next wake, and forgets earlier
    /// wakes (the caller looks for data after this, so none is lost).
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn register_task(&self, task: &std::task::Waker) {
        let mut woken = self.woken.lock();
        woken.woken = false;
        match &woken.task {
            Some(existing) if existing.will_wake(task) => {}
            _ => woken.task = Some(task.clone()),
        }
    }

    /// Forgets the task an async poll left, once it is done or dropped.
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn unregister_task(&self) {
        self.woken.lock().task = None;
    }

    /// Waits until woken or `deadline`; returns whether it was woken. A
    /// wake that came before the wait is not lost: it ends the wait at once.
    pub(crate) fn wait_until(&self, deadline: Instant) -> bool {
        let mut woken = self.woken.lock();
        while !woken.woken {
            if self.cond.wait_until(&mut woken, deadline).timed_out() {
                break;
            }
        }
        std::mem::replace(&mut woken.woken, false)
    }

    /// Forgets an earlier wake, before checking for data again.
    pub(crate) fn reset(&self) {
        self.woken.lock().woken = false;
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
