//! The JSON reader behind every generated type.
//!
//! A small hand-written tokenizer over a `&str` (so results never depend on
//! serde_json features) plus the generic helpers the generated `read_field`
//! functions call. Items here are public only because generated code uses
//! them; they are not a stable API.
#![allow(missing_docs)]

use std::borrow::Cow;

use crate::error::{Error, ErrorKind, Issue, Severity};
use crate::json::Value;
use crate::primitives::{ElementExt, Primitive, PrimitiveValue};
use crate::unknown::{Unknown, UnknownReason};
use crate::{ParseOptions, Resource, UnknownPolicy};

/// Outcome of a field reader.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// The value was consumed into the field.
    Done,
    /// The key is not in the definition; the value was not consumed.
    Unknown,
    /// The field already holds a value; the value was not consumed.
    Duplicate,
    /// Another type of this choice element is already set; not consumed.
    SecondChoice,
}

/// Result type of the readers.
pub type Res<T> = Result<T, Error>;

/// An object the generated code can read and write.
#[doc(hidden)]
pub trait FhirObject: Default {
    /// `Some(name)` for resources: the expected `resourceType`.
    const RESOURCE_TYPE: Option<&'static str> = None;
    /// Reads the value of `key`, or says it is unknown without consuming it.
    fn read_field(&mut self, key: &str, p: &mut Parser<'_>) -> Res<Read>;
    /// The bag of unknown elements.
    fn unknown_mut(&mut self) -> &mut Unknown;
    /// Writes all members (without the braces).
    fn write_fields(&self, w: &mut crate::ser::Writer);
}

/// Object-safe view of [`FhirObject`] used by the shared member loop.
#[doc(hidden)]
pub trait DynFields {
    /// See [`FhirObject::read_field`].
    fn dyn_read_field(&mut self, key: &str, p: &mut Parser<'_>) -> Res<Read>;
    /// See [`FhirObject::unknown_mut`].
    fn dyn_unknown_mut(&mut self) -> &mut Unknown;
}

impl<T: FhirObject> DynFields for T {
    fn dyn_read_field(&mut self, key: &str, p: &mut Parser<'_>) -> Res<Read> {
        self.read_field(key, p)
    }
    fn dyn_unknown_mut(&mut self) -> &mut Unknown {
        self.unknown_mut()
    }
}

#[derive(Debug, Clone)]
enum Seg<'a> {
    Key(Cow<'a, str>),
    Index(usize),
}

/// The reader: tokenizer + path + issues.
#[doc(hidden)]
pub struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
    depth: usize,
    max_depth: usize,
    resources: usize,
    max_resources: usize,
    path: Vec<Seg<'a>>,
    unknown_policy: UnknownPolicy,
    strict: bool,
    pub(crate) issues: Vec<Issue>,
}

impl<'a> Parser<'a> {
    /// Creates a reader over UTF-8 input.
    pub fn new(input: &'a [u8], opts: &ParseOptions) -> Res<Self> {
        let s = match std::str::from_utf8(input) {
            Ok(s) => s,
            Err(e) => {
                return Err(Error {
                    kind: ErrorKind::Syntax("input is not UTF-8"),
                    path: "$".into(),
                    offset: e.valid_up_to(),
                })
            }
        };
        let mut p = Parser {
            s,
            b: s.as_bytes(),
            pos: 0,
            depth: 0,
            max_depth: opts.max_depth,
            resources: 0,
            max_resources: opts.max_nested_resources,
            path: Vec::with_capacity(16),
            unknown_policy: opts.unknown_elements,
            strict: opts.strict,
            issues: Vec::new(),
        };
        if p.b.starts_with(&[0xEF, 0xBB, 0xBF]) {
            p.pos = 3;
        }
        Ok(p)
    }

    /// Checks that only whitespace follows.
    pub fn finish(&mut self) -> Res<()> {
        self.ws();
        if self.pos != self.b.len() {
            return Err(self.syntax("trailing characters after the JSON value"));
        }
        Ok(())
    }

    // ------------------------------------------------------------ errors

