//! The layout of a fuzz input for the file targets:
//!
//! ```text
//! 0  u8  scenario   which realistic directory to start from (modulo their number)
//! 1  u8  flags      REPAIR | FIX_LENGTHS | ABSENT | SUBSCRIBE
//! 2  u8  pick       which segment's file to replace (modulo their number)
//! 3  u8  spare_crc  the CRC field left as given (see `Fixup`); 255 = none
//! 4  ..  the file's bytes
//! ```
//!
//! Seeds are a valid file of each kind as larder writes it behind this
//! prefix, so mutations start from the real format.

use crate::fixup::Fixup;

/// Open with `repair(true)` (partition targets).
pub const REPAIR: u8 = 1;
/// Make length and count fields agree with the bytes.
pub const FIX_LENGTHS: u8 = 2;
/// Remove the file instead of writing the bytes.
pub const ABSENT: u8 = 4;
/// Read through a group subscription rather than a manual assignment
/// (log targets).
pub const SUBSCRIBE: u8 = 8;
/// Bytes before the file's bytes.
pub const PREFIX_BYTES: usize = 4;

/// A parsed fuzz input.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// Scenario number, not yet reduced modulo the scenario count.
    pub scenario: u8,
    /// `REPAIR`, `FIX_LENGTHS`, `ABSENT`, `SUBSCRIBE`.
    pub flags: u8,
    /// Segment number, not yet reduced modulo the segment count.
    pub pick: u8,
    /// How to fix up the file's bytes.
    pub fixup: Fixup,
    /// The file's bytes, before the fix-up.
    pub file: &'a [u8],
}

impl<'a> Input<'a> {
    /// Splits `data` into prefix and file bytes; `None` if too short.
    pub fn parse(data: &'a [u8]) -> Option<Input<'a>> {
        let (prefix, file) = data.split_at_checked(PREFIX_BYTES)?;
        let flags = prefix[1];
        let fixup = Fixup { fix_lengths: flags & FIX_LENGTHS != 0, spare_crc: prefix[3] };
        Some(Input { scenario: prefix[0], flags, pick: prefix[2], fixup, file })
    }

    /// Whether flag `flag` is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// The seed bytes for a file of scenario `scenario`, segment `pick`.
    pub fn seed(scenario: u8, flags: u8, pick: u8, file: &[u8]) -> Vec<u8> {
        let mut seed = vec![scenario, flags, pick, u8::MAX];
        seed.extend_from_slice(file);
        seed
    }
}
