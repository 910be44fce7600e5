//! The zero-copy message: a borrowed input plus a compact offset index, and the reusable [`Parser`].
//!
//! # The index
//!
//! One pass over the bytes records every element at every level in five flat arrays (no `Vec` per
//! field or component):
//!
//! * `segs[i] = [first field, start offset, ID]` of segment `i` (the ID's 3 bytes packed in a `u32`);
//! * `fields[f]` = first repetition of field `f` (field 0 is the segment ID, so `fields[first + n]` is
//!   field `n` in HL7 numbering, MSH included);
//! * `reps[r]` = first component of repetition `r`;
//! * `comps[c]` = first subcomponent of component `c`;
//! * `subs[s] = [start, end)` byte offsets of leaf `s`.
//!
//! Each array ends with a sentinel, so the children of element `k` are `level[k]..level[k + 1]`, and the
//! bytes of any element run from the start of its first leaf to the end of its last one. A lookup is a
//! handful of array reads. The arrays live in a [`Parser`] and are reused from message to message.

use std::borrow::Cow;

use crate::charset::{Charset, Layout, Step, Walker};
use crate::datatypes::View;
use crate::delimiters::Delimiters;
use crate::error::{Error, Location};
use crate::escape::{self, DecodeOptions, Formatting};
use crate::path::Path;

/// Parser settings: strictness, limits and decoding choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseOptions {
    /// Strict mode: segments must end with a single `\r` (no `\n` / `\r\n`), MSH-2 must be exactly 4 or
    /// 5 distinct characters, and unknown escape sequences are errors when decoding. Default: lenient.
    pub strict: bool,
    /// Maximum number of segments in one message (default 100 000).
    pub max_segments: usize,
    /// Maximum length of one field in bytes (default 16 MiB).
    pub max_field_len: usize,
    /// Maximum length of one message in bytes (default 256 MiB; the index uses 32-bit offsets).
    pub max_message_len: usize,
    /// Invalid bytes in the message's character set: error (default) or U+FFFD when decoding.
    /// With `lossy`, an unknown MSH-18 value is read as UTF-8 instead of failing the parse.
    pub lossy: bool,
    /// Formatting commands (`\.br\` …) in decoded values: kept (default) or turned into text.
    pub formatting: Formatting,
    /// Character set to read a message in when it declares none (MSH-18 empty or absent) and its bytes
    /// are not valid UTF-8: e.g. [`Charset::LATIN1`] for senders that write ISO 8859-1 without saying
    /// so. `None` (default): such a message is an encoding error (or lossy UTF-8 with `lossy`).
    pub fallback_charset: Option<Charset>,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            strict: false,
            max_segments: 100_000,
            max_field_len: 16 << 20,
            max_message_len: 256 << 20,
            lossy: false,
            formatting: Formatting::Keep,
            fallback_charset: None,
        }
    }
}

impl ParseOptions {
    /// Strict or lenient (default) parsing.
    pub fn strict(mut self, on: bool) -> Self {
        self.strict = on;
        self
    }
    /// Lossy character decoding on or off.
    pub fn lossy(mut self, on: bool) -> Self {
        self.lossy = on;
        self
    }
    /// Formatting commands kept or turned into text.
    pub fn formatting(mut self, f: Formatting) -> Self {
        self.formatting = f;
        self
    }
    /// Character set for undeclared, non-UTF-8 text (see [`ParseOptions::fallback_charset`]).
    pub fn fallback_charset(mut self, cs: Option<Charset>) -> Self {
        self.fallback_charset = cs;
        self
    }
    /// Maximum number of segments per message.
    pub fn max_segments(mut self, n: usize) -> Self {
        self.max_segments = n;
        self
    }
    /// Maximum field length in bytes.
    pub fn max_field_len(mut self, n: usize) -> Self {
        self.max_field_len = n;
        self
    }
    /// Maximum message length in bytes (at most `u32::MAX - 1`).
    pub fn max_message_len(mut self, n: usize) -> Self {
        self.max_message_len = n.min(u32::MAX as usize - 1);
        self
    }
    pub(crate) fn decode_options(&self) -> DecodeOptions {
        DecodeOptions::default()
            .formatting(self.formatting)
            .strict(self.strict)
            .lossy(self.lossy)
    }
}

