//! The only place that builds and reads acknowledgements with `ehrkit-hl7v2`.

use ehrkit_hl7v2::ack::{self, AckBuilder, AckCode, AckError, ErrorCode, Severity};
use ehrkit_hl7v2::Message;

/// An ACK ready to frame, with what the server logs and counts.
pub(crate) struct Reply {
    pub(crate) bytes: Vec<u8>,
    pub(crate) accepted: bool,
    pub(crate) code: &'static str,
    pub(crate) control_id: String,
    /// False when an enhanced-mode sender asked for no ACK of this kind (MSH-15 NE/ER/SU).
    pub(crate) required: bool,
}

fn reply(b: AckBuilder<'_, '_>, accepted: bool, control_id: String) -> Reply {
    Reply {
        bytes: b.build(),
        accepted,
        code: b.ack_code().as_str(),
        control_id,
        required: b.required(),
    }
}

/// MSH-10 for the log and stats; empty when absent, blank or the HL7 null `""`.
fn control_id(msg: &Message<'_>) -> String {
    msg.control_id().map(|c| c.into_owned()).unwrap_or_default()
}

/// Parses an inbound message. A transport must not reject a message for its character set
/// (most feeds send Latin-1 or Windows-1252 without declaring it in MSH-18): when the text is
/// not valid in the declared (or default UTF-8) character set, parse again decoding invalid
/// bytes as U+FFFD. The ACK echoes identifiers from the raw bytes, so they stay exact.
pub(crate) fn parse_lenient(payload: &[u8]) -> Result<Message<'_>, ehrkit_hl7v2::Error> {
    match Message::parse(payload) {
        // Undeclared Latin-1 bytes, or an MSH-18 value we do not know (vendors invent their
        // own spellings): still readable enough to hand over and to ACK with exact ids.
        Err(ehrkit_hl7v2::Error::Encoding { .. } | ehrkit_hl7v2::Error::UnsupportedCharset(_)) => {
            Message::parse_with(payload, ehrkit_hl7v2::ParseOptions::default().lossy(true))
        }
        r => r,
    }
}

/// AA (or CA when the message asks for enhanced mode).
pub(crate) fn accept(msg: &Message<'_>) -> Reply {
    reply(AckBuilder::new(msg).accept(), true, control_id(msg))
}

/// Text from the application made safe for an ACK: control characters (the MLLP framing
/// bytes `0x0B` and `0x1C`, segment terminators, NUL, ...) become spaces, so the ACK can always
/// be framed and parsed.
fn ack_text(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// AE/AR (CE/CR) with an ERR segment from the handler's error.
pub(crate) fn negative(msg: &Message<'_>, e: &crate::HandlerError) -> Reply {
    let err = AckError {
        code: e.code,
        severity: Severity::Error,
        location: e.location.as_deref().map(ack_text),
        text: e.text.as_deref().map(ack_text),
    };
    let b = AckBuilder::new(msg);
    let b = if e.reject {
        b.reject(err)
    } else {
        b.error(err)
    };
    reply(b, false, control_id(msg))
}

/// AR with ERR for bytes that are not a parseable HL7 v2 message.
pub(crate) fn nak_unparseable(raw: &[u8]) -> Reply {
    let err = AckError {
        code: ErrorCode::SegmentSequenceError,
        severity: Severity::Error,
        location: None,
        text: Some("message could not be parsed as HL7 v2".into()),
    };
    Reply {
        bytes: ack::nak_for_unparseable(raw, err),
        accepted: false,
        code: "AR",
        control_id: String::new(),
        required: true,
    }
}

/// AR with ERR 101 at MSH-10: without a control ID the sender cannot correlate any ACK.
pub(crate) fn nak_missing_control_id(msg: &Message<'_>) -> Reply {
    let err = AckError {
        code: ErrorCode::RequiredFieldMissing,
        severity: Severity::Error,
        location: Some("MSH^1^10".into()),
        text: Some("message control ID (MSH-10) is missing".into()),
    };
    reply(AckBuilder::new(msg).reject(err), false, String::new())
}

/// An ACK as the client sees it.
pub(crate) struct ParsedAck {
    pub(crate) code: AckCode,
    pub(crate) acked_id: String,
    pub(crate) text: Option<String>,
}

/// Reads MSA-1, MSA-2 and the error text (ERR-8, else MSA-3) from an ACK.
pub(crate) fn parse_ack(bytes: &[u8]) -> Result<ParsedAck, crate::Error> {
    let m = parse_lenient(bytes).map_err(|_| crate::Error::InvalidAck("not an HL7 v2 message"))?;
    let code = match m.get("MSA-1").as_deref() {
        Some("AA") => AckCode::AA,
        Some("AE") => AckCode::AE,
        Some("AR") => AckCode::AR,
        Some("CA") => AckCode::CA,
        Some("CE") => AckCode::CE,
        Some("CR") => AckCode::CR,
        Some(_) => {
            return Err(crate::Error::InvalidAck(
                "unknown MSA-1 acknowledgment code",
            ))
        }
        None => return Err(crate::Error::InvalidAck("no MSA segment")),
    };
    let acked_id = m.get("MSA-2").map(|c| c.into_owned()).unwrap_or_default();
    let text = m
        .get("ERR-8")
        .or_else(|| m.get("MSA-3"))
        .map(|c| c.into_owned())
        .filter(|s| !s.is_empty());
    Ok(ParsedAck {
        code,
        acked_id,
        text,
    })
}
