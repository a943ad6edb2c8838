//! The consumer in async code (feature `async`): [`Consumer::poll_async`]
//! and [`Consumer::stream`], woken by the same notification as the
//! blocking poll — an append to an assigned partition, a rebalance, a
//! topic change, a wakeup, the log closing — through the task's waker: no
//! thread waits and nothing polls on a timer, so any executor runs them.
//!
//! At-least-once holds as in blocking code. Positions move only in the
//! `poll` of the future that hands the records out, so a future dropped
//! before it completed (a `select!` or a timeout that fired first) moved
//! nothing; the stream counts a record delivered when it yields it. A
//! consumer is owned by one task (`Send`, not `Sync` or `Clone`), so every
//! commit is made by that task, after the records it covers were handed
//! to it: no commit from another task can overtake them.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::consumer::rebalance::Listener;
use crate::consumer::{Consumer, ConsumerRecord, ConsumerRecords};
use crate::error::Result;

#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
impl Consumer {
    /// Polls without blocking a thread: the future completes with the next
    /// records (up to `max_poll_records`), or partition ends reached (with
    /// `enable_partition_eof`), or an error — [`Error::Wakeup`](crate::Error::Wakeup)
    /// after [`Consumer::wakeup`], [`Error::Closed`](crate::Error::Closed)
    /// once the log closes. It has no timeout of its own: wrap it in your
    /// runtime's (`tokio::time::timeout`). Cancel-safe: dropped before it
    /// completes, it delivered nothing. Rebalance callbacks and auto commits
    /// run inside it, as in [`Consumer::poll`].
    ///
    /// ```
    /// # fn main() -> larder::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use larder::{AutoOffsetReset, ConsumerConfig, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};
    ///
    /// let log = Log::open(dir.path(), LogOptions::default())?;
    /// log.create_topic("events", TopicConfig::new(1))?;
    /// let producer = log.producer(ProducerConfig::default())?;
    /// let config = ConsumerConfig::default().group_id("loader").auto_offset_reset(AutoOffsetReset::Earliest);
    /// let mut consumer = log.consumer(config.enable_auto_commit(false))?;
    /// consumer.subscribe(&["events"])?;
    /// futures::executor::block_on(async {
    ///     producer.send(&ProducerRecord::new("events", b"hello"))?.await?;
    ///     let records = consumer.poll_async().await?;
    ///     assert_eq!(records.len(), 1);
    ///     consumer.commit() // covers exactly what the poll returned
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn poll_async(&mut self) -> PollFuture<'_> {
        PollFuture { consumer: self, started: false }
    }

    /// The consumer's records as a [`Stream`](futures_core::Stream), one at a
    /// time (the async form of [`Consumer::iter`]): each counts as delivered
    /// when the stream yields it, so [`ConsumerStream::commit`] covers
    /// exactly what the loop was given, and dropping the stream leaves every
    /// position on the first record not yielded. It never ends by itself;
    /// an error (a wakeup, a deleted topic, the log closing) is an item.
    pub fn stream(&mut self) -> ConsumerStream<'_> {
        ConsumerStream { consumer: self, buffered: VecDeque::new() }
    }

    /// One step of an async poll: leaves the task's waker with the
    /// consumer's, then looks for records (or ends) as `poll` does.
    /// `deliver` as for `poll_inner`.
    fn poll_ready(&mut self, cx: &mut Context<'_>, deliver: bool) -> Poll<Result<ConsumerRecords>> {
        // Registered first: a wake from now on re-polls the task, so what
        // arrives after the checks below is not missed.
        self.waker.register_task(cx.waker());
        let found = self.log.check_open().and_then(|()| self.check_wakeup()).and_then(|()| {
            self.follow(&mut Listener::Owned)?;
            self.fetch(deliver)
        });
        match found {
            Ok(records) if records.is_empty() && records.partition_eof.is_empty() => Poll::Pending,
            done => {
                self.waker.unregister_task();
                Poll::Ready(done)
            }
        }
    }
}

/// The future of [`Consumer::poll_async`].
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
#[must_use = "a future does nothing unless awaited"]
pub struct PollFuture<'a> {
    consumer: &'a mut Consumer,
    started: bool,
}

impl std::fmt::Debug for PollFuture<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollFuture").field("consumer", &self.consumer).finish()
    }
}

impl Future for PollFuture<'_> {
    type Output = Result<ConsumerRecords>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if !this.started {
            this.started = true;
            if let Err(error) = this.consumer.log.check_open().and_then(|()| this.consumer.auto_commit_if_due()) {
                return Poll::Ready(Err(error));
            }
        }
        this.consumer.poll_ready(cx, true)
    }
}

impl Drop for PollFuture<'_> {
    fn drop(&mut self) {
        self.consumer.waker.unregister_task();
    }
}

/// The stream of [`Consumer::stream`].
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
#[must_use = "a stream does nothing unless polled"]
pub struct ConsumerStream<'a> {
    consumer: &'a mut Consumer,
    /// Fetched, not yet yielded: `(index in the assignment, record)`; the
    /// assignment changes only in a fetch, which runs only when this is
    /// empty.
    buffered: VecDeque<(usize, ConsumerRecord)>,
}

impl std::fmt::Debug for ConsumerStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerStream").field("buffered", &self.buffered.len()).finish()
    }
}

impl ConsumerStream<'_> {
    /// Commits what the stream has yielded (and what was delivered before
    /// it), as [`Consumer::commit`]; returns once it is durable.
    pub fn commit(&mut self) -> Result<()> {
        self.consumer.commit()
    }

    /// Buffers the records of one fetch, not yet delivered.
    fn fill(&mut self, records: &ConsumerRecords) {
        for (topic, partition, batch) in &records.batches {
            let Some(n) = self.consumer.index_of(topic, *partition) else { continue };
            for record in batch.records() {
                let record = ConsumerRecord { topic: Arc::clone(topic), partition: *partition, record };
                self.buffered.push_back((n, record));
            }
        }
    }
}

impl futures_core::Stream for ConsumerStream<'_> {
    type Item = Result<ConsumerRecord>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.buffered.is_empty() {
            if let Err(error) = this.consumer.log.check_open().and_then(|()| this.consumer.auto_commit_if_due()) {
                return Poll::Ready(Some(Err(error)));
            }
            match this.consumer.poll_ready(cx, false) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(error)) => return Poll::Ready(Some(Err(error))),
                Poll::Ready(Ok(records)) => this.fill(&records),
            }
        }
        match this.buffered.pop_front() {
            Some((n, record)) => {
                this.consumer.delivered(n, record.offset());
                Poll::Ready(Some(Ok(record)))
            }
            // Only partition ends were found: look again at once.
            None => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }
}

impl Drop for ConsumerStream<'_> {
    fn drop(&mut self) {
        self.consumer.waker.unregister_task();
    }
}
