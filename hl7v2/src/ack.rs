//! ACK / NAK building for an inbound message.
//!
//! Original mode (AA/AE/AR) or enhanced mode (CA/CE/CR) is chosen from the inbound MSH-15/MSH-16: when
//! either is valued the sender uses enhanced acknowledgment, and the accept acknowledgment built here
//! uses the C* codes. Sender and receiver are swapped with all their components (MSH-3/4 ↔ MSH-5/6),
//! MSA-2 echoes the inbound MSH-10, and errors go into ERR segments with an HL7 table 0357 code and a
//! location.
//!
//! ```
//! use ehrkit_hl7v2::{Message, ack::{AckBuilder, AckError, ErrorCode}};
//! let inbound = Message::parse(b"MSH|^~\\&|LAB|HOSP^1.2^ISO|EHR|CLINIC|20240101||ORU^R01^ORU_R01|C123|P|2.5.1\r").unwrap();
//! let ack = AckBuilder::new(&inbound).control_id("A1").error(AckError::new(ErrorCode::RequiredFieldMissing).location("PID^1^3")).build();
//! let ack = Message::parse(&ack).unwrap();
//! assert_eq!(ack.get("MSH-3").as_deref(), Some("EHR"));
//! assert_eq!(ack.get("MSH-6").as_deref(), Some("HOSP^1.2^ISO"));
//! assert_eq!(ack.get("MSA-1").as_deref(), Some("AE"));
//! assert_eq!(ack.get("MSA-2").as_deref(), Some("C123"));
//! assert_eq!(ack.get("ERR-3.1").as_deref(), Some("101"));
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

use crate::delimiters::Delimiters;
use crate::escape;
use crate::message::Message;
use crate::options::ParseOptions;

/// The acknowledgment code (MSA-1, HL7 table 0008).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AckCode {
    /// Original mode: application accept.
    AA,
    /// Original mode: application error.
    AE,
    /// Original mode: application reject.
    AR,
    /// Enhanced mode: commit accept.
    CA,
    /// Enhanced mode: commit error.
    CE,
    /// Enhanced mode: commit reject.
    CR,
}

impl AckCode {
    /// The two-letter code.
    pub fn as_str(&self) -> &'static str {
        match self {
            AckCode::AA => "AA",
            AckCode::AE => "AE",
            AckCode::AR => "AR",
            AckCode::CA => "CA",
            AckCode::CE => "CE",
            AckCode::CR => "CR",
        }
    }
}

/// HL7 table 0357 message error condition codes (0 = accepted, 100..=207).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 0: message accepted.
    MessageAccepted,
    /// 100: segment sequence error.
    SegmentSequenceError,
    /// 101: required field missing.
    RequiredFieldMissing,
    /// 102: data type error.
    DataTypeError,
    /// 103: table value not found.
    TableValueNotFound,
    /// 200: unsupported message type.
    UnsupportedMessageType,
    /// 201: unsupported event code.
    UnsupportedEventCode,
    /// 202: unsupported processing ID.
    UnsupportedProcessingId,
    /// 203: unsupported version ID.
    UnsupportedVersionId,
    /// 204: unknown key identifier.
    UnknownKeyIdentifier,
    /// 205: duplicate key identifier.
    DuplicateKeyIdentifier,
    /// 206: application record locked.
    ApplicationRecordLocked,
    /// 207: application internal error.
    ApplicationInternalError,
}

impl ErrorCode {
    /// The numeric code.
    pub fn code(&self) -> u16 {
        match self {
            ErrorCode::MessageAccepted => 0,
            ErrorCode::SegmentSequenceError => 100,
            ErrorCode::RequiredFieldMissing => 101,
            ErrorCode::DataTypeError => 102,
            ErrorCode::TableValueNotFound => 103,
            ErrorCode::UnsupportedMessageType => 200,
            ErrorCode::UnsupportedEventCode => 201,
            ErrorCode::UnsupportedProcessingId => 202,
            ErrorCode::UnsupportedVersionId => 203,
            ErrorCode::UnknownKeyIdentifier => 204,
            ErrorCode::DuplicateKeyIdentifier => 205,
            ErrorCode::ApplicationRecordLocked => 206,
            ErrorCode::ApplicationInternalError => 207,
        }
    }

