//! Every larder file read as it is on disk, for people: [`dump_file`]
//! prints a file's header and entries (each frame's offset, timestamp,
//! sizes and CRC verdict), [`verify_log`] checks every file of a log — all
//! CRCs, indexes against logs, seals, metadata — and names each problem
//! with its file and byte position. Both only read: no lock is taken, no
//! recovery runs, nothing is written, so they work on a live log, a crashed
//! one, or a copy. `larder dump` and `larder verify` print what they find.
//!
//! ```
//! # fn main() -> larder::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! let log = larder::Log::open(dir.path(), larder::LogOptions::default())?;
//! log.create_topic("events", larder::TopicConfig::new(1))?;
//! log.close()?;
//! let findings = larder::inspect::verify_log(dir.path())?;
//! assert!(findings.iter().all(|f| f.severity == larder::inspect::Severity::Note));
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use crate::catalog::config::{TopicConfig, META_FILE};
use crate::error::{Error, IoOp, Result};
use crate::group::inspect_offsets;
use crate::partition::state::{PartitionState, STATE_FILE};
use crate::record::codec::{self, FrameError};
use crate::segment::check::{self, scan};
use crate::segment::files;
use crate::segment::header::{decode_log_header, LOG_HEADER_BYTES};
use crate::segment::index::{decode_index_header, IndexHeader, INDEX_ENTRY_BYTES, INDEX_HEADER_BYTES};
use crate::segment::time_index::TimeIndex;
use crate::storage::le;

/// The kinds of file a log holds, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileKind {
    /// `<base>.log`: a segment's record frames.
    Log,
    /// `<base>.idx`: a segment's dense offset index.
    Index,
    /// `<base>.tix`: a segment's sparse time index.
    TimeIndex,
    /// `partition.state`: log start, recovery point, clean-close marker.
    PartitionState,
    /// `topic.meta`: a topic's configuration.
    TopicMeta,
    /// `<group>.offsets`: a group's committed offsets.
    GroupOffsets,
}

impl FileKind {
    /// The kind of the file at `path`, from its name; `None` if larder
    /// makes no such file.
    pub fn of(path: &Path) -> Option<FileKind> {
        let name = path.file_name()?.to_str()?;
        match name {
            STATE_FILE => return Some(FileKind::PartitionState),
            META_FILE => return Some(FileKind::TopicMeta),
            _ => {}
        }
        match path.extension()?.to_str()? {
            "log" => Some(FileKind::Log),
            "idx" => Some(FileKind::Index),
            "tix" => Some(FileKind::TimeIndex),
            "offsets" => Some(FileKind::GroupOffsets),
            _ => None,
        }
    }
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Severity {
    /// Stored data is damaged or inconsistent: opening may refuse, or
    /// records may be lost.
    Problem,
    /// Expected after a crash or while an owner writes (a torn unsynced
    /// tail, an unsealed index): the next open repairs it, nothing synced
    /// is lost.
    Note,
}

/// Something [`dump_file`] or [`verify_log`] found, with where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How bad it is.
    pub severity: Severity,
    /// The file.
    pub path: PathBuf,
    /// The byte position in that file.
    pub position: u64,
    /// What is wrong, in words.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Problem => "problem",
            Severity::Note => "note",
        };
        write!(f, "{severity}: {} at byte {}: {}", self.path.display(), self.position, self.message)
    }
}

/// What [`dump_file`] prints besides headers and entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DumpOptions {
    /// Each record's key, value and headers (`--print-data-log`).
    pub print_data: bool,
    /// Checks an index's entries against its log (`--index-sanity-check`).
    pub index_sanity_check: bool,
}

/// One file, dumped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDump {
    /// What kind of file it is.
    pub kind: FileKind,
    /// Its header and entries, one line each.
    pub lines: Vec<String>,
    /// What is wrong with it.
    pub findings: Vec<Finding>,
}

