//! A directory tree held in memory: captured once from a directory larder
//! wrote, restored into a fresh directory for every fuzz input (much faster
//! than running larder's writes again each time).

use std::fs;
use std::path::{Path, PathBuf};

/// Every directory and file under a root, with the files' bytes.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Directories, relative to the root, parents before children.
    dirs: Vec<PathBuf>,
    /// Files, relative to the root, sorted by path.
    files: Vec<(PathBuf, Vec<u8>)>,
}

impl Snapshot {
    /// Reads the tree under `root`.
    pub fn capture(root: &Path) -> Snapshot {
        let mut snapshot = Snapshot::default();
        snapshot.walk(root, Path::new(""));
        snapshot.files.sort();
        snapshot
    }

    fn walk(&mut self, root: &Path, relative: &Path) {
        let mut entries: Vec<_> = fs::read_dir(root.join(relative)).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for path in entries {
            let name = relative.join(path.file_name().unwrap());
            if path.is_dir() {
                self.dirs.push(name.clone());
                self.walk(root, &name);
            } else {
                self.files.push((name, fs::read(&path).unwrap()));
            }
        }
    }

    /// Writes the tree under `root`, which exists and is empty.
    pub fn restore(&self, root: &Path) {
        for dir in &self.dirs {
            fs::create_dir(root.join(dir)).unwrap();
        }
        for (path, bytes) in &self.files {
            fs::write(root.join(path), bytes).unwrap();
        }
    }

    /// The bytes of file `relative`, if the tree has it.
    pub fn file(&self, relative: impl AsRef<Path>) -> Option<&[u8]> {
        let relative = relative.as_ref();
        self.files.iter().find(|(path, _)| path == relative).map(|(_, bytes)| bytes.as_slice())
    }

    /// Base offsets of the segments in directory `relative` (from the
    /// names of its `.log` files), ascending.
    pub fn segment_bases(&self, relative: impl AsRef<Path>) -> Vec<u64> {
        let relative = relative.as_ref();
        let mut bases: Vec<u64> = self
            .files
            .iter()
            .filter(|(path, _)| path.parent() == Some(relative))
            .filter_map(|(path, _)| path.file_name()?.to_str()?.strip_suffix(".log")?.parse().ok())
            .collect();
        bases.sort_unstable();
        bases
    }
}

/// A segment file's name: its base offset in 20 digits, and its extension.
pub fn segment_file(base_offset: u64, extension: &str) -> String {
    format!("{base_offset:020}.{extension}")
}
