//! The JSON writer behind every generated type. Public only because
//! generated code calls it; not a stable API.
#![allow(missing_docs)]

use crate::de::FhirObject;
use crate::json::Value;
use crate::primitives::{Primitive, PrimitiveValue};
use crate::unknown::Unknown;
use crate::Resource;

/// Compact JSON writer.
#[doc(hidden)]
pub struct Writer {
    out: Vec<u8>,
    first: bool,
}

impl Default for Writer {
    fn default() -> Self {
        Self::new()
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// High bit of each byte of `w` that is zero (exact: no false positives).
#[inline(always)]
fn zero_bytes(w: u64) -> u64 {
    const LO7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    !(((w & LO7) + LO7) | w | LO7)
}

/// True when one of the eight bytes of `w` is escaped in a JSON string (a control character
/// below 0x20, `"` or `\\`): exactly the bytes [`ESCAPE`] marks.
#[inline(always)]
fn needs_escape(w: u64) -> bool {
    const EVERY: u64 = 0x0101_0101_0101_0101;
    let control = zero_bytes(w & (0xE0 * EVERY));
    let quote = zero_bytes(w ^ (u64::from(b'"') * EVERY));
    let backslash = zero_bytes(w ^ (u64::from(b'\\') * EVERY));
    (control | quote | backslash) != 0
}

/// For each byte: 0 = copy, `u` = `\u00XX`, otherwise the letter after `\`.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\t' as usize] = b't';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

impl Writer {
    pub fn new() -> Self {
        Writer {
            out: Vec::with_capacity(1024),
            first: true,
        }
    }

    pub fn with_buffer(out: Vec<u8>) -> Self {
        Writer { out, first: true }
    }

    pub fn into_inner(self) -> Vec<u8> {
        self.out
    }

    #[inline]
    fn sep(&mut self) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
    }

    /// Writes `"key":` (keys of generated code are plain ASCII).
    #[inline]
    pub fn key(&mut self, k: &str) {
        self.sep();
        self.out.push(b'"');
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.first = true;
    }

    #[inline]
    fn key_escaped(&mut self, k: &str) {
        self.sep();
        self.string(k);
        self.out.push(b':');
        self.first = true;
    }

    #[inline]
    pub fn begin_object(&mut self) {
        self.out.push(b'{');
        self.first = true;
    }

    #[inline]
    pub fn end_object(&mut self) {
        self.out.push(b'}');
        self.first = false;
    }

    #[inline]
    pub fn begin_array(&mut self) {
        self.out.push(b'[');
        self.first = true;
    }

    #[inline]
    pub fn end_array(&mut self) {
        self.out.push(b']');
        self.first = false;
    }

    /// Separator before an array item.
    #[inline]
    pub fn item(&mut self) {
        self.sep();
    }

    /// A JSON string with escapes.
    pub fn string(&mut self, s: &str) {
        let b = s.as_bytes();
        self.out.reserve(b.len() + 2);
        self.out.push(b'"');
        let mut run = 0;
        let mut i = 0;
        while i < b.len() {
            // Eight bytes at a time while none of them needs an escape (most strings: ids,
            // codes, URIs, names), then byte by byte through the table.
            if let Some(chunk) = b.get(i..i + 8) {
                let mut w = [0u8; 8];
                w.copy_from_slice(chunk);
                if !needs_escape(u64::from_le_bytes(w)) {
                    i += 8;
                    continue;
                }
            }
            let c = b[i];
            let e = ESCAPE[c as usize];
            if e != 0 {
                self.out.extend_from_slice(&b[run..i]);
                if e == b'u' {
                    self.out.extend_from_slice(&[
                        b'\\',
                        b'u',
                        b'0',
                        b'0',
                        HEX[(c >> 4) as usize],
                        HEX[(c & 15) as usize],
                    ]);
                } else {
                    self.out.extend_from_slice(&[b'\\', e]);
                }
                run = i + 1;
            }
            i += 1;
        }
        self.out.extend_from_slice(&b[run..]);
        self.out.push(b'"');
        self.first = false;
    }

    /// Raw text (numbers, literals).
    #[inline]
    pub fn raw(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
        self.first = false;
    }

    /// Any JSON value.
    pub fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.raw("null"),
            Value::Bool(b) => self.raw(if *b { "true" } else { "false" }),
            Value::Number(n) => self.raw(n),
            Value::String(s) => self.string(s),
            Value::Array(a) => {
                self.begin_array();
                for x in a {
                    self.item();
                    self.value(x);
                }
                self.end_array();
            }
            Value::Object(m) => {
                self.begin_object();
                for (k, x) in m {
                    self.key_escaped(k);
                    self.value(x);
                }
                self.end_object();
            }
        }
    }

    /// A whole object.
    pub fn object<T: FhirObject>(&mut self, t: &T) {
        self.begin_object();
        if let Some(rt) = T::RESOURCE_TYPE {
            self.key("resourceType");
            self.string(rt);
        }
        t.write_fields(self);
        self.end_object();
    }

    // ------------------------------------------------------------ field helpers

    pub fn unknown_member(&mut self, k: &str, v: &Value) {
        self.key_escaped(k);
        self.value(v);
    }

    pub fn unknown(&mut self, u: &Unknown) {
        for e in u.entries() {
            self.key_escaped(&e.key);
            self.value(&e.value);
        }
    }

    pub fn prim<T: PrimitiveValue>(&mut self, k: &str, ek: &str, v: &Option<Primitive<T>>) {
        if let Some(p) = v {
            self.prim_one(k, ek, p);
        }
    }

    pub fn prim_one<T: PrimitiveValue>(&mut self, k: &str, ek: &str, p: &Primitive<T>) {
        if let Some(x) = &p.value {
            self.key(k);
            x.write(self);
        }
        if let Some(e) = &p.ext {
            self.key(ek);
            self.object(&**e);
        }
    }

    pub fn prim_vec<T: PrimitiveValue>(&mut self, k: &str, ek: &str, v: &[Primitive<T>]) {
        if v.is_empty() {
            return;
        }
        let any_ext = v.iter().any(|p| p.ext.is_some());
        // Entries with neither value nor extension are written as `null`s so
        // that nothing disappears.
        if !any_ext || v.iter().any(|p| p.value.is_some()) {
            self.key(k);
            self.begin_array();
            for p in v {
                self.item();
                match &p.value {
                    Some(x) => x.write(self),
                    None => self.raw("null"),
                }
            }
            self.end_array();
        }
        if any_ext {
            self.key(ek);
            self.begin_array();
            for p in v {
                self.item();
                match &p.ext {
                    Some(e) => self.object(&**e),
                    None => self.raw("null"),
                }
            }
            self.end_array();
        }
    }

    pub fn system_string(&mut self, k: &str, v: &Option<String>) {
        if let Some(s) = v {
            self.key(k);
            self.string(s);
        }
    }

    pub fn complex_one<T: FhirObject>(&mut self, k: &str, t: &T) {
        self.key(k);
        self.object(t);
    }

    pub fn complex<T: FhirObject>(&mut self, k: &str, v: &Option<Box<T>>) {
        if let Some(t) = v {
            self.key(k);
            self.object(&**t);
        }
    }

    pub fn complex_vec<T: FhirObject>(&mut self, k: &str, v: &[T]) {
        if v.is_empty() {
            return;
        }
        self.key(k);
        self.begin_array();
        for t in v {
            self.item();
            self.object(t);
        }
        self.end_array();
    }

    pub fn resource(&mut self, k: &str, v: &Option<Box<Resource>>) {
        if let Some(r) = v {
            self.key(k);
            r.write(self);
        }
    }

    pub fn resource_vec(&mut self, k: &str, v: &[Resource]) {
        if v.is_empty() {
            return;
        }
        self.key(k);
        self.begin_array();
        for r in v {
            self.item();
            r.write(self);
        }
        self.end_array();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference: every byte through the escape table.
    fn escaped(s: &str) -> Vec<u8> {
        let mut out = vec![b'"'];
        for &c in s.as_bytes() {
            match ESCAPE[c as usize] {
                0 => out.push(c),
                b'u' => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
                e => out.extend_from_slice(&[b'\\', e]),
            }
        }
        out.push(b'"');
        out
    }

    #[test]
    fn strings_are_escaped_as_the_table_says_at_every_position() {
        let specials: Vec<char> = (0u8..0x20)
            .map(char::from)
            .chain(['"', '\\', '/', ' ', '~', '\u{7f}', 'é', '\u{2028}', '𝄞'])
            .collect();
        for len in 0..20 {
            for &special in &specials {
                for at in 0..=len {
                    let mut s: String = "abcdefghijklmnopqrstuvwxyz".chars().take(len).collect();
                    s.insert(at.min(s.len()), special);
                    let mut w = Writer::new();
                    w.string(&s);
                    assert_eq!(w.into_inner(), escaped(&s), "{s:?}");
                }
            }
        }
        for &c in &[0u8, 0x1f, 0x20, b'"', b'\\', 0x7f] {
            let w = u64::from_le_bytes([b'a', b'a', b'a', c, b'a', b'a', b'a', b'a']);
            assert_eq!(needs_escape(w), ESCAPE[c as usize] != 0, "{c:#x}");
        }
    }
}
