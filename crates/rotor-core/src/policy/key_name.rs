//! Key names: the policy's template filled in, then the rotor tag ` [rotor:<12 hex>]` that ties a
//! key to the rotation (or init) that made it, and reading that tag back from a name.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::Policy;

impl Policy {
    /// The name of a new key: the template filled in, then ` [rotor:<tag>]`.
    pub fn key_name(&self, secret_id: &str, now: DateTime<Utc>, tag: &str) -> String {
        let base = self
            .name_template
            .replace("{secret}", secret_id)
            .replace("{date}", &now.format("%Y-%m-%d").to_string());
        format!("{} [rotor:{tag}]", base.trim_end())
    }
}

/// The tag of the rotation (or init) `token` of `secret_id`: 12 lowercase hex digits of
/// `sha256(secret_id + "\n" + token)`.
pub fn rotor_tag(secret_id: &str, token: &str) -> String {
    let mut h = Sha256::new();
    h.update(secret_id.as_bytes());
    h.update(b"\n");
    h.update(token.as_bytes());
    hex::encode(&h.finalize()[..TAG_BYTES])
}

/// Bytes of the SHA-256 in a new tag: 48 bits, so that a tag of one rotation matching an unrelated
/// key of the same account (whose deletion the tag search would then risk) stays negligible even
/// for accounts with very many keys. Tags of 8 hex digits (32 bits, rotor before 0.1) are still
/// recognised.
const TAG_BYTES: usize = 6;

/// The rotor tag at the end of a key name (`… [rotor:3fa9c2d1e07b]` → `3fa9c2d1e07b`), if any.
pub fn tag_of_name(name: &str) -> Option<&str> {
    let rest = name.strip_suffix(']')?;
    let start = rest.rfind("[rotor:")?;
    let tag = &rest[start + "[rotor:".len()..];
    ((tag.len() == 2 * TAG_BYTES || tag.len() == 8)
        && tag
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then_some(tag)
}

/// Whether a key name carries a rotor tag (the key was created by rotor).
pub fn is_rotor_key_name(name: &str) -> bool {
    tag_of_name(name).is_some()
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_round_trip() {
        let p = Policy::default();
        let tag = rotor_tag("prod/app", "tok-1");
        assert_eq!(tag.len(), 12);
        assert_ne!(tag, rotor_tag("prod/app", "tok-2"));
        assert_ne!(tag, rotor_tag("prod/ap", "ptok-1"));
        let now = DateTime::parse_from_rfc3339("2026-11-28T06:58:44Z")
            .unwrap()
            .with_timezone(&Utc);
        let name = p.key_name("prod/app", now, &tag);
        assert_eq!(name, format!("prod/app rotated 2026-11-28 [rotor:{tag}]"));
        assert_eq!(tag_of_name(&name), Some(tag.as_str()));
        assert!(is_rotor_key_name(&name));
        assert!(!is_rotor_key_name("prod key"));
        assert!(!is_rotor_key_name("x [rotor:XYZ]"));
        // Keys named by rotor versions with 8-digit tags are still recognised.
        assert_eq!(tag_of_name("old [rotor:0badc0de]"), Some("0badc0de"));
        assert!(!is_rotor_key_name("x [rotor:0badc0de1]"));
    }
}
