//! The consumer as an iterator (kafka-python's `for message in consumer`):
//! records are fetched a poll at a time but delivered one by one, so the
//! position moves only over what the loop was given.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::consumer::{Consumer, ConsumerRecord};
use crate::error::Result;

/// Iterator over a consumer's records, from [`Consumer::iter`]. Each record
/// counts as delivered when it is yielded; dropping the iterator (breaking
/// out of the loop) leaves every position on the first record not yielded,
/// so the next `iter` or `poll` resumes exactly there, and a commit never
/// covers a record the loop did not get.
pub struct ConsumerIter<'a> {
    consumer: &'a mut Consumer,
    /// Fetched, not yet yielded: `(index in the assignment, record)`. The
    /// assignment only changes inside a poll, which runs only when this is
    /// empty, so the indexes stay valid.
    buffered: VecDeque<(usize, ConsumerRecord)>,
}

impl<'a> ConsumerIter<'a> {
    pub(crate) fn new(consumer: &'a mut Consumer) -> Self {
        ConsumerIter { consumer, buffered: VecDeque::new() }
    }

    fn fill(&mut self) -> Result<()> {
        let timeout = self.consumer.consumer_timeout().unwrap_or(Duration::MAX);
        let records = self.consumer.poll_undelivered(timeout)?;
        for (topic, partition, batch) in &records.batches {
            let Some(n) = self.consumer.index_of(topic, *partition) else { continue };
            for record in batch.records() {
                let record = ConsumerRecord { topic: Arc::clone(topic), partition: *partition, record };
                self.buffered.push_back((n, record));
            }
        }
        Ok(())
    }
}

impl ConsumerIter<'_> {
    /// The next record, not yet counted as delivered, with its index in the
    /// assignment (for [`ConsumerIter::deliver`]).
    pub(crate) fn next_undelivered(&mut self) -> Option<Result<(usize, ConsumerRecord)>> {
        if self.buffered.is_empty() {
            if let Err(error) = self.fill() {
                return Some(Err(error));
            }
        }
        self.buffered.pop_front().map(Ok)
    }

    /// Counts the record at `offset` of assigned partition `n` delivered.
    pub(crate) fn deliver(&mut self, n: usize, offset: u64) {
        self.consumer.delivered(n, offset);
    }
}

impl Iterator for ConsumerIter<'_> {
    type Item = Result<ConsumerRecord>;

    fn next(&mut self) -> Option<Result<ConsumerRecord>> {
        let (n, record) = match self.next_undelivered()? {
            Ok(next) => next,
            Err(error) => return Some(Err(error)),
        };
        self.deliver(n, record.offset());
        Some(Ok(record))
    }
}
