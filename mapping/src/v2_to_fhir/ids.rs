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
    message_key: String,
    /// The SHA-256 state after the scheme tag and the namespace (the prefix of every id of this
    /// message), so each id hashes only its type and key.
    prefix: Sha256,
    /// The ids handed out: the UUID-shaped ones this module makes held inline (no allocation
    /// per id), any other id [`Ids::reserve`] is given as a string.
    uuids: BTreeSet<[u8; 36]>,
    others: BTreeSet<String>,
}

impl Ids {
    /// Ids for a message from `namespace` (sending application and facility), whose own identity
    /// is `message_key` (MSH-10, or a hash of the bytes).
    pub fn new(namespace: &str, message_key: &str) -> Self {
        let mut prefix = Sha256::new();
        for p in [SCHEME, namespace] {
            update_part(&mut prefix, p);
        }
        Ids {
            message_key: message_key.to_owned(),
            prefix,
            uuids: BTreeSet::new(),
            others: BTreeSet::new(),
        }
    }

    /// The id `resource_type` + `key` would get; does not reserve it.
    pub fn peek(&self, resource_type: &str, key: &str) -> String {
        // The same digest as `uuid_like(&[SCHEME, namespace, resource_type, key])`, from the
        // message's prefix state.
        let mut h = self.prefix.clone();
        update_part(&mut h, resource_type);
        update_part(&mut h, key);
        uuid_of(h)
    }

    /// The message's own identity (MSH-10, else a hash of the bytes), as given to [`Ids::new`].
    pub(crate) fn message_key(&self) -> &str {
        &self.message_key
    }

    /// True when `id` was handed out already.
    pub fn is_used(&self, id: &str) -> bool {
        match <[u8; 36]>::try_from(id.as_bytes()) {
            Ok(uuid) => self.uuids.contains(&uuid),
            Err(_) => self.others.contains(id),
        }
    }

    /// Reserves `id`.
    pub fn reserve(&mut self, id: &str) {
        match <[u8; 36]>::try_from(id.as_bytes()) {
            Ok(uuid) => {
                self.uuids.insert(uuid);
            }
            Err(_) => {
                self.others.insert(id.to_owned());
            }
        }
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
    let mut out = String::new();
    write_identifier_key(ids, &mut out).then_some(out)
}

/// Appends [`identifier_key`] of `ids` to `out` (ids are made per resource: a reused buffer,
/// no `format!`); false, with `out` untouched, when no identifier has a value.
pub(crate) fn write_identifier_key(ids: &[Identifier], out: &mut String) -> bool {
    fn value(i: &Identifier) -> Option<&str> {
        i.value.as_ref()?.value.as_deref()
    }
    let with_system = ids.iter().find_map(|i| {
        let s = i.system.as_ref()?.value.as_deref()?;
        Some(("system:", s, value(i)?))
    });
    let key = with_system.or_else(|| {
        ids.iter().find_map(|i| {
            let ty = i
                .type_
                .as_ref()
                .and_then(|t| t.coding.first())
                .and_then(|c| c.code.as_ref())
                .and_then(|c| c.value.as_deref())
                .unwrap_or("");
            Some(("type:", ty, value(i)?))
        })
    });
    let Some((tag, s, v)) = key else {
        return false;
    };
    // `{tag}{s.len()}:{s}|{v}`
    out.reserve(tag.len() + 4 + s.len() + v.len());
    out.push_str(tag);
    push_decimal(out, s.len());
    out.push(':');
    out.push_str(s);
    out.push('|');
    out.push_str(v);
    true
}

/// Appends `n` in decimal.
pub(crate) fn push_decimal(out: &mut String, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

/// A SHA-256 of `parts` (length-prefixed, so no two part lists collide by concatenation) as a
/// UUID-shaped lower-case hex id.
pub fn uuid_like(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        update_part(&mut h, p);
    }
    uuid_of(h)
}

/// Hashes one part, length-prefixed.
fn update_part(h: &mut Sha256, p: &str) {
    h.update((p.len() as u64).to_be_bytes());
    h.update(p.as_bytes());
}

/// The UUID-shaped id of a finished hash.
fn uuid_of(h: Sha256) -> String {
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    // Written on the stack, then one allocation of the 36 bytes.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 36];
    let mut k = 0;
    for (i, x) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out[k] = b'-';
            k += 1;
        }
        out[k] = DIGITS[usize::from(x >> 4)];
        out[k + 1] = DIGITS[usize::from(x & 0x0f)];
        k += 2;
    }
    std::str::from_utf8(&out)
        .map(str::to_owned)
        .unwrap_or_default()
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
    fn reserved_ids_are_used_whatever_their_shape() {
        let mut ids = Ids::new("LAB|HOSP", "control:1");
        let uuid = ids.peek("Patient", "k");
        for id in [uuid.as_str(), "p1", "", &"x".repeat(36), &"é".repeat(18)] {
            assert!(!ids.is_used(id), "{id}");
            ids.reserve(id);
            assert!(ids.is_used(id), "{id}");
        }
        assert!(!ids.is_used(&ids.peek("Patient", "other")));
        assert!(!ids.is_used("p2"));
    }

    #[test]
    fn ids_from_the_prefix_state_equal_the_full_hash() {
        let ids = Ids::new("LAB|HOSP", "control:1");
        assert_eq!(
            ids.peek("Patient", "system:3:abc|1"),
            uuid_like(&[SCHEME, "LAB|HOSP", "Patient", "system:3:abc|1"])
        );
    }

    #[test]
    fn identifier_keys_keep_their_shape() {
        use ehrkit_fhir_model::{CodeableConcept, Coding, Primitive};
        let with = |system: Option<&str>, ty: Option<&str>, value: Option<&str>| Identifier {
            system: system.map(|s| Primitive::new(s.to_owned())),
            type_: ty.map(|t| Box::new(CodeableConcept::from_coding(Coding::with_code("x", t)))),
            value: value.map(|v| Primitive::new(v.to_owned())),
            ..Default::default()
        };
        assert_eq!(
            identifier_key(&[
                with(None, Some("MR"), Some("7")),
                with(Some("urn:a"), None, Some("12345678901"))
            ]),
            Some("system:5:urn:a|12345678901".to_owned())
        );
        assert_eq!(
            identifier_key(&[with(None, Some("MR"), Some("7"))]),
            Some("type:2:MR|7".to_owned())
        );
        assert_eq!(
            identifier_key(&[with(None, None, Some("7"))]),
            Some("type:0:|7".to_owned())
        );
        assert_eq!(identifier_key(&[with(Some("urn:a"), None, None)]), None);
        let long = "s".repeat(1234);
        assert_eq!(
            identifier_key(&[with(Some(&long), None, Some("v"))]),
            Some(format!("system:1234:{long}|v"))
        );
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
