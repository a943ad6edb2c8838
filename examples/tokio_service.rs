//! A tokio service around larder, with the `async` feature: an ingest task
//! producing with `.await` on each acknowledgement, a worker task consuming
//! with `poll_async` (woken by appends, no polling loop) and committing
//! after each batch, and a shutdown that wakes the worker and closes
//! everything in order.
//!
//! `cargo run --release --features async --example tokio_service`

use std::time::Duration;

use larder::{
    AutoOffsetReset, ConsumerConfig, Durability, Error, Log, LogOptions, ProducerConfig, ProducerRecord, Result,
    TopicConfig,
};

const ORDERS: u32 = 10_000;

#[tokio::main]
async fn main() -> Result<()> {
    // A directory this run makes (never one that was there already),
    // removed when `dir` is dropped, on an early error too.
    let dir = tempfile::Builder::new().prefix("larder-tokio-").tempdir().expect("a fresh temporary directory");
    let log = Log::open(&dir, LogOptions::default())?;
    log.create_topic("orders", TopicConfig::new(4).durability(Durability::Interval(Duration::from_millis(50))))?;

    // The worker: a consumer group member in its own task.
    let config = ConsumerConfig::default().group_id("billing").auto_offset_reset(AutoOffsetReset::Earliest);
    let mut consumer = log.consumer(config.enable_auto_commit(false))?;
    consumer.subscribe(&["orders"])?;
    let stop = consumer.wakeup_handle();
    let (progress, mut billed_so_far) = tokio::sync::watch::channel(0u32);
    let worker = tokio::spawn(async move {
        let mut billed = 0u32;
        loop {
            match consumer.poll_async().await {
                Ok(records) => {
                    billed += records.len() as u32; // bill them (an await on a database, say)
                    consumer.commit()?;
                    let _ = progress.send(billed);
                }
                Err(Error::Wakeup) => break,
                Err(other) => return Err(other),
            }
        }
        consumer.close()?;
        Ok::<u32, Error>(billed)
    });

    // Ingest: many concurrent requests, each awaiting its acknowledgement.
    let producer = log.producer(ProducerConfig::default())?;
    let mut requests = tokio::task::JoinSet::new();
    for n in 0..ORDERS {
        let producer = producer.clone();
        requests.spawn(async move {
            let key = format!("customer-{}", n % 100);
            producer.send(&ProducerRecord::new("orders", format!("order {n}").as_bytes()).key(key.as_bytes()))?.await
        });
    }
    while let Some(acknowledged) = requests.join_next().await {
        acknowledged.expect("an ingest task")?;
    }
    println!("ingested {ORDERS} orders");

    // Shutdown once the worker caught up (a real service: on a signal):
    // wake its pending poll, let it close its consumer, close the log.
    billed_so_far.wait_for(|&billed| billed >= ORDERS).await.expect("the worker reports progress");
    stop.wakeup();
    let billed = worker.await.expect("the worker task")?;
    println!("billed {billed} orders, then shut down cleanly");
    drop(producer);
    log.close()?;
    drop(dir);
    Ok(())
}
