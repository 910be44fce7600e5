//! `HD[Identifier]`: HL7 v2 HD → FHIR Identifiers (one per HD part).
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-datatype-hd-to-identifier.html>
//!
//! - HD.1 → the first Identifier's `value`.
//! - HD.2 → the second Identifier's `value`, with HD.3 (HL7 table 0301) as its `type` (system
//!   `http://terminology.hl7.org/CodeSystem/v2-0301`). An ISO OID or UUID is written the FHIR way
//!   for such identifiers: system `urn:ietf:rfc:3986`, value `urn:oid:…` / `urn:uuid:…`
//!   (FHIR R4 identifier registry, <http://hl7.org/fhir/R4/identifier-registry.html>).

use ehrkit_fhir_model::{CodeableConcept, Coding, Identifier, Primitive};
use ehrkit_hl7v2::datatypes::Hd;

use super::{text, Context};
use crate::{Authority, SystemSource};

/// Converts one HD: up to two Identifiers (namespace, universal id). Every HD part is mapped,
/// so nothing is reported.
pub fn hd_identifier(hd: &Hd<'_>, ctx: &Context<'_>) -> Vec<Identifier> {
    let mut out = Vec::new();
    if hd.is_null() {
        return out;
    }
    if let Some(ns) = text(hd.namespace_id()) {
        out.push(Identifier {
            value: Some(Primitive::new(ns)),
            ..Default::default()
        });
    }
    if let Some(uid) = text(hd.universal_id()) {
        let ty = text(hd.universal_id_type());
        let universal = ctx
            .systems
            .identifier_system(Authority {
                namespace: None,
                universal_id: Some(&uid),
                universal_id_type: ty.as_deref(),
            })
            .filter(|u| u.source == SystemSource::Universal && u.uri.starts_with("urn:"))
            .map(|u| u.uri.into_owned());
        let mut id = match universal {
            Some(urn) => Identifier {
                system: Some(Primitive::new("urn:ietf:rfc:3986".to_owned())),
                value: Some(Primitive::new(urn)),
                ..Default::default()
            },
            None => Identifier {
                value: Some(Primitive::new(uid)),
                ..Default::default()
            },
        };
        if let Some(ty) = ty {
            id.type_ = Some(Box::new(CodeableConcept {
                coding: vec![Coding {
                    system: Some(Primitive::new(
                        "http://terminology.hl7.org/CodeSystem/v2-0301".to_owned(),
                    )),
                    code: Some(Primitive::new(ty)),
                    ..Default::default()
                }],
                ..Default::default()
            }));
        }
        out.push(id);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehrkit_hl7v2::Delimiters;

    #[test]
    fn namespace_and_oid() {
        let profile = crate::Profile::generic();
        let ctx = Context::new(&profile);
        let hd = Hd::parse(
            b"GOODHEALTH^2.16.840.1.113883.19.5^ISO",
            &Delimiters::default(),
        );
        let ids = hd_identifier(&hd, &ctx);
        assert_eq!(ids.len(), 2);
        assert_eq!(
            ids[0].value.as_ref().unwrap().value.as_deref(),
            Some("GOODHEALTH")
        );
        assert_eq!(
            ids[1].system.as_ref().unwrap().value.as_deref(),
            Some("urn:ietf:rfc:3986")
        );
        assert_eq!(
            ids[1].value.as_ref().unwrap().value.as_deref(),
            Some("urn:oid:2.16.840.1.113883.19.5")
        );
        let ty = &ids[1].type_.as_ref().unwrap().coding[0];
        assert_eq!(ty.code.as_ref().unwrap().value.as_deref(), Some("ISO"));
        assert!(ctx.report.is_empty());
    }

    #[test]
    fn a_local_universal_id_is_kept_as_written() {
        let profile = crate::Profile::generic();
        let ctx = Context::new(&profile);
        let hd = Hd::parse(b"^LAB-7^L", &Delimiters::default());
        let ids = hd_identifier(&hd, &ctx);
        assert_eq!(ids.len(), 1);
        assert!(ids[0].system.is_none());
        assert_eq!(
            ids[0].value.as_ref().unwrap().value.as_deref(),
            Some("LAB-7")
        );
    }
}