    /// The table's display text.
    pub fn text(&self) -> &'static str {
        match self {
            ErrorCode::MessageAccepted => "Message accepted",
            ErrorCode::SegmentSequenceError => "Segment sequence error",
            ErrorCode::RequiredFieldMissing => "Required field missing",
            ErrorCode::DataTypeError => "Data type error",
            ErrorCode::TableValueNotFound => "Table value not found",
            ErrorCode::UnsupportedMessageType => "Unsupported message type",
            ErrorCode::UnsupportedEventCode => "Unsupported event code",
            ErrorCode::UnsupportedProcessingId => "Unsupported processing id",
            ErrorCode::UnsupportedVersionId => "Unsupported version id",
            ErrorCode::UnknownKeyIdentifier => "Unknown key identifier",
            ErrorCode::DuplicateKeyIdentifier => "Duplicate key identifier",
            ErrorCode::ApplicationRecordLocked => "Application record locked",
            ErrorCode::ApplicationInternalError => "Application internal error",
        }
    }

    /// The code for a number of table 0357.
    pub fn from_code(code: u16) -> Option<ErrorCode> {
        use ErrorCode::*;
        [
            MessageAccepted,
            SegmentSequenceError,
            RequiredFieldMissing,
            DataTypeError,
            TableValueNotFound,
            UnsupportedMessageType,
            UnsupportedEventCode,
            UnsupportedProcessingId,
            UnsupportedVersionId,
            UnknownKeyIdentifier,
            DuplicateKeyIdentifier,
            ApplicationRecordLocked,
            ApplicationInternalError,
        ]
        .into_iter()
        .find(|c| c.code() == code)
    }
}

/// ERR-4 severity (HL7 table 0516).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Severity {
    /// E: error (the default).
    #[default]
    Error,
    /// W: warning.
    Warning,
    /// I: information.
    Information,
    /// F: fatal error.
    Fatal,
}

impl Severity {
    /// The one-letter code.
    pub fn as_str(&self) -> &'static str {
        match self {
            Severity::Error => "E",
            Severity::Warning => "W",
            Severity::Information => "I",
            Severity::Fatal => "F",
        }
    }
}

/// One ERR segment's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckError {
    /// Table 0357 code (ERR-3).
    pub code: ErrorCode,
    /// Severity (ERR-4).
    pub severity: Severity,
    /// Error location (ERR-2), components separated by `^`, e.g. `PID^1^3` (segment ID, segment
    /// sequence, field, field repetition, component, subcomponent).
    pub location: Option<String>,
    /// User message (ERR-8).
    pub text: Option<String>,
}

impl AckError {
    /// An error with severity E and no location or text.
    pub fn new(code: ErrorCode) -> Self {
        AckError {
            code,
            severity: Severity::Error,
            location: None,
            text: None,
        }
    }
    /// With a location such as `PID^1^3`.
    pub fn location(mut self, loc: impl Into<String>) -> Self {
        self.location = Some(loc.into());
        self
    }
    /// With a user message.
    pub fn text(mut self, t: impl Into<String>) -> Self {
        self.text = Some(t.into());
        self
    }
    /// With a severity.
    pub fn severity(mut self, s: Severity) -> Self {
        self.severity = s;
        self
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Accept,
    Error,
    Reject,
}

/// Builds ACK bytes (segments separated by `\r`, no MLLP framing) for an inbound message.
#[derive(Clone, Debug)]
pub struct AckBuilder<'m, 'a> {
    inbound: &'m Message<'a>,
    control_id: Option<String>,
    outcome: Outcome,
    code: Option<AckCode>,
    errors: Vec<AckError>,
    timestamp: Option<String>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A control ID unique within this process: `A` + seconds since the epoch + a counter.
pub fn generate_control_id() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("A{secs}{:06}", n % 1_000_000)
}

/// The current UTC time as an HL7 DTM with offset: `YYYYMMDDHHMMSS+0000`.
pub fn now_timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}+0000",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn version_at_least_25(v: &str) -> bool {
    let mut it = v.split('.').map(|x| x.trim().parse::<u32>().unwrap_or(0));
    let major = it.next().unwrap_or(0);
    let minor = it.next().unwrap_or(0);
    major > 2 || (major == 2 && minor >= 5)
}