/// Reads the file at `path` and describes it: its header, its entries, and
/// each frame's offset, timestamp, sizes and CRC verdict. A file larder
/// does not make, or cannot read, is an error naming it.
pub fn dump_file(path: &Path, options: DumpOptions) -> Result<FileDump> {
    let kind = FileKind::of(path).ok_or_else(|| {
        let reason = format!(
            "{} is not a larder file (.log, .idx, .tix, partition.state, topic.meta, .offsets)",
            path.display()
        );
        Error::invalid("file", reason)
    })?;
    let bytes = std::fs::read(path).map_err(|e| Error::io(IoOp::Read, path, e))?;
    let mut dump = Dumper { path, lines: Vec::new(), findings: Vec::new() };
    match kind {
        FileKind::Log => dump.log(&bytes, options.print_data),
        FileKind::Index => dump.index(&bytes, options.index_sanity_check)?,
        FileKind::TimeIndex => dump.time_index(&bytes),
        FileKind::PartitionState => dump.state(&bytes),
        FileKind::TopicMeta => dump.topic_meta(&bytes),
        FileKind::GroupOffsets => dump.offsets(&bytes),
    }
    Ok(FileDump { kind, lines: dump.lines, findings: dump.findings })
}

struct Dumper<'p> {
    path: &'p Path,
    lines: Vec<String>,
    findings: Vec<Finding>,
}

