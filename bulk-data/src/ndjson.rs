//! Streaming NDJSON: a reader over any [`Read`], a push parser fed chunks
//! (sans-IO, used by the downloader), an async reader (feature `tokio`) and a
//! writer.
//!
//! Every reader keeps one buffer that grows to hold the longest line seen
//! (at most doubling), so memory is bounded by the longest line, not by the
//! file size. Lines may end in `\n` or `\r\n`; blank lines are skipped; a line
//! longer than [`ReaderOptions::max_line_len`] is a typed error (and the
//! reader skips to the next line if you keep reading); a last line without a
//! newline that is not a complete JSON object is reported as truncated.
//!
//! Error contract: a bad line is reported once, with its location, and never
//! hides the records after it. The pull readers ([`NdjsonReader`], the async
//! reader) go on with the next line when you keep reading; the push reader
//! ([`PushReader`]) either hands you every line's outcome
//! ([`PushReader::feed_each`]) or stops at the first error and then refuses
//! every later call ([`PushReader::feed`]). A record contains no CR (spaces,
//! tabs and CRs around it are line-ending noise and trimmed), so every record
//! a reader accepts can be written back by [`NdjsonWriter::write_raw`].

use std::borrow::Cow;
use std::io::{Read, Write};

use memchr::memchr;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::error::{Error, Location, NdjsonErrorKind, Result};
use crate::scan::{is_complete_object, scan_resource_type};

/// Default maximum line length: 64 MiB (large `Binary` or `DocumentReference`
/// resources with inline attachments do reach tens of megabytes).
pub const DEFAULT_MAX_LINE_LEN: usize = 64 * 1024 * 1024;

const INITIAL_BUF: usize = 1024 * 1024;

/// Options for the NDJSON readers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReaderOptions {
    /// Longest accepted line in bytes (without the line ending).
    pub max_line_len: usize,
    /// Name used in error locations (a file name or URL path).
    pub name: Option<String>,
    /// Check on every line that strings and brackets balance (slower; by
    /// default only the last, unterminated line is checked).
    pub full_structure_check: bool,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions {
            max_line_len: DEFAULT_MAX_LINE_LEN,
            name: None,
            full_structure_check: false,
        }
    }
}

impl ReaderOptions {
    /// Sets the maximum line length.
    pub fn max_line_len(mut self, n: usize) -> Self {
        self.max_line_len = n;
        self
    }
    /// Sets the stream name used in errors.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Turns the per-line structure check on or off.
    pub fn full_structure_check(mut self, on: bool) -> Self {
        self.full_structure_check = on;
        self
    }
}

/// One NDJSON record: the raw JSON text of the line (borrowed from the
/// reader's buffer) and its validated `resourceType`.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRecord<'a> {
    json: &'a str,
    resource_type: Cow<'a, str>,
    line: u64,
    offset: u64,
}

