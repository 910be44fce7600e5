//! [`Segment`] and [`Field`]: one segment of a message, and one of its fields with its repetitions as
//! typed views.

use std::borrow::Cow;

use crate::datatypes::View;
use crate::message::{Message, Value};
use crate::path::Path;

/// One segment of a [`Message`].
#[derive(Clone, Copy, Debug)]
pub struct Segment<'m> {
    pub(crate) msg: &'m Message<'m>,
    pub(crate) idx: usize,
}

impl<'m> Segment<'m> {
    /// The 3-character segment ID (`PID`, `ZPD`).
    pub fn name(&self) -> &'m str {
        let st = self.msg.idx().segs[self.idx][1] as usize;
        std::str::from_utf8(&self.msg.input()[st..st + 3]).unwrap_or("???")
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
        &self.msg.input()[s..e]
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
        name.copy_from_slice(&self.msg.input()[st..st + 3]);
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
        Some(&self.msg.input()[s..e])
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
        let Some(fi) = self.fi else { return 0 };
        let idx = self.msg.idx();
        let n = (idx.fields[fi + 1] - idx.fields[fi]) as usize;
        // Only a field of one repetition can be empty (`||`): then it has none.
        if n == 1 && self.raw().is_some_and(<[u8]>::is_empty) {
            return 0;
        }
        n
    }

    /// Raw bytes of repetition `r` (1-based); `None` when absent (`Some(b"")` for an empty one
    /// between two others, as in `A~~B`).
    pub fn repetition_raw(&self, r: usize) -> Option<&'m [u8]> {
        let fi = self.fi?;
        let idx = self.msg.idx();
        let n = (idx.fields[fi + 1] - idx.fields[fi]) as usize;
        if r == 0 || r > n {
            return None;
        }
        let ri = idx.fields[fi] as usize + r - 1;
        let (s, e) = idx.span(idx.leaf_of_rep(ri), idx.leaf_of_rep(ri + 1));
        // The field's only repetition spans the whole field: empty there means an empty field
        // (`||`), which has no repetitions (the span is not walked twice to find that out).
        if n == 1 && s == e {
            return None;
        }
        Some(&self.msg.input()[s..e])
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
        Some(T::view(raw, self.msg.delimiters(), self.msg.charset()))
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
