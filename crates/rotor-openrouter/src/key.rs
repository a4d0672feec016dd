//! [`ApiKey`]: an OpenRouter key whose `Debug` and `Display` never reveal it.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An OpenRouter API key (`sk-or-v1-` + 64 hex), ordinary or management.
///
/// `Debug` and `Display` print a redacted label in OpenRouter's own style (`sk-or-v1-0e6...1c96`);
/// the plaintext is reachable only through [`ApiKey::expose`], used to build the
/// `Authorization` header and to write the key into a secret store.
///
/// It serializes as the plaintext string (so a `KeyRecord` can be written to a store); never
/// serialize it into a log.
#[derive(Clone)]
pub struct ApiKey(SecretString);

impl ApiKey {
    /// Wraps a key. Surrounding whitespace (a trailing newline from a file) is trimmed.
    pub fn new(key: impl Into<String>) -> Self {
        let s: String = key.into();
        let trimmed = s.trim();
        if trimmed.len() == s.len() {
            ApiKey(SecretString::from(s))
        } else {
            ApiKey(SecretString::from(trimmed.to_owned()))
        }
    }

    /// The plaintext key. Use only for the `Authorization` header or a store write.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Whether the key looks like an OpenRouter key: `sk-or-v1-` followed by 64 lowercase hex digits.
    pub fn is_well_formed(&self) -> bool {
        let k = self.expose();
        k.len() == 73
            && k.starts_with("sk-or-v1-")
            && k[9..]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }

    /// The redacted label: `sk-or-v1-` + the first 3 and last 4 characters of the secret part,
    /// or `[redacted]` for anything that is not well formed.
    pub fn redacted(&self) -> String {
        if self.is_well_formed() {
            let k = self.expose();
            format!("sk-or-v1-{}...{}", &k[9..12], &k[69..])
        } else {
            "[redacted]".to_owned()
        }
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.redacted())
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl PartialEq for ApiKey {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}
impl Eq for ApiKey {}

impl From<String> for ApiKey {
    fn from(s: String) -> Self {
        ApiKey::new(s)
    }
}

impl From<&str> for ApiKey {
    fn from(s: &str) -> Self {
        ApiKey::new(s)
    }
}

impl Serialize for ApiKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.expose())
    }
}

impl<'de> Deserialize<'de> for ApiKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(ApiKey::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "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";

    #[test]
    fn debug_and_display_redact() {
        let k = ApiKey::new(KEY);
        assert_eq!(format!("{k}"), "sk-or-v1-0e6...1c96");
        assert_eq!(format!("{k:?}"), "ApiKey(sk-or-v1-0e6...1c96)");
        assert!(!format!("{k:?} {k} {k:#?}").contains(&KEY[12..69]));
        assert_eq!(format!("{}", ApiKey::new("not-a-key")), "[redacted]");
    }

    #[test]
    fn trims_newline_from_files() {
        let k = ApiKey::new(format!("{KEY}\n"));
        assert_eq!(k.expose(), KEY);
        assert!(k.is_well_formed());
    }
}
