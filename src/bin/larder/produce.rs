//! `larder produce`: kafka-console-producer. Each line of stdin (or a
//! file) is one record; with `--key-separator`, the text before the first
//! separator is its key.

use std::collections::BTreeSet;
use std::io::{BufRead as _, Write as _};
use std::path::Path;

use larder::{ProducerConfig, ProducerRecord};

use super::args::{Acks, ProduceArgs};
use super::failure::Failure;
use super::open::{close, open, Create};

pub(crate) fn run(dir: &Path, args: ProduceArgs) -> Result<(), Failure> {
    let headers = parse_headers(&args.headers)?;
    let input: Box<dyn std::io::BufRead> = match &args.file {
        Some(path) => {
            let file = std::fs::File::open(path)
                .map_err(|e| Failure::usage("--file", format!("cannot open {}: {e}", path.display())))?;
            Box::new(std::io::BufReader::new(file))
        }
        None => Box::new(std::io::stdin().lock()),
    };
    let log = open(dir, Create::No)?;
    // Unknown topics and partitions are refused before anything is read.
    let topic = log.describe_topic(&args.topic)?;
    if let Some(partition) = args.partition {
        log.partition(&args.topic, partition)?;
    }
    let producer = log.producer(ProducerConfig::default())?;
    let header_refs: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())).collect();
    let mut out = std::io::stdout().lock();
    let mut touched = BTreeSet::new();
    let mut sent = 0u64;
    for (n, line) in input.split(b'\n').enumerate() {
        let line = line.map_err(|e| Failure::Other(format!("reading line {}: {e}", n + 1)))?;
        let (key, value) = split(&line, args.key_separator.as_deref().map(str::as_bytes), n + 1)?;
        let mut record = ProducerRecord::new(&args.topic, value).headers(&header_refs);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(partition) = args.partition {
            record = record.partition(partition);
        }
        let metadata = producer.send_direct(&record)?;
        if args.durability == Acks::Sync {
            log.partition(&args.topic, metadata.partition)?.sync()?;
        }
        touched.insert(metadata.partition);
        sent += 1;
        if args.verbose {
            writeln!(out, "{}-{}@{}", topic.name, metadata.partition, metadata.offset)?;
        }
    }
    producer.close();
    if args.verbose {
        writeln!(out, "Sent {sent} records to {}.", topic.name)?;
    }
    close(log)
}

/// Key and value of line `number` (any bytes, not only UTF-8): split at
/// the first separator if one is given (a line without it is an error
/// naming the line, as kafka-console-producer's `parse.key` makes it).
fn split<'l>(line: &'l [u8], separator: Option<&[u8]>, number: usize) -> Result<(Option<&'l [u8]>, &'l [u8]), Failure> {
    let Some(separator) = separator.filter(|s| !s.is_empty()) else { return Ok((None, line)) };
    match line.windows(separator.len()).position(|w| w == separator) {
        Some(at) => Ok((Some(&line[..at]), &line[at + separator.len()..])),
        None => {
            let (separator, line) = (String::from_utf8_lossy(separator), String::from_utf8_lossy(line));
            Err(Failure::Other(format!("line {number} has no key separator {separator:?}: {line:?}")))
        }
    }
}

fn parse_headers(headers: &[String]) -> Result<Vec<(String, String)>, Failure> {
    headers
        .iter()
        .map(|h| match h.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(Failure::usage("--header", format!("{h:?} is not KEY=VALUE"))),
        })
        .collect()
}