impl<'m, 'a> AckBuilder<'m, 'a> {
    /// A builder acknowledging `inbound` (accept by default).
    pub fn new(inbound: &'m Message<'a>) -> Self {
        AckBuilder {
            inbound,
            control_id: None,
            outcome: Outcome::Accept,
            code: None,
            errors: Vec::new(),
            timestamp: None,
        }
    }

    /// The ACK's own control ID (MSH-10). Default: generated, unique per process.
    pub fn control_id(mut self, id: impl Into<String>) -> Self {
        self.control_id = Some(id.into());
        self
    }

    /// The ACK's timestamp (MSH-7) as HL7 DTM text. Default: now, UTC.
    pub fn timestamp(mut self, ts: impl Into<String>) -> Self {
        self.timestamp = Some(ts.into());
        self
    }

    /// Accept: AA (CA in enhanced mode).
    pub fn accept(mut self) -> Self {
        self.outcome = Outcome::Accept;
        self
    }

    /// Error: AE (CE in enhanced mode), with an ERR segment. May be called several times.
    pub fn error(mut self, e: AckError) -> Self {
        if self.outcome != Outcome::Reject {
            self.outcome = Outcome::Error;
        }
        self.errors.push(e);
        self
    }

    /// Reject: AR (CR in enhanced mode), with an ERR segment.
    pub fn reject(mut self, e: AckError) -> Self {
        self.outcome = Outcome::Reject;
        self.errors.push(e);
        self
    }

    /// Explicit acknowledgment code, overriding the mode-dependent choice.
    pub fn code(mut self, c: AckCode) -> Self {
        self.code = Some(c);
        self
    }

    /// True when the inbound message uses enhanced acknowledgment mode (MSH-15 or MSH-16 valued).
    pub fn enhanced_mode(&self) -> bool {
        let valued = |p| self.inbound.get(p).is_some_and(|v| !v.is_empty());
        valued("MSH-15") || valued("MSH-16")
    }

    /// The code the ACK will carry.
    pub fn ack_code(&self) -> AckCode {
        if let Some(c) = self.code {
            return c;
        }
        match (self.enhanced_mode(), self.outcome) {
            (false, Outcome::Accept) => AckCode::AA,
            (false, Outcome::Error) => AckCode::AE,
            (false, Outcome::Reject) => AckCode::AR,
            (true, Outcome::Accept) => AckCode::CA,
            (true, Outcome::Error) => AckCode::CE,
            (true, Outcome::Reject) => AckCode::CR,
        }
    }

    /// Whether the sender asked for this acknowledgment: in enhanced mode MSH-15 (accept ack type)
    /// `AL` always, `NE` never, `ER` only on error/reject, `SU` only on success; original mode always.
    pub fn required(&self) -> bool {
        if !self.enhanced_mode() {
            return true;
        }
        let ok = matches!(self.ack_code(), AckCode::AA | AckCode::CA);
        match self.inbound.get("MSH-15").as_deref().map(str::trim) {
            Some("NE") => false,
            Some("ER") => !ok,
            Some("SU") => ok,
            _ => true,
        }
    }