impl<'a> RawRecord<'a> {
    /// The JSON text of the record, without the line ending.
    pub fn json(&self) -> &'a str {
        self.json
    }
    /// The record's top-level `resourceType`.
    pub fn resource_type(&self) -> &str {
        &self.resource_type
    }
    /// 1-based line number in the stream.
    pub fn line(&self) -> u64 {
        self.line
    }
    /// Byte offset of the line in the stream.
    pub fn offset(&self) -> u64 {
        self.offset
    }
    /// The record as a typed FHIR R4 resource of `ehrkit-fhir-model`
    /// (feature `fhir-model`), read leniently: unknown elements kept, a
    /// resource type whose fhir-model feature is off kept as
    /// `Resource::Other`. The raw line stays available through
    /// [`json`](Self::json). Errors carry the line and the JSON path, never
    /// the record's content.
    ///
    /// ```
    /// # #[cfg(feature = "fhir-model")] {
    /// use ehrkit_bulk_data::fhir_model::Resource;
    /// use ehrkit_bulk_data::NdjsonReader;
    ///
    /// let mut r = NdjsonReader::new(&b"{\"resourceType\":\"Patient\",\"id\":\"p1\"}\n"[..]);
    /// let rec = r.next_record().unwrap().unwrap();
    /// let Resource::Patient(p) = rec.resource().unwrap() else { panic!("not a Patient") };
    /// assert_eq!(p.id.as_deref(), Some("p1"));
    /// assert_eq!(rec.json(), "{\"resourceType\":\"Patient\",\"id\":\"p1\"}");
    /// # }
    /// ```
    #[cfg(feature = "fhir-model")]
    #[cfg_attr(docsrs, doc(cfg(feature = "fhir-model")))]
    pub fn resource(&self) -> Result<ehrkit_fhir_model::Resource> {
        ehrkit_fhir_model::from_slice(self.json.as_bytes()).map_err(|e| {
            Error::ndjson(
                Location {
                    name: None,
                    line: self.line,
                    offset: self.offset,
                },
                NdjsonErrorKind::Fhir(e),
            )
        })
    }

    /// Deserialises the record into any serde type (borrowing from the line
    /// where `T` allows it). Errors carry the line and a column, never the
    /// record's content.
    pub fn deserialize<T: Deserialize<'a>>(&self) -> Result<T> {
        serde_json::from_str(self.json).map_err(|e| {
            Error::ndjson(
                Location {
                    name: None,
                    line: self.line,
                    offset: self.offset,
                },
                NdjsonErrorKind::Deserialize {
                    message: format!("{:?} error at column {}", e.classify(), e.column()),
                },
            )
        })
    }
}

/// Where the next line is, as computed by [`LineBuf::poll_line`].
enum Step {
    Line {
        start: usize,
        end: usize,
        line: u64,
        offset: u64,
        terminated: bool,
    },
    NeedData,
    Done,
    Err(Error),
}

/// The buffer shared by all readers.
#[derive(Debug)]
struct LineBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    scan_from: usize,
    eof: bool,
    consumed: u64,
    line_no: u64,
    skipping: bool,
    /// The inner stream failed: the reader is fused.
    failed: bool,
    opts: ReaderOptions,
}

impl LineBuf {
    fn new(opts: ReaderOptions) -> Self {
        LineBuf {
            buf: Vec::new(),
            start: 0,
            end: 0,
            scan_from: 0,
            eof: false,
            consumed: 0,
            line_no: 0,
            skipping: false,
            failed: false,
            opts,
        }
    }

    fn loc(&self, line: u64, offset: u64) -> Location {
        Location {
            name: self.opts.name.clone(),
            line,
            offset,
        }
    }

