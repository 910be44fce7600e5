//! `FT[string]`: HL7 v2 formatted text → FHIR `string` with its formatting commands laid out as
//! plain text (line breaks, indentation, centring), per HL7 v2.9 section 2.7.6 "Formatting
//! codes" (<https://www.hl7.eu/HL7v2x/v29/std29/ch02.html#Heading140>) and the IG's
//! `FT[string]` use in `OBX[Observation]`
//! (<https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-obx-to-observation.html>).
//!
//! ```
//! use ehrkit_hl7v2::datatypes::Ft;
//! use ehrkit_hl7v2::Delimiters;
//! use ehrkit_mapping::v2_to_fhir::datatype::ft_text::{ft_text, Layout};
//!
//! let d = Delimiters::default();
//! let ft = Ft::new(br"Findings:\.br\\.in+2\Lungs clear\.br\Heart normal\.in-2\\.br\End", &d);
//! assert_eq!(
//!     ft_text(&ft, &Layout::default()).unwrap(),
//!     "Findings:\n  Lungs clear\n  Heart normal\nEnd"
//! );
//! ```
//!
//! The commands, as the standard defines them:
//!
//! | command | layout |
//! |---|---|
//! | `\.br\` | begin a new line at the current left margin |
//! | `\.sp n\` | end the line and move `n` lines down (1 without `n`); the column is kept (the next text starts where this line ended) |
//! | `\.in ±n\` | left margin: `+n`/`-n` relative, `n` absolute; applies from the next line that starts |
//! | `\.ti ±n\` | the same, for the next line only |
//! | `\.sk n\` | `n` spaces (1 without `n`) |
//! | `\.ce\` | end the line and centre the next one (in [`Layout::width`], else in the widest line) |
//! | `\.fi\` / `\.nf\` | word wrap on (the default) / off: with a [`Layout::width`], lines in fill mode wrap at spaces |
//! | `\H\` / `\N\` | highlighting on / off: plain text has none, dropped |
//!
//! Data escapes (`\F\`, `\T\`, `\Xhh\`, …) are decoded as in any text. An unknown command is
//! dropped. Counts are capped (`\.sp\` at 64 lines, `\.sk\` at 256 spaces, margins at 256
//! columns) so hostile input cannot make the text explode. Trailing spaces of each line are
//! removed. Microsoft FHIR-Converter writes `\.br\` as the two characters `\n`; this writes a
//! real line break.
//!
//! In character sets where a byte equal to the escape character can be the trail byte of a
//! multi-byte character (Big5, GB 18030, ISO-2022-JP), commands are found by the parser's own
//! walk ([`Ft::plain_text`]): line breaks and spacing are kept, indentation is not.

use std::borrow::Cow;

use ehrkit_hl7v2::datatypes::{Ft, Text};
use ehrkit_hl7v2::escape::DecodeOptions;

/// `\.sp n\` moves at most this many lines.
const MAX_LINES: usize = 64;
/// `\.sk n\`, margins and indents are capped at this many columns.
const MAX_COLUMNS: usize = 256;

/// How FT text is laid out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Layout {
    /// The line width: lines in fill mode (`\.fi\`, the default) wrap at spaces to fit it, and
    /// `\.ce\` centres in it. `None` (the default): no wrapping, centring in the widest line.
    pub width: Option<usize>,
}

impl Layout {
    /// This layout with line width `width` (`None`: no wrapping).
    pub fn width(mut self, width: Option<usize>) -> Self {
        self.width = width;
        self
    }
}

/// The text of `ft` laid out per its formatting commands; `None` when it is absent, the HL7
/// null or blank.
pub fn ft_text(ft: &Ft<'_>, layout: &Layout) -> Option<String> {
    if ft.is_null() {
        return None;
    }
    let text = ft.as_text();
    let out = if text.charset().has_delimiter_like_trail_bytes() {
        ft.plain_text()
            .map(Cow::into_owned)
            .unwrap_or_else(|_| text.decode_lossy().into_owned())
    } else {
        lay_out(text, layout)
    };
    (!out.trim().is_empty()).then_some(out)
}

/// One finished output line.
#[derive(Debug)]
struct Line {
    indent: usize,
    text: String,
    center: bool,
    fill: bool,
}

/// The layout state machine.
#[derive(Debug, Default)]
struct Writer {
    lines: Vec<Line>,
    /// The current line's text, and its indent once its first character was written.
    text: String,
    indent: Option<usize>,
    margin: usize,
    temporary: Option<usize>,
    /// After `\.sp\`: the column the next line's text starts at.
    column: Option<usize>,
    center_next: bool,
    nofill: bool,
    /// Whether the current line started in fill mode.
    line_fill: bool,
}

impl Writer {
    fn write(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        if self.indent.is_none() {
            let indent = self.temporary.take().unwrap_or(self.margin);
            self.indent = Some(indent);
            self.line_fill = !self.nofill;
            if let Some(col) = self.column.take() {
                self.text
                    .extend(std::iter::repeat_n(' ', col.saturating_sub(indent)));
            }
        }
        self.text.push_str(s);
    }

