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

const VERSION: u16 = 1;
const PREFIX_BYTES: usize = 16;

/// Frames `payload` under `magic`.
pub(crate) fn encode(magic: &[u8; 8], payload: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0u8; PREFIX_BYTES + payload.len() + 4];
    bytes[..8].copy_from_slice(magic);
    le::put_u16(&mut bytes, 8, VERSION);
    le::put_u32(&mut bytes, 12, payload.len() as u32);
    bytes[PREFIX_BYTES..PREFIX_BYTES + payload.len()].copy_from_slice(payload);
    let crc_at = bytes.len() - 4;
    let crc = crc32c::crc32c(&bytes[..crc_at]);
    le::put_u32(&mut bytes, crc_at, crc);
    bytes
}

/// Unframes bytes written by [`encode`] under `magic`, or says what is wrong.
pub(crate) fn decode<'a>(magic: &[u8; 8], bytes: &'a [u8]) -> Result<&'a [u8], String> {
    if bytes.len() < PREFIX_BYTES + 4 || &bytes[..8] != magic {
        return Err("too short or bad magic".into());
    }
    if le::u16_at(bytes, 8) != VERSION {
        return Err(format!("unsupported version {}", le::u16_at(bytes, 8)));
    }
    let len = le::u32_at(bytes, 12) as usize;
    if bytes.len() != PREFIX_BYTES + len + 4 {
        return Err(format!("payload length {len} does not match file length {}", bytes.len()));
    }
    let crc_at = bytes.len() - 4;
    if le::u32_at(bytes, crc_at) != crc32c::crc32c(&bytes[..crc_at]) {
        return Err("checksum mismatch".into());
    }
    Ok(&bytes[PREFIX_BYTES..crc_at])
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
        let bytes = encode(b"LARDRTST", b"payload");
        assert_eq!(decode(b"LARDRTST", &bytes).unwrap(), b"payload");
        for at in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 1;
            assert!(decode(b"LARDRTST", &bad).is_err());
            assert!(decode(b"LARDRTST", &bytes[..at]).is_err());
        }
    }
}
