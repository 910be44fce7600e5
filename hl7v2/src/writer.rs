//! Writing: an owned, editable message and a builder.
//!
//! [`OwnedMessage`] keeps every segment's bytes and the exact terminator bytes after it (`\r`, `\n`,
//! `\r\n`, blank lines), so converting a parsed [`Message`] and writing it gives back the identical
//! bytes. Edits address elements by path; missing fields, repetitions, components and subcomponents
//! are created by padding with delimiters.
//!
//! ```
//! use ehrkit_hl7v2::{Message, MessageBuilder, OwnedMessage};
//! let input = b"MSH|^~\\&|A|B|C|D|20240101||ADT^A08|1|P|2.5\nPID|1||123^^^H\n";
//! let mut owned = OwnedMessage::from_message(&Message::parse(input).unwrap());
//! assert_eq!(owned.to_bytes(), input);
//! owned.set("PID-5.1", "O'Brien & Sons").unwrap();
//! owned.set("PID-3(2).1", "999").unwrap();
//! assert_eq!(owned.to_bytes(), b"MSH|^~\\&|A|B|C|D|20240101||ADT^A08|1|P|2.5\nPID|1||123^^^H~999||O'Brien \\T\\ Sons\n");
//!
//! let built = MessageBuilder::new()
//!     .set("MSH-9", "ADT^A01")
//!     .set("MSH-10", "CTRL1")
//!     .segment("PID")
//!     .set("PID-5.1", "DOE")
//!     .build()
//!     .unwrap();
//! assert_eq!(built.to_bytes(), b"MSH|^~\\&|||||||ADT\\S\\A01|CTRL1\rPID|||||DOE\r");
//! ```

use std::borrow::Cow;

use crate::charset::{Charset, Layout, Step, Walker};
use crate::delimiters::Delimiters;
use crate::error::Error;
use crate::escape::{self, DecodeOptions};
use crate::index::{is_header, valid_segment_id};
use crate::message::Message;
use crate::path::Path;

#[derive(Clone, Debug, PartialEq, Eq)]
struct OwnedSegment {
    text: Vec<u8>,
    /// Bytes after the segment up to the next one, exactly as read (`\r`, `\r\n`, blank lines, or
    /// nothing for a last segment without terminator).
    term: Vec<u8>,
}

/// An owned, editable HL7 v2 message that writes back byte-identically.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedMessage {
    delims: Delimiters,
    /// The character set of the copied message (MSH-18): separators are searched at character
    /// boundaries in Big5 / GB 18030 / ISO-2022-JP, and `get` decodes from it.
    charset: Charset,
    segments: Vec<OwnedSegment>,
}

impl OwnedMessage {
    /// A message holding only `MSH|^~\&` (with the given delimiters), terminated by `\r`.
    pub fn new(delims: Delimiters) -> Self {
        let mut text = vec![b'M', b'S', b'H', delims.field];
        text.extend_from_slice(delims.encoding_characters().as_bytes());
        OwnedMessage {
            delims,
            charset: Charset::UTF8,
            segments: vec![OwnedSegment {
                text,
                term: b"\r".to_vec(),
            }],
        }
    }

    /// Copies a parsed message.
    pub fn from_message(m: &Message<'_>) -> Self {
        let input = m.input();
        let segs: Vec<(usize, usize)> = m
            .segments()
            .map(|s| {
                let start = s.offset();
                (start, start + s.as_bytes().len())
            })
            .collect();
        let mut segments = Vec::with_capacity(segs.len());
        for (k, &(s, e)) in segs.iter().enumerate() {
            let next = segs.get(k + 1).map_or(m.end_offset(), |n| n.0);
            segments.push(OwnedSegment {
                text: input[s..e].to_vec(),
                term: input[e..next].to_vec(),
            });
        }
        OwnedMessage {
            delims: *m.delimiters(),
            charset: m.charset(),
            segments,
        }
    }

    /// Parses the first message of `input` and copies it.
    pub fn parse(input: &[u8]) -> Result<Self, Error> {
        Ok(Self::from_message(&Message::parse(input)?))
    }