impl Dumper<'_> {
    fn problem(&mut self, position: u64, message: impl Into<String>) {
        let path = self.path.to_path_buf();
        self.findings.push(Finding { severity: Severity::Problem, path, position, message: message.into() });
    }

    fn note(&mut self, position: u64, message: impl Into<String>) {
        let path = self.path.to_path_buf();
        self.findings.push(Finding { severity: Severity::Note, path, position, message: message.into() });
    }

    fn log(&mut self, bytes: &[u8], print_data: bool) {
        let header = match decode_log_header(bytes) {
            Ok(header) => header,
            Err(reason) => return self.problem(0, format!("log header: {reason}")),
        };
        let synced = header.synced_position.map_or("unknown".into(), |p| p.to_string());
        self.lines.push(format!("Log base offset: {} synced position: {synced}", header.base_offset));
        if let Some(end) = header.compacted_end {
            self.lines.push(format!("compacted: offsets {}..{end}, with holes", header.base_offset));
        }
        // A compacted log's frames hold increasing offsets with holes.
        let holes = header.compacted_end.is_some();
        let mut position = LOG_HEADER_BYTES;
        let mut expected = header.base_offset;
        while position < bytes.len() {
            match codec::decode(&bytes[position..]) {
                Ok(view) => {
                    let in_place = view.offset() == expected || holes && view.offset() > expected;
                    let verdict = if in_place { "valid" } else { "WRONG OFFSET" };
                    let key = view.key().map_or(-1, |k| k.len() as i64);
                    let value = view.value().map_or(-1, |v| v.len() as i64);
                    let headers = view.headers().count();
                    self.lines.push(format!(
                        "offset: {} position: {position} timestamp: {} frame bytes: {} key bytes: {key} value bytes: {value} headers: {headers} crc: {verdict}",
                        view.offset(),
                        view.timestamp_ms(),
                        view.frame_len()
                    ));
                    if print_data {
                        self.lines.push(format!("  key: {} value: {}", text(view.key()), text(view.value())));
                        for (name, value) in view.headers() {
                            self.lines.push(format!("  header: {name}={}", text(Some(value))));
                        }
                    }
                    if !in_place {
                        self.problem(
                            position as u64,
                            format!("frame holds offset {}, expected {expected}", view.offset()),
                        );
                    }
                    position += view.frame_len();
                    expected = view.offset().max(expected).saturating_add(1);
                }
                Err(FrameError::End) => break,
                Err(error) => {
                    self.lines.push(format!("position: {position} crc: INVALID ({error})"));
                    let synced = header.synced_position.is_some_and(|s| (position as u64) < s);
                    match synced {
                        true => self.problem(position as u64, format!("bad frame below the synced position: {error}")),
                        false => self.note(position as u64, format!("torn tail (unsynced; recovery cuts it): {error}")),
                    }
                    return;
                }
            }
        }
        let zeros = bytes.len() - position.min(bytes.len());
        self.lines.push(format!("end of frames at position {position} ({zeros} bytes of preallocated space after)"));
    }

    fn index(&mut self, bytes: &[u8], sanity_check: bool) -> Result<()> {
        let header = match decode_index_header(bytes) {
            Ok(header) => header,
            Err(reason) => {
                self.problem(0, format!("index header: {reason}"));
                return Ok(());
            }
        };
        let IndexHeader { base_offset, seal } = header;
        let entries = index_entries(bytes, seal.map(|s| s.entry_count));
        match seal {
            Some(seal) => {
                let crc_ok = bytes.len() >= INDEX_HEADER_BYTES
                    && crc32c::crc32c(&bytes[INDEX_HEADER_BYTES..]) == seal.entries_crc;
                let verdict = if crc_ok { "valid" } else { "INVALID" };
                self.lines.push(format!(
                    "Index base offset: {base_offset} sealed: {} entries, log of {} bytes, entries crc: {verdict}",
                    seal.entry_count, seal.log_len
                ));
                if !crc_ok {
                    self.problem(INDEX_HEADER_BYTES as u64, "the entries do not match the seal's CRC");
                }
            }
            None => {
                self.lines.push(format!("Index base offset: {base_offset} not sealed (active, or left by a crash)"))
            }
        }
        for (n, position) in entries.iter().enumerate() {
            self.lines.push(format!("offset: {} position: {position}", base_offset + n as u64));
        }
        if sanity_check {
            let log_path = self.path.with_extension("log");
            let log = std::fs::read(&log_path).map_err(|e| Error::io(IoOp::Read, &log_path, e))?;
            let holes = decode_log_header(&log).is_ok_and(|h| h.compacted_end.is_some());
            self.check_entries(&log, base_offset, &entries, holes);
        }
        Ok(())
    }

    /// Each entry must point at the frame of its offset in `log`.
    /// On a compacted log (`holes`), a removed offset's entry points at the
    /// next surviving frame, or at the end of the log.
    fn check_entries(&mut self, log: &[u8], base_offset: u64, entries: &[u32], holes: bool) {
        let mut bad = 0;
        for (n, &position) in entries.iter().enumerate() {
            let offset = base_offset + n as u64;
            let frame = log.get(position as usize..).map(codec::decode);
            let found =
                matches!(frame, Some(Ok(ref view)) if view.offset() == offset || holes && view.offset() > offset);
            let ok = found || holes && position as usize == log.len();
            if !ok && position as usize >= LOG_HEADER_BYTES {
                bad += 1;
                let at = (INDEX_HEADER_BYTES + n * INDEX_ENTRY_BYTES) as u64;
                self.problem(at, format!("entry of offset {offset} points at {position}, not at that offset's frame"));
            }
        }
        self.lines.push(format!("index sanity check: {} entries, {bad} wrong", entries.len()));
    }

    fn time_index(&mut self, bytes: &[u8]) {
        let base = base_of(self.path).unwrap_or_else(|| le_u64(bytes, 16));
        match TimeIndex::decode(bytes, base, u64::MAX) {
            Some(times) => {
                self.lines
                    .push(format!("Time index base offset: {base}, {} entries, crc: valid", times.entries().len()));
                for (timestamp, offset) in times.entries() {
                    self.lines.push(format!("timestamp: {timestamp} offset: {offset}"));
                }
            }
            None => self
                .problem(0, "time index cannot be trusted (magic, CRC, base offset or entry order); open rebuilds it"),
        }
    }

    fn state(&mut self, bytes: &[u8]) {
        match PartitionState::decode(bytes) {
            Ok(state) => self.lines.push(format!(
                "Partition state: clean close: {} log start offset: {} recovery point: {}",
                state.clean, state.log_start_offset, state.recovery_point
            )),
            Err(reason) => self.problem(0, format!("partition state: {reason}")),
        }
    }

    fn topic_meta(&mut self, bytes: &[u8]) {
        match TopicConfig::decode(bytes) {
            Ok(config) => {
                let limits = config.segment_limits();
                let (retention_ms, retention_bytes) = config.retention();
                self.lines.push(format!("Topic metadata: {} partitions", config.partitions()));
                self.lines.push(format!("  durability: {:?}", config.durability_level()));
                self.lines.push(format!("  cleanup policy: {:?}", config.cleanup()));
                self.lines.push(format!("  retention ms: {retention_ms:?} retention bytes: {retention_bytes:?}"));
                self.lines.push(format!("  buffer: {:?}", config.buffer()));
                self.lines.push(format!("  segments: {limits:?}"));
            }
            Err(reason) => self.problem(0, format!("topic metadata: {reason}")),
        }
    }

    fn offsets(&mut self, bytes: &[u8]) {
        match inspect_offsets(bytes) {
            Ok(inspected) => {
                let (offsets, commits, valid_len) = (inspected.offsets, inspected.commits, inspected.valid_len);
                self.lines.push(format!("Group offsets: {commits} commits, {valid_len} valid bytes"));
                for (tp, offset) in &offsets {
                    self.lines.push(format!("topic: {} partition: {} committed: {offset}", tp.topic, tp.partition));
                }
                if valid_len < bytes.len() as u64 {
                    self.note(valid_len, "a torn last commit (the next open cuts it; the one before stands)");
                }
            }
            Err((position, reason)) => self.problem(position, format!("group offsets: {reason}")),
        }
    }
}

