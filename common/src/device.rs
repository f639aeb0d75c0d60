//! Device identity: ScoutPi ids arrive in any case (`scoutpi-0006`, `SCOUTPI-0006`) and mean one
//! device, so the canonical form is trimmed upper case.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest accepted device id, in bytes.
pub const MAX_DEVICE_ID_LEN: usize = 64;

/// A validated, canonical (upper-case) device id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceId(String);

/// Why a string is not a device id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceIdError {
    #[error("device id is empty")]
    Empty,
    #[error("device id is longer than {MAX_DEVICE_ID_LEN} bytes")]
    TooLong,
    #[error("device id contains {0:?}; only letters, digits, '-', '_', '.' and ':' are allowed")]
    BadChar(char),
}

impl DeviceId {
    /// Parses and canonicalises a device id (trimmed, upper case).
    pub fn parse(raw: &str) -> Result<Self, DeviceIdError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(DeviceIdError::Empty);
        }
        if trimmed.len() > MAX_DEVICE_ID_LEN {
            return Err(DeviceIdError::TooLong);
        }
        if let Some(c) = trimmed
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
        {
            return Err(DeviceIdError::BadChar(c));
        }
        Ok(Self(trimmed.to_ascii_uppercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for DeviceId {
    type Error = DeviceIdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<DeviceId> for String {
    fn from(value: DeviceId) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_whitespace_name_one_device() {
        let a = DeviceId::parse("scoutpi-0006").unwrap();
        let b = DeviceId::parse(" SCOUTPI-0006 ").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "SCOUTPI-0006");
    }

    #[test]
    fn rejects_empty_long_and_odd_characters() {
        assert_eq!(DeviceId::parse("  "), Err(DeviceIdError::Empty));
        assert_eq!(
            DeviceId::parse(&"A".repeat(65)),
            Err(DeviceIdError::TooLong)
        );
        assert_eq!(DeviceId::parse("pi 4"), Err(DeviceIdError::BadChar(' ')));
        assert_eq!(DeviceId::parse("pi/4"), Err(DeviceIdError::BadChar('/')));
    }
}
