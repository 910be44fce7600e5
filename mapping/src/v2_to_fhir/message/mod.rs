//! IG message maps (`messages/HL7 Message - FHIR R4_ ADT_A01 - Sheet1.csv` →
//! [`adt_a01`]), one file per map.
//!
//! Implemented: [`adt_a01`] (ADT^A01, and the events that share its structure and resources:
//! A02, A03, A04, A08). The other message types are refused with
//! `ConvertError::UnsupportedMessageType`.

pub mod adt_a01;

use ehrkit_hl7v2::Message;

use super::convert::{ConvertError, Out};
use super::datatype::Context;

/// A message map: converts `msg` (trigger event `event`) into `out`.
pub(crate) type MessageMap =
    fn(&Message<'_>, &str, &mut Context<'_>, &mut Out) -> Result<(), ConvertError>;

/// The message map for MSH-9 `code^event`.
pub(crate) fn find(code: &str, event: &str) -> Option<MessageMap> {
    match (code, event) {
        ("ADT", "A01" | "A02" | "A03" | "A04" | "A08") => Some(adt_a01::convert),
        _ => None,
    }
}