/// The index entries: `count` of them if sealed, else up to the first
/// zero (never written) entry.
fn index_entries(bytes: &[u8], count: Option<u64>) -> Vec<u32> {
    let body = bytes.get(INDEX_HEADER_BYTES..).unwrap_or_default();
    let available = body.len() / INDEX_ENTRY_BYTES;
    let entries = (0..available).map(|n| le::u32_at(body, n * INDEX_ENTRY_BYTES));
    match count {
        Some(count) => entries.take(count.min(available as u64) as usize).collect(),
        None => entries.take_while(|&p| p != 0).collect(),
    }
}

fn le_u64(bytes: &[u8], at: usize) -> u64 {
    if bytes.len() >= at + 8 {
        le::u64_at(bytes, at)
    } else {
        0
    }
}

/// The base offset a segment file's name gives.
fn base_of(path: &Path) -> Option<u64> {
    path.file_stem()?.to_str()?.parse().ok()
}

fn text(bytes: Option<&[u8]>) -> String {
    bytes.map_or("null".into(), |b| format!("{:?}", String::from_utf8_lossy(b)))
}

/// Checks every file of the log in `dir` — topic metadata, partition
/// states, every segment's frames (CRC and offset), seals, indexes against
/// their logs, time indexes, group offsets — and returns what it found, in
/// file order; no [`Severity::Problem`] means the log is sound. Reads only.
pub fn verify_log(dir: &Path) -> Result<Vec<Finding>> {
    let topics = dir.join("topics");
    if !topics.is_dir() {
        return Err(Error::invalid("dir", format!("{} holds no larder log (no topics directory)", dir.display())));
    }
    let mut findings = Vec::new();
    for entry in sorted_entries(&topics)? {
        let name = entry.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.contains('~') {
            let message = "left by an interrupted topic creation or deletion (removed on the next open)";
            findings.push(note(&entry, 0, message));
            continue;
        }
        verify_topic(&entry, &mut findings)?;
    }
    let groups = dir.join("groups");
    if groups.is_dir() {
        for path in sorted_entries(&groups)? {
            if FileKind::of(&path) == Some(FileKind::GroupOffsets) {
                findings.extend(dump_file(&path, DumpOptions::default())?.findings);
            }
        }
    }
    Ok(findings)
}

