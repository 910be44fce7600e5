//! The zero-copy [`Message`]: a borrowed input plus a compact offset index (see `index.rs`), the
//! reusable [`Parser`], the [`Messages`] iterator and three-valued [`Value`]s.

use std::borrow::Cow;

use crate::charset::Charset;
use crate::delimiters::Delimiters;
use crate::error::{Error, Location};
use crate::escape::{self, DecodeOptions};
use crate::index::{is_boundary, is_header, Index, Stop};
use crate::options::ParseOptions;
use crate::path::Path;
use crate::segment::Segment;

/// True when `raw` (an element's raw bytes, as [`Message::raw`] returns them) is the HL7 null `""`:
/// the two double-quote characters and nothing else, which HL7 defines as "delete the stored value".
/// An absent or empty element is not the null (it means "no change"); see [`Value`] for the
/// three-valued reading.
///
/// ```
/// assert!(ehrkit_hl7v2::is_null(b"\"\""));
/// assert!(!ehrkit_hl7v2::is_null(b""));
/// assert!(!ehrkit_hl7v2::is_null(b"\"x\""));
/// ```
pub fn is_null(raw: &[u8]) -> bool {
    raw == b"\"\""
}

/// Presence of an element, three-valued as HL7 defines it: absent (not sent), empty (sent with no
/// content: "no change") and the HL7 null `""` ("delete the stored value").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Value<'a> {
    /// The element is not in the message (segment, field, repetition, component or subcomponent
    /// beyond the last one present).
    Absent,
    /// The element is present and empty (e.g. `||`).
    Empty,
    /// The element is the HL7 null `""`.
    Null,
    /// The element has content: the raw, still escaped bytes (delimiters of deeper levels included).
    Present(&'a [u8]),
}

impl<'a> Value<'a> {
    /// The raw bytes: `None` when absent, `b""` when empty, `b"\"\""` for the HL7 null.
    pub fn raw(&self) -> Option<&'a [u8]> {
        match *self {
            Value::Absent => None,
            Value::Empty => Some(b""),
            Value::Null => Some(b"\"\""),
            Value::Present(b) => Some(b),
        }
    }
    /// True unless absent.
    pub fn is_present(&self) -> bool {
        !matches!(self, Value::Absent)
    }
    /// True for the HL7 null `""` ("delete the stored value").
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
    /// The raw content when there is some: `None` for absent, empty and the HL7 null alike (what a
    /// reader that only wants data, e.g. an identifier, asks for).
    pub fn content(&self) -> Option<&'a [u8]> {
        match *self {
            Value::Present(b) => Some(b),
            _ => None,
        }
    }
    pub(crate) fn from_raw(raw: Option<&'a [u8]>) -> Self {
        match raw {
            None => Value::Absent,
            Some(b"") => Value::Empty,
            Some(b) if is_null(b) => Value::Null,
            Some(b) => Value::Present(b),
        }
    }
}

#[derive(Clone, Debug)]
enum IndexRef<'a> {
    Owned(Index),
    Borrowed(&'a Index),
}

/// One HL7 v2 message borrowing its input: delimiters, character set and an offset index.
///
/// Build one with [`Message::parse`] (allocates its own index) or a reusable [`Parser`] (no heap
/// allocation per message once warmed up).
#[derive(Clone, Debug)]
pub struct Message<'a> {
    input: &'a [u8],
    start: usize,
    end: usize,
    delims: Delimiters,
    charset: Charset,
    /// `input[start..end]` as text when the charset is UTF-8 and the bytes validated at parse time.
    text: Option<&'a str>,
    /// No escape character before this offset (after MSH-2), so values ending there need no decoding.
    esc_from: usize,
    opts: ParseOptions,
    index: IndexRef<'a>,
}

/// A reusable parser: owns the index buffers, so parsing message after message does not allocate once
/// the buffers have grown to the largest message seen.
///
/// ```
/// use ehrkit_hl7v2::Parser;
/// let mut parser = Parser::new();
/// for input in [&b"MSH|^~\\&|A|B\rPID|1||42\r"[..], b"MSH|^~\\&|C|D\rPID|1||43\r"] {
///     let msg = parser.parse(input).unwrap();
///     assert!(msg.get("PID-3").is_some());
/// }
/// ```
#[derive(Clone, Debug, Default)]
pub struct Parser {
    opts: ParseOptions,
    index: Index,
}

/// Skips a UTF-8 BOM, blank lines (also of only spaces/tabs) and MLLP framing bytes; returns the
/// offset of the first segment (or `input.len()`).
pub(crate) fn skip_preamble(input: &[u8], mut p: usize) -> usize {
    if p == 0 && input.starts_with(b"\xEF\xBB\xBF") {
        p = 3;
    }
    while p < input.len() && matches!(input[p], b'\r' | b'\n' | b' ' | b'\t' | 0x0B | 0x1C) {
        p += 1;
    }
    p
}

