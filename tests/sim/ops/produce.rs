//! Producer operations: `send_direct`, the three queued sends (`send`,
//! `send_with_callback`, `try_send`), `flush`, `close`, and what each
//! reports. A queued send returns `Err` only for a closed producer; every
//! other outcome reaches its handle and its callback, once. A record drawn
//! to be refused must get its early outcome before `send` returns: the
//! handle complete, the callback run on the sending thread. Every callback
//! flushes the producer: on the appender thread that is `InCallback`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use larder::{Durability, Error, ProducerConfig, ProducerRecord, RecordMetadata};

use super::content;
use super::{acked, forbid, header_slice, lock, parts, Effect, Op, Outcome, Refusal, Route, SendHow, Shared};

/// The longest a callback's flush may wait, on a thread other than the
/// appender's (an early outcome's callback runs on the sending thread).
const FLUSH_IN_CALLBACK: Duration = Duration::from_secs(20);
/// A partition number no topic of the simulation ever has.
pub const NO_SUCH_PARTITION: u32 = 1_000;
/// A topic name the simulation never creates.
pub const NO_SUCH_TOPIC: &str = "never-created";

/// One run of a send's callback: on which thread, with what outcome, and
/// what the `flush` it made returned.
#[derive(Debug)]
pub struct CallbackRun {
    pub thread: Option<String>,
    pub result: Result<RecordMetadata, Error>,
    pub flush: Result<(), Error>,
}

/// The runs of one send's callback: it must run exactly once.
pub type CallbackLog = Arc<Mutex<Vec<CallbackRun>>>;

/// A queued send that returned a handle, as the op saw it return.
pub struct Queued {
    pub topic: String,
    pub id: u64,
    pub sync_topic: bool,
    pub by_key: bool,
    pub how: SendHow,
    pub refusal: Option<Refusal>,
    pub handle: larder::DeliveryHandle,
    pub callback: Option<CallbackLog>,
    /// The sending thread's name.
    pub sender: Option<String>,
    /// Whether the handle was complete when `send` returned.
    pub done_at_return: bool,
    /// The callback's runs when `send` returned.
    pub runs_at_return: usize,
}

pub(super) fn run(op: &Op, s: &Shared<'_>, out: &mut Outcome) -> larder::Result<()> {
    match op {
        Op::SendDirect { producer, topic, route, id, sync_topic, refusal } => {
            let Some(producer) = producer_of(s, *producer) else { return Ok(()) };
            send_direct(s, &producer, topic, *route, *id, *sync_topic, *refusal, out)
        }
        Op::Send { producer, .. } => {
            let Some(producer) = producer_of(s, *producer) else { return Ok(()) };
            send_queued(s, &producer, op, out)
        }
        Op::Flush { producer } => match producer_of(s, *producer) {
            Some(p) => p.flush_timeout(Duration::from_secs(20)),
            None => Ok(()),
        },
        Op::CloseProducer { producer } => {
            if let Some(p) = producer_of(s, *producer) {
                p.close();
                out.effects.push(Effect::ProducerClosed { producer: *producer });
            }
            Ok(())
        }
        Op::NewProducer { producer, queue_capacity } => {
            let config = ProducerConfig::default().queue_capacity(*queue_capacity).max_block(Duration::from_secs(20));
            let made = s.log.producer(config)?;
            lock(&s.producers[*producer]).get_or_insert(made);
            Ok(())
        }
        _ => unreachable!("not a producer operation: {op:?}"),
    }
}

fn producer_of(s: &Shared<'_>, slot: usize) -> Option<larder::Producer> {
    lock(&s.producers[slot]).clone()
}

/// Whether a record whose send failed with `error` may still have been
/// appended: only when the failure may have come after the append, from
/// the sync that a `Sync` topic's acknowledgement waits for (which fails,
/// or finds the partition poisoned, or stopped by a concurrent deletion of
/// the topic: `UnknownTopic`, which a power cut may undo when the deletion
/// failed, bringing the record back with the topic).
pub fn may_be_stored(error: &Error, sync_topic: bool) -> bool {
    let after_append = matches!(
        error,
        Error::Io { operation: larder::IoOp::Sync, .. }
            | Error::Poisoned { .. }
            | Error::Closed { .. }
            | Error::UnknownTopic { .. }
    );
    sync_topic && after_append
}

/// The contents of a send: a refused record's too, so that if it were
/// stored it would be found (its id is forbidden).
struct Contents {
    key: Option<Vec<u8>>,
    value: Vec<u8>,
    header: Option<Vec<u8>>,
}

impl Contents {
    fn of(id: u64, refusal: Option<Refusal>, max_record_bytes: u32) -> Contents {
        let (key, mut value, header) = parts(id);
        if refusal == Some(Refusal::TooLarge) {
            value.resize(max_record_bytes as usize + 1, b'x');
        }
        Contents { key, value, header }
    }

