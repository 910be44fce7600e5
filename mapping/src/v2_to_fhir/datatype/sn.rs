//! Shared reading of SN (structured numeric) for [`sn_quantity`](super::sn_quantity),
//! [`sn_range`](super::sn_range) and [`sn_ratio`](super::sn_ratio).

use ehrkit_fhir_model::{Extension, ExtensionValue, Primitive};
use ehrkit_hl7v2::datatypes::Sn;

use super::text;

/// The `originalText` extension the IG adds when the SN has a separator or a second number:
/// SN.1–SN.4 joined with spaces (the parts present).
pub(crate) fn original_text(sn: &Sn<'_>) -> Option<Extension> {
    let parts: Vec<String> = [
        text(sn.comparator()),
        text(sn.num1()),
        text(sn.separator_suffix()),
        text(sn.num2()),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!parts.is_empty()).then(|| Extension {
        url: Some("http://hl7.org/fhir/StructureDefinition/originalText".to_owned()),
        value: Some(ExtensionValue::String(Primitive::new(parts.join(" ")))),
        ..Default::default()
    })
}