/// Offset of the first MSH at or after `p` (a segment start), skipping batch envelope segments.
fn find_msh(input: &[u8], mut p: usize) -> Result<usize, Error> {
    loop {
        p = skip_preamble(input, p);
        if p >= input.len() {
            return Err(
                if p == 0
                    || input.iter().all(|b| {
                        matches!(
                            b,
                            b'\r' | b'\n' | b' ' | b'\t' | 0x0B | 0x1C | 0xEF | 0xBB | 0xBF
                        )
                    })
                {
                    Error::Empty
                } else {
                    Error::MissingMsh(Location::at(p))
                },
            );
        }
        let name = &input[p..(p + 3).min(input.len())];
        if name == b"MSH" {
            return Ok(p);
        }
        if !is_boundary(name) {
            return Err(Error::MissingMsh(Location::at(p)));
        }
        p = match memchr::memchr2(b'\r', b'\n', &input[p..]) {
            Some(k) => p + k,
            None => input.len(),
        };
    }
}

impl Parser {
    /// A parser with default (lenient) options.
    pub fn new() -> Self {
        Self::default()
    }

    /// A parser with the given options.
    pub fn with_options(opts: ParseOptions) -> Self {
        Parser {
            opts,
            index: Index::default(),
        }
    }

    /// The options in use.
    pub fn options(&self) -> &ParseOptions {
        &self.opts
    }

    /// Parses the first message in `input` (a leading BOM, blank lines and FHS/BHS/BTS/FTS batch
    /// segments are skipped). The message borrows both `input` and this parser's buffers; the next one
    /// starts at [`Message::end_offset`].
    pub fn parse<'m>(&'m mut self, input: &'m [u8]) -> Result<Message<'m>, Error> {
        let opts = self.opts;
        let (start, end, delims, charset, text, esc_from) =
            parse_into(&mut self.index, input, 0, &opts)?;
        Ok(Message {
            input,
            start,
            end,
            delims,
            charset,
            text,
            esc_from,
            opts,
            index: IndexRef::Borrowed(&self.index),
        })
    }

    /// Like [`Parser::parse`], starting at byte `offset` of `input` (offsets in the message and its
    /// errors stay relative to `input`).
    pub fn parse_at<'m>(
        &'m mut self,
        input: &'m [u8],
        offset: usize,
    ) -> Result<Message<'m>, Error> {
        let opts = self.opts;
        let (start, end, delims, charset, text, esc_from) =
            parse_into(&mut self.index, input, offset.min(input.len()), &opts)?;
        Ok(Message {
            input,
            start,
            end,
            delims,
            charset,
            text,
            esc_from,
            opts,
            index: IndexRef::Borrowed(&self.index),
        })
    }
}

/// What [`parse_into`] found: start and end offsets, delimiters, character set, the validated text
/// (UTF-8 messages) and the offset of the first escape character after MSH-2.
type Parsed<'a> = (usize, usize, Delimiters, Charset, Option<&'a str>, usize);

fn parse_into<'a>(
    index: &mut Index,
    input: &'a [u8],
    from: usize,
    opts: &ParseOptions,
) -> Result<Parsed<'a>, Error> {
    let start = find_msh(input, from)?;
    let h = Delimiters::from_header(&input[start..], start, !opts.strict)?;
    let (end, charset, text) = index_unit(
        index,
        input,
        start,
        &h.delims,
        h.msh2_len,
        opts,
        Stop::AtBoundary,
    )?;
    // First escape character after MSH-2 (which holds one): values ending before it are plain.
    let body = (start + 4 + h.msh2_len).min(end);
    let esc_from = match h.delims.escape {
        Some(esc) => memchr::memchr(esc, &input[body..end]).map_or(end, |k| body + k),
        None => end,
    };
    Ok((start, end, h.delims, charset, text, esc_from))
}

/// Indexes one unit (a message, or a batch envelope segment) starting at `start` and resolves its
/// character set. When MSH-18 names a multi-byte set whose characters may hold delimiter bytes (Big5,
/// GB 18030, ISO-2022-JP) and the unit has non-ASCII bytes, the index is built again stepping over
/// whole characters, so that a trail byte equal to `|` or `^` never splits a field.
pub(crate) fn index_unit<'a>(
    index: &mut Index,
    input: &'a [u8],
    start: usize,
    delims: &Delimiters,
    msh2_len: usize,
    opts: &ParseOptions,
    stop: Stop,
) -> Result<(usize, Charset, Option<&'a str>), Error> {
    let end = index.build(input, start, delims, msh2_len, opts, stop, None)?;
    let (charset, text) = resolve_text(index, input, start, end, opts)?;
    if let Some(layout) = charset.layout() {
        if charset.needs_walk(&input[start..end]) {
            let walked = index.build(
                input,
                start,
                delims,
                msh2_len,
                opts,
                stop,
                Some((layout, charset.name())),
            )?;
            debug_assert_eq!(walked, end);
        }
    }
    Ok((end, charset, text))
}

