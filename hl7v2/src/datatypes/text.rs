//! ST, TX, ID, IS (as [`Text`]) and FT.

use std::borrow::Cow;

use super::{decode, DatatypeError, Dt, Dtm, FromPart, FromRaw, Nm, Parts, Si, Tm, View};
use crate::escape::{DecodeOptions, Formatting};
use crate::{Charset, Delimiters};

/// One primitive value (ST, TX, ID, IS, or any component read as text), borrowing the input.
///
/// [`raw`](Text::raw) is the value as written (escapes included); [`decode`](Text::decode) resolves
/// the escapes (`\F\`, `\S\`, `\T\`, `\R\`, `\E\`, `\Xhh\`, ...) and borrows when there are none.
///
/// ```
/// use ehrkit_hl7v2::Delimiters;
/// use ehrkit_hl7v2::datatypes::{FromRaw, Text};
///
/// let t = Text::from_raw(br"A\T\B", &Delimiters::default()).unwrap();
/// assert_eq!(t.raw(), br"A\T\B");
/// assert_eq!(t.decode().unwrap(), "A&B");
/// assert!(Text::from_raw(b"\"\"", &Delimiters::default()).unwrap().is_null());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Text<'a> {
    raw: &'a [u8],
    delims: Delimiters,
    charset: Charset,
}

/// String data (ST).
pub type St<'a> = Text<'a>;
/// Text data (TX): like ST, leading spaces are significant.
pub type Tx<'a> = Text<'a>;
/// Coded value for HL7-defined tables (ID).
pub type Id<'a> = Text<'a>;
/// Coded value for user-defined tables (IS).
pub type Is<'a> = Text<'a>;

impl<'a> Text<'a> {
    /// A text view of `raw` (still escaped) written with `delims`.
    pub fn new(raw: &'a [u8], delims: &Delimiters) -> Self {
        Text {
            raw,
            delims: *delims,
            charset: Charset::UTF8,
        }
    }

    /// A text view of `raw` (still escaped) written with `delims` in `charset` (MSH-18).
    pub fn in_charset(raw: &'a [u8], delims: &Delimiters, charset: Charset) -> Self {
        Text {
            raw,
            delims: *delims,
            charset,
        }
    }

    /// The character set the value is decoded from (UTF-8 unless the view came from a message or
    /// [`Text::in_charset`]).
    pub fn charset(&self) -> Charset {
        self.charset
    }

    /// The value as written in the message (escapes not decoded).
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The delimiters the value was written with.
    pub fn delimiters(&self) -> &Delimiters {
        &self.delims
    }

    /// True for the HL7 null `""` (the sender asks to delete the receiver's value).
    pub fn is_null(&self) -> bool {
        self.raw == b"\"\""
    }

    /// True when nothing is written.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The value with its escapes decoded and its bytes read in the view's character set (the
    /// message's MSH-18 for views reached from a [`Message`](crate::Message) or
    /// [`Field`](crate::Field); UTF-8 for views built with `parse`/`new`); borrowed from the input
    /// when there is nothing to decode. Formatting commands (`\.br\`, ...) are kept as written.
    /// The HL7 null comes back as the two characters `""`: see [`value`](Text::value).
    pub fn decode(&self) -> Result<Cow<'a, str>, DatatypeError> {
        if self.charset.is_utf8() {
            return decode(self.raw, &self.delims);
        }
        self.decode_with(&DecodeOptions::default(), self.charset)
    }

    /// The value as data: decoded text, or `None` when nothing is there to use — empty, or the HL7
    /// null `""` (which asks the receiver to delete its value: test [`is_null`](Text::is_null)
    /// when that matters). Never fails: escapes a strict reader would refuse are kept as written
    /// and invalid bytes become U+FFFD (use [`decode`](Text::decode) to get those errors).
    ///
    /// ```
    /// use ehrkit_hl7v2::Delimiters;
    /// use ehrkit_hl7v2::datatypes::Text;
    /// let d = Delimiters::default();
    /// assert_eq!(Text::new(br"O\S\BRIEN", &d).value().as_deref(), Some("O^BRIEN"));
    /// assert_eq!(Text::new(b"\"\"", &d).value(), None);
    /// assert_eq!(Text::new(b"", &d).value(), None);
    /// ```
    pub fn value(&self) -> Option<Cow<'a, str>> {
        if self.raw.is_empty() || self.is_null() {
            return None;
        }
        Some(self.decode().unwrap_or_else(|_| {
            self.decode_with(&DecodeOptions::default().lossy(true), self.charset)
                .unwrap_or_else(|_| String::from_utf8_lossy(self.raw))
        }))
    }

    /// Decode with explicit options (formatting commands kept or turned into text, strict escapes,
    /// lossy characters) and the message's character set ([`crate::Message::charset`]).
    pub fn decode_with(
        &self,
        opts: &DecodeOptions,
        charset: Charset,
    ) -> Result<Cow<'a, str>, DatatypeError> {
        crate::escape::decode_with(self.raw, &self.delims, opts, charset)
            .map_err(DatatypeError::Decode)
    }

    /// Like [`decode`](Text::decode), but never fails: a value that cannot be decoded comes back as
    /// written, invalid UTF-8 replaced by U+FFFD.
    pub fn decode_lossy(&self) -> Cow<'a, str> {
        match self.decode() {
            Ok(s) => s,
            Err(_) => String::from_utf8_lossy(self.raw),
        }
    }

    /// Read the value as a date/time (DTM, or the first component of a TS).
    pub fn dtm(&self) -> Result<Dtm, DatatypeError> {
        Dtm::from_raw(self.raw, &self.delims)
    }

    /// Read the value as a date (DT).
    pub fn dt(&self) -> Result<Dt, DatatypeError> {
        Dt::from_raw(self.raw, &self.delims)
    }

    /// Read the value as a time (TM).
    pub fn tm(&self) -> Result<Tm, DatatypeError> {
        Tm::from_raw(self.raw, &self.delims)
    }

    /// Read the value as a number (NM), keeping its text.
    pub fn nm(&self) -> Result<Nm<'a>, DatatypeError> {
        Nm::from_raw(self.raw, &self.delims)
    }

    /// Read the value as a sequence ID (SI).
    pub fn si(&self) -> Result<Si, DatatypeError> {
        Si::from_raw(self.raw, &self.delims)
    }
}