/// The offset index of one message (see the module docs). Reused across parses by [`Parser`].
#[derive(Clone, Debug, Default)]
pub(crate) struct Index {
    segs: Vec<[u32; 3]>,
    fields: Vec<u32>,
    reps: Vec<u32>,
    comps: Vec<u32>,
    subs: Vec<[u32; 2]>,
    /// Number of segments indexed (the level arrays keep their length across parses and are only
    /// read through indices bounded by the sentinels).
    nseg: usize,
}

const C_NONE: u8 = 0;
const C_SUB: u8 = 1;
const C_COMP: u8 = 2;
const C_REP: u8 = 3;
const C_FIELD: u8 = 4;
const C_CR: u8 = 5;
const C_LF: u8 = 6;

fn class_table(d: &Delimiters) -> [u8; 256] {
    let mut t = [C_NONE; 256];
    t[d.subcomponent as usize] = C_SUB;
    t[d.component as usize] = C_COMP;
    t[d.repetition as usize] = C_REP;
    t[d.field as usize] = C_FIELD;
    t[b'\r' as usize] = C_CR;
    t[b'\n' as usize] = C_LF;
    t
}

/// A segment ID's 3 bytes in a `u32` (never 0 for a valid ID, which is what the sentinel holds).
#[inline]
fn pack_id(name: &[u8]) -> u32 {
    match name {
        [a, b, c, ..] => u32::from_le_bytes([*a, *b, *c, 0]),
        _ => 0,
    }
}

/// Segment IDs that start a new unit in a stream: a message or a batch envelope segment.
pub(crate) fn is_boundary(name: &[u8]) -> bool {
    matches!(name, b"MSH" | b"FHS" | b"BHS" | b"BTS" | b"FTS")
}

pub(crate) fn is_header(name: &[u8]) -> bool {
    matches!(name, b"MSH" | b"FHS" | b"BHS")
}

pub(crate) fn valid_segment_id(name: &[u8]) -> bool {
    name.len() == 3
        && name[0].is_ascii_uppercase()
        && name[1..]
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Where indexing stops.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Before the next MSH/FHS/BHS/BTS/FTS segment (a message).
    AtBoundary,
    /// After the first segment (a batch envelope segment).
    AfterFirst,
}

/// Bytes of a `u64` with the high bit set where `w` has a zero byte (exact, no false positives).
#[inline(always)]
fn zero_bytes(w: u64) -> u64 {
    const LO7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    !(((w & LO7) + LO7) | w | LO7)
}

/// Segments longer than this have their delimiters counted before the index grows for them; shorter
/// ones reserve their length (at most this many entries of slack per level).
const COUNT_ABOVE: usize = 1024;

/// Number of delimiter bytes in `bytes` (the four separators `words` holds broadcast, and `table`
/// classifies): an 8-byte SWAR count, then the tail.
fn count_delimiters(bytes: &[u8], table: &[u8; 256], words: [u64; 4]) -> usize {
    let [wf, wc, wr, ws] = words;
    let mut chunks = bytes.chunks_exact(8);
    let mut n = 0usize;
    for chunk in &mut chunks {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        let w = u64::from_le_bytes(b);
        let m = zero_bytes(w ^ wf) | zero_bytes(w ^ wc) | zero_bytes(w ^ wr) | zero_bytes(w ^ ws);
        n += m.count_ones() as usize;
    }
    n + chunks
        .remainder()
        .iter()
        .filter(|&&b| matches!(table[b as usize], C_SUB..=C_FIELD))
        .count()
}

/// Write cursors of the index levels while building.
struct Cursor {
    seg: usize,
    field: usize,
    rep: usize,
    comp: usize,
    sub: usize,
}