    /// The delimiters.
    pub fn delimiters(&self) -> &Delimiters {
        &self.delims
    }

    /// Appends the message's bytes to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        for s in &self.segments {
            out.extend_from_slice(&s.text);
            out.extend_from_slice(&s.term);
        }
    }

    /// The message's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(
            self.segments
                .iter()
                .map(|s| s.text.len() + s.term.len())
                .sum(),
        );
        self.write_to(&mut v);
        v
    }

    /// Number of segments.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Segment IDs in order.
    pub fn segment_ids(&self) -> impl Iterator<Item = &str> + '_ {
        self.segments
            .iter()
            .map(|s| std::str::from_utf8(&s.text[..3.min(s.text.len())]).unwrap_or("???"))
    }

    /// Raw bytes of segment `i` (without terminator).
    pub fn segment_bytes(&self, i: usize) -> Option<&[u8]> {
        self.segments.get(i).map(|s| &s.text[..])
    }

    fn find_segment(&self, p: &Path) -> Option<usize> {
        self.segments
            .iter()
            .enumerate()
            .filter(|(_, s)| s.text.get(..3) == Some(&p.seg[..]))
            .nth(p.occ as usize - 1)
            .map(|(i, _)| i)
    }

    /// Decoded value at a path, as [`Message::get`] would return it.
    pub fn get(&self, path: &str) -> Option<String> {
        let p = Path::parse(path).ok()?;
        let i = self.find_segment(&p)?;
        let seg = &self.segments[i];
        let lay = self.charset.layout();
        let (s, e) = locate(&seg.text, &self.delims, &p, lay).ok()?;
        let raw = &seg.text[s..e];
        let structured = [
            self.delims.field,
            self.delims.repetition,
            self.delims.component,
            self.delims.subcomponent,
        ]
        .iter()
        .any(|&sep| find_sep(raw, (0, raw.len()), sep, lay).is_some());
        let special = matches!(p.field, Some(1 | 2)) && is_header(&p.seg);
        if structured || special || p.field.is_none() {
            return self
                .charset
                .decode(Cow::Borrowed(raw), true)
                .ok()
                .map(Cow::into_owned);
        }
        escape::decode_with(raw, &self.delims, &DecodeOptions::default(), self.charset)
            .ok()
            .map(Cow::into_owned)
    }

    /// Raw (escaped) bytes at a path; `None` when absent.
    pub fn raw(&self, path: &str) -> Option<&[u8]> {
        let p = Path::parse(path).ok()?;
        let seg = &self.segments[self.find_segment(&p)?];
        let (s, e) = locate(&seg.text, &self.delims, &p, self.charset.layout()).ok()?;
        Some(&seg.text[s..e])
    }

    /// Sets the element at `path` to `text`, escaping delimiters. Missing levels are created.
    pub fn set(&mut self, path: &str, text: &str) -> Result<(), Error> {
        let esc = escape::encode(text, &self.delims);
        self.set_raw(path, esc.as_bytes())
    }

    /// Sets the element at `path` to raw bytes written as they are (they may contain the delimiters of
    /// levels below the addressed one, e.g. `DOE^JOHN` for a field, but never a segment terminator).
    pub fn set_raw(&mut self, path: &str, raw: &[u8]) -> Result<(), Error> {
        let p = Path::parse(path)?;
        let Some(field) = p.field else {
            return Err(Error::Edit {
                reason: "a path to a field or below is needed",
            });
        };
        if is_header(&p.seg) && field <= 2 {
            return Err(Error::Edit {
                reason: "MSH-1 and MSH-2 (the delimiters) cannot be edited",
            });
        }
        let d = self.delims;
        let forbidden: &[u8] = match (p.rep, p.comp, p.sub) {
            (_, _, Some(_)) => &[d.field, d.repetition, d.component, d.subcomponent],
            (_, Some(_), None) => &[d.field, d.repetition, d.component],
            (Some(_), None, None) => &[d.field, d.repetition],
            (None, None, None) => &[d.field],
        };
        if raw
            .iter()
            .any(|b| *b == b'\r' || *b == b'\n' || forbidden.contains(b))
        {
            return Err(Error::Edit {
                reason: "raw value holds a delimiter of its own level or above, or a line break",
            });
        }
        let i = self.find_segment(&p).ok_or(Error::Edit {
            reason: "segment not in message",
        })?;
        let seg = &mut self.segments[i];
        let (s, e) = locate_or_pad(&mut seg.text, &d, &p, self.charset.layout());
        seg.text.splice(s..e, raw.iter().copied());
        Ok(())
    }

    /// Appends a segment with this 3-character ID (and no fields); returns its index.
    pub fn push_segment(&mut self, id: &str) -> Result<usize, Error> {
        self.insert_segment(self.segments.len(), id)
    }

    /// Inserts a segment with this ID before position `at` (at most the segment count).
    pub fn insert_segment(&mut self, at: usize, id: &str) -> Result<usize, Error> {
        if !valid_segment_id(id.as_bytes()) || is_header(id.as_bytes()) {
            return Err(Error::Edit {
                reason: "invalid segment ID (3 upper-case letters/digits; not MSH/BHS/FHS)",
            });
        }
        if at == 0 || at > self.segments.len() {
            return Err(Error::Edit {
                reason: "segments can be inserted after MSH and up to the end only",
            });
        }
        // Keep segments separated: a last segment read without terminator gets one.
        if let Some(prev) = self.segments.get_mut(at - 1) {
            if prev.term.is_empty() {
                prev.term = b"\r".to_vec();
            }
        }
        let term = b"\r".to_vec();
        self.segments.insert(
            at,
            OwnedSegment {
                text: id.as_bytes().to_vec(),
                term,
            },
        );
        Ok(at)
    }

    /// Inserts a whole raw segment (`OBX|1|TX|...`) before position `at`.
    pub fn insert_raw_segment(&mut self, at: usize, raw: &[u8]) -> Result<usize, Error> {
        if raw.iter().any(|b| *b == b'\r' || *b == b'\n') {
            return Err(Error::Edit {
                reason: "raw segment holds a line break",
            });
        }
        if raw.len() > 3 && raw[3] != self.delims.field {
            return Err(Error::Edit {
                reason: "segment ID is not followed by the field separator",
            });
        }
        let id = std::str::from_utf8(&raw[..3.min(raw.len())]).map_err(|_| Error::Edit {
            reason: "invalid segment ID",
        })?;
        self.insert_segment(at, id)?;
        self.segments[at].text = raw.to_vec();
        Ok(at)
    }

    /// Removes the segment at position `i` (MSH, at 0, cannot be removed).
    pub fn remove_segment_at(&mut self, i: usize) -> Result<(), Error> {
        if i == 0 || i >= self.segments.len() {
            return Err(Error::Edit {
                reason: "no such segment (MSH cannot be removed)",
            });
        }
        self.segments.remove(i);
        Ok(())
    }

    /// Removes the `occurrence`-th (1-based) segment with this ID; returns whether one was removed.
    pub fn remove_segment(&mut self, id: &str, occurrence: usize) -> bool {
        let found = self
            .segments
            .iter()
            .enumerate()
            .filter(|(_, s)| s.text.get(..3) == Some(id.as_bytes()))
            .nth(occurrence.saturating_sub(1))
            .map(|(i, _)| i);
        match found {
            Some(i) if i > 0 => {
                self.segments.remove(i);
                true
            }
            _ => false,
        }
    }
}

