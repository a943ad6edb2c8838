//! Small CRC-framed metadata files (partition state; later topic metadata
//! and committed offsets), replaced atomically: write a temporary file,
//! sync it, rename it over the old one, sync the directory. A reader sees
//! the old file or the new one, never a mix.
//!
//! Layout: `magic (8) | u16 version | u16 zero | u32 payload_len | payload |
//! u32 crc32c of everything before it`.

use std::path::Path;

use crate::error::{Error, IoOp, Result};
use crate::storage::le;
use crate::storage::Storage;

const PREFIX_BYTES: usize = 16;

/// What every larder file starts with: an 8-byte magic naming its kind and
/// a `u16` version — written and checked here only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileKind {
    magic: &'static [u8; 8],
    /// The version written.
    version: u16,
    /// The oldest version still read.
    oldest: u16,
}

impl FileKind {
    /// Files starting with `magic` and `version`.
    pub(crate) const fn new(magic: &'static [u8; 8], version: u16) -> FileKind {
        FileKind { magic, version, oldest: version }
    }

    /// Files written at `version`, read from `oldest` on.
    pub(crate) const fn reading_from(magic: &'static [u8; 8], version: u16, oldest: u16) -> FileKind {
        FileKind { magic, version, oldest }
    }

    /// Writes the magic and version at the start of `bytes` (at least 10).
    pub(crate) fn put(&self, bytes: &mut [u8]) {
        bytes[..8].copy_from_slice(self.magic);
        le::put_u16(bytes, 8, self.version);
    }

    /// Checks `bytes` start with this kind's magic and a version it reads,
    /// or says what they hold instead.
    pub(crate) fn check(&self, bytes: &[u8]) -> Result<(), String> {
        self.version_of(bytes).map(drop)
    }

    /// The version `bytes` carry, if they are of this kind and it is read.
    pub(crate) fn version_of(&self, bytes: &[u8]) -> Result<u16, String> {
        if bytes.len() < 10 || &bytes[..8] != self.magic {
            return Err("too short or bad magic".into());
        }
        match le::u16_at(bytes, 8) {
            version if (self.oldest..=self.version).contains(&version) => Ok(version),
            version => Err(format!("unsupported version {version}")),
        }
    }
}

/// Frames `payload` as a file of `kind`.
pub(crate) fn encode(kind: &FileKind, payload: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0u8; PREFIX_BYTES + payload.len() + 4];
    kind.put(&mut bytes);
    le::put_u32(&mut bytes, 12, payload.len() as u32);
    bytes[PREFIX_BYTES..PREFIX_BYTES + payload.len()].copy_from_slice(payload);
    let crc_at = bytes.len() - 4;
    let crc = crc32c::crc32c(&bytes[..crc_at]);
    le::put_u32(&mut bytes, crc_at, crc);
    bytes
}

/// Unframes bytes written by [`encode`] as a file of `kind`, or says what
/// is wrong.
pub(crate) fn decode<'a>(kind: &FileKind, bytes: &'a [u8]) -> Result<&'a [u8], String> {
    decode_versioned(kind, bytes).map(|(_, payload)| payload)
}

/// As [`decode`], with the version the file was written at.
pub(crate) fn decode_versioned<'a>(kind: &FileKind, bytes: &'a [u8]) -> Result<(u16, &'a [u8]), String> {
    let version = kind.version_of(bytes)?;
    if bytes.len() < PREFIX_BYTES + 4 {
        return Err("too short".into());
    }
    let len = le::u32_at(bytes, 12) as usize;
    if bytes.len() != PREFIX_BYTES + len + 4 {
        return Err(format!("payload length {len} does not match file length {}", bytes.len()));
    }
    let crc_at = bytes.len() - 4;
    if le::u32_at(bytes, crc_at) != crc32c::crc32c(&bytes[..crc_at]) {
        return Err("checksum mismatch".into());
    }
    Ok((version, &bytes[PREFIX_BYTES..crc_at]))
}

/// Replaces `dir/name` with `bytes` atomically and durably.
pub(crate) fn write_atomic(storage: &dyn Storage, dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let target = dir.join(name);
    let temp = dir.join(format!("{name}.tmp"));
    let file = storage.create_file(&temp).map_err(|e| Error::io(IoOp::Create, &temp, e))?;
    storage.write_at(&file, &temp, 0, bytes).map_err(|e| Error::io(IoOp::Write, &temp, e))?;
    storage.sync_file(&file, &temp).map_err(|e| Error::io(IoOp::Sync, &temp, e))?;
    drop(file);
    storage.rename(&temp, &target).map_err(|e| Error::io(IoOp::Rename, &target, e))?;
    storage.sync_dir(dir).map_err(|e| Error::io(IoOp::SyncDirectory, dir, e))
}

/// Reads `path` whole; `None` if it does not exist.
pub(crate) fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(IoOp::Read, path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_any_flip_or_cut() {
        const TEST: FileKind = FileKind::new(b"LARDRTST", 1);
        let bytes = encode(&TEST, b"payload");
        assert_eq!(decode(&TEST, &bytes).unwrap(), b"payload");
        for at in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 1;
            assert!(decode(&TEST, &bad).is_err());
            assert!(decode(&TEST, &bytes[..at]).is_err());
        }
    }
}