impl Index {
    /// Makes every level able to take `extra` more entries without reallocating inside a segment.
    #[inline]
    fn ensure(&mut self, c: &Cursor, extra: usize) {
        if self.subs.len() >= c.sub + extra
            && self.comps.len() >= c.comp + extra
            && self.reps.len() >= c.rep + extra
            && self.fields.len() >= c.field + extra
            && self.segs.len() >= c.seg + 2
        {
            return;
        }
        self.grow_all(c, extra);
    }

    #[cold]
    fn grow_all(&mut self, c: &Cursor, extra: usize) {
        fn grow<T: Copy + Default>(v: &mut Vec<T>, need: usize) {
            if v.len() < need {
                v.resize(need, T::default());
            }
        }
        grow(&mut self.segs, c.seg + 2);
        grow(&mut self.fields, c.field + extra);
        grow(&mut self.reps, c.rep + extra);
        grow(&mut self.comps, c.comp + extra);
        grow(&mut self.subs, c.sub + extra);
    }

    /// Opens a new element at `level` (1 = subcomponent … 4 = field) and the first element of every
    /// level below it, without branches: every slot is written, only the right cursors advance.
    #[inline(always)]
    fn open(&mut self, c: &mut Cursor, class: u8) {
        self.fields[c.field] = c.rep as u32;
        c.field += usize::from(class == C_FIELD);
        self.reps[c.rep] = c.comp as u32;
        c.rep += usize::from(class >= C_REP);
        self.comps[c.comp] = c.sub as u32;
        c.comp += usize::from(class >= C_COMP);
    }

    #[inline(always)]
    fn leaf(&mut self, c: &mut Cursor, start: usize, end: usize) {
        self.subs[c.sub] = [start as u32, end as u32];
        c.sub += 1;
    }