    /// The record as sent to `topic` by `route`, with `refusal`'s defect.
    fn record<'a>(
        &'a self,
        topic: &'a str,
        route: Route,
        refusal: Option<Refusal>,
        headers: &'a [(&'a str, &'a [u8])],
    ) -> ProducerRecord<'a> {
        let topic = if refusal == Some(Refusal::UnknownTopic) { NO_SUCH_TOPIC } else { topic };
        let mut record = ProducerRecord::new(topic, &self.value).headers(headers);
        if let Some(key) = &self.key {
            record = record.key(key);
        }
        if refusal == Some(Refusal::NegativeTimestamp) {
            record = record.timestamp(-1);
        }
        match (route, refusal) {
            (_, Some(Refusal::UnknownPartition)) => record.partition(NO_SUCH_PARTITION),
            (Route::Partition(partition), _) => record.partition(partition),
            (Route::Partitioner, _) => record,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn send_direct(
    s: &Shared<'_>,
    producer: &larder::Producer,
    topic: &str,
    route: Route,
    id: u64,
    sync_topic: bool,
    refusal: Option<Refusal>,
    out: &mut Outcome,
) -> larder::Result<()> {
    let contents = Contents::of(id, refusal, s.max_record_bytes);
    let headers = header_slice(&contents.header);
    match producer.send_direct(&contents.record(topic, route, refusal, &headers)) {
        Ok(meta) if refusal.is_some() => {
            out.violations.push(format!("record {id}, drawn to be refused ({refusal:?}), was stored: {meta:?}"));
            Ok(())
        }
        Ok(meta) => {
            check_metadata(out, &meta, topic, route, id, sync_topic);
            let by_key = route == Route::Partitioner && contents.key.is_some();
            acked(out, topic, meta.partition, meta.offset, id, meta.durability == Durability::Sync, by_key)
        }
        Err(error) if refusal.is_none() && may_be_stored(&error, sync_topic) => Err(error),
        Err(error) => forbid(out, &[id], error),
    }
}

/// `send`, `send_with_callback` or `try_send`; the handle is settled by
/// the world at the end of the step.
fn send_queued(s: &Shared<'_>, producer: &larder::Producer, op: &Op, out: &mut Outcome) -> larder::Result<()> {
    let Op::Send { topic, route, id, sync_topic, how, refusal, .. } = op else { unreachable!() };
    let (id, how, refusal) = (*id, *how, *refusal);
    let contents = Contents::of(id, refusal, s.max_record_bytes);
    let headers = header_slice(&contents.header);
    let record = contents.record(topic, *route, refusal, &headers);
    let callback: Option<CallbackLog> = (how == SendHow::Callback).then(Default::default);
    let sent = match (&callback, how) {
        (Some(log), _) => producer.send_with_callback(&record, flushing_callback(producer.clone(), log)),
        (None, SendHow::Try) => producer.try_send(&record),
        (None, _) => producer.send(&record),
    };
    let handle = match sent {
        Ok(handle) => handle,
        Err(error) => {
            out.effects.push(Effect::SendRefused { id, callback });
            return forbid(out, &[id], error);
        }
    };
    let runs_at_return = callback.as_ref().map_or(0, |log| lock(log).len());
    let by_key = *route == Route::Partitioner && contents.key.is_some() && refusal.is_none();
    out.effects.push(Effect::Queued(Box::new(Queued {
        topic: topic.clone(),
        id,
        sync_topic: *sync_topic,
        by_key,
        how,
        refusal,
        done_at_return: handle.is_done(),
        handle,
        callback,
        sender: std::thread::current().name().map(str::to_string),
        runs_at_return,
    })));
    Ok(())
}

/// A callback that records where it ran, its outcome, and what a `flush`
/// from inside it returned.
fn flushing_callback(
    producer: larder::Producer,
    log: &CallbackLog,
) -> impl FnOnce(Result<&RecordMetadata, &Error>) + Send + 'static {
    let log = Arc::clone(log);
    move |result| {
        let thread = std::thread::current().name().map(str::to_string);
        let flush = producer.flush_timeout(FLUSH_IN_CALLBACK);
        lock(&log).push(CallbackRun { thread, result: result.cloned().map_err(Clone::clone), flush });
    }
}

/// Checks what a send's metadata says against what was sent.
pub fn check_metadata(out: &mut Outcome, meta: &RecordMetadata, topic: &str, route: Route, id: u64, sync_topic: bool) {
    if &*meta.topic != topic {
        out.violations.push(format!("record {id} sent to {topic} acknowledged in topic {}", meta.topic));
    }
    if let Route::Partition(partition) = route {
        if meta.partition != partition {
            out.violations
                .push(format!("record {id} sent to partition {partition} acknowledged in {}", meta.partition));
        }
    }
    if (meta.durability == Durability::Sync) != sync_topic {
        out.violations.push(format!("record {id} acknowledged at {:?} on a topic that is not", meta.durability));
    }
    let value_len = content::value(id).len() as i32;
    let key_len = content::key(id).map_or(-1, |k| k.len() as i32);
    if (meta.serialized_value_size, meta.serialized_key_size) != (value_len, key_len) {
        out.violations.push(format!("record {id}: metadata sizes {meta:?} differ from what was sent"));
    }
}