    fn poll_line(&mut self) -> Step {
        if self.failed {
            return Step::Done;
        }
        loop {
            if let Some(p) = memchr(b'\n', &self.buf[self.scan_from..self.end]) {
                let nl = self.scan_from + p;
                let ls = self.start;
                let offset = self.consumed;
                self.consumed += (nl + 1 - ls) as u64;
                self.start = nl + 1;
                self.scan_from = self.start;
                if self.skipping {
                    // End of an over-long line already reported.
                    self.skipping = false;
                    continue;
                }
                self.line_no += 1;
                let mut le = nl;
                if le > ls && self.buf[le - 1] == b'\r' {
                    le -= 1;
                }
                let ls = skip_bom(&self.buf, ls, le, offset);
                if le - ls > self.opts.max_line_len {
                    return Step::Err(Error::ndjson(
                        self.loc(self.line_no, offset),
                        NdjsonErrorKind::LineTooLong {
                            max: self.opts.max_line_len,
                        },
                    ));
                }
                if is_blank(&self.buf[ls..le]) {
                    continue;
                }
                return Step::Line {
                    start: ls,
                    end: le,
                    line: self.line_no,
                    offset,
                    terminated: true,
                };
            }
            self.scan_from = self.end;
            let pending = self.end - self.start;
            if self.skipping {
                self.consumed += pending as u64;
                self.start = self.end;
                return if self.eof { Step::Done } else { Step::NeedData };
            }
            // +1: a trailing '\r' is not part of the line.
            if pending > self.opts.max_line_len + 1 {
                self.line_no += 1;
                let offset = self.consumed;
                self.consumed += pending as u64;
                self.start = self.end;
                self.skipping = !self.eof;
                return Step::Err(Error::ndjson(
                    self.loc(self.line_no, offset),
                    NdjsonErrorKind::LineTooLong {
                        max: self.opts.max_line_len,
                    },
                ));
            }
            if !self.eof {
                return Step::NeedData;
            }
            if pending == 0 {
                return Step::Done;
            }
            // Last line without a newline.
            let ls = self.start;
            let mut le = self.end;
            let offset = self.consumed;
            self.consumed += pending as u64;
            self.start = self.end;
            self.scan_from = self.end;
            self.line_no += 1;
            if le > ls && self.buf[le - 1] == b'\r' {
                le -= 1;
            }
            let ls = skip_bom(&self.buf, ls, le, offset);
            if le - ls > self.opts.max_line_len {
                return Step::Err(Error::ndjson(
                    self.loc(self.line_no, offset),
                    NdjsonErrorKind::LineTooLong {
                        max: self.opts.max_line_len,
                    },
                ));
            }
            if is_blank(&self.buf[ls..le]) {
                return Step::Done;
            }
            return Step::Line {
                start: ls,
                end: le,
                line: self.line_no,
                offset,
                terminated: false,
            };
        }
    }

    /// Free space to read into, compacting or growing the buffer first.
    fn spare(&mut self) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            self.scan_from = 0;
        }
        if self.buf.is_empty() {
            self.buf = vec![0; INITIAL_BUF];
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.scan_from -= self.start;
                self.start = 0;
            } else {
                // A partial line fills the buffer: double it (bounded by the
                // maximum line length; poll_line reports lines over it).
                let cap = self.opts.max_line_len.saturating_add(2).max(INITIAL_BUF);
                let new_len = (self.buf.len() * 2).min(cap).max(self.buf.len() + 1);
                let mut nb = vec![0u8; new_len];
                nb[..self.end].copy_from_slice(&self.buf[..self.end]);
                self.buf = nb;
            }
        }
        &mut self.buf[self.end..]
    }

    fn filled(&mut self, n: usize) {
        if n == 0 {
            self.eof = true;
        }
        self.end += n;
    }

    /// Turns a located line into a record (UTF-8 + resourceType checks).
    fn record(
        &self,
        start: usize,
        end: usize,
        line: u64,
        offset: u64,
        terminated: bool,
    ) -> Result<RawRecord<'_>> {
        let bytes = &self.buf[start..end];
        let text = std::str::from_utf8(bytes).map_err(|e| {
            Error::ndjson(
                self.loc(line, offset),
                NdjsonErrorKind::InvalidUtf8 {
                    valid_up_to: e.valid_up_to(),
                },
            )
        })?;
        // Surrounding JSON whitespace (including stray CRs) is not part of the record: `json()`
        // is exactly the object, so it can be written back as one NDJSON line.
        let text = text.trim_matches([' ', '\t', '\r']);
        // A CR inside the record is JSON whitespace, but many tools split lines on a bare CR:
        // refused, as the writer refuses it, so what is read can be written back unchanged.
        if let Some(at) = memchr(b'\r', text.as_bytes()) {
            return Err(Error::ndjson(
                self.loc(line, offset),
                NdjsonErrorKind::CarriageReturn { at },
            ));
        }
        if (!terminated || self.opts.full_structure_check) && !is_complete_object(text) {
            let kind = if terminated {
                NdjsonErrorKind::NotAnObject { at: text.len() }
            } else {
                NdjsonErrorKind::Truncated
            };
            return Err(Error::ndjson(self.loc(line, offset), kind));
        }
        let resource_type =
            scan_resource_type(text).map_err(|k| Error::ndjson(self.loc(line, offset), k))?;
        Ok(RawRecord {
            json: text,
            resource_type,
            line,
            offset,
        })
    }
}