/// The message's character set and, for UTF-8, its validated text; applies
/// [`ParseOptions::fallback_charset`] to undeclared text that is not UTF-8.
pub(crate) fn resolve_text<'a>(
    index: &Index,
    input: &'a [u8],
    start: usize,
    end: usize,
    opts: &ParseOptions,
) -> Result<(Charset, Option<&'a str>), Error> {
    let charset = read_charset(index, input, opts.lossy)?;
    if opts.fallback_charset.is_none() {
        return Ok((
            charset,
            check_text(index, input, start, end, charset, opts)?,
        ));
    }
    // The fallback comes before `lossy`: validate strictly first.
    let strict_text = ParseOptions {
        lossy: false,
        ..*opts
    };
    match check_text(index, input, start, end, charset, &strict_text) {
        Ok(text) => Ok((charset, text)),
        Err(e @ Error::Encoding { .. }) => match opts.fallback_charset {
            Some(fb) if !fb.is_utf8() && msh18_is_empty(index, input) => {
                tracing::debug!(
                    charset = fb.name(),
                    "undeclared non-UTF-8 text; using the fallback"
                );
                Ok((fb, None))
            }
            _ if opts.lossy => Ok((charset, None)),
            _ => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// True when the message's MSH-18 is absent or empty.
fn msh18_is_empty(index: &Index, input: &[u8]) -> bool {
    let Some(first) = index.segs.first() else {
        return true;
    };
    let s0 = first[1] as usize;
    let Some(seg) = input.get(s0..s0 + 3) else {
        return true;
    };
    let p = Path {
        seg: [seg[0], seg[1], seg[2]],
        occ: 1,
        field: Some(18),
        rep: None,
        comp: None,
        sub: None,
    };
    match index.locate(input, &p) {
        None => true,
        Some((a, b, _)) => {
            let (s, e) = index.span(a, b);
            input[s..e].iter().all(u8::is_ascii_whitespace)
        }
    }
}

/// The character set MSH-18 declares. An unknown value is an error, except with `lossy`: then
/// the text is read as UTF-8 with invalid bytes replaced (vendors invent MSH-18 spellings, and a
/// receiver must still be able to read and acknowledge such a message).
pub(crate) fn read_charset(index: &Index, input: &[u8], lossy: bool) -> Result<Charset, Error> {
    match read_declared_charset(index, input) {
        Err(Error::UnsupportedCharset(_)) if lossy => Ok(Charset::UTF8),
        r => r,
    }
}

fn read_declared_charset(index: &Index, input: &[u8]) -> Result<Charset, Error> {
    let p = Path {
        seg: *b"MSH",
        occ: 1,
        field: Some(18),
        rep: Some(1),
        comp: None,
        sub: None,
    };
    let p = if index
        .segs
        .first()
        .is_some_and(|s| input.get(s[1] as usize..s[1] as usize + 3) != Some(b"MSH"))
    {
        Path {
            seg: [
                input[index.segs[0][1] as usize],
                input[index.segs[0][1] as usize + 1],
                input[index.segs[0][1] as usize + 2],
            ],
            ..p
        }
    } else {
        p
    };
    match index.locate(input, &p) {
        None => Ok(Charset::UTF8),
        Some((a, b, _)) => {
            let (s, e) = index.span(a, b);
            Charset::from_msh18(&input[s..e]).ok_or(Error::UnsupportedCharset(Location {
                offset: s,
                segment: Some(0),
                field: Some(18),
            }))
        }
    }
}

pub(crate) fn check_text<'a>(
    index: &Index,
    input: &'a [u8],
    start: usize,
    end: usize,
    charset: Charset,
    opts: &ParseOptions,
) -> Result<Option<&'a str>, Error> {
    if !charset.is_utf8() {
        return Ok(None);
    }
    // Validated once here, so that reads slice this text instead of validating every value.
    match std::str::from_utf8(&input[start..end]) {
        Ok(text) => Ok(Some(text)),
        Err(_) if opts.lossy => Ok(None),
        Err(e) => {
            let offset = start + e.valid_up_to();
            let seg = index.segs[..index.seg_count()]
                .partition_point(|s| (s[1] as usize) <= offset)
                .saturating_sub(1);
            Err(Error::Encoding {
                location: Location {
                    offset,
                    segment: Some(seg),
                    field: None,
                },
                charset: "UTF-8",
            })
        }
    }
}

impl<'a> Message<'a> {
    /// Parses the first message in `input` with lenient defaults (see [`ParseOptions`]).
    ///
    /// ```
    /// use ehrkit_hl7v2::Message;
    /// let msg = Message::parse(b"MSH|^~\\&|LAB||EHR||20240101||ORU^R01|42|P|2.5\rPID|1||123^^^H~456\r").unwrap();
    /// assert_eq!(msg.get("MSH-9.2").unwrap(), "R01");
    /// assert_eq!(msg.get("PID-3(2)").unwrap(), "456");
    /// ```
    pub fn parse(input: &'a [u8]) -> Result<Message<'a>, Error> {
        Self::parse_with(input, ParseOptions::default())
    }

    /// Parses the first message in `input` with the given options.
    pub fn parse_with(input: &'a [u8], opts: ParseOptions) -> Result<Message<'a>, Error> {
        let mut index = Index::default();
        let (start, end, delims, charset, text, esc_from) =
            parse_into(&mut index, input, 0, &opts)?;
        Ok(Message {
            input,
            start,
            end,
            delims,
            charset,
            text,
            esc_from,
            opts,
            index: IndexRef::Owned(index),
        })
    }

    /// Iterates over every message in `input` (several concatenated messages, or the messages of a
    /// batch; batch envelope segments are skipped — see [`crate::batch`] to read them).
    pub fn parse_all(input: &'a [u8]) -> Messages<'a> {
        Messages {
            input,
            pos: 0,
            opts: ParseOptions::default(),
            done: false,
        }
    }

    /// Builds a message over an already indexed unit (batch envelope segments).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_parts(
        input: &'a [u8],
        start: usize,
        end: usize,
        delims: Delimiters,
        charset: Charset,
        text: Option<&'a str>,
        opts: ParseOptions,
        index: Index,
    ) -> Self {
        Message {
            input,
            start,
            end,
            delims,
            charset,
            text,
            esc_from: start,
            opts,
            index: IndexRef::Owned(index),
        }
    }

    #[inline]
    pub(crate) fn idx(&self) -> &Index {
        match &self.index {
            IndexRef::Owned(i) => i,
            IndexRef::Borrowed(i) => i,
        }
    }

    /// The delimiters of this message.
    pub fn delimiters(&self) -> &Delimiters {
        &self.delims
    }

    /// The character set (from MSH-18).
    pub fn charset(&self) -> Charset {
        self.charset
    }

    /// The options this message was parsed with.
    pub fn options(&self) -> &ParseOptions {
        &self.opts
    }

    /// The message's bytes exactly as in the input, from the first byte of MSH to the end of its last
    /// segment terminator (blank lines after it included). Writing them back reproduces the input.
    pub fn as_bytes(&self) -> &'a [u8] {
        &self.input[self.start..self.end]
    }

    /// Offset of the message's first byte in the input.
    pub fn start_offset(&self) -> usize {
        self.start
    }

    /// Offset just past the message in the input: where the next message (or batch segment) starts.
    pub fn end_offset(&self) -> usize {
        self.end
    }

    /// Number of segments.
    pub fn segment_count(&self) -> usize {
        self.idx().seg_count()
    }

    /// The segments, in order.
    pub fn segments(&self) -> impl Iterator<Item = Segment<'_>> + '_ {
        (0..self.segment_count()).map(move |i| Segment { msg: self, idx: i })
    }

    /// The segment at position `i` (0-based).
    pub fn segment_at(&self, i: usize) -> Option<Segment<'_>> {
        (i < self.segment_count()).then_some(Segment { msg: self, idx: i })
    }

    /// The segments with this ID, in order (`msg.segments_named("OBX")`).
    pub fn segments_named<'s>(&'s self, id: &'s str) -> impl Iterator<Item = Segment<'s>> + 's {
        self.segments().filter(move |s| s.name() == id)
    }

    /// The `occurrence`-th (1-based) segment with this ID.
    pub fn segment(&self, id: &str, occurrence: usize) -> Option<Segment<'_>> {
        self.segments()
            .filter(|s| s.name() == id)
            .nth(occurrence.checked_sub(1)?)
    }

    /// Raw, still-escaped bytes at a path (`PID-3(2)`, `OBX(3)-5.1`); `None` when absent (or the path is
    /// invalid). An element with deeper structure is returned with its delimiters.
    pub fn raw(&self, path: &str) -> Option<&'a [u8]> {
        let p = Path::parse(path).ok()?;
        self.raw_path(&p)
    }

    /// [`Message::raw`] with a parsed path.
    pub fn raw_path(&self, p: &Path) -> Option<&'a [u8]> {
        let idx = self.idx();
        let (a, b, _) = idx.locate(self.input, p)?;
        let (s, e) = idx.span(a, b);
        Some(&self.input[s..e])
    }

    /// Three-valued presence at a path: absent, empty, HL7 null `""`, or the raw content.
    pub fn value(&self, path: &str) -> Result<Value<'a>, Error> {
        let p = Path::parse(path)?;
        Ok(self.value_path(&p))
    }

    /// [`Message::value`] with a parsed path.
    pub fn value_path(&self, p: &Path) -> Value<'a> {
        Value::from_raw(self.raw_path(p))
    }

    /// Decoded value at a path such as `MSH-10`, `PID-3(2).1`, `MSA-2`; `None` when absent (or the path
    /// is invalid). Escapes are decoded and the text converted from the message's character set. An
    /// element with deeper structure (e.g. `PID-5` with components, or a repeating field addressed
    /// without `(r)`) comes back as its text as it stands, delimiters and escapes included, since
    /// decoding it would make delimiters ambiguous. `MSH-1` and `MSH-2` are never decoded. Empty is
    /// `""`; the HL7 null is the two characters `""`. Invalid bytes are replaced (U+FFFD) rather than
    /// dropping the value: use [`Message::decoded`] to get the error instead.
    pub fn get(&self, path: &str) -> Option<Cow<'a, str>> {
        let p = Path::parse(path).ok()?;
        self.get_path(&p)
    }

    /// [`Message::get`] with a parsed path.
    pub fn get_path(&self, p: &Path) -> Option<Cow<'a, str>> {
        // Fast path: a leaf without escape characters in validated UTF-8 text is a slice of it.
        if let Some(text) = self.text {
            let idx = self.idx();
            let (a, b, _) = idx.locate(self.input, p)?;
            if b - a <= 1 && !(matches!(p.field, Some(1 | 2)) && is_header(&p.seg)) {
                let (s, e) = idx.span(a, b);
                let raw = &self.input[s..e];
                let has_escape = e > self.esc_from
                    && match self.delims.escape {
                        Some(esc) if raw.len() < 32 => raw.contains(&esc),
                        Some(esc) => memchr::memchr(esc, raw).is_some(),
                        None => false,
                    };
                if !has_escape {
                    if let Some(v) = text.get(s - self.start..e - self.start) {
                        return Some(Cow::Borrowed(v));
                    }
                }
            }
        }
        match self.decode_at(p, &self.opts.decode_options()) {
            Ok(v) => v,
            Err(_) => {
                tracing::debug!(path = %p, "value did not decode cleanly; returning it lossily");
                self.decode_at(p, &self.opts.decode_options().lossy(true).strict(false))
                    .ok()
                    .flatten()
            }
        }
    }

    /// Decoded value with explicit options; `Ok(None)` when absent, an error for undecodable content.
    pub fn decoded(&self, path: &str, opts: &DecodeOptions) -> Result<Option<Cow<'a, str>>, Error> {
        let p = Path::parse(path)?;
        self.decode_at(&p, opts)
    }

    fn decode_at(&self, p: &Path, opts: &DecodeOptions) -> Result<Option<Cow<'a, str>>, Error> {
        let idx = self.idx();
        let Some((a, b, si)) = idx.locate(self.input, p) else {
            return Ok(None);
        };
        let (s, e) = idx.span(a, b);
        let raw = &self.input[s..e];
        let structured = b - a > 1;
        let header_special = matches!(p.field, Some(1 | 2)) && is_header(&p.seg);
        // Fast path: a UTF-8 leaf without escape characters is the input slice itself.
        if !structured && !header_special && self.charset.is_utf8() {
            let has_escape = match self.delims.escape {
                Some(esc) if raw.len() < 32 => raw.contains(&esc),
                Some(esc) => memchr::memchr(esc, raw).is_some(),
                None => false,
            };
            if !has_escape {
                let text = match self.text {
                    Some(t) => t.get(s - self.start..e - self.start),
                    None => std::str::from_utf8(raw).ok(),
                };
                if let Some(text) = text {
                    return Ok(Some(Cow::Borrowed(text)));
                }
            }
        }
        let located = |off: usize| Location {
            offset: s + off,
            segment: Some(si),
            field: p.field.map(|f| f as usize),
        };
        if structured || header_special {
            return self
                .charset
                .decode(Cow::Borrowed(raw), opts.lossy)
                .map(Some)
                .map_err(|off| Error::Encoding {
                    location: located(off),
                    charset: self.charset.name(),
                });
        }
        escape::decode_with(raw, &self.delims, opts, self.charset)
            .map(Some)
            .map_err(|e| match e {
                Error::Encoding { location, charset } => Error::Encoding {
                    location: located(location.offset),
                    charset,
                },
                Error::Escape { offset } => Error::Escape { offset },
                other => other,
            })
    }

    /// Decodes the value at a path into a caller-owned buffer and returns it as text borrowed from that
    /// buffer: with a reused buffer this never allocates for UTF-8 (and ASCII) messages. `Ok(None)`
    /// when absent. Elements with deeper structure are copied as they stand, like [`Message::get`].
    pub fn decode_into<'b>(
        &self,
        p: &Path,
        buf: &'b mut Vec<u8>,
    ) -> Result<Option<&'b str>, Error> {
        buf.clear();
        let idx = self.idx();
        let Some((a, b, si)) = idx.locate(self.input, p) else {
            return Ok(None);
        };
        let (s, e) = idx.span(a, b);
        let raw = &self.input[s..e];
        let header_special = matches!(p.field, Some(1 | 2)) && is_header(&p.seg);
        let opts = self.opts.decode_options();
        if b - a > 1 || header_special {
            buf.extend_from_slice(raw);
        } else {
            escape::unescape_into_charset(raw, &self.delims, &opts, self.charset, buf)?;
        }
        let location = |off: usize| Location {
            offset: s + off,
            segment: Some(si),
            field: p.field.map(|f| f as usize),
        };
        if !self.charset.is_utf8() {
            let text = self
                .charset
                .decode(Cow::Owned(std::mem::take(buf)), opts.lossy)
                .map_err(|off| Error::Encoding {
                    location: location(off),
                    charset: self.charset.name(),
                })?;
            buf.extend_from_slice(text.as_bytes());
        }
        match std::str::from_utf8(buf) {
            Ok(_) => {}
            Err(e) if !opts.lossy => {
                return Err(Error::Encoding {
                    location: location(e.valid_up_to()),
                    charset: "UTF-8",
                });
            }
            Err(_) => {
                let fixed = String::from_utf8_lossy(buf).into_owned();
                buf.clear();
                buf.extend_from_slice(fixed.as_bytes());
            }
        }
        Ok(std::str::from_utf8(buf).ok())
    }

    /// The typed view of the element at a path (`PID-3(2)` as a CX, `MSH-7` as a DTM, see
    /// [`crate::datatypes`]): `Ok(None)` when absent, an error when the value does not parse as `T`
    /// (the crate's convention for fallible lookups: `Result<Option<T>, E>`). For repetitions, prefer
    /// [`Segment::field`](crate::Segment::field), which needs no path string.
    ///
    /// ```
    /// use ehrkit_hl7v2::{Message, datatypes::Cx};
    /// let msg = Message::parse(b"MSH|^~\\&|A\rPID|1||7^^^EPIC^MR\r").unwrap();
    /// let cx: Cx<'_> = msg.typed("PID-3").unwrap().unwrap(); // Result, then Option
    /// assert_eq!(cx.id_number().unwrap().raw(), b"7");
    /// ```
    pub fn typed<T: crate::datatypes::FromRaw<'a>>(
        &self,
        path: &str,
    ) -> Result<Option<T>, crate::datatypes::DatatypeError> {
        self.raw(path)
            .map(|raw| T::from_raw_in(raw, &self.delims, self.charset))
            .transpose()
    }

    /// Number of repetitions of a field (`PID-3`); 0 when the field is absent.
    pub fn repetitions(&self, path: &str) -> usize {
        let Ok(p) = Path::parse(path) else { return 0 };
        let idx = self.idx();
        let Some(field) = p.field else { return 0 };
        let Some(seg) = self.segment(p.segment(), p.occ as usize) else {
            return 0;
        };
        let f0 = idx.segs[seg.idx][0] as usize;
        let fi = f0 + field as usize;
        if fi >= idx.segs[seg.idx + 1][0] as usize {
            return 0;
        }
        (idx.fields[fi + 1] - idx.fields[fi]) as usize
    }

    /// The message type from MSH-9 as `(code, trigger event)`, e.g. `("ADT", "A01")`.
    pub fn message_type(&self) -> (Option<Cow<'a, str>>, Option<Cow<'a, str>>) {
        (self.get("MSH-9.1"), self.get("MSH-9.2"))
    }

    /// The message control ID (MSH-10, escapes decoded), or `None` when there is no usable one:
    /// MSH-10 absent, empty, only whitespace, or the HL7 null `""` (see [`is_null`]). This is the one
    /// place that decides whether a message can be correlated with its ACK (MSA-2) and deduplicated:
    /// a `None` here means the message must be refused (AR) by a receiver and not sent by a sender.
    ///
    /// The value is returned as written (not trimmed), so that it matches what the ACK echoes.
    ///
    /// ```
    /// use ehrkit_hl7v2::Message;
    /// let id = |raw: &[u8]| Message::parse(raw).unwrap().control_id().map(|c| c.into_owned());
    /// assert_eq!(id(b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|MSG1|P|2.5\r").as_deref(), Some("MSG1"));
    /// assert_eq!(id(b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|\"\"|P|2.5\r"), None); // HL7 null
    /// assert_eq!(id(b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|  |P|2.5\r"), None);   // blank
    /// assert_eq!(id(b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01\r"), None);            // absent
    /// ```
    pub fn control_id(&self) -> Option<Cow<'a, str>> {
        let id = self.get("MSH-10")?;
        let t = id.trim();
        if t.is_empty() || is_null(t.as_bytes()) {
            None
        } else {
            Some(id)
        }
    }

    /// The input this message was parsed from.
    pub fn input(&self) -> &'a [u8] {
        self.input
    }
}