    /// Indexes segments starting at `pos` (a segment start). Returns the end offset: just after the last
    /// terminator / blank line belonging to the unit. With `walk`, delimiters are searched character
    /// by character in that multi-byte layout (named by the charset name, for errors).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn build(
        &mut self,
        input: &[u8],
        pos: usize,
        d: &Delimiters,
        msh2_len: usize,
        opts: &ParseOptions,
        stop: Stop,
        walk: Option<(Layout, &'static str)>,
    ) -> Result<usize, Error> {
        let n = input.len();
        if n >= u32::MAX as usize {
            return Err(Error::Limit {
                location: Location::at(0),
                what: "input length",
                limit: u32::MAX as usize - 1,
            });
        }
        let table = class_table(d);
        let bcast = |b: u8| u64::from_ne_bytes([b; 8]);
        let (wf, wc, wr, ws) = (
            bcast(d.field),
            bcast(d.component),
            bcast(d.repetition),
            bcast(d.subcomponent),
        );
        let mut c = Cursor {
            seg: 0,
            field: 0,
            rep: 0,
            comp: 0,
            sub: 0,
        };
        let mut p = pos;
        let end;
        loop {
            // p is at the start of a (non-blank) segment.
            let seg_no = c.seg;
            let name_end = (p + 3).min(n);
            let name = &input[p..name_end];
            if seg_no > 0 && (stop == Stop::AfterFirst || is_boundary(name)) {
                end = p;
                break;
            }
            if !valid_segment_id(name)
                || (name_end < n
                    && input[name_end] != d.field
                    && table[input[name_end] as usize] < C_CR)
            {
                return Err(Error::SegmentId(Location {
                    offset: p,
                    segment: Some(seg_no),
                    field: None,
                }));
            }
            if seg_no >= opts.max_segments {
                return Err(Error::Limit {
                    location: Location {
                        offset: p,
                        segment: Some(seg_no),
                        field: None,
                    },
                    what: "segments per message",
                    limit: opts.max_segments,
                });
            }
            // The segment runs to the next CR or LF.
            let e = memchr::memchr2(b'\r', b'\n', &input[name_end..]).map_or(n, |k| name_end + k);
            // Room for one entry per delimiter (+ the MSH-1/MSH-2 leaves and the sentinels) at every
            // level. A short segment reserves its length (an upper bound, cheaper than counting); a
            // long one counts its delimiters first, so the index is sized to what the segment holds
            // and not to its length (a 16 MiB field of text needs a few entries, not 16 Mi of them).
            let room = if e - p <= COUNT_ABOVE {
                e - p
            } else {
                count_delimiters(&input[name_end..e], &table, [wf, wc, wr, ws])
            };
            self.ensure(&c, room + 8);
            self.segs[c.seg] = [c.field as u32, p as u32, pack_id(name)];
            c.seg += 1;
            self.open(&mut c, C_FIELD);
            let (mut leaf_start, scan_from) = if is_header(name) && name_end < e {
                // MSH-1 is the field separator itself, MSH-2 the encoding characters, one leaf each.
                self.leaf(&mut c, p, name_end);
                self.open(&mut c, C_FIELD);
                self.leaf(&mut c, name_end, name_end + 1);
                self.open(&mut c, C_FIELD);
                (name_end + 1, (name_end + 1 + msh2_len).min(e))
            } else {
                (p, name_end)
            };
            // Hot loop over the segment's bytes with local cursors and slices (kept in registers).
            let seg_first_field = c.field - 1;
            {
                let fields = &mut self.fields[..];
                let reps = &mut self.reps[..];
                let comps = &mut self.comps[..];
                let subs = &mut self.subs[..];
                let (mut nf, mut nr, mut nc, mut ns) = (c.field, c.rep, c.comp, c.sub);
                // A delimiter at `at` closes the current leaf and opens a field / repetition /
                // component as its level says (branch-free: all slots written, cursors advance).
                let mut delim = |at: usize, is_field: bool, ge_rep: bool, ge_comp: bool| {
                    subs[ns] = [leaf_start as u32, at as u32];
                    ns += 1;
                    fields[nf] = nr as u32;
                    nf += usize::from(is_field);
                    reps[nr] = nc as u32;
                    nr += usize::from(ge_rep);
                    comps[nc] = ns as u32;
                    nc += usize::from(ge_comp);
                    leaf_start = at + 1;
                };
                let mut i = scan_from;
                if let Some((layout, charset)) = walk {
                    // A multi-byte charset whose characters may hold delimiter bytes: step over
                    // whole characters; only single-byte ASCII characters can be delimiters.
                    let mut w = Walker::new(layout);
                    let seg_bytes = &input[..e];
                    while i < e {
                        match w.step(seg_bytes, i) {
                            Step::Ascii => {
                                let class = table[input[i] as usize];
                                if class != C_NONE {
                                    delim(i, class == C_FIELD, class >= C_REP, class >= C_COMP);
                                }
                                i += 1;
                            }
                            Step::Skip(k) => i += k,
                            Step::Invalid if opts.lossy => i += 1,
                            Step::Invalid => {
                                return Err(Error::Encoding {
                                    location: Location {
                                        offset: i,
                                        segment: Some(seg_no),
                                        field: None,
                                    },
                                    charset,
                                })
                            }
                        }
                    }
                    if !w.at_rest() && !opts.lossy {
                        // ISO-2022-JP must switch back to ASCII before the end of a line.
                        return Err(Error::Encoding {
                            location: Location {
                                offset: e,
                                segment: Some(seg_no),
                                field: None,
                            },
                            charset,
                        });
                    }
                }
                // SWAR scan: 8 bytes at a time, a bit mask of delimiter positions.
                while i + 8 <= e {
                    let mut chunk = [0u8; 8];
                    chunk.copy_from_slice(&input[i..i + 8]);
                    let w = u64::from_le_bytes(chunk);
                    let mut m = zero_bytes(w ^ wf)
                        | zero_bytes(w ^ wc)
                        | zero_bytes(w ^ wr)
                        | zero_bytes(w ^ ws);
                    while m != 0 {
                        let k = (m.trailing_zeros() / 8) as usize;
                        let at = i + k;
                        let class = table[chunk[k & 7] as usize];
                        delim(at, class == C_FIELD, class >= C_REP, class >= C_COMP);
                        m &= m - 1;
                    }
                    i += 8;
                }
                while i < e {
                    let class = table[input[i] as usize];
                    if class != C_NONE {
                        delim(i, class == C_FIELD, class >= C_REP, class >= C_COMP);
                    }
                    i += 1;
                }
                c.field = nf;
                c.rep = nr;
                c.comp = nc;
                c.sub = ns;
            }
            self.leaf(&mut c, leaf_start, e);
            if e - p > opts.max_field_len {
                self.check_fields(&c, seg_no, seg_first_field, opts)?;
            }
            // e is at a terminator (or the end): skip it and any blank lines.
            let mut k = e;
            while k < n && (input[k] == b'\r' || input[k] == b'\n') {
                if opts.strict && (input[k] == b'\n' || k > e) {
                    return Err(Error::Terminator(Location {
                        offset: k,
                        segment: Some(seg_no),
                        field: None,
                    }));
                }
                k += 1;
                if !opts.strict && k < n && matches!(input[k], b' ' | b'\t' | 0x0B | 0x1C) {
                    k = skip_filler(input, k);
                }
            }
            if k - pos > opts.max_message_len {
                return Err(Error::Limit {
                    location: Location {
                        offset: k,
                        segment: Some(seg_no),
                        field: None,
                    },
                    what: "message length",
                    limit: opts.max_message_len,
                });
            }
            if k >= n {
                end = n;
                break;
            }
            p = k;
        }
        // Sentinels.
        self.ensure(&c, 4);
        self.segs[c.seg] = [c.field as u32, end as u32, 0];
        self.fields[c.field] = c.rep as u32;
        self.reps[c.rep] = c.comp as u32;
        self.comps[c.comp] = c.sub as u32;
        self.nseg = c.seg;
        Ok(end)
    }