/// Offset of the first `sep` in `text[range]` that is a whole character (in the multi-byte layouts,
/// never a trail byte).
fn find_sep(text: &[u8], range: (usize, usize), sep: u8, lay: Option<Layout>) -> Option<usize> {
    let slice = &text[range.0..range.1];
    let walk = lay.filter(|l| {
        !slice.is_ascii() || (*l == Layout::Iso2022Jp && memchr::memchr(0x1B, slice).is_some())
    });
    let Some(layout) = walk else {
        return memchr::memchr(sep, slice).map(|x| range.0 + x);
    };
    let mut w = Walker::new(layout);
    let mut i = 0;
    while i < slice.len() {
        match w.step(slice, i) {
            Step::Ascii if slice[i] == sep => return Some(range.0 + i),
            Step::Skip(k) => i += k,
            Step::Ascii | Step::Invalid => i += 1,
        }
    }
    None
}

/// Range of the `n`-th (1-based) element separated by `sep` inside `text[range]`; `Err(count)` when
/// there are fewer.
fn nth(
    text: &[u8],
    range: (usize, usize),
    sep: u8,
    n: usize,
    lay: Option<Layout>,
) -> Result<(usize, usize), usize> {
    let mut start = range.0;
    let mut k = 1;
    loop {
        let end = find_sep(text, (start, range.1), sep, lay).unwrap_or(range.1);
        if k == n {
            return Ok((start, end));
        }
        if end == range.1 {
            return Err(k);
        }
        start = end + 1;
        k += 1;
    }
}

