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
        self.out.push(b'"');
        let b = s.as_bytes();
        let mut run = 0;
        for (i, &c) in b.iter().enumerate() {
            let e = ESCAPE[c as usize];
            if e == 0 {
                continue;
            }
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
