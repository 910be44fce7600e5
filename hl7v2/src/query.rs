//! The output contract of the `hl7v2_query` example, as library functions so it is unit-tested.
//!
//! For each path, one line: the decoded value ([`Message::get_path`]); an empty line when absent;
//! `""` for the HL7 null; an element with deeper structure (components, repetitions, a whole segment)
//! as it stands in the message, delimiters and escapes included. `MSH-1` / `MSH-2` print the
//! delimiters literally. Formatting commands such as `\.br\` are kept as written, so a value stays on
//! one line.
//!
//! Input is read leniently (`\r`, `\n`, `\r\n` terminators, BOM, blank lines, batch envelopes), and a
//! message that declares no character set (MSH-18 empty) and is not valid UTF-8 is read as
//! ISO 8859-1, and other undecodable bytes print as U+FFFD, rather than rejecting the message (see
//! [`options`]).
//!
//! ```
//! use ehrkit_hl7v2::{query, Path};
//! let paths: Vec<Path> = ["MSH-2", "PID-5", "PID-5.2", "PID-7"].iter().map(|p| p.parse().unwrap()).collect();
//! let mut out = String::new();
//! query::run(b"MSH|^~\\&|A||B||2024||ADT^A01|1|P|2.5\rPID|1||7||DOE^JANE\r", &paths, false, &mut out)?;
//! assert_eq!(out, "^~\\&\nDOE^JANE\nJANE\n\n");
//! # Ok::<(), ehrkit_hl7v2::Error>(())
//! ```

use std::borrow::Cow;

use crate::charset::Charset;
use crate::error::Error;
use crate::message::{Message, ParseOptions};
use crate::path::Path;

/// The parse options the query tool uses: lenient defaults, an ISO 8859-1 fallback for undeclared
/// (empty MSH-18) non-UTF-8 text, and lossy decoding otherwise (an unknown MSH-18 is read as UTF-8;
/// bytes that are not valid in the declared character set print as U+FFFD), so a viewer shows what it
/// can instead of refusing the message.
pub fn options() -> ParseOptions {
    ParseOptions::default()
        .fallback_charset(Some(Charset::LATIN1))
        .lossy(true)
}

/// The line printed for `path` (without the newline): the decoded value, or empty when absent.
pub fn format_value(msg: &Message<'_>, path: &Path) -> String {
    let mut out = String::new();
    push_value(msg, path, &mut out);
    out
}

/// Appends the value for `path` to `out`. A value whose decoding would contain a line break (an
/// escaped `\X0D\` / `\X0A\`) is written as it stands in the message instead, so that every path
/// stays on one line (formatting commands such as `\.br\` are kept as written for the same reason).
fn push_value(msg: &Message<'_>, path: &Path, out: &mut String) {
    let Some(v) = msg.get_path(path) else {
        return;
    };
    if !v.contains(['\r', '\n']) {
        out.push_str(&v);
        return;
    }
    if let Some(raw) = msg.raw_path(path) {
        if let Ok(text) = msg.charset().decode(Cow::Borrowed(raw), true) {
            out.push_str(&text);
        }
    }
}

/// Appends one line per path to `out` for the first message of `input` (or, with `all`, for every
/// message in order). On an error, `out` keeps the lines of the messages read before it.
pub fn run(input: &[u8], paths: &[Path], all: bool, out: &mut String) -> Result<(), Error> {
    let mut print = |m: &Message<'_>| {
        for p in paths {
            push_value(m, p, out);
            out.push('\n');
        }
    };
    if all {
        let mut n = 0usize;
        for m in Message::parse_all(input).with_options(options()) {
            print(&m?);
            n += 1;
        }
        if n == 0 {
            return Err(Error::Empty);
        }
    } else {
        print(&Message::parse_with(input, options())?);
    }
    Ok(())
}