/// Field `f` of a segment: `(start, end)`, or the number of fields present.
fn field_range(
    text: &[u8],
    d: &Delimiters,
    f: usize,
    lay: Option<Layout>,
) -> Result<(usize, usize), usize> {
    let header = is_header(text.get(..3).unwrap_or(b""));
    if header {
        // parts: [0] "MSH", [1] encoding characters (MSH-2), [2] MSH-3, ...
        if f == 1 {
            return Ok((3, 4.min(text.len())));
        }
        nth(text, (0, text.len()), d.field, f, lay)
    } else {
        match nth(text, (0, text.len()), d.field, f + 1, lay) {
            Ok(r) => Ok(r),
            Err(count) => Err(count - 1),
        }
    }
}

fn locate(
    text: &[u8],
    d: &Delimiters,
    p: &Path,
    lay: Option<Layout>,
) -> Result<(usize, usize), ()> {
    let Some(f) = p.field else {
        return Ok((0, text.len()));
    };
    let mut r = field_range(text, d, f as usize, lay).map_err(|_| ())?;
    if is_header(&p.seg) && f <= 2 {
        return Ok(r);
    }
    if p.rep.is_some() || p.comp.is_some() {
        r = nth(text, r, d.repetition, p.rep.unwrap_or(1) as usize, lay).map_err(|_| ())?;
    }
    if let Some(c) = p.comp {
        r = nth(text, r, d.component, c as usize, lay).map_err(|_| ())?;
        if let Some(s) = p.sub {
            r = nth(text, r, d.subcomponent, s as usize, lay).map_err(|_| ())?;
        }
    }
    Ok(r)
}

fn pad(text: &mut Vec<u8>, at: usize, sep: u8, n: usize) {
    text.splice(at..at, std::iter::repeat_n(sep, n));
}

fn locate_or_pad(
    text: &mut Vec<u8>,
    d: &Delimiters,
    p: &Path,
    lay: Option<Layout>,
) -> (usize, usize) {
    let f = p.field.unwrap_or(1) as usize;
    let mut r = loop {
        match field_range(text, d, f, lay) {
            Ok(r) => break r,
            Err(count) => {
                let end = text.len();
                pad(text, end, d.field, f - count);
            }
        }
    };
    let level = |mut r: (usize, usize), sep: u8, n: usize, text: &mut Vec<u8>| loop {
        match nth(text, r, sep, n, lay) {
            Ok(x) => break x,
            Err(count) => {
                pad(text, r.1, sep, n - count);
                r.1 += n - count;
            }
        }
    };
    if p.rep.is_some() || p.comp.is_some() {
        r = level(r, d.repetition, p.rep.unwrap_or(1) as usize, text);
    }
    if let Some(c) = p.comp {
        r = level(r, d.component, c as usize, text);
        if let Some(s) = p.sub {
            r = level(r, d.subcomponent, s as usize, text);
        }
    }
    r
}

/// Builds a new message: starts with `MSH` and the delimiters; fields are set by path and segments
/// appended in order. Errors are collected and reported by [`MessageBuilder::build`].
#[derive(Clone, Debug)]
pub struct MessageBuilder {
    msg: OwnedMessage,
    error: Option<Error>,
}