/// The UTF-8 byte order mark some exporters (Windows tools) put at the start of a file.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Start of the line `buf[ls..le]` without a UTF-8 BOM, which is skipped only at the very
/// start of the stream (`offset` 0); anywhere else it is left in and the line is an error.
#[inline]
fn skip_bom(buf: &[u8], ls: usize, le: usize, offset: u64) -> usize {
    if offset == 0 && buf[ls..le].starts_with(UTF8_BOM) {
        ls + UTF8_BOM.len()
    } else {
        ls
    }
}

#[inline]
fn is_blank(b: &[u8]) -> bool {
    b.iter().all(|c| matches!(c, b' ' | b'\t' | b'\r'))
}

/// Streaming NDJSON reader over any [`Read`] (a `BufRead` works too; the
/// reader keeps its own buffer).
///
/// ```
/// use ehrkit_bulk_data::ndjson::NdjsonReader;
/// let data = "{\"resourceType\":\"Patient\",\"id\":\"1\"}\r\n\n{\"resourceType\":\"Observation\"}";
/// let mut r = NdjsonReader::new(data.as_bytes());
/// let mut types = Vec::new();
/// while let Some(rec) = r.next_record() {
///     types.push(rec.unwrap().resource_type().to_owned());
/// }
/// assert_eq!(types, ["Patient", "Observation"]);
/// ```
#[derive(Debug)]
pub struct NdjsonReader<R> {
    inner: R,
    lb: LineBuf,
    records: u64,
}

impl<R: Read> NdjsonReader<R> {
    /// A reader with default options.
    pub fn new(inner: R) -> Self {
        Self::with_options(inner, ReaderOptions::default())
    }

    /// A reader with the given options.
    pub fn with_options(inner: R, opts: ReaderOptions) -> Self {
        NdjsonReader {
            inner,
            lb: LineBuf::new(opts),
            records: 0,
        }
    }

    /// Next non-blank line as a raw record, `None` at the end of the stream.
    ///
    /// After an error in a line you may keep calling: the reader continues
    /// with the next line (an over-long line is skipped up to its newline).
    /// After an I/O error of the inner reader it returns `None`.
    #[allow(clippy::should_implement_trait)]
    pub fn next_record(&mut self) -> Option<Result<RawRecord<'_>>> {
        loop {
            match self.lb.poll_line() {
                Step::Line {
                    start,
                    end,
                    line,
                    offset,
                    terminated,
                } => {
                    self.records += 1;
                    return Some(self.lb.record(start, end, line, offset, terminated));
                }
                Step::Done => return None,
                Step::Err(e) => return Some(Err(e)),
                Step::NeedData => {
                    let spare = self.lb.spare();
                    let n = loop {
                        match self.inner.read(spare) {
                            Ok(n) => break n,
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                            Err(e) => {
                                self.lb.failed = true;
                                return Some(Err(Error::Io(e)));
                            }
                        }
                    };
                    self.lb.filled(n);
                }
            }
        }
    }

    /// Next record deserialised into `T`.
    pub fn next_as<T: DeserializeOwned>(&mut self) -> Option<Result<T>> {
        let name = self.lb.opts.name.clone();
        Some(self.next_record()?.and_then(|r| {
            r.deserialize().map_err(|e| match e {
                Error::Ndjson { mut location, kind } => {
                    location.name = name;
                    Error::Ndjson { location, kind }
                }
                other => other,
            })
        }))
    }

    /// An iterator of records deserialised into `T`.
    pub fn into_deserialize<T: DeserializeOwned>(self) -> DeserializeIter<R, T> {
        DeserializeIter {
            reader: self,
            _t: std::marker::PhantomData,
        }
    }

    /// Number of non-blank lines returned so far (including failed ones).
    pub fn records_read(&self) -> u64 {
        self.records
    }

    /// Current buffer size in bytes (for memory accounting).
    pub fn buffer_capacity(&self) -> usize {
        self.lb.buf.len()
    }

    /// Gives back the inner reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> NdjsonReader<flate2::read::MultiGzDecoder<R>> {
    /// A reader over a gzip-compressed stream (`.ndjson.gz`, multi-member
    /// files included); a truncated gzip stream is an I/O error.
    pub fn gzip(inner: R, opts: ReaderOptions) -> Self {
        NdjsonReader::with_options(flate2::read::MultiGzDecoder::new(inner), opts)
    }
}

