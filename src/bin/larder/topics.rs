//! `larder topics`: kafka-topics for a larder log.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use larder::{CleanupPolicy, Durability, TopicConfig, TopicDescription, WhenFull};

use super::args::TopicsCommand;
use super::failure::Failure;
use super::open::{close, open, open_to_read, Create};

pub(crate) fn run(dir: &Path, command: TopicsCommand) -> Result<(), Failure> {
    let log = match command {
        TopicsCommand::Create { .. } => open(dir, Create::Yes)?,
        TopicsCommand::List | TopicsCommand::Describe { .. } => open_to_read(dir)?,
        _ => open(dir, Create::No)?,
    };
    let mut out = std::io::stdout().lock();
    match command {
        TopicsCommand::Create { topic, partitions, configs } => {
            let config = apply(TopicConfig::new(partitions), &configs)?;
            log.create_topic(&topic, config)?;
            writeln!(out, "Created topic {topic}.")?;
        }
        TopicsCommand::List => {
            for topic in log.list_topics() {
                writeln!(out, "{topic}")?;
            }
        }
        TopicsCommand::Describe { topics } => {
            let topics = if topics.is_empty() { log.list_topics() } else { topics };
            for topic in topics {
                describe(&mut out, &log.describe_topic(&topic)?)?;
            }
        }
        TopicsCommand::Alter { topic, configs } => {
            let config = apply(log.describe_topic(&topic)?.config, &configs)?;
            log.alter_topic(&topic, config)?;
            writeln!(out, "Altered topic {topic}.")?;
        }
        TopicsCommand::Delete { topic } => {
            log.delete_topic(&topic)?;
            writeln!(out, "Deleted topic {topic}.")?;
        }
        TopicsCommand::AddPartitions { topic, partitions } => {
            log.add_partitions(&topic, partitions)?;
            writeln!(out, "Topic {topic} now has {partitions} partitions.")?;
        }
    }
    close(log)
}

/// `kafka-topics --describe`'s layout, plus offsets and sizes.
fn describe(out: &mut impl std::io::Write, topic: &TopicDescription) -> Result<(), Failure> {
    let name = &topic.name;
    let partitions = topic.partitions.len();
    writeln!(out, "Topic: {name}\tPartitionCount: {partitions}\tConfigs: {}", settings(&topic.config))?;
    for p in &topic.partitions {
        writeln!(
            out,
            "\tTopic: {name}\tPartition: {}\tStartOffset: {}\tEndOffset: {}\tSegments: {}\tSize: {}",
            p.partition,
            p.log_start_offset,
            p.end_offset,
            p.segments,
            bytes(p.size_bytes)
        )?;
    }
    Ok(())
}

/// A configuration as `key=value,...`, Kafka's names.
pub(crate) fn settings(config: &TopicConfig) -> String {
    let limits = config.segment_limits();
    let mut items = vec![
        format!("cleanup.policy={}", policy_name(config.cleanup())),
        format!("durability={}", durability_name(config.durability_level())),
        format!("segment.bytes={}", limits.segment_bytes),
        format!("max.message.bytes={}", limits.max_record_bytes),
    ];
    if let Some(ms) = limits.segment_ms {
        items.push(format!("segment.ms={ms}"));
    }
    let (retention_ms, retention_bytes) = config.retention();
    items.extend(retention_ms.map(|ms| format!("retention.ms={ms}")));
    items.extend(retention_bytes.map(|b| format!("retention.bytes={b}")));
    if let Some((bytes, when_full)) = config.buffer() {
        items.push(format!("buffer.bytes={bytes}"));
        items.push(format!("buffer.when.full={}", when_full_name(when_full)));
    }
    items.join(",")
}

fn policy_name(policy: &CleanupPolicy) -> String {
    match policy {
        CleanupPolicy::Delete => "delete".into(),
        CleanupPolicy::Compact => "compact".into(),
        CleanupPolicy::CompactDelete => "compact+delete".into(),
        CleanupPolicy::UntilConsumed { groups } if groups.is_empty() => "until-consumed".into(),
        CleanupPolicy::UntilConsumed { groups } => format!("until-consumed:{}", groups.join("+")),
    }
}