fn note(path: &Path, position: u64, message: impl Into<String>) -> Finding {
    Finding { severity: Severity::Note, path: path.to_path_buf(), position, message: message.into() }
}

fn problem(path: &Path, position: u64, message: impl Into<String>) -> Finding {
    Finding { severity: Severity::Problem, path: path.to_path_buf(), position, message: message.into() }
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(IoOp::List, dir, e))?;
    let mut paths = entries.map(|e| e.map(|e| e.path())).collect::<std::io::Result<Vec<_>>>();
    if let Ok(paths) = &mut paths {
        paths.sort();
    }
    paths.map_err(|e| Error::io(IoOp::List, dir, e))
}

fn verify_topic(dir: &Path, findings: &mut Vec<Finding>) -> Result<()> {
    let meta = dir.join(META_FILE);
    let Ok(bytes) = std::fs::read(&meta) else {
        findings.push(problem(&meta, 0, "topic metadata is missing or unreadable"));
        return Ok(());
    };
    let config = match TopicConfig::decode(&bytes) {
        Ok(config) => config,
        Err(reason) => {
            findings.push(problem(&meta, 0, format!("topic metadata: {reason}")));
            return Ok(());
        }
    };
    for n in 0..config.partitions() {
        let partition = dir.join(n.to_string());
        match partition.is_dir() {
            true => verify_partition(&partition, findings)?,
            false => findings.push(problem(&partition, 0, "a partition topic.meta names is missing")),
        }
    }
    Ok(())
}

fn verify_partition(dir: &Path, findings: &mut Vec<Finding>) -> Result<()> {
    let state_path = dir.join(STATE_FILE);
    let state = match std::fs::read(&state_path).map(|b| PartitionState::decode(&b)) {
        Ok(Ok(state)) => Some(state),
        Ok(Err(reason)) => {
            findings.push(problem(&state_path, 0, format!("partition state: {reason}")));
            None
        }
        Err(_) => {
            findings.push(problem(&state_path, 0, "partition state is missing"));
            None
        }
    };
    let bases = files::list_bases(dir)?;
    let mut next_base: Option<u64> = None;
    for (i, &base) in bases.iter().enumerate() {
        let last = i + 1 == bases.len();
        let log_path = dir.join(format!("{base:020}.log"));
        if let Some(expected) = next_base.filter(|&e| e != base) {
            let message = format!("segment starts at offset {base}, but the one before ends at {expected}");
            findings.push(problem(&log_path, 0, message));
        }
        next_base = verify_segment(dir, base, last, findings)?;
    }
    if let (Some(state), Some(end)) = (state, next_base) {
        let first = bases.first().copied().unwrap_or(0);
        if state.log_start_offset > end || state.log_start_offset < first && !bases.is_empty() {
            let message =
                format!("log start offset {} is outside the segments' offsets {first}..{end}", state.log_start_offset);
            findings.push(problem(&state_path, 0, message));
        }
    }
    Ok(())
}

/// Checks one segment's files; returns the offset after its last valid
/// record (`None` if its log could not be read at all).
fn verify_segment(dir: &Path, base: u64, last: bool, findings: &mut Vec<Finding>) -> Result<Option<u64>> {
    let log_path = dir.join(format!("{base:020}.log"));
    let Ok(log) = std::fs::read(&log_path) else {
        findings.push(problem(&log_path, 0, "the segment's log is missing or unreadable"));
        return Ok(None);
    };
    let header = match decode_log_header(&log) {
        Ok(header) if header.base_offset == base => header,
        Ok(header) => {
            findings.push(problem(&log_path, 0, format!("log header names base offset {}", header.base_offset)));
            return Ok(None);
        }
        Err(reason) => {
            findings.push(problem(&log_path, 0, format!("log header: {reason}")));
            return Ok(None);
        }
    };
    if header.compacted_end.is_some() {
        return verify_compacted(dir, base, &log_path, findings);
    }
    let scanned = scan(&log, base, 4096);
    let end = base + scanned.positions.len() as u64;
    if let Some(error) = &scanned.stop {
        let synced = header.synced_position.is_some_and(|s| (scanned.valid_end as u64) < s);
        let position = scanned.valid_end as u64;
        let finding = match (last, synced) {
            (true, false) => note(&log_path, position, format!("torn unsynced tail (the next open cuts it): {error}")),
            _ => problem(&log_path, position, format!("bad frame: {error}")),
        };
        findings.push(finding);
    }
    verify_index(dir, base, &log, &scanned.positions, last, findings);
    if !last {
        verify_time_index(dir, base, end, findings);
    }
    Ok(Some(end))
}

