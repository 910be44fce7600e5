//! The offset index of a message, built in one pass over its bytes.
//!
//! One pass records every element at every level in five flat arrays (no `Vec` per field or
//! component):
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
//! handful of array reads. The arrays live in a [`Parser`](crate::Parser) and are reused from message
//! to message. They are sized to the delimiters present (see the crate README's limits).

use crate::charset::{Layout, Step, Walker};
use crate::delimiters::Delimiters;
use crate::error::{Error, Location};
use crate::options::ParseOptions;
use crate::path::Path;

/// The offset index of one message (see the module docs). Reused across parses by [`Parser`](crate::Parser).
#[derive(Clone, Debug, Default)]
pub(crate) struct Index {
    pub(crate) segs: Vec<[u32; 3]>,
    pub(crate) fields: Vec<u32>,
    pub(crate) reps: Vec<u32>,
    pub(crate) comps: Vec<u32>,
    pub(crate) subs: Vec<[u32; 2]>,
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
pub(crate) fn pack_id(name: &[u8]) -> u32 {
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
#[cold]
#[inline(never)]
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

/// The delimiter scan of one segment (`bytes` ends at its terminator) for a multi-byte layout:
/// only single-byte ASCII characters can be delimiters. Same index writes as the byte scan in
/// [`Index::build`]; `Err(offset)` for a byte sequence that is not a character (unless `lossy`), or
/// an ISO-2022-JP segment that does not end in ASCII/Roman.
#[cold]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn walk_segment(
    [fields, reps, comps]: [&mut [u32]; 3],
    subs: &mut [[u32; 2]],
    cur: &mut [usize; 4],
    leaf_start: &mut usize,
    bytes: &[u8],
    from: usize,
    table: &[u8; 256],
    layout: Layout,
    lossy: bool,
) -> Result<(), usize> {
    let [mut nf, mut nr, mut nc, mut ns] = *cur;
    let mut w = Walker::new(layout);
    let mut i = from;
    while i < bytes.len() {
        match w.step(bytes, i) {
            Step::Ascii => {
                let class = table[bytes[i] as usize];
                if class != C_NONE {
                    subs[ns] = [*leaf_start as u32, i as u32];
                    ns += 1;
                    fields[nf] = nr as u32;
                    nf += usize::from(class == C_FIELD);
                    reps[nr] = nc as u32;
                    nr += usize::from(class >= C_REP);
                    comps[nc] = ns as u32;
                    nc += usize::from(class >= C_COMP);
                    *leaf_start = i + 1;
                }
                i += 1;
            }
            Step::Skip(k) => i += k,
            Step::Invalid if lossy => i += 1,
            Step::Invalid => return Err(i),
        }
    }
    if !w.at_rest() && !lossy {
        return Err(bytes.len());
    }
    *cur = [nf, nr, nc, ns];
    Ok(())
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
        // Two monomorphic copies: the common one has no trace of the character walk in its loop.
        match walk {
            None => self.build_with::<false>(input, pos, d, msh2_len, opts, stop, None),
            Some(w) => self.build_with::<true>(input, pos, d, msh2_len, opts, stop, Some(w)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn build_with<const WALK: bool>(
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
                let mut i = scan_from;
                if let (true, Some((layout, charset))) = (WALK, walk) {
                    // A multi-byte charset whose characters may hold delimiter bytes: step over
                    // whole characters (out of line, so that the byte scan below stays as tight).
                    let mut cur = [nf, nr, nc, ns];
                    walk_segment(
                        [&mut *fields, &mut *reps, &mut *comps],
                        &mut *subs,
                        &mut cur,
                        &mut leaf_start,
                        &input[..e],
                        scan_from,
                        &table,
                        layout,
                        opts.lossy,
                    )
                    .map_err(|offset| Error::Encoding {
                        location: Location {
                            offset,
                            segment: Some(seg_no),
                            field: None,
                        },
                        charset,
                    })?;
                    [nf, nr, nc, ns] = cur;
                    i = e;
                }
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
    pub(crate) fn seg_count(&self) -> usize {
        self.nseg
    }

    #[inline]
    pub(crate) fn leaf_of_field(&self, f: usize) -> usize {
        self.comps[self.reps[self.fields[f] as usize] as usize] as usize
    }
    #[inline]
    pub(crate) fn leaf_of_rep(&self, r: usize) -> usize {
        self.comps[self.reps[r] as usize] as usize
    }

    /// Leaf range of the element a path designates, plus the segment index; None when absent.
    pub(crate) fn locate(&self, _input: &[u8], p: &Path) -> Option<(usize, usize, usize)> {
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
    pub(crate) fn span(&self, first_leaf: usize, end_leaf: usize) -> (usize, usize) {
        (
            self.subs[first_leaf][0] as usize,
            self.subs[end_leaf - 1][1] as usize,
        )
    }
}

/// Lenient reading of what real files hold between segments, from `k` (a line start): a line of only
/// spaces, tabs and MLLP framing bytes (VT 0x0B, FS 0x1C) is skipped up to its terminator, as a blank
/// line; VT/FS bytes right before a segment (a captured MLLP stream) are skipped too. Returns the
/// offset of the terminator or segment that follows, or `k` when there is nothing to skip.
pub(crate) fn skip_filler(input: &[u8], k: usize) -> usize {
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