fn durability_name(durability: Durability) -> String {
    match durability {
        Durability::Buffered => "buffered".into(),
        Durability::Sync => "sync".into(),
        Durability::Interval(period) => format!("interval:{}", period.as_millis()),
    }
}

fn when_full_name(when_full: WhenFull) -> &'static str {
    match when_full {
        WhenFull::Block => "block",
        WhenFull::Reject => "reject",
        WhenFull::DropOldest => "drop-oldest",
    }
}

/// `config` with each `key=value` of `settings` applied.
fn apply(mut config: TopicConfig, settings: &[String]) -> Result<TopicConfig, Failure> {
    let mut buffer = config.buffer();
    for setting in settings {
        let (key, value) = setting
            .split_once('=')
            .ok_or_else(|| Failure::usage("--config", format!("{setting:?} is not KEY=VALUE")))?;
        config = match key {
            "retention.ms" => config.retention_ms(number(key, value)?),
            "retention.bytes" => config.retention_bytes(number(key, value)?),
            "segment.bytes" => config.segment_bytes(number(key, value)?),
            "segment.ms" => config.segment_ms(number(key, value)?),
            "max.message.bytes" => config.max_record_bytes(number(key, value)?),
            "delete.retention.ms" => config.delete_retention_ms(number(key, value)?),
            "min.compaction.lag.ms" => config.min_compaction_lag_ms(number(key, value)?),
            "min.cleanable.dirty.ratio" => config.min_cleanable_dirty_ratio(number(key, value)?),
            "cleanup.policy" => config.cleanup_policy(policy(value)?),
            "durability" => config.durability(durability(value)?),
            "buffer.bytes" => {
                buffer = Some((number(key, value)?, buffer.map_or(WhenFull::Block, |(_, w)| w)));
                config
            }
            "buffer.when.full" => {
                let when_full = when_full(value)?;
                let bytes = buffer.map(|(b, _)| b).ok_or_else(|| Failure::usage(key, "set buffer.bytes too"))?;
                buffer = Some((bytes, when_full));
                config
            }
            _ => return Err(Failure::usage("--config", format!("unknown setting {key:?}"))),
        };
    }
    Ok(match buffer {
        Some((bytes, when_full)) => config.buffer_bytes(bytes, when_full),
        None => config,
    })
}

fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, Failure>
where
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e| Failure::usage(key, format!("{value:?}: {e}")))
}

fn policy(value: &str) -> Result<CleanupPolicy, Failure> {
    Ok(match value {
        "delete" => CleanupPolicy::Delete,
        "compact" => CleanupPolicy::Compact,
        "compact,delete" | "delete,compact" | "compact+delete" => CleanupPolicy::CompactDelete,
        "until-consumed" => CleanupPolicy::UntilConsumed { groups: Vec::new() },
        _ => match value.strip_prefix("until-consumed:") {
            Some(groups) => CleanupPolicy::UntilConsumed { groups: groups.split('+').map(String::from).collect() },
            None => {
                let known = "delete, compact, compact,delete, until-consumed[:GROUP+GROUP...]";
                return Err(Failure::usage("cleanup.policy", format!("{value:?} is not one of {known}")));
            }
        },
    })
}

pub(crate) fn durability(value: &str) -> Result<Durability, Failure> {
    match value {
        "buffered" => Ok(Durability::Buffered),
        "sync" => Ok(Durability::Sync),
        _ => match value.strip_prefix("interval:").map(str::parse::<u64>) {
            Some(Ok(ms)) => Ok(Durability::Interval(Duration::from_millis(ms))),
            _ => Err(Failure::usage("durability", format!("{value:?} is not buffered, sync or interval:MS"))),
        },
    }
}

fn when_full(value: &str) -> Result<WhenFull, Failure> {
    match value {
        "block" => Ok(WhenFull::Block),
        "reject" => Ok(WhenFull::Reject),
        "drop-oldest" => Ok(WhenFull::DropOldest),
        _ => Err(Failure::usage("buffer.when.full", format!("{value:?} is not block, reject or drop-oldest"))),
    }
}

/// `bytes` for people: B, KiB, MiB, GiB.
pub(crate) fn bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{bytes} B"),
        _ => format!("{value:.1} {}", UNITS[unit]),
    }
}
