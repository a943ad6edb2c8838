//! Kafka's rule for names that become file names: topic names and group
//! ids.

use crate::error::{Error, Result};

/// Longest topic name (Kafka's limit).
pub(crate) const MAX_NAME_CHARS: usize = 249;

/// Checks a topic name or group id against Kafka's rule: 1 to 249
/// characters of `[A-Za-z0-9._-]`, and not `.` or `..`. Such a name is
/// always a plain file name, never a path.
pub fn validate_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.len() > MAX_NAME_CHARS {
        Some("longer than 249 characters")
    } else if name == "." || name == ".." {
        Some("'.' and '..' are not allowed")
    } else if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-') {
        Some("only ASCII letters, digits, '.', '_' and '-' are allowed")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidName { name: name.escape_debug().to_string(), reason }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kafkas_rule() {
        for good in ["a", "events", "A.b_c-9", &"x".repeat(249), "..."] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "a\\b", "a\0b", &"x".repeat(250), "é", "a b", "../x"] {
            assert!(matches!(validate_name(bad), Err(Error::InvalidName { .. })), "{bad:?}");
        }
    }
}
