//! The command line's grammar (clap): every subcommand and option, with
//! the help text `larder --help` prints.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Kafka's everyday tools for a larder log: topics, console producer and
/// consumer, consumer groups, file dumps, a verifier and perf tests.
#[derive(Debug, Parser)]
#[command(name = "larder", version, about, max_term_width = 100)]
pub(crate) struct Cli {
    /// The log directory (what Kafka's tools reach through --bootstrap-server).
    #[arg(short, long, global = true, env = "LARDER_DIR", default_value = ".")]
    pub(crate) dir: PathBuf,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create, list, describe, alter and delete topics (kafka-topics).
    Topics {
        #[command(subcommand)]
        command: TopicsCommand,
    },
    /// Send lines from stdin or a file as records (kafka-console-producer).
    Produce(ProduceArgs),
    /// Print records (kafka-console-consumer).
    Consume(ConsumeArgs),
    /// List, describe, reset and delete consumer groups (kafka-consumer-groups).
    Groups {
        #[command(subcommand)]
        command: GroupsCommand,
    },
    /// Print any larder file: header, entries, frames with CRC verdicts (kafka-dump-log).
    Dump(DumpArgs),
    /// Check every file of a log; exit 1 on any problem (an fsck for larder).
    Verify(VerifyArgs),
    /// Measure producing or consuming (kafka-producer-perf-test, kafka-consumer-perf-test).
    Perf {
        #[command(subcommand)]
        command: PerfCommand,
    },
    /// Copy topics into a Kafka cluster or out of one, at least once (MirrorMaker).
    #[cfg(feature = "kafka")]
    Mirror {
        #[command(subcommand)]
        command: MirrorCommand,
    },
}

#[cfg(feature = "kafka")]
#[derive(Debug, Subcommand)]
pub(crate) enum MirrorCommand {
    /// Copy larder topics into Kafka; the position is a larder consumer group
    /// (`groups describe` shows its lag). Kafka topics must exist.
    Out(MirrorArgs),
    /// Copy Kafka topics into larder; the position is a Kafka consumer group.
    /// Missing larder topics are created with the Kafka partition count.
    In(MirrorArgs),
}

#[cfg(feature = "kafka")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Mapping {
    /// Partition n to partition n (the counts must be equal).
    Same,
    /// Keyed records by Kafka's murmur2 of the key; keyless ones n to n % count.
    Murmur2,
}