    /// The current JSON path, e.g. `$.name[0].given`.
    pub fn path_string(&self) -> String {
        let mut s = String::from("$");
        for seg in &self.path {
            match seg {
                Seg::Key(k) => {
                    s.push('.');
                    s.push_str(k);
                }
                Seg::Index(i) => {
                    s.push('[');
                    s.push_str(&i.to_string());
                    s.push(']');
                }
            }
        }
        s
    }

    pub(crate) fn error(&self, kind: ErrorKind) -> Error {
        Error {
            kind,
            path: self.path_string(),
            offset: self.pos,
        }
    }

    fn syntax(&self, m: &'static str) -> Error {
        self.error(ErrorKind::Syntax(m))
    }

    /// Records an issue; in strict mode an `Error`-severity issue aborts.
    pub fn issue(&mut self, severity: Severity, message: impl Into<String>) -> Res<()> {
        let message = message.into();
        if self.strict && severity == Severity::Error {
            return Err(self.error(ErrorKind::Strict(message)));
        }
        self.issues.push(Issue {
            severity,
            path: self.path_string(),
            message,
        });
        Ok(())
    }

    /// Takes the issues collected so far.
    pub fn take_issues(&mut self) -> Vec<Issue> {
        std::mem::take(&mut self.issues)
    }

    // ------------------------------------------------------------ tokens

    #[inline]
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.pos) {
            if c == b' ' || c == b'\n' || c == b'\r' || c == b'\t' {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    /// Next non-blank byte, not consumed.
    #[inline]
    pub fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.pos).copied()
    }

    /// Consumes `null` if it is next.
    #[inline]
    pub fn eat_null(&mut self) -> Res<bool> {
        if self.peek() == Some(b'n') {
            self.literal(b"null")?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn literal(&mut self, lit: &'static [u8]) -> Res<()> {
        if self.b[self.pos..].starts_with(lit) {
            self.pos += lit.len();
            Ok(())
        } else {
            Err(self.syntax("unexpected character"))
        }
    }

    fn enter(&mut self) -> Res<()> {
        self.depth += 1;
        if self.depth > self.max_depth {
            return Err(self.error(ErrorKind::TooDeep));
        }
        Ok(())
    }

    /// Consumes `{`.
    pub fn begin_object(&mut self) -> Res<()> {
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                self.enter()
            }
            Some(_) => Err(self.error(ErrorKind::Type("object"))),
            None => Err(self.syntax("unexpected end of input")),
        }
    }

