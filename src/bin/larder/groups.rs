//! `larder groups`: kafka-consumer-groups for a larder log. Members live in
//! the process that runs them: from another process a group shows its
//! committed offsets and lag, and no members (Kafka shows `-` for the
//! consumer of an inactive group, too).

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;

use larder::{ConsumerConfig, GroupDescription, Log, TopicPartition};

use super::args::{GroupsCommand, ResetArgs};
use super::failure::Failure;
use super::open::{close, open, open_to_read, Create};

pub(crate) fn run(dir: &Path, command: GroupsCommand) -> Result<(), Failure> {
    let log = match &command {
        GroupsCommand::ResetOffsets(args) if args.execute => open(dir, Create::No)?,
        GroupsCommand::Delete { .. } => open(dir, Create::No)?,
        _ => open_to_read(dir)?,
    };
    let mut out = std::io::stdout().lock();
    match command {
        GroupsCommand::List => {
            for group in log.list_groups()? {
                writeln!(out, "{group}")?;
            }
        }
        GroupsCommand::Describe { groups } => {
            let groups = if groups.is_empty() { log.list_groups()? } else { groups };
            for (n, group) in groups.iter().enumerate() {
                if n > 0 {
                    writeln!(out)?;
                }
                describe(&mut out, &log, &log.describe_group(group)?)?;
            }
        }
        GroupsCommand::ResetOffsets(args) => reset(&mut out, &log, &args)?,
        GroupsCommand::Delete { group } => {
            log.delete_group(&group)?;
            writeln!(out, "Deleted group {group}.")?;
        }
    }
    close(log)
}

/// `kafka-consumer-groups --describe`'s table: every partition of each
/// topic the group has offsets for; `-` where it committed none.
fn describe(out: &mut impl std::io::Write, log: &Log, group: &GroupDescription) -> Result<(), Failure> {
    let header = ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID"];
    let mut rows = vec![header.map(String::from).to_vec()];
    let mut topics: Vec<&str> = group.offsets.iter().map(|o| o.partition.topic.as_str()).collect();
    topics.dedup();
    for topic in topics {
        let Ok(description) = log.describe_topic(topic) else { continue };
        for partition in &description.partitions {
            let tp = TopicPartition::new(topic, partition.partition);
            let committed = group.offsets.iter().find(|o| o.partition == tp);
            let member = group.members.iter().find(|m| m.assignment.contains(&tp));
            rows.push(vec![
                group.group_id.clone(),
                topic.to_string(),
                partition.partition.to_string(),
                committed.map_or("-".into(), |o| o.committed.to_string()),
                partition.end_offset.to_string(),
                committed.map_or("-".into(), |o| o.lag.to_string()),
                member.map_or("-".into(), |m| m.member_id.clone()),
            ]);
        }
    }
    table(out, &rows)?;
    if group.offsets.is_empty() {
        writeln!(out, "Group {} has no committed offsets.", group.group_id)?;
    }
    Ok(())
}

/// Rows in columns padded to their widest cell.
fn table(out: &mut impl std::io::Write, rows: &[Vec<String>]) -> Result<(), Failure> {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> =
        (0..columns).map(|c| rows.iter().map(|r| r.get(c).map_or(0, String::len)).max().unwrap_or(0)).collect();
    for row in rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        writeln!(out, "{}", cells.join("  ").trim_end())?;
    }
    Ok(())
}