    /// Field lengths of the segment just indexed (only called for segments longer than the limit).
    #[cold]
    fn check_fields(
        &self,
        c: &Cursor,
        seg: usize,
        first: usize,
        opts: &ParseOptions,
    ) -> Result<(), Error> {
        for f in first..c.field {
            let a = self.comps[self.reps[self.fields[f] as usize] as usize] as usize;
            let b = if f + 1 < c.field {
                self.comps[self.reps[self.fields[f + 1] as usize] as usize] as usize
            } else {
                c.sub
            };
            let (start, end) = (self.subs[a][0] as usize, self.subs[b - 1][1] as usize);
            if end - start > opts.max_field_len {
                return Err(Error::Limit {
                    location: Location {
                        offset: start,
                        segment: Some(seg),
                        field: Some(f - first),
                    },
                    what: "field length",
                    limit: opts.max_field_len,
                });
            }
        }
        Ok(())
    }

    #[inline]
    fn seg_count(&self) -> usize {
        self.nseg
    }

    #[inline]
    fn leaf_of_field(&self, f: usize) -> usize {
        self.comps[self.reps[self.fields[f] as usize] as usize] as usize
    }
    #[inline]
    fn leaf_of_rep(&self, r: usize) -> usize {
        self.comps[self.reps[r] as usize] as usize
    }

