//! The producer's byte bound on queued records (Kafka's `buffer.memory`):
//! a send holds room for its frame from queueing until the appender has
//! written it, and waits up to `max_block` for room when the bound is
//! reached — so a producer holds at most `buffer_memory` bytes of records
//! whatever their size, beside the queue's bound in records.

use std::cell::OnceCell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};

/// Bytes of queued records, and the senders waiting for room. Taking and
/// giving back room are atomic operations, so senders and the appender
/// never contend for a lock; only a sender that must wait takes `lock`
/// (a leaf, docs/DESIGN.md 13), and a release takes it only while someone
/// waits.
#[derive(Debug)]
pub(crate) struct Memory {
    limit: u64,
    used: AtomicU64,
    waiters: AtomicUsize,
    lock: Mutex<()>,
    freed: Condvar,
}

/// Room held for one record being queued; given back when dropped, unless
/// [`kept`](MemoryReservation::keep) for the queue to give back once the
/// appender wrote or failed the record.
#[derive(Debug)]
pub(crate) struct MemoryReservation<'a> {
    memory: &'a Memory,
    bytes: u64,
}

impl MemoryReservation<'_> {
    /// Hands the room over to the queue: the appender gives it back with
    /// [`Memory::release`].
    pub(crate) fn keep(self) -> u64 {
        let bytes = self.bytes;
        std::mem::forget(self);
        bytes
    }
}

impl Drop for MemoryReservation<'_> {
    fn drop(&mut self) {
        self.memory.release(self.bytes);
    }
}

impl Memory {
    /// A bound of `limit` bytes.
    pub(crate) fn new(limit: u64) -> Memory {
        let (used, waiters) = (AtomicU64::new(0), AtomicUsize::new(0));
        Memory { limit, used, waiters, lock: Mutex::new(()), freed: Condvar::new() }
    }

    /// Gives back `bytes` taken by a kept reservation.
    pub(crate) fn release(&self, bytes: u64) {
        if bytes == 0 {
            return;
        }
        let before = self.used.fetch_sub(bytes, Ordering::SeqCst);
        assert!(before >= bytes, "released {bytes} of {before} held");
        // SeqCst on both sides: either this sees the waiter counted, or the
        // waiter's next try sees the room given back.
        if self.waiters.load(Ordering::SeqCst) > 0 {
            let _locked = self.lock.lock();
            self.freed.notify_all();
        }
    }

    /// Bytes held now.
    pub(crate) fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// The bound.
    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// Takes `bytes` if they fit now.
    fn try_take(&self, bytes: u64) -> bool {
        let mut used = self.used.load(Ordering::SeqCst);
        loop {
            let wanted = used.saturating_add(bytes);
            if wanted > self.limit {
                return false;
            }
            match self.used.compare_exchange_weak(used, wanted, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return true,
                Err(now) => used = now,
            }
        }
    }

    /// Holds `bytes`, waiting for room up to `max_block` after `started`
    /// (read from the clock now if no earlier wait of the send did; not at
    /// all if `max_block` is `None`); [`Error::BufferExhausted`] if there is none
    /// by then, at once for a record larger than the whole bound.
    pub(crate) fn reserve(
        &self,
        bytes: u64,
        max_block: Option<Duration>,
        started: &OnceCell<Instant>,
    ) -> Result<MemoryReservation<'_>> {
        let exhausted =
            |waited_ms| Error::BufferExhausted { buffer_memory: self.limit, requested_bytes: bytes, waited_ms };
        if bytes > self.limit {
            return Err(exhausted(0));
        }
        if !self.try_take(bytes) {
            let Some(wait) = max_block else { return Err(exhausted(0)) };
            self.wait_for(bytes, started.get_or_init(Instant::now).checked_add(wait))
                .map_err(|()| exhausted(wait.as_millis() as u64))?;
        }
        Ok(MemoryReservation { memory: self, bytes })
    }

    /// Waits until `bytes` are taken, or `deadline` passes (`None`: no
    /// deadline).
    fn wait_for(&self, bytes: u64, deadline: Option<Instant>) -> std::result::Result<(), ()> {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let mut locked = self.lock.lock();
        let taken = loop {
            if self.try_take(bytes) {
                break Ok(());
            }
            match deadline {
                None => self.freed.wait(&mut locked),
                Some(deadline) => {
                    if self.freed.wait_until(&mut locked, deadline).timed_out() {
                        break if self.try_take(bytes) { Ok(()) } else { Err(()) };
                    }
                }
            }
        };
        drop(locked);
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        taken
    }
}