/// Opens an NDJSON file, decoding it transparently when it starts with the
/// gzip magic bytes.
pub fn open_file(
    path: &std::path::Path,
    opts: ReaderOptions,
) -> Result<NdjsonReader<Box<dyn Read + Send>>> {
    use std::io::{BufRead, BufReader};
    let mut f = BufReader::with_capacity(256 * 1024, std::fs::File::open(path)?);
    let gz = f.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    let inner: Box<dyn Read + Send> = if gz {
        Box::new(flate2::bufread::MultiGzDecoder::new(f))
    } else {
        Box::new(f)
    };
    Ok(NdjsonReader::with_options(inner, opts))
}

/// Iterator returned by [`NdjsonReader::into_deserialize`].
#[derive(Debug)]
pub struct DeserializeIter<R, T> {
    reader: NdjsonReader<R>,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<R: Read, T: DeserializeOwned> Iterator for DeserializeIter<R, T> {
    type Item = Result<T>;
    fn next(&mut self) -> Option<Result<T>> {
        self.reader.next_as()
    }
}

/// Sans-IO NDJSON parser: feed it chunks as they arrive (e.g. decompressed
/// HTTP body pieces) and it calls you back once per complete line.
///
/// # Error contract
///
/// Two ways to feed it, and neither ever drops a record silently:
///
/// * [`feed_each`](Self::feed_each) / [`finish_each`](Self::finish_each)
///   (error-then-continue): the callback receives every non-blank line's
///   outcome in order, `Ok(record)` or `Err(error)` with its location, and
///   the reader goes on with the next line, so every valid record is
///   delivered whatever bad lines surround it. The callback decides: return
///   `Ok(())` to go on, or an error to stop.
/// * [`feed`](Self::feed) / [`finish`](Self::finish) (sticky error): the
///   callback receives valid records only, and the first bad line is
///   returned as the error.
///
/// In both, an error returned by the callback (or a bad line with `feed`)
/// **stops** the reader: the rest of that chunk is not read, and every later
/// call returns [`Error::ReaderStopped`] without delivering anything, so a
/// caller that keeps feeding cannot mistake a gap for a clean stream.
#[derive(Debug)]
pub struct PushReader {
    lb: LineBuf,
    records: u64,
    stopped: bool,
}

impl PushReader {
    /// A push parser with the given options.
    pub fn new(opts: ReaderOptions) -> Self {
        PushReader {
            lb: LineBuf::new(opts),
            records: 0,
            stopped: false,
        }
    }