    /// The ACK message bytes.
    pub fn build(&self) -> Vec<u8> {
        let m = self.inbound;
        let d = *m.delimiters();
        // Copied inbound values lose C0 control bytes (a stray NUL must not make the ACK
        // itself malformed); everything else is echoed byte for byte.
        let raw = |p: &str| -> std::borrow::Cow<'_, [u8]> {
            let v = m.raw(p).unwrap_or(b"");
            if v.iter().any(|&b| b < 0x20 || b == 0x7f) {
                std::borrow::Cow::Owned(
                    v.iter()
                        .copied()
                        .filter(|&b| b >= 0x20 && b != 0x7f)
                        .collect(),
                )
            } else {
                std::borrow::Cow::Borrowed(v)
            }
        };
        let mut out: Vec<u8> = Vec::with_capacity(256);
        let f = d.field;
        out.extend_from_slice(b"MSH");
        out.push(f);
        out.extend_from_slice(d.encoding_characters().as_bytes());
        for p in ["MSH-5", "MSH-6", "MSH-3", "MSH-4"] {
            out.push(f);
            out.extend_from_slice(&raw(p));
        }
        out.push(f);
        let ts = self.timestamp.clone().unwrap_or_else(now_timestamp);
        out.extend_from_slice(escape::encode(&ts, &d).as_bytes());
        out.push(f); // MSH-8 security
        out.push(f);
        let trigger = raw("MSH-9.2");
        let version = m
            .get("MSH-12.1")
            .map(|v| v.into_owned())
            .unwrap_or_default();
        out.extend_from_slice(b"ACK");
        if !trigger.is_empty() {
            out.push(d.component);
            out.extend_from_slice(&trigger);
        }
        if version_at_least_25(&version) || m.raw("MSH-9.3").is_some() {
            if trigger.is_empty() {
                out.push(d.component);
            }
            out.push(d.component);
            out.extend_from_slice(b"ACK");
        }
        out.push(f);
        let cid = self.control_id.clone().unwrap_or_else(generate_control_id);
        out.extend_from_slice(escape::encode(&cid, &d).as_bytes());
        out.push(f);
        let pid = raw("MSH-11");
        out.extend_from_slice(if pid.is_empty() { b"P" } else { &pid });
        out.push(f);
        let ver = raw("MSH-12");
        out.extend_from_slice(if ver.is_empty() { b"2.5" } else { &ver });
        let charset = raw("MSH-18");
        if !charset.is_empty() {
            out.extend(std::iter::repeat_n(f, 6));
            out.extend_from_slice(&charset);
        }
        out.push(b'\r');
        out.extend_from_slice(b"MSA");
        out.push(f);
        out.extend_from_slice(self.ack_code().as_str().as_bytes());
        out.push(f);
        out.extend_from_slice(&raw("MSH-10"));
        out.push(b'\r');
        let modern = version.is_empty() || version_at_least_25(&version);
        for e in &self.errors {
            write_err(&mut out, e, &d, modern);
        }
        out
    }
}

fn write_err(out: &mut Vec<u8>, e: &AckError, d: &Delimiters, modern: bool) {
    let f = d.field;
    let loc_parts: Vec<String> = e
        .location
        .as_deref()
        .unwrap_or("")
        .split('^')
        .map(|p| escape::encode(p, d).into_owned())
        .collect();
    let code = e.code.code().to_string();
    out.extend_from_slice(b"ERR");
    out.push(f);
    if modern {
        // ERR-1 (deprecated) empty; ERR-2 location (ERL); ERR-3 code (CWE); ERR-4 severity; ERR-8 text.
        out.push(f);
        if e.location.is_some() {
            out.extend_from_slice(
                loc_parts
                    .join(&(d.component as char).to_string())
                    .as_bytes(),
            );
        }
        out.push(f);
        for (k, part) in [code.as_str(), e.code.text(), "HL70357"].iter().enumerate() {
            if k > 0 {
                out.push(d.component);
            }
            out.extend_from_slice(part.as_bytes());
        }
        out.push(f);
        out.extend_from_slice(e.severity.as_str().as_bytes());
        if let Some(t) = &e.text {
            out.extend(std::iter::repeat_n(f, 4));
            out.extend_from_slice(escape::encode(t, d).as_bytes());
        }
    } else {
        // Before v2.5, ERR-1 is ELD: segment^sequence^field^code&text&HL70357.
        let mut parts: Vec<&str> = loc_parts.iter().map(String::as_str).take(3).collect();
        while parts.len() < 3 {
            parts.push("");
        }
        for p in &parts {
            out.extend_from_slice(p.as_bytes());
            out.push(d.component);
        }
        for (k, part) in [code.as_str(), e.code.text(), "HL70357"].iter().enumerate() {
            if k > 0 {
                out.push(d.subcomponent);
            }
            out.extend_from_slice(part.as_bytes());
        }
    }
    out.push(b'\r');
}

