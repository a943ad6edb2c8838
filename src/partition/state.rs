//! `partition.state`: what a partition records about itself between opens
//! (the clean-shutdown marker, the log start, the recovery point), in the
//! common metadata framing, only ever replaced atomically.

use std::path::Path;

use crate::error::Result;
use crate::storage::{le, meta, Storage};

pub(crate) const STATE_FILE: &str = "partition.state";
/// A `partition.state` file: magic and version.
const STATE: meta::FileKind = meta::FileKind::new(b"LARDRPST", 1);

/// What a partition records about itself between opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PartitionState {
    /// Written by a clean close; cleared (written false) on open.
    pub(crate) clean: bool,
    /// The first offset readers may see.
    pub(crate) log_start_offset: u64,
    /// Every segment below this offset was sealed and synced.
    pub(crate) recovery_point: u64,
}

impl PartitionState {
    fn encode(&self) -> Vec<u8> {
        let mut payload = [0u8; 24];
        payload[0] = u8::from(self.clean);
        le::put_u64(&mut payload, 8, self.log_start_offset);
        le::put_u64(&mut payload, 16, self.recovery_point);
        meta::encode(&STATE, &payload)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<PartitionState, String> {
        let payload = meta::decode(&STATE, bytes)?;
        if payload.len() != 24 || payload[0] > 1 {
            return Err("malformed payload".into());
        }
        Ok(PartitionState {
            clean: payload[0] == 1,
            log_start_offset: le::u64_at(payload, 8),
            recovery_point: le::u64_at(payload, 16),
        })
    }

    /// Replaces the state file atomically and durably.
    pub(crate) fn write(&self, storage: &dyn Storage, dir: &Path) -> Result<()> {
        meta::write_atomic(storage, dir, STATE_FILE, &self.encode())
    }
}

/// The state stored in `dir`; `None` when it is missing or unreadable (it
/// is then rebuilt).
pub(crate) fn read(dir: &Path) -> Result<Option<PartitionState>> {
    let bytes = meta::read_if_exists(&dir.join(STATE_FILE))?;
    Ok(bytes.as_deref().map(PartitionState::decode).and_then(std::result::Result::ok))
}
