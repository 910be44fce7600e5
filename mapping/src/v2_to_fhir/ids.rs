//! Deterministic resource ids.
//!
//! An id is a SHA-256 of a fixed scheme tag, the message's namespace (sending application and
//! facility, MSH-3 and MSH-4), the resource type and a key, written as a UUID (36 characters,
//! version nibble `8` for "custom", RFC 9562). The key is the resource's business identifiers
//! (see [`identifier_key`]) when it has any, so the same patient or visit gets the same id in
//! every message from the same sender, on every run and host; otherwise it is the message's
//! identity (MSH-10, else a hash of the message bytes) and the segment's position.
//!
//! No silent merges: [`Ids`] remembers every id it handed out; a second, distinct source object
//! with the same key gets a key extended by its position (and the converter reports it).

use std::collections::BTreeSet;

use ehrkit_fhir_model::Identifier;
use sha2::{Digest, Sha256};

/// Version of the id scheme, hashed into every id: changing how ids are derived must change it.
const SCHEME: &str = "ehrkit-v2-to-fhir-id/1";

/// Hands out deterministic ids for one message.
#[derive(Debug)]
pub struct Ids {
    namespace: String,
    message_key: String,
    used: BTreeSet<String>,
}

impl Ids {
    /// Ids for a message from `namespace` (sending application and facility), whose own identity
    /// is `message_key` (MSH-10, or a hash of the bytes).
    pub fn new(namespace: &str, message_key: &str) -> Self {
        Ids {
            namespace: namespace.to_owned(),
            message_key: message_key.to_owned(),
            used: BTreeSet::new(),
        }
    }

    /// The id `resource_type` + `key` would get; does not reserve it.
    pub fn peek(&self, resource_type: &str, key: &str) -> String {
        uuid_like(&[SCHEME, &self.namespace, resource_type, key])
    }

    /// True when `id` was handed out already.
    pub fn is_used(&self, id: &str) -> bool {
        self.used.contains(id)
    }

    /// Reserves `id`.
    pub fn reserve(&mut self, id: &str) {
        self.used.insert(id.to_owned());
    }

    /// The key of a resource without business identifiers: the message and a position in it.
    pub fn positional_key(&self, position: &str) -> String {
        format!("message:{}#{position}", self.message_key)
    }
}

/// The business key of a list of identifiers: the first one with a system and a value
/// (`system|value`, the one a transaction's conditional request uses), else the first with a
/// value (its type code and value: the sender's namespace is hashed into every id anyway);
/// `None` when no identifier has a value. One identifier, not all of them, so that a message
/// that adds an identifier to a known patient still finds the same id.
pub fn identifier_key(ids: &[Identifier]) -> Option<String> {
    let value = |i: &Identifier| i.value.as_ref()?.value.clone();
    let with_system = ids.iter().find_map(|i| {
        let s = i.system.as_ref()?.value.as_deref()?;
        Some(format!("system:{}:{s}|{}", s.len(), value(i)?))
    });
    with_system.or_else(|| {
        ids.iter().find_map(|i| {
            let ty = i
                .type_
                .as_ref()
                .and_then(|t| t.coding.first())
                .and_then(|c| c.code.as_ref())
                .and_then(|c| c.value.as_deref())
                .unwrap_or("");
            Some(format!("type:{}:{ty}|{}", ty.len(), value(i)?))
        })
    })
}

/// A SHA-256 of `parts` (length-prefixed, so no two part lists collide by concatenation) as a
/// UUID-shaped lower-case hex id.
pub fn uuid_like(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut out = String::with_capacity(36);
    for (i, x) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        push_hex(&mut out, *x);
    }
    out
}

/// Appends `x` as two lower-case hex digits (ids are made per resource: no `format!`).
fn push_hex(out: &mut String, x: u8) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.push(DIGITS[usize::from(x >> 4)] as char);
    out.push(DIGITS[usize::from(x & 0x0f)] as char);
}

/// Hex SHA-256 of bytes (a message without MSH-10 is keyed by its content).
pub fn content_key(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(32);
    for x in Sha256::digest(bytes).iter().take(16) {
        push_hex(&mut out, *x);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuid_shaped_stable_and_separate_parts() {
        let a = uuid_like(&["a", "bc"]);
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'8');
        assert_eq!(a, uuid_like(&["a", "bc"]));
        assert_ne!(a, uuid_like(&["ab", "c"]));
    }

    #[test]
    fn ids_keep_their_scheme() {
        // The id scheme is a contract (the same input gives the same id on every run and
        // release): a faster hex writer must not change a single id.
        let mut h = Sha256::new();
        for p in ["a", "bc"] {
            h.update((p.len() as u64).to_be_bytes());
            h.update(p.as_bytes());
        }
        let mut b = [0u8; 16];
        b.copy_from_slice(&h.finalize()[..16]);
        b[6] = (b[6] & 0x0f) | 0x80;
        b[8] = (b[8] & 0x3f) | 0x80;
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        let expected = format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        );
        assert_eq!(uuid_like(&["a", "bc"]), expected);
        let digest: String = Sha256::digest(b"xyz")
            .iter()
            .take(16)
            .map(|x| format!("{x:02x}"))
            .collect();
        assert_eq!(content_key(b"xyz"), digest);
    }
}