/// A compacted segment is final: its seal vouches for its log and index
/// (`check::verify_seal` checks them, holes included).
fn verify_compacted(dir: &Path, base: u64, log_path: &Path, findings: &mut Vec<Finding>) -> Result<Option<u64>> {
    match check::verify_seal(dir, base)? {
        Some(sealed) => Ok(Some(base + sealed.entry_count)),
        None => {
            findings.push(problem(log_path, 0, "a compacted segment whose seal does not verify against its log"));
            Ok(None)
        }
    }
}

fn verify_index(dir: &Path, base: u64, log: &[u8], positions: &[u32], last: bool, findings: &mut Vec<Finding>) {
    let path = dir.join(format!("{base:020}.idx"));
    let Ok(bytes) = std::fs::read(&path) else {
        findings.push(note(&path, 0, "the index is missing (the next open rebuilds it from the log)"));
        return;
    };
    let header = match decode_index_header(&bytes) {
        Ok(header) => header,
        Err(reason) => return findings.push(problem(&path, 0, format!("index header: {reason}"))),
    };
    if header.base_offset != base {
        findings.push(problem(&path, 0, format!("index header names base offset {}", header.base_offset)));
        return;
    }
    let entries = index_entries(&bytes, header.seal.map(|s| s.entry_count));
    let Some(seal) = header.seal else {
        if !last {
            findings.push(note(&path, 0, "a sealed segment's index is not sealed (the next open rebuilds it)"));
        }
        if let Some(n) = entries.iter().zip(positions).position(|(e, p)| e != p) {
            let at = (INDEX_HEADER_BYTES + n * INDEX_ENTRY_BYTES) as u64;
            findings.push(note(&path, at, "an unsealed index entry disagrees with the log (rebuilt on open)"));
        }
        return;
    };
    let crc_ok = crc32c::crc32c(&bytes[INDEX_HEADER_BYTES..]) == seal.entries_crc;
    if !crc_ok {
        findings.push(problem(&path, INDEX_HEADER_BYTES as u64, "the entries do not match the seal's CRC"));
    }
    if seal.log_len != log.len() as u64 {
        let message = format!("the seal vouches for a log of {} bytes; it has {}", seal.log_len, log.len());
        findings.push(problem(&path, 0, message));
    }
    if entries != positions {
        let n = entries.iter().zip(positions).position(|(e, p)| e != p).unwrap_or(entries.len().min(positions.len()));
        let at = (INDEX_HEADER_BYTES + n * INDEX_ENTRY_BYTES) as u64;
        let message = format!(
            "{} entries against {} frames in the log; first difference at entry {n}",
            entries.len(),
            positions.len()
        );
        findings.push(problem(&path, at, message));
    }
}

fn verify_time_index(dir: &Path, base: u64, end: u64, findings: &mut Vec<Finding>) {
    let path = dir.join(format!("{base:020}.tix"));
    let Ok(bytes) = std::fs::read(&path) else { return };
    if TimeIndex::decode(&bytes, base, end).is_none() {
        findings.push(problem(
            &path,
            0,
            "the time index fails its checks (CRC, base offset, entries inside the segment)",
        ));
    }
}
