//! HL7 batches: `FHS` (file header) … `BHS` (batch header) … messages … `BTS` (batch trailer) … `FTS`
//! (file trailer), with access to the envelope segments and iteration over the messages.
//!
//! ```
//! use ehrkit_hl7v2::batch::BatchFile;
//! let input = b"FHS|^~\\&|LAB\rBHS|^~\\&|LAB\rMSH|^~\\&|LAB||||||ADT^A01|1|P|2.5\rPID|1\r\
//! MSH|^~\\&|LAB||||||ADT^A01|2|P|2.5\rPID|2\rBTS|2\rFTS|1\r";
//! let file = BatchFile::parse(input).unwrap();
//! assert_eq!(file.file_header().unwrap().get("FHS-3").as_deref(), Some("LAB"));
//! let batch = file.batches().next().unwrap();
//! assert_eq!(batch.trailer().unwrap().get("BTS-1").as_deref(), Some("2"));
//! let ids: Vec<_> = file.messages().map(|m| m.get("MSH-10").unwrap().into_owned()).collect();
//! assert_eq!(ids, ["1", "2"]);
//! assert_eq!(file.to_bytes(), input);
//! ```

use crate::delimiters::Delimiters;
use crate::error::{Error, Location};
use crate::index::{Index, Stop};
use crate::message::{index_unit, skip_preamble, Message};
use crate::options::ParseOptions;

/// What one unit of a batch file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UnitKind {
    /// `FHS`.
    FileHeader,
    /// `BHS`.
    BatchHeader,
    /// A message (MSH and the segments after it).
    Message,
    /// `BTS`.
    BatchTrailer,
    /// `FTS`.
    FileTrailer,
}

#[derive(Clone, Debug, Default)]
struct BatchSpan {
    header: Option<usize>,
    trailer: Option<usize>,
    messages: Vec<usize>,
}

/// A parsed input holding a batch file, a single batch, or simply several messages.
#[derive(Clone, Debug)]
pub struct BatchFile<'a> {
    input: &'a [u8],
    prefix_end: usize,
    units: Vec<(UnitKind, Message<'a>)>,
    batches: Vec<BatchSpan>,
    file_header: Option<usize>,
    file_trailer: Option<usize>,
}

/// One batch (BHS … BTS, or the messages of a file that has no BHS).
#[derive(Clone, Copy, Debug)]
pub struct Batch<'f, 'a> {
    file: &'f BatchFile<'a>,
    span: &'f BatchSpan,
}

impl<'f, 'a> Batch<'f, 'a> {
    /// The `BHS` segment, as a one-segment message (`get("BHS-9")`).
    pub fn header(&self) -> Option<&'f Message<'a>> {
        self.span.header.map(|i| &self.file.units[i].1)
    }
    /// The `BTS` segment (`get("BTS-1")` is the message count declared by the sender).
    pub fn trailer(&self) -> Option<&'f Message<'a>> {
        self.span.trailer.map(|i| &self.file.units[i].1)
    }
    /// The messages of this batch, in order.
    pub fn messages(&self) -> impl Iterator<Item = &'f Message<'a>> + 'f {
        let file = self.file;
        self.span.messages.iter().map(move |&i| &file.units[i].1)
    }
    /// Number of messages.
    pub fn len(&self) -> usize {
        self.span.messages.len()
    }
    /// True when the batch holds no message.
    pub fn is_empty(&self) -> bool {
        self.span.messages.is_empty()
    }
}

impl<'a> BatchFile<'a> {
    /// Parses an input with default options.
    pub fn parse(input: &'a [u8]) -> Result<Self, Error> {
        Self::parse_with(input, ParseOptions::default())
    }