    /// Leaf range of the element a path designates, plus the segment index; None when absent.
    fn locate(&self, _input: &[u8], p: &Path) -> Option<(usize, usize, usize)> {
        let want = pack_id(&p.seg);
        let mut seen = 0u32;
        let mut si = usize::MAX;
        for (k, s) in self.segs[..self.seg_count()].iter().enumerate() {
            if s[2] == want {
                seen += 1;
                if seen == p.occ {
                    si = k;
                    break;
                }
            }
        }
        if si == usize::MAX {
            return None;
        }
        let f0 = self.segs[si][0] as usize;
        let f_end = self.segs[si + 1][0] as usize;
        let Some(field) = p.field else {
            return Some((self.leaf_of_field(f0), self.leaf_of_field(f_end), si));
        };
        let fi = f0 + field as usize;
        if fi >= f_end {
            return None;
        }
        let ri = match (p.rep, p.comp) {
            (Some(r), _) => {
                let ri = self.fields[fi] as usize + r as usize - 1;
                if ri >= self.fields[fi + 1] as usize {
                    return None;
                }
                ri
            }
            (None, Some(_)) => self.fields[fi] as usize,
            (None, None) => return Some((self.leaf_of_field(fi), self.leaf_of_field(fi + 1), si)),
        };
        let Some(comp) = p.comp else {
            return Some((self.leaf_of_rep(ri), self.leaf_of_rep(ri + 1), si));
        };
        let ci = self.reps[ri] as usize + comp as usize - 1;
        if ci >= self.reps[ri + 1] as usize {
            return None;
        }
        let Some(sub) = p.sub else {
            return Some((self.comps[ci] as usize, self.comps[ci + 1] as usize, si));
        };
        let li = self.comps[ci] as usize + sub as usize - 1;
        if li >= self.comps[ci + 1] as usize {
            return None;
        }
        Some((li, li + 1, si))
    }

    #[inline]
    fn span(&self, first_leaf: usize, end_leaf: usize) -> (usize, usize) {
        (
            self.subs[first_leaf][0] as usize,
            self.subs[end_leaf - 1][1] as usize,
        )
    }
}

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
    fn from_raw(raw: Option<&'a [u8]>) -> Self {
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

/// Lenient reading of what real files hold between segments, from `k` (a line start): a line of only
/// spaces, tabs and MLLP framing bytes (VT 0x0B, FS 0x1C) is skipped up to its terminator, as a blank
/// line; VT/FS bytes right before a segment (a captured MLLP stream) are skipped too. Returns the
/// offset of the terminator or segment that follows, or `k` when there is nothing to skip.
fn skip_filler(input: &[u8], k: usize) -> usize {
    let mut j = k;
    while j < input.len() && matches!(input[j], b' ' | b'\t' | 0x0B | 0x1C) {
        j += 1;
    }
    if j == input.len() || matches!(input[j], b'\r' | b'\n') {
        return j;
    }
    if input[k..j].iter().all(|&b| matches!(b, 0x0B | 0x1C)) {
        return j;
    }
    k
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
    fn idx(&self) -> &Index {
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
    /// [`crate::datatypes`]): `None` when absent.
    ///
    /// ```
    /// use ehrkit_hl7v2::{Message, datatypes::Cx};
    /// let msg = Message::parse(b"MSH|^~\\&|A\rPID|1||7^^^EPIC^MR\r").unwrap();
    /// let cx: Cx<'_> = msg.typed("PID-3").unwrap().unwrap();
    /// assert_eq!(cx.id_number().unwrap().raw(), b"7");
    /// ```
    pub fn typed<T: crate::datatypes::FromRaw<'a>>(
        &self,
        path: &str,
    ) -> Option<Result<T, crate::datatypes::DatatypeError>> {
        self.raw(path)
            .map(|raw| T::from_raw_in(raw, &self.delims, self.charset))
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
    pub fn with_options(mut self, opts: ParseOptions) -> Self {
        self.opts = opts;
        self
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

/// One segment of a [`Message`].
#[derive(Clone, Copy, Debug)]
pub struct Segment<'m> {
    msg: &'m Message<'m>,
    idx: usize,
}

impl<'m> Segment<'m> {
    /// The 3-character segment ID (`PID`, `ZPD`).
    pub fn name(&self) -> &'m str {
        let st = self.msg.idx().segs[self.idx][1] as usize;
        std::str::from_utf8(&self.msg.input[st..st + 3]).unwrap_or("???")
    }

    /// Position of the segment in its message (0-based; MSH is 0).
    pub fn index(&self) -> usize {
        self.idx
    }

    /// The segment's bytes as written, without its terminator.
    pub fn as_bytes(&self) -> &'m [u8] {
        let idx = self.msg.idx();
        let a = idx.leaf_of_field(idx.segs[self.idx][0] as usize);
        let b = idx.leaf_of_field(idx.segs[self.idx + 1][0] as usize);
        let (s, e) = idx.span(a, b);
        &self.msg.input[s..e]
    }

    /// Byte offset of the segment in the input.
    pub fn offset(&self) -> usize {
        self.msg.idx().segs[self.idx][1] as usize
    }

    /// Number of the last field present (HL7 numbering; 0 for a bare segment ID).
    pub fn field_count(&self) -> usize {
        let idx = self.msg.idx();
        (idx.segs[self.idx + 1][0] - idx.segs[self.idx][0]) as usize - 1
    }

    /// Field `n` (HL7 numbering: `MSH-9` is `field(9)`), with its repetitions as typed views:
    /// `pid.field(3).repetitions::<Cx>()`. An absent field (or `n == 0`) is a [`Field`] with nothing
    /// in it, so chains need no `unwrap`.
    pub fn field(&self, n: usize) -> Field<'m> {
        let fi = (n > 0 && n <= self.field_count())
            .then(|| self.msg.idx().segs[self.idx][0] as usize + n);
        Field {
            msg: self.msg,
            fi,
            n,
        }
    }

    /// Raw bytes of field `n` (all repetitions, still escaped); `None` when absent.
    pub fn field_raw(&self, n: usize) -> Option<&'m [u8]> {
        self.field(n).raw()
    }

    fn path(&self, rel: &str) -> Option<Path> {
        let st = self.msg.idx().segs[self.idx][1] as usize;
        let mut name = [0u8; 3];
        name.copy_from_slice(&self.msg.input[st..st + 3]);
        let p = Path::parse_relative(name, rel).ok()?;
        // Occurrence of this very segment among those with its name.
        let occ = self
            .msg
            .segments()
            .take(self.idx + 1)
            .filter(|s| s.name().as_bytes() == name)
            .count();
        Some(p.with_occurrence(occ as u32))
    }

    /// Raw bytes at a path relative to this segment (`3(2).1`).
    pub fn raw(&self, rel: &str) -> Option<&'m [u8]> {
        self.msg.raw_path(&self.path(rel)?)
    }

    /// Decoded value at a path relative to this segment (`3(2).1`), as [`Message::get`].
    pub fn get(&self, rel: &str) -> Option<Cow<'m, str>> {
        self.msg.get_path(&self.path(rel)?)
    }

    /// The message this segment belongs to.
    pub fn message(&self) -> &'m Message<'m> {
        self.msg
    }
}

