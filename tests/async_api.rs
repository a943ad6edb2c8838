//! The `async` feature, on tokio and on the `futures` crate's executor:
//! `DeliveryHandle` awaited, `poll_async` woken by an append from another
//! task (no timer, no thread per waiter), `stream` delivering and
//! committing only what it yielded, cancellation delivering nothing, and a
//! wakeup, a close, a topic deletion or a rebalance ending or redirecting
//! a pending poll. Every wait here is for an event the test causes; the
//! only timeouts are generous guards against a hang.
#![cfg(feature = "async")]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::StreamExt as _;
use larder::{
    AutoOffsetReset, ConsumerConfig, Error, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig,
    TopicPartition,
};

const GUARD: Duration = Duration::from_secs(120);

fn setup(partitions: u32) -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("events", TopicConfig::new(partitions)).unwrap();
    (dir, log)
}

fn config() -> ConsumerConfig {
    ConsumerConfig::default().group_id("g").auto_offset_reset(AutoOffsetReset::Earliest).enable_auto_commit(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_awaits_deliveries_and_an_append_wakes_a_pending_poll() {
    let (_dir, log) = setup(2);
    let producer = log.producer(ProducerConfig::default()).unwrap();
    let mut consumer = log.consumer(config()).unwrap();
    consumer.subscribe(&["events"]).unwrap();
    // The consumer task waits first; the producer task's appends wake it.
    let reader = tokio::spawn(async move {
        let mut values = Vec::new();
        while values.len() < 50 {
            let records = tokio::time::timeout(GUARD, consumer.poll_async()).await.unwrap().unwrap();
            values.extend(records.iter().map(|r| r.value().unwrap().to_vec()));
        }
        consumer.commit().unwrap();
        consumer.close().unwrap();
        values
    });
    tokio::task::yield_now().await;
    let mut handles = Vec::new();
    for n in 0..50u32 {
        handles
            .push(producer.send(&ProducerRecord::new("events", format!("{n}").as_bytes()).partition(n % 2)).unwrap());
    }
    for (n, handle) in handles.into_iter().enumerate() {
        let meta = handle.await.unwrap();
        assert_eq!((meta.partition, meta.offset), (n as u32 % 2, n as u64 / 2));
    }
    // An early outcome is a future that is ready at once.
    let refused = producer.send(&ProducerRecord::new("missing", b"v")).unwrap().await;
    assert!(matches!(refused, Err(Error::UnknownTopic { .. })));
    let mut values = reader.await.unwrap();
    values.sort();
    assert_eq!(values.len(), 50);
}

#[test]
fn the_futures_executor_runs_the_same_loop() {
    let (_dir, log) = setup(1);
    let producer = log.producer(ProducerConfig::default()).unwrap();
    let mut consumer = log.consumer(config()).unwrap();
    consumer.subscribe(&["events"]).unwrap();
    let sender = std::thread::spawn(move || {
        for n in 0..10u8 {
            futures::executor::block_on(producer.send(&ProducerRecord::new("events", &[n])).unwrap()).unwrap();
        }
    });
    let got = futures::executor::block_on(async {
        let mut got = Vec::new();
        let mut stream = consumer.stream();
        while got.len() < 10 {
            got.push(stream.next().await.unwrap().unwrap().value().unwrap()[0]);
        }
        stream.commit().unwrap();
        got
    });
    sender.join().unwrap();
    assert_eq!(got, (0..10).collect::<Vec<u8>>());
    assert_eq!(consumer.committed(&TopicPartition::new("events", 0)).unwrap(), Some(10));
}

#[test]
fn a_poll_dropped_before_it_completes_delivered_nothing() {
    let (_dir, log) = setup(1);
    let producer = log.producer(ProducerConfig::default()).unwrap();
    let mut consumer = log.consumer(config()).unwrap();
    consumer.subscribe(&["events"]).unwrap();
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    {
        let mut pending = pin!(consumer.poll_async());
        assert!(pending.as_mut().poll(&mut cx).is_pending());
        // Records arrive, but the future is dropped without being polled
        // again (a select! whose other branch won).
        producer.send_direct(&ProducerRecord::new("events", b"a")).unwrap();
        producer.send_direct(&ProducerRecord::new("events", b"b")).unwrap();
    }
    let tp = TopicPartition::new("events", 0);
    assert_eq!(consumer.position(&tp).unwrap(), 0);
    // The stream: two records yielded, the stream dropped with a third
    // buffered; the position stays on the third.
    producer.send_direct(&ProducerRecord::new("events", b"c")).unwrap();
    futures::executor::block_on(async {
        let mut stream = consumer.stream();
        for expected in [b"a", b"b"] {
            assert_eq!(stream.next().await.unwrap().unwrap().value(), Some(&expected[..]));
        }
        stream.commit().unwrap();
    });
    assert_eq!(consumer.committed(&tp).unwrap(), Some(2));
    assert_eq!(consumer.position(&tp).unwrap(), 2);
    let rest = futures::executor::block_on(consumer.poll_async()).unwrap();
    assert_eq!(rest.iter().map(|r| r.offset()).collect::<Vec<_>>(), [2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wakeup_and_close_end_a_pending_poll() {
    let (_dir, log) = setup(1);
    let mut consumer = log.consumer(config()).unwrap();
    consumer.subscribe(&["events"]).unwrap();
    let handle = consumer.wakeup_handle();
    let waker = std::thread::spawn(move || handle.wakeup());
    let outcome = tokio::time::timeout(GUARD, consumer.poll_async()).await.unwrap();
    assert!(matches!(outcome, Err(Error::Wakeup)), "{outcome:?}");
    waker.join().unwrap();
    // Through the stream too, as an item.
    consumer.wakeup();
    assert!(matches!(consumer.stream().next().await, Some(Err(Error::Wakeup))));

    let closer = {
        let log = log.clone();
        std::thread::spawn(move || log.close().unwrap())
    };
    let outcome = tokio::time::timeout(GUARD, consumer.poll_async()).await.unwrap();
    assert!(matches!(outcome, Err(Error::Closed { .. })), "{outcome:?}");
    closer.join().unwrap();
    assert!(matches!(consumer.poll_async().await, Err(Error::Closed { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_polls_follow_deletes_and_rebalances_raced_with_wakeups() {
    for round in 0..12 {
        let (_dir, log) = setup(2);
        let mut consumer = log.consumer(config()).unwrap();
        consumer.subscribe(&["events"]).unwrap();
        let handle = consumer.wakeup_handle();
        let other = {
            let log = log.clone();
            std::thread::spawn(move || match round % 3 {
                0 => drop(log.delete_topic("events")),
                1 => {
                    let mut second = log.consumer(config()).unwrap();
                    second.subscribe(&["events"]).unwrap();
                    let _ = second.poll(Duration::ZERO);
                }
                _ => drop(log.close()),
            })
        };
        let waker = std::thread::spawn(move || handle.wakeup());
        loop {
            match tokio::time::timeout(GUARD, consumer.poll_async()).await.unwrap() {
                Err(Error::Wakeup | Error::Closed { .. }) => break,
                Err(Error::TopicDeleted { .. }) => {}
                Ok(records) => assert!(records.is_empty()),
                Err(other) => panic!("round {round}: {other}"),
            }
        }
        waker.join().unwrap();
        other.join().unwrap();
    }
}

#[test]
fn poll_is_ready_at_once_when_records_wait() {
    let (_dir, log) = setup(1);
    log.producer(ProducerConfig::default()).unwrap().send_direct(&ProducerRecord::new("events", b"x")).unwrap();
    let mut consumer = log.consumer(config()).unwrap();
    consumer.subscribe(&["events"]).unwrap();
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let polled = pin!(consumer.poll_async()).poll(&mut cx);
    match polled {
        Poll::Ready(Ok(records)) => assert_eq!(records.len(), 1),
        other => panic!("{other:?}"),
    };
}
