//! Key material: fresh keys, the SHA-256 digest keys are looked up by, and OpenRouter's display
//! label (the only form of a key the emulator ever prints).

use rand::RngCore;
use sha2::{Digest, Sha256};

/// SHA-256 of a key's plaintext, hex: how keys are looked up.
pub(crate) fn key_digest(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// A fresh key: `sk-or-v1-` + 64 lowercase hex.
pub(crate) fn generate_key() -> String {
    format!("sk-or-v1-{}", random_hex(32))
}

/// OpenRouter's display label of a key: `sk-or-v1-` + first 3 + `...` + last 4 hex of the secret.
pub(crate) fn key_label(key: &str) -> String {
    match key.strip_prefix("sk-or-v1-") {
        Some(rest) if rest.len() >= 7 && rest.is_ascii() => {
            format!("sk-or-v1-{}...{}", &rest[..3], &rest[rest.len() - 4..])
        }
        _ => "[redacted]".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_and_format() {
        let k = generate_key();
        assert_eq!(k.len(), 73);
        let l = key_label(&k);
        assert_eq!(l.len(), "sk-or-v1-".len() + 3 + 3 + 4);
        assert!(l.starts_with(&k[..12]) && l.ends_with(&k[69..]));
    }
}
