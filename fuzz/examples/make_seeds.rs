//! Writes the seeds of the file targets and of `partition_model` under
//! `seeds/<target>/`: for the file targets, every file of each kind exactly
//! as larder wrote it in each scenario, behind the input prefix of
//! `larder_fuzz::input` (so the fuzzer starts from the real format); for
//! `partition_model`, operation strings that append, batch, read, roll,
//! truncate, delete and crash. Run from `fuzz/`: `cargo run --example
//! make_seeds`. The other targets' seeds are hand-made and left alone.

use std::fs;
use std::path::{Path, PathBuf};

use larder_fuzz::input::{Input, ABSENT, FIX_LENGTHS, REPAIR, SUBSCRIBE};
use larder_fuzz::log_files::LogFile;
use larder_fuzz::scenario;
use larder_fuzz::snapshot::segment_file;

/// `partition_model` operations, two bytes each (`op % 8`, argument); see
/// that target for their meaning.
const MODEL_SEEDS: &[(&str, &[u8])] = &[
    ("appends_and_reads", &[0, 10, 0, 50, 1, 96, 3, 0, 3, 1, 3, 2, 2, 8, 3, 5]),
    ("rolls", &[0, 90, 0, 90, 4, 0, 0, 5, 2, 7, 4, 0, 3, 3, 0, 90, 0, 90, 0, 90, 0, 90, 0, 90, 3, 9]),
    ("truncations", &[2, 8, 4, 0, 2, 5, 5, 6, 0, 3, 3, 2, 5, 0, 0, 1, 3, 0]),
    ("retention", &[2, 8, 4, 0, 2, 8, 4, 0, 6, 9, 3, 1, 6, 100, 0, 4, 3, 0]),
    ("crash_cycles", &[2, 8, 7, 0, 0, 20, 7, 1, 4, 0, 7, 0, 2, 3, 7, 1, 3, 0]),
    ("everything", &[2, 8, 4, 0, 0, 40, 7, 0, 6, 3, 2, 6, 5, 7, 7, 1, 4, 0, 0, 9, 3, 4, 7, 0, 3, 1]),
];

fn main() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    write_all(&seeds.join("open_idx"), partition_seeds("idx"));
    write_all(&seeds.join("open_tix"), partition_seeds("tix"));
    write_all(&seeds.join("open_partition_state"), state_seeds());
    write_all(&seeds.join("open_topic_meta"), log_seeds(LogFile::TopicMeta));
    write_all(&seeds.join("open_group_offsets"), log_seeds(LogFile::GroupOffsets));
    write_all(
        &seeds.join("partition_model"),
        MODEL_SEEDS.iter().map(|(n, ops)| (n.to_string(), ops.to_vec())).collect(),
    );
}

/// Replaces the files of `dir` by `seeds`.
fn write_all(dir: &PathBuf, seeds: Vec<(String, Vec<u8>)>) {
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir).unwrap();
    for (name, bytes) in &seeds {
        fs::write(dir.join(name), bytes).unwrap();
    }
    println!("{}: {} seeds", dir.display(), seeds.len());
}

/// Every segment's `extension` file in every partition scenario, plus the
/// first one opened with repair, with lengths fixed up, and absent.
fn partition_seeds(extension: &str) -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    for (s, built) in scenario::partitions().iter().enumerate() {
        for (k, base) in built.snapshot.segment_bases("").into_iter().enumerate() {
            let Some(file) = built.snapshot.file(segment_file(base, extension)) else { continue };
            seeds.push((format!("{}-segment{k}", built.name), Input::seed(s as u8, 0, k as u8, file)));
            if s == 0 && k == 0 {
                for (flag, name) in [(REPAIR, "repair"), (FIX_LENGTHS, "fix_lengths"), (ABSENT, "absent")] {
                    seeds.push((format!("{}-segment{k}-{name}", built.name), Input::seed(0, flag, 0, file)));
                }
            }
        }
    }
    seeds
}

/// `partition.state` of every partition scenario.
fn state_seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    for (s, built) in scenario::partitions().iter().enumerate() {
        let file = built.snapshot.file("partition.state").expect("every scenario writes its state");
        seeds.push((built.name.to_string(), Input::seed(s as u8, 0, 0, file)));
    }
    seeds.push(("absent".into(), Input::seed(1, ABSENT, 0, &[])));
    seeds
}

/// `file` of every log scenario, read by assignment and by subscription.
fn log_seeds(file: LogFile) -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    for (s, built) in scenario::logs().iter().enumerate() {
        let bytes = built.snapshot.file(file.path()).expect("every log scenario writes it");
        seeds.push((built.name.to_string(), Input::seed(s as u8, 0, 0, bytes)));
        seeds.push((format!("{}-subscribe", built.name), Input::seed(s as u8, SUBSCRIBE, 0, bytes)));
    }
    seeds
}