impl Default for MessageBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl MessageBuilder {
    /// A builder with the default delimiters `|^~\&`.
    pub fn new() -> Self {
        Self::with_delimiters(Delimiters::default())
    }

    /// A builder with the given delimiters.
    pub fn with_delimiters(d: Delimiters) -> Self {
        MessageBuilder {
            msg: OwnedMessage::new(d),
            error: None,
        }
    }

    fn record(mut self, r: Result<(), Error>) -> Self {
        if let (Err(e), None) = (r, &self.error) {
            self.error = Some(e);
        }
        self
    }

    /// Sets a value (escaped) at a path in an existing segment.
    pub fn set(mut self, path: &str, text: &str) -> Self {
        let r = self.msg.set(path, text);
        self.record(r)
    }

    /// Sets raw bytes (lower-level delimiters allowed) at a path.
    pub fn set_raw(mut self, path: &str, raw: &[u8]) -> Self {
        let r = self.msg.set_raw(path, raw);
        self.record(r)
    }

    /// Appends a segment with this ID.
    pub fn segment(mut self, id: &str) -> Self {
        let r = self.msg.push_segment(id).map(|_| ());
        self.record(r)
    }

    /// The message, or the first error met.
    pub fn build(self) -> Result<OwnedMessage, Error> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.msg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_terminators() {
        let input = b"MSH|^~\\&|A\r\nPID|1\r\n\r\nOBX|1";
        let m = Message::parse(input).unwrap();
        let mut o = OwnedMessage::from_message(&m);
        assert_eq!(o.to_bytes(), input);
        o.push_segment("NTE").unwrap();
        o.set("NTE-3", "note").unwrap();
        assert_eq!(
            o.to_bytes(),
            b"MSH|^~\\&|A\r\nPID|1\r\n\r\nOBX|1\rNTE|||note\r"
        );
    }

    #[test]
    fn set_pads_every_level() {
        let mut o = OwnedMessage::parse(b"MSH|^~\\&|A\rPID|1\r").unwrap();
        o.set("PID-3(2).4.2", "X").unwrap();
        assert_eq!(o.segment_bytes(1).unwrap(), b"PID|1||~^^^&X");
        o.set("PID-3(1).1", "M").unwrap();
        assert_eq!(o.get("PID-3(1).1").unwrap(), "M");
        assert_eq!(o.get("PID-3(2).4.2").unwrap(), "X");
        o.set_raw("PID-5", b"DOE^JOHN").unwrap();
        assert_eq!(o.get("PID-5.2").unwrap(), "JOHN");
        o.set("MSH-3", "B|C").unwrap();
        assert_eq!(o.raw("MSH-3").unwrap(), b"B\\F\\C");
        assert_eq!(o.get("MSH-3").unwrap(), "B|C");
        o.set("MSH-5", "R").unwrap();
        assert_eq!(o.segment_bytes(0).unwrap(), b"MSH|^~\\&|B\\F\\C||R");
        let m2 = Message::parse(&o.to_bytes())
            .unwrap()
            .get("MSH-5")
            .map(|c| c.into_owned());
        assert_eq!(m2.as_deref(), Some("R"));
    }

    #[test]
    fn refusals() {
        let mut o = OwnedMessage::parse(b"MSH|^~\\&|A\rPID|1\r").unwrap();
        assert!(o.set("MSH-2", "x").is_err());
        assert!(o.set_raw("PID-5.1", b"a^b").is_err());
        assert!(o.set_raw("PID-5", b"a\rb").is_err());
        assert!(o.set("ZZZ-1", "x").is_err());
        assert!(o.push_segment("msh").is_err());
        assert!(o.remove_segment_at(0).is_err());
        assert!(o.remove_segment("PID", 1));
        assert_eq!(o.segment_count(), 1);
        o.insert_raw_segment(1, b"ZPD|1|x").unwrap();
        assert_eq!(o.get("ZPD-2").unwrap(), "x");
        assert!(MessageBuilder::new().segment("P").build().is_err());
    }
}