    fn column(&self) -> usize {
        self.indent.unwrap_or(self.margin) + self.text.chars().count()
    }

    fn end_line(&mut self) {
        let text = std::mem::take(&mut self.text);
        let center = self.indent.is_some() && std::mem::take(&mut self.center_next);
        self.lines.push(Line {
            indent: self.indent.take().unwrap_or(0),
            text: text.trim_end_matches(' ').to_owned(),
            center,
            fill: self.line_fill,
        });
    }

    fn command(&mut self, name: &str, arg: &str) {
        match name {
            "br" => {
                self.column = None;
                self.end_line();
            }
            "sp" => {
                let n = count(arg).unwrap_or(1).clamp(1, MAX_LINES);
                let col = self.column();
                self.end_line();
                for _ in 1..n {
                    self.end_line();
                }
                self.column = Some(col);
            }
            "ce" => {
                self.column = None;
                if self.indent.is_some() {
                    self.end_line();
                }
                self.center_next = true;
            }
            "sk" => {
                let n = count(arg).unwrap_or(1).min(MAX_COLUMNS);
                self.write(&" ".repeat(n));
            }
            "in" => self.margin = adjust(self.margin, arg),
            "ti" => self.temporary = Some(adjust(self.margin, arg)),
            "fi" => self.nofill = false,
            "nf" => self.nofill = true,
            _ => {}
        }
    }

    fn finish(mut self, layout: &Layout) -> String {
        if self.indent.is_some() || !self.text.is_empty() {
            self.end_line();
        }
        let mut lines: Vec<(usize, String, bool)> = Vec::new();
        for l in self.lines {
            match layout.width {
                Some(w) if l.fill && !l.center => {
                    for part in wrap(&l.text, w.saturating_sub(l.indent).max(1)) {
                        lines.push((l.indent, part, false));
                    }
                }
                _ => lines.push((l.indent, l.text, l.center)),
            }
        }
        let width = layout.width.unwrap_or_else(|| {
            lines
                .iter()
                .map(|(i, t, c)| {
                    if *c {
                        t.trim_start_matches(' ').chars().count()
                    } else {
                        i + t.chars().count()
                    }
                })
                .max()
                .unwrap_or(0)
        });
        let mut out = String::new();
        for (n, (indent, text, center)) in lines.iter().enumerate() {
            if n > 0 {
                out.push('\n');
            }
            if text.is_empty() {
                continue;
            }
            if *center {
                let t = text.trim_start_matches(' ');
                let pad = width.saturating_sub(t.chars().count()) / 2;
                out.extend(std::iter::repeat_n(' ', pad));
                out.push_str(t);
            } else {
                out.extend(std::iter::repeat_n(' ', *indent));
                out.push_str(text);
            }
        }
        out
    }
}

/// Greedy word wrap of `text` at spaces into lines of at most `width` characters (a word longer
/// than `width` gets a line of its own).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = String::new();
    let mut len = 0;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let n = word.chars().count();
        if len > 0 && len + 1 + n > width {
            out.push(std::mem::take(&mut line));
            len = 0;
        }
        if len > 0 {
            line.push(' ');
            len += 1;
        }
        line.push_str(word);
        len += n;
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    out
}

/// A command's unsigned count (`\.sp 2\`); `None` when absent or not a number.
fn count(arg: &str) -> Option<usize> {
    let arg = arg.trim();
    if arg.is_empty() || !arg.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(arg.parse::<usize>().unwrap_or(usize::MAX))
}

/// A margin after `\.in arg\`: `+n`/`-n` relative to `current`, `n` absolute, anything else
/// leaves it; kept within `0..=MAX_COLUMNS`.
fn adjust(current: usize, arg: &str) -> usize {
    let arg = arg.trim();
    let (sign, digits) = match arg.as_bytes().first() {
        Some(b'+') => (1, &arg[1..]),
        Some(b'-') => (-1, &arg[1..]),
        _ => (0, arg),
    };
    let Some(n) = count(digits) else {
        return current;
    };
    let n = n.min(MAX_COLUMNS);
    match sign {
        1 => current.saturating_add(n),
        -1 => current.saturating_sub(n),
        _ => n,
    }
    .min(MAX_COLUMNS)
}