    /// Feeds a chunk; calls `on_record` for each complete valid record in it.
    /// The first bad line, or the first error of `on_record`, is returned and
    /// stops the reader (see the [error contract](Self#error-contract)).
    pub fn feed<F>(&mut self, chunk: &[u8], on_record: &mut F) -> Result<()>
    where
        F: FnMut(RawRecord<'_>) -> Result<()>,
    {
        self.feed_each(chunk, &mut |r: Result<RawRecord<'_>>| on_record(r?))
    }

    /// Signals the end of the stream and handles the last line, as [`feed`](Self::feed).
    pub fn finish<F>(&mut self, on_record: &mut F) -> Result<()>
    where
        F: FnMut(RawRecord<'_>) -> Result<()>,
    {
        self.finish_each(&mut |r: Result<RawRecord<'_>>| on_record(r?))
    }

    /// Feeds a chunk; calls `on_line` with the outcome of each complete line
    /// in it: a record, or the located error of a bad line, after which
    /// reading continues with the next line. An error returned by `on_line`
    /// stops the reader and is returned.
    pub fn feed_each<F>(&mut self, mut chunk: &[u8], on_line: &mut F) -> Result<()>
    where
        F: FnMut(Result<RawRecord<'_>>) -> Result<()>,
    {
        if self.stopped {
            return Err(Error::ReaderStopped);
        }
        while !chunk.is_empty() {
            let spare = self.lb.spare();
            let n = spare.len().min(chunk.len());
            spare[..n].copy_from_slice(&chunk[..n]);
            self.lb.filled(n);
            chunk = &chunk[n..];
            self.drain(on_line)?;
        }
        Ok(())
    }

    /// Signals the end of the stream and handles the last line, as
    /// [`feed_each`](Self::feed_each).
    pub fn finish_each<F>(&mut self, on_line: &mut F) -> Result<()>
    where
        F: FnMut(Result<RawRecord<'_>>) -> Result<()>,
    {
        if self.stopped {
            return Err(Error::ReaderStopped);
        }
        self.lb.filled(0);
        self.drain(on_line)
    }

    fn drain<F>(&mut self, on_line: &mut F) -> Result<()>
    where
        F: FnMut(Result<RawRecord<'_>>) -> Result<()>,
    {
        loop {
            let outcome = match self.lb.poll_line() {
                Step::Line {
                    start,
                    end,
                    line,
                    offset,
                    terminated,
                } => {
                    self.records += 1;
                    on_line(self.lb.record(start, end, line, offset, terminated))
                }
                Step::NeedData | Step::Done => return Ok(()),
                Step::Err(e) => on_line(Err(e)),
            };
            if let Err(e) = outcome {
                self.stopped = true;
                return Err(e);
            }
        }
    }

    /// Number of non-blank lines seen so far (valid or not).
    pub fn records_read(&self) -> u64 {
        self.records
    }

    /// True once an error stopped the reader.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }
}

/// Async NDJSON reader over any `tokio::io::AsyncRead` (feature `tokio`).
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[derive(Debug)]
pub struct AsyncNdjsonReader<R> {
    inner: R,
    lb: LineBuf,
    records: u64,
}

#[cfg(feature = "tokio")]
impl<R: tokio::io::AsyncRead + Unpin> AsyncNdjsonReader<R> {
    /// An async reader with default options.
    pub fn new(inner: R) -> Self {
        Self::with_options(inner, ReaderOptions::default())
    }

    /// An async reader with the given options.
    pub fn with_options(inner: R, opts: ReaderOptions) -> Self {
        AsyncNdjsonReader {
            inner,
            lb: LineBuf::new(opts),
            records: 0,
        }
    }

    /// Next non-blank line as a raw record, `None` at the end.
    pub async fn next_record(&mut self) -> Option<Result<RawRecord<'_>>> {
        use tokio::io::AsyncReadExt;
        loop {
            match self.lb.poll_line() {
                Step::Line {
                    start,
                    end,
                    line,
                    offset,
                    terminated,
                } => {
                    self.records += 1;
                    return Some(self.lb.record(start, end, line, offset, terminated));
                }
                Step::Done => return None,
                Step::Err(e) => return Some(Err(e)),
                Step::NeedData => {
                    let spare = self.lb.spare();
                    match self.inner.read(spare).await {
                        Ok(n) => self.lb.filled(n),
                        Err(e) => {
                            self.lb.failed = true;
                            return Some(Err(Error::Io(e)));
                        }
                    }
                }
            }
        }
    }

    /// Next record deserialised into `T`.
    pub async fn next_as<T: DeserializeOwned>(&mut self) -> Option<Result<T>> {
        Some(self.next_record().await?.and_then(|r| r.deserialize()))
    }

    /// Number of non-blank lines returned so far.
    pub fn records_read(&self) -> u64 {
        self.records
    }
}

/// NDJSON writer: one compact JSON object per line, `\n` endings.
///
/// Wrap files in a `BufWriter`; each record is written with a few small
/// writes.
#[derive(Debug)]
pub struct NdjsonWriter<W: Write> {
    inner: W,
    records: u64,
}

impl<W: Write> NdjsonWriter<W> {
    /// A writer over `inner`.
    pub fn new(inner: W) -> Self {
        NdjsonWriter { inner, records: 0 }
    }

    /// Serialises `value` as one line. serde_json's compact form never holds
    /// a raw newline, so the line is always well-formed NDJSON.
    pub fn write<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        serde_json::to_writer(&mut self.inner, value).map_err(|e| match e.io_error_kind() {
            Some(kind) => Error::Io(std::io::Error::new(kind, e)),
            None => Error::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        })?;
        self.inner.write_all(b"\n")?;
        self.records += 1;
        Ok(())
    }

    /// Writes an already-serialised record. It must be a JSON object with a
    /// top-level `resourceType` and no line break (JSON strings cannot hold raw
    /// line breaks, so a pretty-printed object is rejected, not rewritten).
    pub fn write_raw(&mut self, json: &str) -> Result<()> {
        let loc = || Location {
            name: None,
            line: self.records + 1,
            offset: 0,
        };
        if let Some(at) = memchr(b'\n', json.as_bytes()) {
            return Err(Error::ndjson(loc(), NdjsonErrorKind::NotAnObject { at }));
        }
        if let Some(at) = memchr(b'\r', json.as_bytes()) {
            return Err(Error::ndjson(loc(), NdjsonErrorKind::CarriageReturn { at }));
        }
        scan_resource_type(json).map_err(|k| Error::ndjson(loc(), k))?;
        self.inner.write_all(json.as_bytes())?;
        self.inner.write_all(b"\n")?;
        self.records += 1;
        Ok(())
    }

    /// Records written so far.
    pub fn records_written(&self) -> u64 {
        self.records
    }

    /// Flushes and gives back the inner writer.
    pub fn finish(mut self) -> Result<W> {
        self.inner.flush()?;
        Ok(self.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(data: &[u8], opts: ReaderOptions) -> Vec<Result<(String, u64)>> {
        let mut r = NdjsonReader::with_options(data, opts);
        let mut out = Vec::new();
        while let Some(rec) = r.next_record() {
            out.push(rec.map(|r| (r.resource_type().to_owned(), r.line())));
        }
        out
    }

    #[test]
    fn crlf_blank_and_last_line() {
        let data = b"{\"resourceType\":\"A\"}\r\n\r\n  \n{\"resourceType\":\"B\"}\n{\"resourceType\":\"C\"}";
        let got: Vec<_> = collect(data, ReaderOptions::default())
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(got, vec![("A".into(), 1), ("B".into(), 4), ("C".into(), 5)]);
    }

    #[test]
    fn truncated_last_line() {
        let data = b"{\"resourceType\":\"A\"}\n{\"resourceType\":\"B\",\"x\":{\"y\":\"}\"}";
        let got = collect(data, ReaderOptions::default().name("f.ndjson"));
        assert!(got[0].is_ok());
        match &got[1] {
            Err(Error::Ndjson { location, kind }) => {
                assert_eq!(*kind, NdjsonErrorKind::Truncated);
                assert_eq!(location.line, 2);
                assert_eq!(location.name.as_deref(), Some("f.ndjson"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn too_long_line_is_skipped_and_reported() {
        let long = format!(
            "{{\"resourceType\":\"A\",\"x\":\"{}\"}}",
            "z".repeat(3_000_000)
        );
        let data = format!("{long}\n{{\"resourceType\":\"B\"}}\n{long}");
        let got = collect(data.as_bytes(), ReaderOptions::default().max_line_len(1000));
        assert_eq!(got.len(), 3);
        assert!(matches!(
            &got[0],
            Err(Error::Ndjson { location, kind: NdjsonErrorKind::LineTooLong { max: 1000 } }) if location.line == 1
        ));
        assert_eq!(got[1].as_ref().unwrap(), &("B".to_owned(), 2));
        assert!(matches!(
            &got[2],
            Err(Error::Ndjson { location, kind: NdjsonErrorKind::LineTooLong { .. } }) if location.line == 3
        ));
    }

    #[test]
    fn invalid_utf8() {
        let data = b"{\"resourceType\":\"A\",\"n\":\"\xff\"}\n";
        let got = collect(data, ReaderOptions::default());
        assert!(matches!(
            &got[0],
            Err(Error::Ndjson {
                kind: NdjsonErrorKind::InvalidUtf8 { valid_up_to: 25 },
                ..
            })
        ));
    }

    #[test]
    fn long_lines_grow_buffer_and_keep_offsets() {
        let big = format!(
            "{{\"resourceType\":\"A\",\"x\":\"{}\"}}",
            "q".repeat(5_000_000)
        );
        let data = format!("{big}\n{{\"resourceType\":\"B\"}}\n");
        let mut r = NdjsonReader::new(data.as_bytes());
        assert_eq!(r.next_record().unwrap().unwrap().json().len(), big.len());
        let b = r.next_record().unwrap().unwrap();
        assert_eq!(b.offset(), big.len() as u64 + 1);
        assert!(r.next_record().is_none());
        assert!(r.buffer_capacity() <= 2 * big.len() + INITIAL_BUF);
    }

    #[test]
    fn push_reader_matches_pull_reader() {
        let data = b"{\"resourceType\":\"A\",\"id\":\"1\"}\n\n{\"resourceType\":\"B\"}\r\n{\"resourceType\":\"C\"}";
        let mut seen = Vec::new();
        let mut p = PushReader::new(ReaderOptions::default());
        let mut cb = |r: RawRecord<'_>| {
            seen.push(r.resource_type().to_owned());
            Ok(())
        };
        for c in data.chunks(3) {
            p.feed(c, &mut cb).unwrap();
        }
        p.finish(&mut cb).unwrap();
        assert_eq!(seen, ["A", "B", "C"]);
    }

    #[test]
    fn gzip_reader_and_open_file() {
        use std::io::Write as _;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b"{\"resourceType\":\"A\"}\n{\"resourceType\":\"B\"}\n")
            .unwrap();
        let gz = e.finish().unwrap();
        let mut r = NdjsonReader::gzip(&gz[..], ReaderOptions::default());
        assert_eq!(r.next_record().unwrap().unwrap().resource_type(), "A");
        assert_eq!(r.next_record().unwrap().unwrap().resource_type(), "B");
        assert!(r.next_record().is_none());
        let mut r = NdjsonReader::gzip(&gz[..gz.len() - 10], ReaderOptions::default());
        let mut errs = 0;
        while let Some(rec) = r.next_record() {
            errs += usize::from(rec.is_err());
        }
        assert!(errs > 0, "truncated gzip detected");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.ndjson.gz");
        std::fs::write(&p, &gz).unwrap();
        let mut r = open_file(&p, ReaderOptions::default()).unwrap();
        assert_eq!(r.next_record().unwrap().unwrap().resource_type(), "A");
    }

    #[test]
    fn writer_rejects_bad_raw() {
        let mut w = NdjsonWriter::new(Vec::new());
        w.write_raw(r#"{"resourceType":"Patient"}"#).unwrap();
        assert!(w.write_raw("{\"resourceType\":\n\"Patient\"}").is_err());
        assert!(w.write_raw(r#"{"id":"1"}"#).is_err());
        w.write(&serde_json::json!({"resourceType":"Observation","note":"a\nb"}))
            .unwrap();
        let out = String::from_utf8(w.finish().unwrap()).unwrap();
        assert_eq!(out.lines().count(), 2);
    }
}