/// `--reset-offsets`: prints the new offsets; commits them with `--execute`.
fn reset(out: &mut impl std::io::Write, log: &Log, args: &ResetArgs) -> Result<(), Failure> {
    let committed: HashMap<TopicPartition, u64> = match log.describe_group(&args.group) {
        Ok(group) => group.offsets.iter().map(|o| (o.partition.clone(), o.committed)).collect(),
        Err(larder::Error::UnknownGroup { .. }) => HashMap::new(),
        Err(error) => return Err(error.into()),
    };
    let partitions = targets(log, args, &committed)?;
    let mut new = HashMap::new();
    let mut rows = vec![["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"].map(String::from).to_vec()];
    for tp in &partitions {
        let offset = new_offset(log, args, tp, committed.get(tp).copied())?;
        rows.push(vec![args.group.clone(), tp.topic.clone(), tp.partition.to_string(), offset.to_string()]);
        new.insert(tp.clone(), offset);
    }
    table(out, &rows)?;
    if !args.execute {
        writeln!(out, "Dry run: nothing committed (add --execute to commit these offsets).")?;
        return Ok(());
    }
    if log.is_read_only() {
        let reason =
            "the log is open in another process: stop it to reset offsets (Kafka asks the group to be inactive too)";
        return Err(Failure::Other(format!("cannot reset the offsets of group {:?}: {reason}", args.group)));
    }
    let config = ConsumerConfig::default().group_id(args.group.clone()).enable_auto_commit(false);
    let mut consumer = log.consumer(config)?;
    consumer.assign(&partitions)?;
    consumer.commit_offsets(&new)?;
    writeln!(out, "Committed.")?;
    Ok(())
}

/// The partitions `--topic` names (`TOPIC` or `TOPIC:P,P`), or those the
/// group has offsets for.
fn targets(
    log: &Log,
    args: &ResetArgs,
    committed: &HashMap<TopicPartition, u64>,
) -> Result<Vec<TopicPartition>, Failure> {
    let mut partitions: Vec<TopicPartition> = match &args.topic {
        None => committed.keys().cloned().collect(),
        Some(spec) => {
            let (topic, list) = spec.split_once(':').map_or((spec.as_str(), None), |(t, l)| (t, Some(l)));
            let count = log.describe_topic(topic)?.partitions.len() as u32;
            let numbers: Vec<u32> = match list {
                None => (0..count).collect(),
                Some(list) => list
                    .split(',')
                    .map(|p| {
                        p.trim()
                            .parse()
                            .map_err(|_| Failure::usage("--topic", format!("{p:?} is not a partition number")))
                    })
                    .collect::<Result<_, _>>()?,
            };
            for &p in &numbers {
                log.partition(topic, p)?;
            }
            numbers.into_iter().map(|p| TopicPartition::new(topic, p)).collect()
        }
    };
    if partitions.is_empty() {
        let reason = format!("group {:?} has no committed offsets: name the partitions with --topic", args.group);
        return Err(Failure::usage("--topic", reason));
    }
    partitions.sort();
    Ok(partitions)
}

fn new_offset(log: &Log, args: &ResetArgs, tp: &TopicPartition, committed: Option<u64>) -> Result<u64, Failure> {
    let partition = log.partition(&tp.topic, tp.partition)?;
    let end = partition.refresh()?;
    let start = partition.log_start_offset();
    let clamp = |offset: u64| offset.clamp(start, end);
    if args.to_earliest {
        return Ok(start);
    }
    if args.to_latest {
        return Ok(end);
    }
    if let Some(offset) = args.to_offset {
        return Ok(clamp(offset));
    }
    if let Some(shift) = args.shift_by {
        let from = committed.unwrap_or(start);
        return Ok(clamp(from.saturating_add_signed(shift)));
    }
    let text = args.to_datetime.as_deref().unwrap_or_default();
    let timestamp_ms = datetime_ms(text)?;
    Ok(partition.offset_for_timestamp(timestamp_ms)?.unwrap_or(end))
}

/// Milliseconds since the epoch of an RFC 3339 time or a plain number.
pub(crate) fn datetime_ms(text: &str) -> Result<i64, Failure> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    let time = humantime::parse_rfc3339_weak(text)
        .map_err(|e| Failure::usage("--to-datetime", format!("{text:?}: {e} (try 2024-05-01T12:00:00Z)")))?;
    let since =
        time.duration_since(std::time::UNIX_EPOCH).map_err(|_| Failure::usage("--to-datetime", "before 1970"))?;
    Ok(since.as_millis() as i64)
}