/// Splits the raw value at formatting commands: text runs (data escapes included) are decoded
/// as text, commands drive the [`Writer`].
fn lay_out(text: Text<'_>, layout: &Layout) -> String {
    let raw = text.raw();
    let delims = text.delimiters();
    let charset = text.charset();
    let decode = |chunk: &[u8]| -> String {
        Text::in_charset(chunk, delims, charset)
            .decode_with(&DecodeOptions::default().lossy(true), charset)
            .map(Cow::into_owned)
            .unwrap_or_else(|_| String::from_utf8_lossy(chunk).into_owned())
    };
    let mut w = Writer::default();
    let Some(esc) = delims.escape else {
        w.write(&decode(raw));
        return w.finish(layout);
    };
    let mut start = 0; // start of the pending text run
    let mut i = 0;
    while i < raw.len() {
        if raw[i] != esc {
            i += 1;
            continue;
        }
        let Some(len) = raw[i + 1..].iter().position(|&b| b == esc) else {
            break; // unterminated: the rest is text
        };
        let body = &raw[i + 1..i + 1 + len];
        let end = i + len + 2;
        let command = match body {
            [b'.', rest @ ..] => Some(rest),
            b"H" | b"N" | b"h" | b"n" => Some(&b""[..]),
            _ => None,
        };
        if let Some(cmd) = command {
            w.write(&decode(&raw[start..i]));
            let cmd = String::from_utf8_lossy(cmd).to_ascii_lowercase();
            let split = cmd.len().min(2);
            if cmd.is_char_boundary(split) {
                let (name, arg) = cmd.split_at(split);
                w.command(name, arg);
            }
            start = end;
        }
        i = end;
    }
    w.write(&decode(&raw[start..]));
    w.finish(layout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehrkit_hl7v2::Delimiters;

    fn text(raw: &[u8]) -> String {
        ft_text(&Ft::new(raw, &Delimiters::default()), &Layout::default()).unwrap()
    }

    fn text_in(raw: &[u8], width: usize) -> String {
        ft_text(
            &Ft::new(raw, &Delimiters::default()),
            &Layout::default().width(Some(width)),
        )
        .unwrap()
    }

    #[test]
    fn line_breaks_and_data_escapes() {
        assert_eq!(text(br"a\.br\b \T\ c\.br\\.br\d"), "a\nb & c\n\nd");
        assert_eq!(text(br"plain"), "plain");
        assert_eq!(
            text(br"a\E\.br\E\b"),
            r"a\.br\b",
            "an escaped backslash is data"
        );
    }

    #[test]
    fn sp_moves_down_and_keeps_the_column() {
        assert_eq!(text(br"abc\.sp\def"), "abc\n   def");
        assert_eq!(text(br"abc\.sp 2\def"), "abc\n\n   def");
        assert_eq!(text(br"\.sp3\x"), "\n\n\nx");
    }

    #[test]
    fn indentation_relative_absolute_and_temporary() {
        assert_eq!(
            text(br"\.in+4\a\.br\b\.br\\.in-2\c\.br\\.in 0\d"),
            "    a\n    b\n  c\nd"
        );
        assert_eq!(
            text(br"\.in+2\\.ti+3\first\.br\second\.br\\.ti-2\third"),
            "     first\n  second\nthird"
        );
        // A margin change in the middle of a line applies from the next line.
        assert_eq!(text(br"a\.in+2\b\.br\c"), "ab\n  c");
        assert_eq!(text(br"\.in-9\x"), "x", "margins never go below 0");
    }

    #[test]
    fn skip_and_highlight() {
        assert_eq!(text(br"a\.sk 3\b\H\c\N\"), "a   bc");
        assert_eq!(text(br"a\.sk\b"), "a b");
    }

    #[test]
    fn centring() {
        assert_eq!(
            text(br"\.ce\Title\.br\a long line"),
            "   Title\na long line"
        );
        assert_eq!(text_in(br"\.ce\ab\.br\x", 10), "    ab\nx");
        // `\.ce\` in the middle of a line ends it first.
        assert_eq!(text_in(br"left\.ce\mid", 9), "left\n   mid");
    }

    #[test]
    fn fill_wraps_only_with_a_width_and_nf_stops_it() {
        assert_eq!(text(br"one two three four"), "one two three four");
        assert_eq!(text_in(br"one two three four", 9), "one two\nthree\nfour");
        assert_eq!(
            text_in(br"\.in+2\one two three\.br\\.nf\one two three", 9),
            "  one two\n  three\n  one two three"
        );
        assert_eq!(text_in(br"\.nf\aa bb\.fi\\.br\aa bb", 3), "aa bb\naa\nbb");
    }

    #[test]
    fn hostile_counts_are_capped() {
        let t = text(br"\.sp 99999999999999999999\x\.sk 4000000000\y\.in+9999999\z");
        assert!(t.len() < 1000, "{}", t.len());
        assert_eq!(t.lines().count(), MAX_LINES + 1);
    }

    #[test]
    fn null_blank_unknown_and_unterminated() {
        let d = Delimiters::default();
        assert_eq!(ft_text(&Ft::new(b"\"\"", &d), &Layout::default()), None);
        assert_eq!(ft_text(&Ft::new(br"\.br\", &d), &Layout::default()), None);
        assert_eq!(text(br"a\.zz 3\b"), "ab");
        assert_eq!(text(br"a\.br"), r"a\.br");
    }
}