/// Iterator over the messages of an input, from [`Message::parse_all`].
#[derive(Debug)]
pub struct Messages<'a> {
    input: &'a [u8],
    pos: usize,
    opts: ParseOptions,
    done: bool,
}

impl<'a> Messages<'a> {
    /// Same iterator with other parse options.
    pub fn options(mut self, opts: ParseOptions) -> Self {
        self.opts = opts;
        self
    }

    /// Former name of [`Messages::options`] (setters are bare names across ehrkit).
    #[deprecated(since = "0.1.0", note = "renamed to `options`")]
    pub fn with_options(self, opts: ParseOptions) -> Self {
        self.options(opts)
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, Error>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        // Anything left but batch envelope segments and blank lines?
        let mut p = skip_preamble(self.input, self.pos);
        while p < self.input.len() {
            let name = &self.input[p..(p + 3).min(self.input.len())];
            if name == b"MSH" || !is_boundary(name) {
                break;
            }
            p = match memchr::memchr2(b'\r', b'\n', &self.input[p..]) {
                Some(k) => skip_preamble(self.input, p + k),
                None => self.input.len(),
            };
        }
        if p >= self.input.len() {
            self.done = true;
            return None;
        }
        let mut index = Index::default();
        match parse_into(&mut index, self.input, p, &self.opts) {
            Ok((start, end, delims, charset, text, esc_from)) => {
                self.pos = end;
                Some(Ok(Message {
                    input: self.input,
                    start,
                    end,
                    delims,
                    charset,
                    text,
                    esc_from,
                    opts: self.opts,
                    index: IndexRef::Owned(index),
                }))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::escape::Formatting;

    const ADT: &[u8] =
        b"MSH|^~\\&|EPIC|HOSP^1.2.3^ISO|RCV|FAC|20240102030405||ADT^A01^ADT_A01|MSG1|P|2.5.1\r\
EVN|A01|20240102\r\
PID|1||123^^^MRN&1.2&ISO^MR~456^^^SSA^SS||DOE^JOHN^Q||19800101|M|||\"\"|\r\
OBX|1|TX|||a\\.br\\b\\T\\c\rOBX|2|NM|||42\r";

    #[test]
    fn msh_numbering() {
        let m = Message::parse(ADT).unwrap();
        assert_eq!(m.get("MSH-1").unwrap(), "|");
        assert_eq!(m.get("MSH-2").unwrap(), "^~\\&");
        assert_eq!(m.get("MSH-3").unwrap(), "EPIC");
        assert_eq!(m.get("MSH-4.2").unwrap(), "1.2.3");
        assert_eq!(m.get("MSH-9").unwrap(), "ADT^A01^ADT_A01");
        assert_eq!(m.get("MSH-9.2").unwrap(), "A01");
        assert_eq!(m.get("MSH-10").unwrap(), "MSG1");
        assert_eq!(m.get("MSH-12").unwrap(), "2.5.1");
        assert_eq!(m.get("MSH-13"), None);
        assert_eq!(m.segment("MSH", 1).unwrap().field_count(), 12);
    }

    #[test]
    fn presence_three_valued() {
        let m = Message::parse(ADT).unwrap();
        assert_eq!(m.value("PID-2").unwrap(), Value::Empty);
        assert_eq!(m.value("PID-11").unwrap(), Value::Null);
        assert_eq!(m.value("PID-12").unwrap(), Value::Empty);
        assert_eq!(m.value("PID-13").unwrap(), Value::Absent);
        assert_eq!(m.value("PID-3(3)").unwrap(), Value::Absent);
        assert_eq!(m.value("PID-5.4").unwrap(), Value::Absent);
        assert_eq!(m.value("PID-5.3").unwrap(), Value::Present(b"Q"));
        assert_eq!(m.value("ZZZ-1").unwrap(), Value::Absent);
        assert_eq!(m.value("PID(2)-1").unwrap(), Value::Absent);
        assert_eq!(m.get("PID-11").unwrap(), "\"\"");
        assert!(m.value("PID-0").is_err());
    }

    #[test]
    fn repetitions_components_subcomponents() {
        let m = Message::parse(ADT).unwrap();
        assert_eq!(m.get("PID-3").unwrap(), "123^^^MRN&1.2&ISO^MR~456^^^SSA^SS");
        assert_eq!(m.get("PID-3(1)").unwrap(), "123^^^MRN&1.2&ISO^MR");
        assert_eq!(m.get("PID-3(2).1").unwrap(), "456");
        assert_eq!(m.get("PID-3.4").unwrap(), "MRN&1.2&ISO");
        assert_eq!(m.get("PID-3.4.2").unwrap(), "1.2");
        assert_eq!(m.get("PID-3(2).4.1").unwrap(), "SSA");
        assert_eq!(m.get("PID-3(2).4.2"), None);
        assert_eq!(m.get("PID-1.1.1").unwrap(), "1");
        assert_eq!(m.repetitions("PID-3"), 2);
        assert_eq!(m.repetitions("PID-2"), 1);
        assert_eq!(m.repetitions("PID-40"), 0);
    }

    #[test]
    fn escapes_and_segments() {
        let m = Message::parse(ADT).unwrap();
        assert_eq!(m.get("OBX-5").unwrap(), "a\\.br\\b&c");
        assert_eq!(m.get("OBX(2)-5").unwrap(), "42");
        let names: Vec<&str> = m.segments().map(|s| s.name()).collect();
        assert_eq!(names, ["MSH", "EVN", "PID", "OBX", "OBX"]);
        let obx2 = m.segment("OBX", 2).unwrap();
        assert_eq!(obx2.index(), 4);
        assert_eq!(obx2.get("5").unwrap(), "42");
        assert_eq!(obx2.as_bytes(), b"OBX|2|NM|||42");
        assert_eq!(m.as_bytes(), ADT);
        let text =
            Message::parse_with(ADT, ParseOptions::default().formatting(Formatting::Text)).unwrap();
        assert_eq!(text.get("OBX-5").unwrap(), "a\nb&c");
    }

    #[test]
    fn control_id_treats_null_blank_and_absent_as_none() {
        let id = |msh10: &str| {
            let raw = format!("MSH|^~\\&|A|B|C|D|20240101||ADT^A01|{msh10}|P|2.5\rPID|1\r");
            Message::parse(raw.as_bytes())
                .unwrap()
                .control_id()
                .map(|c| c.into_owned())
        };
        assert_eq!(id("MSG1").as_deref(), Some("MSG1"));
        assert_eq!(id(" MSG1").as_deref(), Some(" MSG1"));
        assert_eq!(id("A\\F\\B").as_deref(), Some("A|B"));
        assert_eq!(id("\"\""), None);
        assert_eq!(id(" \"\" "), None);
        assert_eq!(id(""), None);
        assert_eq!(id("   "), None);
        assert_eq!(Message::parse(b"MSH|^~\\&|A\r").unwrap().control_id(), None);
        assert!(Value::Null.is_null() && Value::Null.content().is_none());
        assert_eq!(Value::Present(b"x").content(), Some(&b"x"[..]));
    }

    #[test]
    fn terminators_lenient_and_strict() {
        let lf = b"\xEF\xBB\xBFMSH|^~\\&|A\nPID|1\r\n\r\nPV1|1\n\n";
        let m = Message::parse(lf).unwrap();
        assert_eq!(m.segment_count(), 3);
        assert_eq!(m.get("PV1-1").unwrap(), "1");
        assert_eq!(m.start_offset(), 3);
        assert_eq!(m.end_offset(), lf.len());
        let strict = ParseOptions::default().strict(true);
        let e = Message::parse_with(lf, strict).unwrap_err();
        assert!(matches!(e, Error::Terminator(l) if l.offset == 13), "{e:?}");
        assert!(Message::parse_with(b"MSH|^~\\&|A\rPID|1\r", strict).is_ok());
    }

    #[test]
    fn several_messages() {
        let input = b"MSH|^~\\&|A||||||||1\rPID|1\rMSH|^~\\&|B||||||||2\rPID|2\r";
        let all: Vec<_> = Message::parse_all(input).collect::<Result<_, _>>().unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].get("MSH-3").unwrap(), "B");
        assert_eq!(
            all[0].as_bytes().len() + all[1].as_bytes().len(),
            input.len()
        );
        let mut p = Parser::new();
        let first_end = p.parse(input).unwrap().end_offset();
        assert_eq!(
            p.parse_at(input, first_end).unwrap().get("PID-1").unwrap(),
            "2"
        );
    }

    #[test]
    fn reused_parser_matches_fresh_parses() {
        let big = ADT.to_vec();
        let small = b"MSH|^~\\&|S\rPID|1||9\r";
        let mut parser = Parser::new();
        for input in [&big[..], &small[..], &big[..], &small[..]] {
            let fresh = Message::parse(input).unwrap();
            let reused = parser.parse(input).unwrap();
            assert_eq!(fresh.segment_count(), reused.segment_count());
            for path in [
                "MSH-3",
                "PID-3",
                "PID-3(2).4",
                "PID-5.3",
                "OBX(2)-5",
                "EVN-1",
                "PID-40",
            ] {
                assert_eq!(
                    fresh.value(path).unwrap(),
                    reused.value(path).unwrap(),
                    "{path}"
                );
            }
        }
    }

    #[test]
    fn errors_have_locations() {
        assert!(matches!(Message::parse(b""), Err(Error::Empty)));
        assert!(matches!(Message::parse(b"\r\n"), Err(Error::Empty)));
        assert!(matches!(
            Message::parse(b"PID|1\r"),
            Err(Error::MissingMsh(_))
        ));
        let e = Message::parse(b"MSH|^~\\&|A\rpid|1\r").unwrap_err();
        assert_eq!(
            e,
            Error::SegmentId(Location {
                offset: 11,
                segment: Some(1),
                field: None
            })
        );
        let e = Message::parse(b"MSH|^~\\&|A\rPID|1|\xff\r").unwrap_err();
        assert!(
            matches!(e, Error::Encoding { location, .. } if location.offset == 17 && location.segment == Some(1))
        );
        assert!(!e.to_string().contains("PID"));
        let lossy = Message::parse_with(
            b"MSH|^~\\&|A\rPID|1|\xff\r",
            ParseOptions::default().lossy(true),
        )
        .unwrap();
        assert_eq!(lossy.get("PID-2").unwrap(), "\u{FFFD}");
        let e = Message::parse_with(
            b"MSH|^~\\&|A\rPID|1|12345\r",
            ParseOptions::default().max_field_len(4),
        )
        .unwrap_err();
        assert!(
            matches!(e, Error::Limit { location, .. } if location.field == Some(2)),
            "{e:?}"
        );
        let e = Message::parse_with(
            b"MSH|^~\\&|A\rPID|1\r",
            ParseOptions::default().max_segments(1),
        )
        .unwrap_err();
        assert!(matches!(e, Error::Limit { .. }));
        assert!(Message::parse(b"MSH").is_err());
        assert!(Message::parse(b"MSH|").is_err());
        assert!(Message::parse(b"MSH|^~\\&").is_ok());
    }

    #[test]
    fn charsets() {
        let l1 = b"MSH|^~\\&|A|||||||||||||||8859/1\rPID|1||||Jos\xe9\r";
        let m = Message::parse(l1).unwrap();
        assert_eq!(m.get("PID-5").unwrap(), "José");
        let bad = b"MSH|^~\\&|A|||||||||||||||KLINGON\rPID|1\r";
        assert!(matches!(
            Message::parse(bad),
            Err(Error::UnsupportedCharset(_))
        ));
        // Lossy: read as UTF-8 (invalid bytes replaced) so the message can still be handled.
        let bad_l1 = b"MSH|^~\\&|A|||||||||||||||KLINGON\rPID|1||||Jos\xe9\r";
        let m = Message::parse_with(bad_l1, ParseOptions::default().lossy(true)).unwrap();
        assert_eq!(m.get("PID-5").unwrap(), "Jos\u{FFFD}");
        assert_eq!(m.get("MSH-18").unwrap(), "KLINGON");
    }
}