/// Best-effort NAK (AR + ERR) for bytes that did not parse as a message: takes what it can from a
/// readable MSH (delimiters, sender, control ID), otherwise a minimal valid ACK with empty MSA-2.
pub fn nak_for_unparseable(raw: &[u8], e: AckError) -> Vec<u8> {
    let lenient = ParseOptions::default().lossy(true);
    if let Ok(m) = Message::parse_with(raw, lenient) {
        return AckBuilder::new(&m).reject(e).build();
    }
    // Only the MSH line.
    let start = crate::message::skip_preamble(raw, 0);
    let rest = &raw[start.min(raw.len())..];
    let eol = memchr::memchr2(b'\r', b'\n', rest).unwrap_or(rest.len());
    if let Ok(m) = Message::parse_with(&rest[..eol], lenient) {
        return AckBuilder::new(&m).reject(e).build();
    }
    let d = Delimiters::default();
    let mut out = format!(
        "MSH|^~\\&|||||{}||ACK|{}|P|2.5\rMSA|AR|\r",
        now_timestamp(),
        generate_control_id()
    )
    .into_bytes();
    write_err(&mut out, &e, &d, true);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const IN: &[u8] = b"MSH|^~\\&|SND^1.2.3^ISO|SFAC|RCV|RFAC^9.9^ISO|20240101120000||ADT^A01^ADT_A01|CTRL\\T\\1|P|2.5.1\rPID|1\r";

    #[test]
    fn original_mode_accept() {
        let m = Message::parse(IN).unwrap();
        let b = AckBuilder::new(&m)
            .control_id("X1")
            .timestamp("20240101120001");
        assert_eq!(b.ack_code(), AckCode::AA);
        assert!(b.required());
        let ack = b.build();
        assert_eq!(
            ack,
            b"MSH|^~\\&|RCV|RFAC^9.9^ISO|SND^1.2.3^ISO|SFAC|20240101120001||ACK^A01^ACK|X1|P|2.5.1\rMSA|AA|CTRL\\T\\1\r"
        );
    }

    #[test]
    fn control_bytes_are_not_copied_into_the_ack() {
        let m = Message::parse(b"MSH|^~\\&|SND|SF|RCV|RF|2024||ADT^A01|C\x001|P|2.3\x00\rPID|1\r")
            .unwrap();
        let ack = AckBuilder::new(&m)
            .control_id("X")
            .timestamp("2024")
            .build();
        assert!(
            !ack.contains(&0),
            "no NUL in {:?}",
            String::from_utf8_lossy(&ack)
        );
        let parsed = Message::parse(&ack).unwrap();
        assert_eq!(parsed.get("MSH-12").as_deref(), Some("2.3"));
        assert_eq!(parsed.get("MSA-2").as_deref(), Some("C1"));
    }

    #[test]
    fn truncated_encoding_characters_still_get_a_real_ack() {
        // MSH-2 without the subcomponent separator: readable, so the NAK names the message.
        let raw = b"MSH|^~\\|SND|SF|RCV|RF|2024||ADT^A01|T3|P|2.3\rPID|1\r";
        let m = Message::parse(raw).expect("lenient parse completes MSH-2");
        assert_eq!(m.get("MSH-10").as_deref(), Some("T3"));
        let nak = nak_for_unparseable(raw, AckError::new(ErrorCode::ApplicationInternalError));
        let n = Message::parse(&nak).unwrap();
        assert_eq!(n.get("MSA-2").as_deref(), Some("T3"));
        assert_eq!(n.get("MSH-5").as_deref(), Some("SND"));
        assert_eq!(n.get("MSH-3").as_deref(), Some("RCV"));
    }

    #[test]
    fn enhanced_mode_and_msh15() {
        let m = Message::parse(b"MSH|^~\\&|A|B|C|D|20240101||ORU^R01|9|P|2.5.1|||ER|AL\r").unwrap();
        let b = AckBuilder::new(&m);
        assert!(b.enhanced_mode());
        assert_eq!(b.ack_code(), AckCode::CA);
        assert!(!b.required());
        let b = b.reject(AckError::new(ErrorCode::UnsupportedEventCode));
        assert_eq!(b.ack_code(), AckCode::CR);
        assert!(b.required());
        let bytes = AckBuilder::new(&m)
            .error(AckError::new(ErrorCode::DataTypeError))
            .build();
        assert_eq!(
            Message::parse(&bytes).unwrap().get("MSA-1").as_deref(),
            Some("CE")
        );
        let ne =
            Message::parse(b"MSH|^~\\&|A|B|C|D|20240101||ORU^R01|9|P|2.5.1|||NE|NE\r").unwrap();
        assert!(!AckBuilder::new(&ne).required());
        assert_eq!(
            AckBuilder::new(&ne).code(AckCode::AA).ack_code(),
            AckCode::AA
        );
    }

    #[test]
    fn err_segment_modern_and_old() {
        let m = Message::parse(IN).unwrap();
        let ack = AckBuilder::new(&m)
            .error(
                AckError::new(ErrorCode::RequiredFieldMissing)
                    .location("PID^1^3")
                    .text("missing MRN | id"),
            )
            .build();
        let a = Message::parse(&ack).unwrap();
        assert_eq!(a.get("MSA-1").as_deref(), Some("AE"));
        assert_eq!(a.get("ERR-2").as_deref(), Some("PID^1^3"));
        assert_eq!(
            a.get("ERR-3").as_deref(),
            Some("101^Required field missing^HL70357")
        );
        assert_eq!(a.get("ERR-4").as_deref(), Some("E"));
        assert_eq!(a.get("ERR-8").as_deref(), Some("missing MRN | id"));
        let old = Message::parse(b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|9|P|2.3\r").unwrap();
        let ack = AckBuilder::new(&old)
            .reject(AckError::new(ErrorCode::UnsupportedMessageType).location("MSH^1^9"))
            .build();
        let a = Message::parse(&ack).unwrap();
        assert_eq!(a.get("MSH-9").as_deref(), Some("ACK^A01"));
        assert_eq!(a.get("MSA-1").as_deref(), Some("AR"));
        assert_eq!(a.get("ERR-1.3").as_deref(), Some("9"));
        assert_eq!(a.get("ERR-1.4.1").as_deref(), Some("200"));
    }

    #[test]
    fn alternate_delimiters_kept() {
        let m = Message::parse(b"MSH^~|\\&^SEND^200M^RECV^200^2012^^ADT~A24^77^T^2.4\r").unwrap();
        let ack = AckBuilder::new(&m).build();
        assert!(ack.starts_with(b"MSH^~|\\&^RECV^200^SEND^200M^"));
        let a = Message::parse(&ack).unwrap();
        assert_eq!(a.get("MSA-2").as_deref(), Some("77"));
        assert_eq!(a.get("MSH-9").as_deref(), Some("ACK~A24"));
    }

    #[test]
    fn nak_for_garbage_and_partial() {
        let nak = nak_for_unparseable(
            b"\x00\x01garbage",
            AckError::new(ErrorCode::ApplicationInternalError),
        );
        let a = Message::parse(&nak).unwrap();
        assert_eq!(a.get("MSA-1").as_deref(), Some("AR"));
        assert_eq!(a.value("MSA-2").unwrap(), crate::Value::Empty);
        let nak = nak_for_unparseable(
            b"MSH|^~\\&|S|F|R|G|2024||ADT^A01|ID7|P|2.5\rpid|bad\r",
            AckError::new(ErrorCode::SegmentSequenceError),
        );
        let a = Message::parse(&nak).unwrap();
        assert_eq!(a.get("MSA-2").as_deref(), Some("ID7"));
        assert_eq!(a.get("MSH-5").as_deref(), Some("S"));
        assert_eq!(a.get("ERR-3.1").as_deref(), Some("100"));
    }

    #[test]
    fn control_ids_unique_and_timestamp_shape() {
        let a = generate_control_id();
        let b = generate_control_id();
        assert_ne!(a, b);
        assert!(a.len() <= 20);
        let ts = now_timestamp();
        assert_eq!(ts.len(), 19);
        assert!(ts.starts_with("20"));
    }
}