/// One field of a segment, all its repetitions, from [`Segment::field`]: the door to the typed
/// views of [`crate::datatypes`]. Repetitions come from the message's index, so they are exact in
/// every character set; each is handed out as any [`View`] (`Cx`, `Xpn`, `Text`, ...), decoding in
/// the message's character set.
///
/// Presence is HL7's: an absent field has no repetitions; an empty field (`||`) has none either;
/// the HL7 null `""` is one repetition whose view says [`is_null`](crate::datatypes::Cx::is_null)
/// (and whose [`Text::value`](crate::datatypes::Text::value) is `None`).
///
/// ```
/// use ehrkit_hl7v2::Message;
/// use ehrkit_hl7v2::datatypes::{Cx, Xpn, Ts};
///
/// let msg = Message::parse(
///     b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5.1\r\
/// PID|1||E1^^^EPIC&1.2.3&ISO^MR~123-45-6789^^^SSA^SS||O\\S\\BRIEN^MARY^^^^^L||19800101|F\r",
/// )?;
/// let pid = msg.segment("PID", 1).unwrap();
/// let ids: Vec<(String, String)> = pid
///     .field(3)
///     .repetitions::<Cx>()
///     .filter_map(|cx| Some((cx.id()?.value()?.into_owned(), cx.identifier_type_code()?.value()?.into_owned())))
///     .collect();
/// assert_eq!(ids, [("E1".to_string(), "MR".to_string()), ("123-45-6789".into(), "SS".into())]);
/// let cx = pid.field(3).first::<Cx>().unwrap();
/// assert_eq!(cx.assigning_authority().unwrap().universal_id().unwrap().value().as_deref(), Some("1.2.3"));
///
/// let name = pid.field(5).first::<Xpn>().unwrap();
/// assert_eq!(name.surname().unwrap().value().as_deref(), Some("O^BRIEN"));
/// assert_eq!(pid.field(7).first::<Ts>().unwrap().dtm()?.unwrap().year(), 1980);
/// assert_eq!(pid.field(8).text().as_deref(), Some("F"));
/// assert_eq!(pid.field(30).repetitions::<Cx>().count(), 0); // absent
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Field<'m> {
    msg: &'m Message<'m>,
    /// Index of the field in the index's field level; `None` when absent.
    fi: Option<usize>,
    n: usize,
}

