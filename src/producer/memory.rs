//! The producer's byte bound on queued records (Kafka's `buffer.memory`):
//! a send holds room for its frame from queueing until the appender has
//! written it, and waits up to `max_block` for room when the bound is
//! reached — so a producer holds at most `buffer_memory` bytes of records
//! whatever their size, beside the queue's bound in records.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};

/// Bytes of queued records, and the senders waiting for room. Its lock is
/// a leaf (docs/DESIGN.md, 12).
#[derive(Debug)]
pub(crate) struct Memory {
    limit: u64,
    used: Mutex<u64>,
    freed: Condvar,
}

/// Room held for one queued record; given back when dropped (after the
/// appender wrote or failed the record).
#[derive(Debug)]
pub(crate) struct MemoryReservation {
    memory: Arc<Memory>,
    bytes: u64,
}

impl Drop for MemoryReservation {
    fn drop(&mut self) {
        *self.memory.used.lock() -= self.bytes;
        self.memory.freed.notify_all();
    }
}

impl Memory {
    /// A bound of `limit` bytes.
    pub(crate) fn new(limit: u64) -> Arc<Memory> {
        Arc::new(Memory { limit, used: Mutex::new(0), freed: Condvar::new() })
    }

    /// Bytes held now.
    pub(crate) fn used(&self) -> u64 {
        *self.used.lock()
    }

    /// The bound.
    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// Holds `bytes`, waiting for room up to `max_block` after `started`
    /// (not at all if `None`); [`Error::BufferExhausted`] if there is none
    /// by then, at once for a record larger than the whole bound.
    pub(crate) fn reserve(
        self: &Arc<Self>,
        bytes: u64,
        max_block: Option<Duration>,
        started: Instant,
    ) -> Result<MemoryReservation> {
        let waited_ms = max_block.map_or(0, |wait| wait.as_millis() as u64);
        let exhausted =
            |waited_ms| Error::BufferExhausted { buffer_memory: self.limit, requested_bytes: bytes, waited_ms };
        if bytes > self.limit {
            return Err(exhausted(0));
        }
        // No deadline (a wait too long to add) means waiting for room.
        let deadline = max_block.map(|wait| started.checked_add(wait));
        let mut used = self.used.lock();
        while used.saturating_add(bytes) > self.limit {
            match deadline {
                None => return Err(exhausted(0)),
                Some(None) => self.freed.wait(&mut used),
                Some(Some(deadline)) => {
                    if self.freed.wait_until(&mut used, deadline).timed_out() && used.saturating_add(bytes) > self.limit
                    {
                        return Err(exhausted(waited_ms));
                    }
                }
            }
        }
        *used += bytes;
        Ok(MemoryReservation { memory: Arc::clone(self), bytes })
    }
}