    /// Parses an input: every unit is indexed; delimiters come from each unit's own header (MSH, BHS,
    /// FHS), and BTS/FTS use the delimiters of the last header seen.
    pub fn parse_with(input: &'a [u8], opts: ParseOptions) -> Result<Self, Error> {
        let start = skip_preamble(input, 0);
        let mut file = BatchFile {
            input,
            prefix_end: start,
            units: Vec::new(),
            batches: Vec::new(),
            file_header: None,
            file_trailer: None,
        };
        let mut delims = Delimiters::default();
        let mut p = start;
        let mut open_batch = false;
        if p >= input.len() {
            return Err(Error::Empty);
        }
        while p < input.len() {
            let name = &input[p..(p + 3).min(input.len())];
            let bad = |reason| Error::Batch {
                location: Location::at(p),
                reason,
            };
            let kind = match name {
                b"FHS" => {
                    if !file.units.is_empty() {
                        return Err(bad("FHS is not the first segment"));
                    }
                    UnitKind::FileHeader
                }
                b"BHS" => UnitKind::BatchHeader,
                b"MSH" => UnitKind::Message,
                b"BTS" => UnitKind::BatchTrailer,
                b"FTS" => UnitKind::FileTrailer,
                _ => return Err(bad("expected FHS, BHS, MSH, BTS or FTS")),
            };
            if file.file_trailer.is_some() {
                return Err(bad("segment after FTS"));
            }
            let mut index = Index::default();
            let (msh2_len, stop) = match kind {
                UnitKind::FileHeader | UnitKind::BatchHeader | UnitKind::Message => {
                    let h = Delimiters::from_header(&input[p..], p, !opts.strict)?;
                    delims = h.delims;
                    (
                        h.msh2_len,
                        if kind == UnitKind::Message {
                            Stop::AtBoundary
                        } else {
                            Stop::AfterFirst
                        },
                    )
                }
                _ => (0, Stop::AfterFirst),
            };
            let (end, charset, text) =
                index_unit(&mut index, input, p, &delims, msh2_len, &opts, stop)?;
            let msg = Message::from_parts(input, p, end, delims, charset, text, opts, index);
            let u = file.units.len();
            file.units.push((kind, msg));
            match kind {
                UnitKind::FileHeader => file.file_header = Some(u),
                UnitKind::BatchHeader => {
                    file.batches.push(BatchSpan {
                        header: Some(u),
                        ..BatchSpan::default()
                    });
                    open_batch = true;
                }
                UnitKind::Message => {
                    if !open_batch {
                        file.batches.push(BatchSpan::default());
                        open_batch = true;
                    }
                    if let Some(b) = file.batches.last_mut() {
                        b.messages.push(u);
                    }
                }
                UnitKind::BatchTrailer => {
                    match file.batches.last_mut() {
                        Some(b) if open_batch && b.trailer.is_none() => b.trailer = Some(u),
                        _ => return Err(bad("BTS without a batch")),
                    }
                    open_batch = false;
                }
                UnitKind::FileTrailer => file.file_trailer = Some(u),
            }
            p = end;
        }
        Ok(file)
    }

    /// The `FHS` segment, as a one-segment message.
    pub fn file_header(&self) -> Option<&Message<'a>> {
        self.file_header.map(|i| &self.units[i].1)
    }

    /// The `FTS` segment.
    pub fn file_trailer(&self) -> Option<&Message<'a>> {
        self.file_trailer.map(|i| &self.units[i].1)
    }

    /// The batches, in order.
    pub fn batches(&self) -> impl Iterator<Item = Batch<'_, 'a>> + '_ {
        self.batches
            .iter()
            .map(move |span| Batch { file: self, span })
    }

    /// Every message of every batch, in order.
    pub fn messages(&self) -> impl Iterator<Item = &Message<'a>> + '_ {
        self.units
            .iter()
            .filter(|u| u.0 == UnitKind::Message)
            .map(|u| &u.1)
    }

    /// Every unit (envelope segments and messages) in input order.
    pub fn units(&self) -> impl Iterator<Item = (UnitKind, &Message<'a>)> + '_ {
        self.units.iter().map(|u| (u.0, &u.1))
    }

    /// Writes the file back: the leading BOM / blank lines, then every unit's bytes. Equal to the input.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.input[..self.prefix_end]);
        for (_, m) in &self.units {
            out.extend_from_slice(m.as_bytes());
        }
    }

    /// [`BatchFile::write_to`] into a new buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.input.len());
        self.write_to(&mut v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_batches_and_errors() {
        let input = b"BHS|^~\\&|A\rMSH|^~\\&|A||||||ACK|1|P|2.5\rBTS|1\r\nBHS|^~\\&|B\rMSH|^~\\&|B||||||ACK|2|P|2.5\rMSH|^~\\&|B||||||ACK|3|P|2.5\rBTS|2\r";
        let f = BatchFile::parse(input).unwrap();
        let sizes: Vec<usize> = f.batches().map(|b| b.len()).collect();
        assert_eq!(sizes, [1, 2]);
        assert_eq!(
            f.batches()
                .nth(1)
                .unwrap()
                .header()
                .unwrap()
                .get("BHS-3")
                .as_deref(),
            Some("B")
        );
        assert!(f.file_header().is_none());
        assert_eq!(f.to_bytes(), input);
        assert!(BatchFile::parse(b"BTS|1\r").is_err());
        assert!(BatchFile::parse(b"MSH|^~\\&|A\rFHS|^~\\&\r").is_err());
        assert!(BatchFile::parse(b"PID|1\r").is_err());
        let plain = BatchFile::parse(b"\xEF\xBB\xBFMSH|^~\\&|A\nMSH|^~\\&|B\n").unwrap();
        assert_eq!(plain.messages().count(), 2);
        assert_eq!(plain.to_bytes(), b"\xEF\xBB\xBFMSH|^~\\&|A\nMSH|^~\\&|B\n");
    }
}