impl<'m> Field<'m> {
    /// The field number (HL7 numbering).
    pub fn number(&self) -> usize {
        self.n
    }

    /// The raw bytes of the whole field (all repetitions, still escaped); `None` when absent.
    pub fn raw(&self) -> Option<&'m [u8]> {
        let fi = self.fi?;
        let idx = self.msg.idx();
        let (s, e) = idx.span(idx.leaf_of_field(fi), idx.leaf_of_field(fi + 1));
        Some(&self.msg.input[s..e])
    }

    /// Three-valued presence of the whole field (absent, empty, HL7 null, present).
    pub fn value(&self) -> Value<'m> {
        Value::from_raw(self.raw())
    }

    /// True unless the field is absent.
    pub fn is_present(&self) -> bool {
        self.fi.is_some()
    }

    /// True when the field is the HL7 null `""`.
    pub fn is_null(&self) -> bool {
        self.value().is_null()
    }

    /// Number of repetitions: 0 when the field is absent or empty.
    pub fn repetition_count(&self) -> usize {
        match (self.fi, self.value()) {
            (Some(fi), v) if v != Value::Empty => {
                let idx = self.msg.idx();
                (idx.fields[fi + 1] - idx.fields[fi]) as usize
            }
            _ => 0,
        }
    }

    /// Raw bytes of repetition `r` (1-based); `None` when absent (`Some(b"")` for an empty one
    /// between two others, as in `A~~B`).
    pub fn repetition_raw(&self, r: usize) -> Option<&'m [u8]> {
        if r == 0 || r > self.repetition_count() {
            return None;
        }
        let idx = self.msg.idx();
        let ri = idx.fields[self.fi?] as usize + r - 1;
        let (s, e) = idx.span(idx.leaf_of_rep(ri), idx.leaf_of_rep(ri + 1));
        Some(&self.msg.input[s..e])
    }

    /// The repetitions, in order, each as the view `T` (`Cx`, `Xpn`, `Text`, ...). Nothing for an
    /// absent or empty field; an empty repetition in the middle (`A~~B`) is an empty view.
    pub fn repetitions<T: View<'m>>(&self) -> impl Iterator<Item = T> + 'm {
        let this = *self;
        (1..=self.repetition_count()).filter_map(move |r| this.get::<T>(r))
    }

    /// Repetition `r` (1-based) as the view `T`; `None` when absent.
    pub fn get<T: View<'m>>(&self, r: usize) -> Option<T> {
        let raw = self.repetition_raw(r)?;
        Some(T::view(raw, &self.msg.delims, self.msg.charset))
    }

    /// The first repetition as the view `T`; `None` when the field is absent or empty.
    pub fn first<T: View<'m>>(&self) -> Option<T> {
        self.get(1)
    }

    /// The first repetition as data text ([`Text::value`](crate::datatypes::Text::value): escapes
    /// decoded, `None` for absent, empty and the HL7 null). Meant for fields of a primitive type
    /// (ST, ID, IS, NM, DTM ...); a composite value comes back with its separators as written.
    pub fn text(&self) -> Option<Cow<'m, str>> {
        self.first::<crate::datatypes::Text<'m>>()?.value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