impl<'a> FromRaw<'a> for Text<'a> {
    /// Never fails.
    fn from_raw(raw: &'a [u8], delims: &Delimiters) -> Result<Self, DatatypeError> {
        Ok(Text::new(raw, delims))
    }
    fn from_raw_in(
        raw: &'a [u8],
        delims: &Delimiters,
        charset: Charset,
    ) -> Result<Self, DatatypeError> {
        Ok(Text::in_charset(raw, delims, charset))
    }
}

impl super::sealed::Sealed for Text<'_> {}

impl<'a> View<'a> for Text<'a> {
    const CODE: &'static str = "ST";
    fn view(raw: &'a [u8], delims: &Delimiters, charset: Charset) -> Self {
        Text::in_charset(raw, delims, charset)
    }
}

impl super::sealed::Sealed for Ft<'_> {}

impl<'a> View<'a> for Ft<'a> {
    const CODE: &'static str = "FT";
    fn view(raw: &'a [u8], delims: &Delimiters, charset: Charset) -> Self {
        Ft {
            text: Text::in_charset(raw, delims, charset),
        }
    }
}

impl<'a> FromPart<'a> for Text<'a> {
    fn from_part(parts: Parts<'a>) -> Self {
        Text {
            raw: parts.raw,
            delims: parts.delims,
            charset: parts.charset,
        }
    }
}

/// Formatted text (FT): text with embedded formatting commands (`\.br\`, `\.sp\`, `\.in+4\`, `\H\`,
/// ...), which this view keeps as written or turns into plain text, as asked.
///
/// ```
/// use ehrkit_hl7v2::Delimiters;
/// use ehrkit_hl7v2::datatypes::Ft;
///
/// let ft = Ft::new(br"Line 1\.br\Fe \T\ Na\.sp2\End", &Delimiters::default());
/// assert_eq!(ft.decode().unwrap(), r"Line 1\.br\Fe & Na\.sp2\End");
/// assert_eq!(ft.plain_text().unwrap(), "Line 1\nFe & Na\n\nEnd");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ft<'a> {
    text: Text<'a>,
}

impl<'a> Ft<'a> {
    /// An FT view of `raw` (still escaped) written with `delims`.
    pub fn new(raw: &'a [u8], delims: &Delimiters) -> Self {
        Ft {
            text: Text::new(raw, delims),
        }
    }

    /// The value as written.
    pub fn raw(&self) -> &'a [u8] {
        self.text.raw
    }

    /// True for the HL7 null `""`.
    pub fn is_null(&self) -> bool {
        self.text.is_null()
    }

    /// The value as [`Text`].
    pub fn as_text(&self) -> Text<'a> {
        self.text
    }

    /// The text with data escapes (`\F\`, `\T\`, `\Xhh\`, ...) decoded and the formatting commands
    /// kept as written (`\.br\`, `\H\`, ...). Borrowed when there is nothing to decode.
    pub fn decode(&self) -> Result<Cow<'a, str>, DatatypeError> {
        self.text.decode()
    }

    /// Plain text: `\.br\` and `\.ce\` become a line break, `\.sp N\` N line breaks (1 without N),
    /// `\.sk N\` N spaces; the other commands (`\.in\`, `\.ti\`, `\.fi\`, `\.nf\`, `\H\`, `\N\`) are
    /// dropped. Read in the view's character set (see [`Text::decode`]).
    pub fn plain_text(&self) -> Result<Cow<'a, str>, DatatypeError> {
        self.text.decode_with(
            &DecodeOptions::default().formatting(Formatting::Text),
            self.text.charset,
        )
    }
}

impl<'a> FromRaw<'a> for Ft<'a> {
    /// Never fails.
    fn from_raw(raw: &'a [u8], delims: &Delimiters) -> Result<Self, DatatypeError> {
        Ok(Ft::new(raw, delims))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ft_without_commands_borrows() {
        let ft = Ft::new(b"plain", &Delimiters::default());
        assert!(matches!(ft.decode().unwrap(), Cow::Borrowed("plain")));
        assert!(matches!(ft.plain_text().unwrap(), Cow::Borrowed("plain")));
    }

    #[test]
    fn ft_commands() {
        let d = Delimiters::default();
        let ft = Ft::new(br"\H\BOLD\N\ \.sk3\x\.in+4\y\.ce\z", &d);
        assert_eq!(ft.plain_text().unwrap(), "BOLD    xy\nz");
        assert_eq!(ft.decode().unwrap(), r"\H\BOLD\N\ \.sk3\x\.in+4\y\.ce\z");
        let ft = Ft::new(br"a\.sp\b", &d);
        assert_eq!(ft.plain_text().unwrap(), "a\nb");
    }

    #[test]
    fn text_null_and_empty() {
        let d = Delimiters::default();
        assert!(Text::new(b"\"\"", &d).is_null());
        assert!(!Text::new(b"\"x\"", &d).is_null());
        assert!(Text::new(b"", &d).is_empty());
        assert_eq!(Text::new(b"\xff", &d).decode_lossy(), "\u{fffd}");
    }
}
