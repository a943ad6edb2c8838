//! `larder consume`: kafka-console-consumer. Prints records as values,
//! key/value pairs or JSON lines; stops at the end unless `--follow`.

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use larder::{AutoOffsetReset, Consumer, ConsumerConfig, ConsumerRecord, Log, TopicPartition};

use super::args::{ConsumeArgs, Format};
use super::failure::Failure;
use super::open::{close, open, open_to_read, Create};

/// Longest single wait in `poll`, so limits are checked often.
const POLL_SLICE: Duration = Duration::from_millis(100);

pub(crate) fn run(dir: &Path, args: ConsumeArgs) -> Result<(), Failure> {
    // Without a group nothing is committed: nothing needs writing.
    let log = match args.group {
        Some(_) => open(dir, Create::No)?,
        None => open_to_read(dir)?,
    };
    let partitions = log.describe_topic(&args.topic)?.partitions.len() as u32;
    let mut consumer = start(&log, &args, partitions)?;
    let commits = args.group.is_some() && !log.is_read_only();
    if args.group.is_some() && log.is_read_only() {
        eprintln!("note: offsets are not committed: the log is read-only here");
    }
    let mut out = std::io::stdout().lock();
    let mut printed = 0u64;
    let mut last_record = Instant::now();
    let timeout = args.timeout.map(Duration::from_millis);
    while args.max_messages.is_none_or(|max| printed < max) {
        let records = consumer.poll(POLL_SLICE)?;
        let mut in_batch = 0;
        for record in records.iter() {
            if args.max_messages.is_some_and(|max| printed >= max) {
                break;
            }
            print(&mut out, &record, &args)?;
            printed += 1;
            in_batch += 1;
        }
        out.flush()?;
        if !records.is_empty() {
            last_record = Instant::now();
            if commits {
                commit_printed(&mut consumer, &records, in_batch)?;
            }
            continue;
        }
        let quiet = timeout.is_some_and(|t| last_record.elapsed() >= t);
        if quiet || !args.follow && at_end(&mut consumer)? {
            break;
        }
    }
    eprintln!("Processed a total of {printed} messages");
    drop(consumer);
    close(log)
}

/// A consumer positioned as the arguments say.
fn start(log: &Log, args: &ConsumeArgs, partitions: u32) -> Result<Consumer, Failure> {
    let reset = if args.from_beginning { AutoOffsetReset::Earliest } else { AutoOffsetReset::Latest };
    let mut config = ConsumerConfig::default().auto_offset_reset(reset).enable_auto_commit(false);
    if let Some(group) = &args.group {
        config = config.group_id(group.clone());
    }
    let mut consumer = log.consumer(config)?;
    match (args.partition, &args.group) {
        (Some(partition), _) => {
            let tp = TopicPartition::new(args.topic.clone(), partition);
            log.partition(&args.topic, partition)?;
            consumer.assign(std::slice::from_ref(&tp))?;
            match args.offset.as_deref() {
                None => {}
                Some("earliest") => consumer.seek_to_beginning(std::slice::from_ref(&tp))?,
                Some("latest") => consumer.seek_to_end(std::slice::from_ref(&tp))?,
                Some(n) => {
                    let offset = n.parse().map_err(|_| {
                        Failure::usage("--offset", format!("{n:?} is not a number, earliest or latest"))
                    })?;
                    consumer.seek(&tp, offset)?;
                }
            }
        }
        (None, Some(_)) => consumer.subscribe(&[args.topic.as_str()])?,
        (None, None) => {
            let all: Vec<_> = (0..partitions).map(|p| TopicPartition::new(args.topic.clone(), p)).collect();
            consumer.assign(&all)?;
        }
    }
    Ok(consumer)
}

/// Whether every assigned partition is read to its end (a consumer of a
/// group that has no assignment yet is not).
fn at_end(consumer: &mut Consumer) -> Result<bool, Failure> {
    let assignment = consumer.assignment();
    if assignment.is_empty() {
        return Ok(false);
    }
    for tp in &assignment {
        if consumer.lag(tp)? > 0 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Commits the positions after what was printed: the first `printed`
/// records of the batch (all of them unless `--max-messages` cut it).
fn commit_printed(consumer: &mut Consumer, records: &larder::ConsumerRecords, printed: usize) -> Result<(), Failure> {
    if printed == records.len() {
        return Ok(consumer.commit()?);
    }
    let mut next = std::collections::HashMap::new();
    for record in records.iter().take(printed) {
        next.insert(TopicPartition::new(record.topic().to_string(), record.partition()), record.offset() + 1);
    }
    Ok(consumer.commit_offsets(&next)?)
}

fn print(out: &mut impl std::io::Write, record: &ConsumerRecord, args: &ConsumeArgs) -> Result<(), Failure> {
    let text = |bytes: Option<&[u8]>| bytes.map_or("null".into(), |b| String::from_utf8_lossy(b).into_owned());
    match args.format {
        Format::Value => writeln!(out, "{}", text(record.value()))?,
        Format::KeyValue => writeln!(out, "{}{}{}", text(record.key()), args.separator, text(record.value()))?,
        Format::Json => writeln!(out, "{}", json(record))?,
    }
    Ok(())
}

/// One JSON line: text fields as strings; bytes that are not UTF-8 as
/// base64, with `<field>_encoding: "base64"` beside them.
fn json(record: &ConsumerRecord) -> serde_json::Value {
    let mut object = serde_json::json!({
        "topic": record.topic(),
        "partition": record.partition(),
        "offset": record.offset(),
        "timestamp": record.timestamp_ms(),
    });
    bytes_field(&mut object, "key", record.key());
    bytes_field(&mut object, "value", record.value());
    let headers: Vec<serde_json::Value> = record
        .headers()
        .map(|(name, value)| {
            let mut header = serde_json::json!({ "key": name });
            bytes_field(&mut header, "value", Some(value));
            header
        })
        .collect();
    object["headers"] = serde_json::Value::Array(headers);
    object
}

fn bytes_field(object: &mut serde_json::Value, name: &str, bytes: Option<&[u8]>) {
    object[name] = match bytes.map(std::str::from_utf8) {
        None => serde_json::Value::Null,
        Some(Ok(text)) => text.into(),
        Some(Err(_)) => {
            object[format!("{name}_encoding")] = "base64".into();
            base64::engine::general_purpose::STANDARD.encode(bytes.unwrap_or_default()).into()
        }
    };
}