    /// Next key of the current object (consumes the `:`), or `None` at `}`.
    pub fn next_key(&mut self, first: &mut bool) -> Res<Option<Cow<'a, str>>> {
        match self.peek() {
            Some(b'}') => {
                self.pos += 1;
                self.depth -= 1;
                return Ok(None);
            }
            Some(b',') if !*first => {
                self.pos += 1;
                self.ws();
            }
            Some(b'"') if *first => {}
            None => return Err(self.syntax("unexpected end of input in object")),
            _ => return Err(self.syntax("expected ',' or '}' in object")),
        }
        *first = false;
        if self.b.get(self.pos) != Some(&b'"') {
            return Err(self.syntax("expected a string key"));
        }
        let k = self.string_token()?;
        if self.peek() != Some(b':') {
            return Err(self.syntax("expected ':' after key"));
        }
        self.pos += 1;
        Ok(Some(k))
    }

    /// Consumes `[`.
    pub fn begin_array(&mut self) -> Res<()> {
        match self.peek() {
            Some(b'[') => {
                self.pos += 1;
                self.enter()
            }
            Some(_) => Err(self.error(ErrorKind::Type("array"))),
            None => Err(self.syntax("unexpected end of input")),
        }
    }

    /// `true` if another array item follows (consumes the `,`), `false` at `]`.
    pub fn next_item(&mut self, first: &mut bool) -> Res<bool> {
        match self.peek() {
            Some(b']') => {
                self.pos += 1;
                self.depth -= 1;
                Ok(false)
            }
            Some(b',') if !*first => {
                self.pos += 1;
                Ok(true)
            }
            None => Err(self.syntax("unexpected end of input in array")),
            Some(_) if *first => {
                *first = false;
                Ok(true)
            }
            _ => Err(self.syntax("expected ',' or ']' in array")),
        }
    }

    /// Reads a JSON string (the next token must be one).
    pub fn string(&mut self) -> Res<Cow<'a, str>> {
        match self.peek() {
            Some(b'"') => self.string_token(),
            Some(_) => Err(self.error(ErrorKind::Type("string"))),
            None => Err(self.syntax("unexpected end of input")),
        }
    }

    fn string_token(&mut self) -> Res<Cow<'a, str>> {
        // at the opening quote
        self.pos += 1;
        let start = self.pos;
        let b = self.b;
        let mut i = start;
        loop {
            match b.get(i) {
                None => {
                    self.pos = i;
                    return Err(self.syntax("unterminated string"));
                }
                Some(b'"') => {
                    self.pos = i + 1;
                    return Ok(Cow::Borrowed(&self.s[start..i]));
                }
                Some(b'\\') => break,
                Some(&c) if c < 0x20 => {
                    self.pos = i;
                    return Err(self.syntax("control character in string"));
                }
                Some(_) => i += 1,
            }
        }
        let mut out = String::with_capacity(i - start + 16);
        out.push_str(&self.s[start..i]);
        let mut run = i;
        loop {
            match b.get(i) {
                None => {
                    self.pos = i;
                    return Err(self.syntax("unterminated string"));
                }
                Some(b'"') => {
                    out.push_str(&self.s[run..i]);
                    self.pos = i + 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    out.push_str(&self.s[run..i]);
                    let esc = b.get(i + 1).copied();
                    i += 2;
                    match esc {
                        Some(b'"') => out.push('"'),
                        Some(b'\\') => out.push('\\'),
                        Some(b'/') => out.push('/'),
                        Some(b'b') => out.push('\u{8}'),
                        Some(b'f') => out.push('\u{c}'),
                        Some(b'n') => out.push('\n'),
                        Some(b'r') => out.push('\r'),
                        Some(b't') => out.push('\t'),
                        Some(b'u') => {
                            let hi = self.hex4(i)?;
                            i += 4;
                            let ch = if (0xD800..0xDC00).contains(&hi) {
                                if b.get(i) == Some(&b'\\') && b.get(i + 1) == Some(&b'u') {
                                    let lo = self.hex4(i + 2)?;
                                    if !(0xDC00..0xE000).contains(&lo) {
                                        self.pos = i;
                                        return Err(self.syntax("invalid surrogate pair"));
                                    }
                                    i += 6;
                                    char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                                } else {
                                    None
                                }
                            } else {
                                char::from_u32(hi)
                            };
                            match ch {
                                Some(c) => out.push(c),
                                None => {
                                    self.pos = i;
                                    return Err(self.syntax("lone surrogate in \\u escape"));
                                }
                            }
                        }
                        _ => {
                            self.pos = i;
                            return Err(self.syntax("invalid escape"));
                        }
                    }
                    run = i;
                }
                Some(&c) if c < 0x20 => {
                    self.pos = i;
                    return Err(self.syntax("control character in string"));
                }
                Some(_) => i += 1,
            }
        }
    }

    fn hex4(&mut self, at: usize) -> Res<u32> {
        let mut v = 0u32;
        for k in 0..4 {
            let d = match self.b.get(at + k) {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => {
                    self.pos = at;
                    return Err(self.syntax("invalid \\u escape"));
                }
            };
            v = v * 16 + u32::from(d);
        }
        Ok(v)
    }

    /// Reads a JSON number and returns its text.
    pub fn number(&mut self) -> Res<&'a str> {
        match self.peek() {
            Some(b'-' | b'0'..=b'9') => {}
            Some(_) => return Err(self.error(ErrorKind::Type("number"))),
            None => return Err(self.syntax("unexpected end of input")),
        }
        let b = self.b;
        let start = self.pos;
        let mut i = start;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while matches!(b.get(i), Some(b'0'..=b'9')) {
                    i += 1;
                }
            }
            _ => {
                self.pos = i;
                return Err(self.syntax("invalid number"));
            }
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            if !matches!(b.get(i), Some(b'0'..=b'9')) {
                self.pos = i;
                return Err(self.syntax("invalid number"));
            }
            while matches!(b.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !matches!(b.get(i), Some(b'0'..=b'9')) {
                self.pos = i;
                return Err(self.syntax("invalid number"));
            }
            while matches!(b.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
        }
        self.pos = i;
        Ok(&self.s[start..i])
    }

    /// Reads `true` or `false`.
    pub fn boolean(&mut self) -> Res<bool> {
        match self.peek() {
            Some(b't') => self.literal(b"true").map(|_| true),
            Some(b'f') => self.literal(b"false").map(|_| false),
            Some(_) => Err(self.error(ErrorKind::Type("boolean"))),
            None => Err(self.syntax("unexpected end of input")),
        }
    }

    /// Reads any JSON value.
    pub fn value(&mut self) -> Res<Value> {
        match self.peek() {
            Some(b'{') => {
                self.begin_object()?;
                let mut m = Vec::new();
                let mut first = true;
                while let Some(k) = self.next_key(&mut first)? {
                    let v = self.value()?;
                    m.push((k.into_owned(), v));
                }
                Ok(Value::Object(m))
            }
            Some(b'[') => {
                self.begin_array()?;
                let mut a = Vec::new();
                let mut first = true;
                while self.next_item(&mut first)? {
                    a.push(self.value()?);
                }
                Ok(Value::Array(a))
            }
            Some(b'"') => Ok(Value::String(self.string_token()?.into_owned())),
            Some(b't' | b'f') => Ok(Value::Bool(self.boolean()?)),
            Some(b'n') => {
                self.literal(b"null")?;
                Ok(Value::Null)
            }
            Some(b'-' | b'0'..=b'9') => Ok(Value::Number(self.number()?.to_owned())),
            Some(_) => Err(self.syntax("unexpected character")),
            None => Err(self.syntax("unexpected end of input")),
        }
    }

    // ------------------------------------------------------------ objects

    /// Reads a whole object into `obj`.
    pub fn read_object<T: FhirObject>(&mut self, obj: &mut T) -> Res<()> {
        self.begin_object()?;
        self.read_members(obj, true, false)
    }

    /// Reads the members of an object whose `{` was consumed.
    pub(crate) fn read_members<T: FhirObject>(
        &mut self,
        obj: &mut T,
        first: bool,
        seen_rt: bool,
    ) -> Res<()> {
        self.read_members_dyn(obj, T::RESOURCE_TYPE, first, seen_rt)
    }

    /// The member loop, compiled once (not per type) to keep builds small.
    fn read_members_dyn(
        &mut self,
        obj: &mut dyn DynFields,
        resource_type: Option<&'static str>,
        mut first: bool,
        mut seen_rt: bool,
    ) -> Res<()> {
        while let Some(key) = self.next_key(&mut first)? {
            self.path.push(Seg::Key(key.clone()));
            let r = match resource_type {
                Some(expected) if key == "resourceType" => {
                    if seen_rt {
                        Read::Duplicate
                    } else {
                        seen_rt = true;
                        let v = self.string()?;
                        if v != expected {
                            return Err(
                                self.error(ErrorKind::ResourceType(format!("expected {expected}")))
                            );
                        }
                        Read::Done
                    }
                }
                _ => obj.dyn_read_field(&key, self)?,
            };
            let reason = match r {
                Read::Done => None,
                Read::Unknown => Some(UnknownReason::NotInDefinition),
                Read::Duplicate => Some(UnknownReason::DuplicateKey),
                Read::SecondChoice => Some(UnknownReason::SecondChoice),
            };
            if let Some(reason) = reason {
                self.unknown(obj.dyn_unknown_mut(), key, reason)?;
            }
            self.path.pop();
        }
        if resource_type.is_some() && !seen_rt {
            return Err(self.error(ErrorKind::ResourceType("missing".into())));
        }
        Ok(())
    }

    fn unknown(&mut self, u: &mut Unknown, key: Cow<'a, str>, reason: UnknownReason) -> Res<()> {
        let msg = match reason {
            UnknownReason::NotInDefinition => "element not in the definition",
            UnknownReason::DuplicateKey => "duplicate key",
            UnknownReason::SecondChoice => "second value for a choice element",
        };
        let is_comment = key == "fhir_comments";
        match self.unknown_policy {
            UnknownPolicy::Reject if !is_comment || reason != UnknownReason::NotInDefinition => {
                Err(self.error(ErrorKind::Strict(msg.into())))
            }
            UnknownPolicy::Drop => {
                let _ = self.value()?;
                self.issue(Severity::Warning, format!("{msg}: dropped"))
            }
            _ => {
                let v = self.value()?;
                if reason != UnknownReason::NotInDefinition {
                    self.issue(Severity::Error, format!("{msg}: kept as unknown element"))?;
                }
                u.push(key.into_owned(), v, reason);
                Ok(())
            }
        }
    }

    fn null_field(&mut self) -> Res<Read> {
        self.issue(
            Severity::Warning,
            "null is not allowed for a single element: ignored",
        )?;
        Ok(Read::Done)
    }

    // ------------------------------------------------------------ field helpers

    /// A primitive element's value (`"x": value`).
    pub fn prim<T: PrimitiveValue>(&mut self, slot: &mut Option<Primitive<T>>) -> Res<Read> {
        if slot.as_ref().is_some_and(|p| p.value.is_some()) {
            return Ok(Read::Duplicate);
        }
        if self.eat_null()? {
            return self.null_field();
        }
        let v = T::read(self)?;
        slot.get_or_insert_with(Primitive::default).value = Some(v);
        Ok(Read::Done)
    }

    /// A primitive element's id/extensions (`"_x": {...}`).
    pub fn prim_ext<T: PrimitiveValue>(&mut self, slot: &mut Option<Primitive<T>>) -> Res<Read> {
        if slot.as_ref().is_some_and(|p| p.ext.is_some()) {
            return Ok(Read::Duplicate);
        }
        if self.eat_null()? {
            return self.null_field();
        }
        let mut e = Box::<ElementExt>::default();
        self.read_object(&mut *e)?;
        slot.get_or_insert_with(Primitive::default).ext = Some(e);
        Ok(Read::Done)
    }

    /// A repeating primitive's values (`"x": [v, null, ...]`).
    pub fn prim_vec<T: PrimitiveValue>(&mut self, slot: &mut Vec<Primitive<T>>) -> Res<Read> {
        if slot.iter().any(|p| p.value.is_some()) {
            return Ok(Read::Duplicate);
        }
        if self.eat_null()? {
            return self.null_field();
        }
        let prev = slot.len();
        self.begin_array()?;
        let mut first = true;
        let mut i = 0;
        while self.next_item(&mut first)? {
            self.path.push(Seg::Index(i));
            let v = if self.eat_null()? {
                None
            } else {
                Some(T::read(self)?)
            };
            if i < slot.len() {
                slot[i].value = v;
            } else {
                slot.push(Primitive {
                    value: v,
                    ext: None,
                });
            }
            self.path.pop();
            i += 1;
        }
        self.check_aligned(prev, i, slot.len())?;
        Ok(Read::Done)
    }

    /// A repeating primitive's ids/extensions (`"_x": [null, {...}]`).
    pub fn prim_ext_vec<T: PrimitiveValue>(&mut self, slot: &mut Vec<Primitive<T>>) -> Res<Read> {
        if slot.iter().any(|p| p.ext.is_some()) {
            return Ok(Read::Duplicate);
        }
        if self.eat_null()? {
            return self.null_field();
        }
        let prev = slot.len();
        self.begin_array()?;
        let mut first = true;
        let mut i = 0;
        while self.next_item(&mut first)? {
            self.path.push(Seg::Index(i));
            let e = if self.eat_null()? {
                None
            } else {
                let mut e = Box::<ElementExt>::default();
                self.read_object(&mut *e)?;
                Some(e)
            };
            if i < slot.len() {
                slot[i].ext = e;
            } else {
                slot.push(Primitive {
                    value: None,
                    ext: e,
                });
            }
            self.path.pop();
            i += 1;
        }
        self.check_aligned(prev, i, slot.len())?;
        Ok(Read::Done)
    }

    fn check_aligned(&mut self, prev: usize, read: usize, now: usize) -> Res<()> {
        if read == 0 {
            self.issue(Severity::Warning, "empty array")?;
        }
        if prev != 0 && prev != read {
            self.issue(Severity::Error, "value and '_' arrays differ in length")?;
        }
        let _ = now;
        Ok(())
    }

    /// A code of a required value set.
    pub fn code<C>(&mut self, from_code: fn(&str) -> Option<C>, other: fn(String) -> C) -> Res<C> {
        let s = self.string()?;
        match from_code(&s) {
            Some(c) => Ok(c),
            None => {
                self.issue(
                    Severity::Error,
                    "code not in the required value set: kept as written",
                )?;
                Ok(other(s.into_owned()))
            }
        }
    }

    /// A plain string without extensions (`Element.id`, `Extension.url`).
    pub fn system_string(&mut self, slot: &mut Option<String>) -> Res<Read> {
        if slot.is_some() {
            return Ok(Read::Duplicate);
        }
        if self.eat_null()? {
            return self.null_field();
        }
        *slot = Some(self.string()?.into_owned());
        Ok(Read::Done)
    }

    /// A single complex element.
    pub fn complex<T: FhirObject>(&mut self, slot: &mut Option<Box<T>>) -> Res<Read> {
        if slot.is_some() {
            return Ok(Read::Duplicate);
        }
        if self.eat_null()? {
            return self.null_field();
        }
        let mut t = Box::<T>::default();
        self.read_object(&mut *t)?;
        *slot = Some(t);
        Ok(Read::Done)
    }

    /// A repeating complex element.
    pub fn complex_vec<T: FhirObject>(&mut self, slot: &mut Vec<T>) -> Res<Read> {
        if !slot.is_empty() {
            return Ok(Read::Duplicate);
        }
        if self.eat_null()? {
            return self.null_field();
        }
        self.begin_array()?;
        let mut first = true;
        let mut i = 0;
        while self.next_item(&mut first)? {
            self.path.push(Seg::Index(i));
            if self.eat_null()? {
                self.issue(Severity::Warning, "null in an array of elements: ignored")?;
            } else {
                let mut t = T::default();
                self.read_object(&mut t)?;
                slot.push(t);
            }
            self.path.pop();
            i += 1;
        }
        if i == 0 {
            self.issue(Severity::Warning, "empty array")?;
        }
        Ok(Read::Done)
    }

    /// A single inline resource (`Bundle.entry.resource`).
    pub fn resource(&mut self, slot: &mut Option<Box<Resource>>) -> Res<Read> {
        if slot.is_some() {
            return Ok(Read::Duplicate);
        }
        if self.eat_null()? {
            return self.null_field();
        }
        *slot = Some(Box::new(self.nested_resource()?));
        Ok(Read::Done)
    }

    /// A resource inside a resource. Each level of these costs far more stack
    /// than one JSON level (the dispatch over every resource type and the
    /// resource's own reader), so their nesting has its own, smaller bound.
    fn nested_resource(&mut self) -> Res<Resource> {
        self.resources += 1;
        if self.resources > self.max_resources {
            return Err(self.error(ErrorKind::TooDeep));
        }
        let r = Resource::read(self)?;
        self.resources -= 1;
        Ok(r)
    }

    /// Repeating inline resources (`contained`).
    pub fn resource_vec(&mut self, slot: &mut Vec<Resource>) -> Res<Read> {
        if !slot.is_empty() {
            return Ok(Read::Duplicate);
        }
        if self.eat_null()? {
            return self.null_field();
        }
        self.begin_array()?;
        let mut first = true;
        let mut i = 0;
        while self.next_item(&mut first)? {
            self.path.push(Seg::Index(i));
            if self.eat_null()? {
                self.issue(Severity::Warning, "null in an array of resources: ignored")?;
            } else {
                slot.push(self.nested_resource()?);
            }
            self.path.pop();
            i += 1;
        }
        if i == 0 {
            self.issue(Severity::Warning, "empty array")?;
        }
        Ok(Read::Done)
    }

    /// A complex type of a choice element (`valueQuantity`).
    pub fn choice_complex<C, T: FhirObject>(
        &mut self,
        slot: &mut Option<C>,
        wrap: fn(Box<T>) -> C,
    ) -> Res<Read> {
        if slot.is_some() {
            return Ok(Read::SecondChoice);
        }
        if self.eat_null()? {
            return self.null_field();
        }
        let mut t = Box::<T>::default();
        self.read_object(&mut *t)?;
        *slot = Some(wrap(t));
        Ok(Read::Done)
    }

    /// A primitive type of a choice element (`valueString` or `_valueString`).
    pub fn choice_prim<C, T: PrimitiveValue>(
        &mut self,
        slot: &mut Option<C>,
        get: fn(&mut C) -> Option<&mut Primitive<T>>,
        wrap: fn(Primitive<T>) -> C,
        ext: bool,
    ) -> Res<Read> {
        if let Some(c) = slot.as_mut() {
            match get(c) {
                Some(p) if !ext && p.value.is_none() => {}
                Some(p) if ext && p.ext.is_none() => {}
                Some(_) => return Ok(Read::Duplicate),
                None => return Ok(Read::SecondChoice),
            }
        }
        if self.eat_null()? {
            return self.null_field();
        }
        let mut tmp = Some(Primitive::<T>::default());
        if let Some(c) = slot.as_mut() {
            if let Some(p) = get(c) {
                tmp = Some(std::mem::take(p));
            }
        }
        let r = if ext {
            self.prim_ext(&mut tmp)?
        } else {
            self.prim(&mut tmp)?
        };
        *slot = Some(wrap(tmp.unwrap_or_default()));
        Ok(r)
    }

    // ------------------------------------------------------------ resources

    /// Consumes `{` and finds the `resourceType`. Returns it and whether it
    /// was the first member (then it is consumed; otherwise the reader is
    /// back right after `{`).
    pub fn resource_start(&mut self) -> Res<(Cow<'a, str>, bool)> {
        self.begin_object()?;
        let (save_pos, save_depth) = (self.pos, self.depth);
        let mut first = true;
        let mut is_first = true;
        while let Some(k) = self.next_key(&mut first)? {
            if k == "resourceType" {
                self.path.push(Seg::Key(k));
                let v = self.string()?;
                self.path.pop();
                if !is_first {
                    self.pos = save_pos;
                    self.depth = save_depth;
                }
                return Ok((v, is_first));
            }
            is_first = false;
            self.path.push(Seg::Key(k));
            let _ = self.value()?;
            self.path.pop();
        }
        Err(self.error(ErrorKind::ResourceType("missing".into())))
    }

    /// Reads the rest of a resource of type `T` after [`Parser::resource_start`].
    pub fn resource_body<T: FhirObject>(&mut self, consumed: bool) -> Res<Box<T>> {
        let mut t = Box::<T>::default();
        self.read_members(&mut *t, !consumed, consumed)?;
        Ok(t)
    }

    /// A resource type that is not compiled in (or not R4).
    pub fn resource_other(&mut self, rt: &str, consumed: bool) -> Res<Resource> {
        if !crate::ALL_RESOURCE_TYPES.contains(&rt) {
            return Err(self.error(ErrorKind::ResourceType("unknown resource type".into())));
        }
        let mut members = Vec::new();
        let mut first = !consumed;
        // Only the `resourceType` that `resource_start` read is implied by
        // `RawResource::resource_type`; a repeated one is kept as written.
        let mut skip_rt = !consumed;
        while let Some(k) = self.next_key(&mut first)? {
            self.path.push(Seg::Key(k.clone()));
            let v = self.value()?;
            self.path.pop();
            if skip_rt && k == "resourceType" {
                skip_rt = false;
            } else {
                members.push((k.into_owned(), v));
            }
        }
        self.issue(
            Severity::Warning,
            "resource type not enabled by the crate features: kept as raw JSON",
        )?;
        Ok(Resource::Other(Box::new(crate::RawResource {
            resource_type: rt.to_owned(),
            members,
        })))
    }
}