#[cfg(feature = "kafka")]
#[derive(Debug, Args)]
pub(crate) struct MirrorArgs {
    /// The Kafka cluster's bootstrap servers (host:port[,host:port...]).
    #[arg(long, env = "LARDER_KAFKA_BROKERS")]
    pub(crate) brokers: String,
    /// A topic to copy: TOPIC (same name on both sides) or FROM:TO.
    #[arg(long = "topic", value_name = "TOPIC", required = true)]
    pub(crate) topics: Vec<String>,
    /// The group whose offsets are the position (out: a larder group, default
    /// larder-mirror-out; in: a Kafka group, required).
    #[arg(long)]
    pub(crate) group: Option<String>,
    /// How partitions map.
    #[arg(long, value_enum, default_value_t = Mapping::Same)]
    pub(crate) partition_mapping: Mapping,
    /// Most records per batch (sent, acknowledged, then committed).
    #[arg(long, default_value_t = 10_000)]
    pub(crate) batch_records: usize,
    /// Exit once nothing was copied for MS milliseconds and nothing is left to copy.
    #[arg(long, value_name = "MS")]
    pub(crate) stop_when_idle: Option<u64>,
    /// Seconds between progress lines on stderr (0: none).
    #[arg(long, default_value_t = 5)]
    pub(crate) stats_interval: u64,
    /// Seconds to wait for the cluster at start before failing.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub(crate) connect_timeout: u64,
    /// A Kafka client (librdkafka) setting, e.g. security.protocol=ssl.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) settings: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TopicsCommand {
    /// Create a topic.
    Create {
        /// The topic's name: 1 to 249 characters of [A-Za-z0-9._-].
        topic: String,
        /// Number of partitions.
        #[arg(long, default_value_t = 1)]
        partitions: u32,
        /// A setting, Kafka's name: retention.ms, retention.bytes, segment.bytes,
        /// segment.ms, max.message.bytes, cleanup.policy (delete, compact,
        /// compact,delete, until-consumed), durability (buffered, sync, interval:MS).
        #[arg(long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
    },
    /// List the topics.
    List,
    /// Configuration, partitions, start and end offsets, size on disk.
    Describe {
        /// The topics to describe (all if none).
        topics: Vec<String>,
    },
    /// Change settings of a topic (the others keep their values).
    Alter {
        /// The topic.
        topic: String,
        /// A setting to change, as for `create`.
        #[arg(long = "config", value_name = "KEY=VALUE", required = true)]
        configs: Vec<String>,
    },
    /// Delete a topic and all its records.
    Delete {
        /// The topic.
        topic: String,
    },
    /// Grow a topic to more partitions.
    AddPartitions {
        /// The topic.
        topic: String,
        /// The new partition count.
        #[arg(long)]
        partitions: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Acks {
    /// Acknowledged once in the page cache (safe from a process crash).
    Buffered,
    /// Acknowledged once synced to disk (safe from power loss).
    Sync,
}

#[derive(Debug, Args)]
pub(crate) struct ProduceArgs {
    /// The topic.
    pub(crate) topic: String,
    /// Read lines from this file instead of stdin.
    #[arg(long)]
    pub(crate) file: Option<PathBuf>,
    /// Split each line into key and value at the first SEP (parse.key=true, key.separator=SEP).
    #[arg(long, value_name = "SEP")]
    pub(crate) key_separator: Option<String>,
    /// Send every record to this partition (default: by key, or sticky).
    #[arg(long)]
    pub(crate) partition: Option<u32>,
    /// A header added to every record.
    #[arg(long = "header", value_name = "KEY=VALUE")]
    pub(crate) headers: Vec<String>,
    /// When a record counts as sent.
    #[arg(long, value_enum, default_value_t = Acks::Buffered)]
    pub(crate) durability: Acks,
    /// Print the partition and offset of every record.
    #[arg(short, long)]
    pub(crate) verbose: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// The value only.
    Value,
    /// Key, separator, value.
    KeyValue,
    /// One JSON object a line: topic, partition, offset, timestamp, key, value, headers.
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct ConsumeArgs {
    /// The topic.
    pub(crate) topic: String,
    /// Start at the earliest record (default: the latest, or the group's offsets).
    #[arg(long)]
    pub(crate) from_beginning: bool,
    /// Read as this consumer group: start at its committed offsets, commit what was printed.
    #[arg(long)]
    pub(crate) group: Option<String>,
    /// Read this partition only.
    #[arg(long)]
    pub(crate) partition: Option<u32>,
    /// With --partition: start here (a number, earliest or latest).
    #[arg(long, requires = "partition")]
    pub(crate) offset: Option<String>,
    /// Stop after this many records.
    #[arg(long)]
    pub(crate) max_messages: Option<u64>,
    /// Stop after this many milliseconds without a record (with --follow; default: never).
    #[arg(long, value_name = "MS")]
    pub(crate) timeout: Option<u64>,
    /// Keep waiting for new records at the end (tail -f); without it, stop at the end.
    #[arg(short, long)]
    pub(crate) follow: bool,
    /// How each record is printed.
    #[arg(long, value_enum, default_value_t = Format::Value)]
    pub(crate) format: Format,
    /// Between key and value with --format key-value.
    #[arg(long, default_value = "\t")]
    pub(crate) separator: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum GroupsCommand {
    /// List the groups.
    List,
    /// Committed offset, end offset and lag per partition (and members, in this process).
    Describe {
        /// The groups (all if none).
        groups: Vec<String>,
    },
    /// Move a group's committed offsets: a dry run unless --execute.
    ResetOffsets(ResetArgs),
    /// Delete a group and its committed offsets.
    Delete {
        /// The group.
        group: String,
    },
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).multiple(false)))]
pub(crate) struct ResetArgs {
    /// The group.
    #[arg(long)]
    pub(crate) group: String,
    /// TOPIC or TOPIC:P,P,... (default: every topic the group has offsets for).
    #[arg(long)]
    pub(crate) topic: Option<String>,
    /// To each partition's start.
    #[arg(long, group = "target")]
    pub(crate) to_earliest: bool,
    /// To each partition's end.
    #[arg(long, group = "target")]
    pub(crate) to_latest: bool,
    /// To this offset (clamped to each partition's range).
    #[arg(long, group = "target", value_name = "N")]
    pub(crate) to_offset: Option<u64>,
    /// To the first record at or after this time (RFC 3339, e.g. 2024-05-01T12:00:00Z, or ms since the epoch).
    #[arg(long, group = "target", value_name = "T")]
    pub(crate) to_datetime: Option<String>,
    /// By this many records from the committed offset (negative: back).
    #[arg(long, group = "target", value_name = "N", allow_hyphen_values = true)]
    pub(crate) shift_by: Option<i64>,
    /// Commit the new offsets (default: only print them).
    #[arg(long)]
    pub(crate) execute: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DumpArgs {
    /// Files: .log, .idx, .tix, partition.state, topic.meta, <group>.offsets.
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// Print each record's key, value and headers too.
    #[arg(long)]
    pub(crate) print_data: bool,
    /// Check each index against its log.
    #[arg(long)]
    pub(crate) index_sanity_check: bool,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The log directory (default: --dir).
    pub(crate) path: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PerfCommand {
    /// Send records as fast as allowed; report rate and latency percentiles.
    Produce(PerfProduceArgs),
    /// Read a topic from the start; report the rate.
    Consume(PerfConsumeArgs),
}

#[derive(Debug, Args)]
pub(crate) struct PerfProduceArgs {
    /// The topic (created with one partition per thread if missing).
    pub(crate) topic: String,
    /// Records to send.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) num_records: u64,
    /// Bytes of each record's value.
    #[arg(long, default_value_t = 100)]
    pub(crate) record_size: usize,
    /// Most records per second, all threads together (-1: no limit).
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    pub(crate) throughput: i64,
    /// Sending threads.
    #[arg(long, default_value_t = 1)]
    pub(crate) threads: usize,
    /// When a send counts as done: buffered, or sync (each acknowledged once on disk).
    #[arg(long, value_enum, default_value_t = Acks::Buffered)]
    pub(crate) durability: Acks,
    /// Seconds between progress lines.
    #[arg(long, default_value_t = 5)]
    pub(crate) reporting_interval: u64,
}

#[derive(Debug, Args)]
pub(crate) struct PerfConsumeArgs {
    /// The topic.
    pub(crate) topic: String,
    /// Stop after this many records (default: at the end).
    #[arg(long)]
    pub(crate) num_records: Option<u64>,
    /// Seconds between progress lines.
    #[arg(long, default_value_t = 5)]
    pub(crate) reporting_interval: u64,
}
