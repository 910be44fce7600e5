//! `IN1[Coverage]`: HL7 v2 IN1 (insurance) → FHIR Coverage, with the payor and policy holder
//! Organizations.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-in1-to-coverage.html>
//!
//! - IN1-2 (health plan id, `CWE[Identifier]`) → `identifier`: CWE.1 the value, CWE.3 (the
//!   coding system naming the plan's authority) the system through the profile's systems.
//! - IN1-4 (`XON[Organization]`) with IN1-5 (address) → `payor[1]`, an Organization the caller
//!   adds. IN1-3 (insurance company id, `CX`) has no row in the IG; it is the payor's
//!   identifier here (so the payor is shared reference data a server can find again), and a
//!   payor named only by IN1-3 is still a payor.
//! - IN1-10 (insured's group employer id) and IN1-11 (its name, `XON`) → `policyHolder`, an
//!   Organization; IN1-10 with CX.5 `SN` also → the R5 `extension-subscriberId`.
//! - IN1-12/IN1-13 → `period`; IN1-15 → `type` (`CWE[CodeableConcept]`).
//! - IN1-16/IN1-17 → `subscriber` (the Patient when IN1-17 is `SEL`, else a RelatedPerson named
//!   IN1-16, [`Subscriber`]) and `relationship` (the v2 coding and the IG map `Relationship`).
//! - IN1-49 (insured's id number) → `extension-subscriberId`.
//!
//! Not from the IG: `status` is `active` (FHIR requires one; IN1 has no status) and
//! `beneficiary` is the message's Patient (the IG's message maps). FHIR requires a payor: an
//! IN1 with neither IN1-3 nor IN1-4 gives no Coverage (the message map reports it).
//!
//! Identity: IN1-2 names a plan, shared by every member of it, so it is not the Coverage's
//! business key; the Coverage's id comes from the message and the segment's position.

use ehrkit_fhir_model::codes::FinancialResourceStatusCodes;
use ehrkit_fhir_model::resources::{Coverage, Organization, RelatedPerson};
use ehrkit_fhir_model::{
    CodeableConcept, Extension, ExtensionValue, Identifier, Period, Primitive,
};
use ehrkit_hl7v2::datatypes::{Cwe, Cx, Text, Xad, Xon, Xpn};
use ehrkit_hl7v2::Segment;

use super::pid_patient::vocab_coding;
use super::{mapped_in, Row};
use crate::v2_to_fhir::datatype::{
    cwe_codeable_concept::cwe_codeable_concept, cx_identifier::cx_identifier, dtm, text,
    xad_address::xad_address, xon_organization::xon_organization, xpn_human_name::xpn_human_name,
    Context,
};
use crate::v2_to_fhir::vocab::generated::RELATIONSHIP;
use crate::{Authority, DataProblem, Location, ReportKind, SystemSource};

const FILE: &str = "segment/in1_coverage.rs";

/// The R5 `Coverage.subscriberId` (an Identifier there) as an R4 extension.
pub const SUBSCRIBER_ID: &str =
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-subscriberId";

/// Fields this map reads (IN1-1, the set id, numbers the segment).
const MAPPED_FIELDS: &[usize] = &[1, 2, 3, 4, 5, 10, 11, 12, 13, 15, 16, 17, 49];

/// Who the subscriber is.
#[derive(Debug, Clone)]
pub enum Subscriber {
    /// The patient (IN1-17 `SEL`).
    Patient,
    /// Someone else, named by IN1-16 (the caller sets `patient`).
    RelatedPerson(Box<RelatedPerson>),
}

/// A Coverage and what it references, for the caller to add.
#[derive(Debug, Clone)]
pub struct CoverageParts {
    /// The Coverage: no id, beneficiary, payor, policy holder or subscriber yet.
    pub coverage: Coverage,
    /// IN1-3/4/5: the payor (`None`: the Coverage cannot be written).
    pub payor: Option<Organization>,
    /// IN1-10/11: the policy holder.
    pub policy_holder: Option<Organization>,
    /// IN1-16/17.
    pub subscriber: Option<Subscriber>,
}

/// Converts the `occurrence`-th IN1 of a message.
pub fn in1_coverage(in1: &Segment<'_>, occurrence: usize, ctx: &mut Context<'_>) -> CoverageParts {
    let at = |field: usize| Location::segment("IN1", occurrence).field(field);
    let mut c = Coverage {
        status: Some(Primitive::new(FinancialResourceStatusCodes::Active)),
        ..Default::default()
    };

    if let Some(cwe) = in1.field(2).first::<Cwe<'_>>() {
        if let Some(value) = text(cwe.identifier()) {
            let system = text(cwe.name_of_coding_system()).and_then(|ns| {
                let (uri, fallback) = ctx
                    .systems
                    .identifier_system(Authority {
                        namespace: Some(&ns),
                        ..Default::default()
                    })
                    .map(|u| (u.uri.into_owned(), u.source == SystemSource::Fallback))?;
                if fallback {
                    ctx.report(
                        ReportKind::DataQuality(DataProblem::UnknownSystem),
                        at(2).component(3),
                    );
                }
                Some(uri)
            });
            c.identifier.push(Identifier {
                value: Some(Primitive::new(value)),
                system: system.map(Primitive::new),
                ..Default::default()
            });
        }
    }

    let mut payor = in1
        .field(4)
        .first::<Xon<'_>>()
        .and_then(|x| xon_organization(&x, ctx, &at(4)));
    for (r, cx) in in1.field(3).repetitions::<Cx<'_>>().enumerate() {
        if let Some(id) = cx_identifier(&cx, ctx, &at(3).repetition(r + 1)) {
            payor
                .get_or_insert_with(Organization::default)
                .identifier
                .push(id);
        }
    }
    let addresses: Vec<_> = in1
        .field(5)
        .repetitions::<Xad<'_>>()
        .enumerate()
        .filter_map(|(r, x)| xad_address(&x, ctx, &at(5).repetition(r + 1)))
        .collect();
    match payor.as_mut() {
        Some(p) => p.address = addresses,
        None if !addresses.is_empty() => ctx.report(ReportKind::UnmappedField, at(5)),
        None => {}
    }

    let mut policy_holder = in1
        .field(11)
        .first::<Xon<'_>>()
        .and_then(|x| xon_organization(&x, ctx, &at(11)));
    for (r, cx) in in1.field(10).repetitions::<Cx<'_>>().enumerate() {
        let at_r = at(10).repetition(r + 1);
        if let Some(id) = cx_identifier(&cx, ctx, &at_r) {
            if text(cx.identifier_type_code()).as_deref() == Some("SN") {
                c.extension.push(subscriber_id(id.clone()));
            }
            policy_holder
                .get_or_insert_with(Organization::default)
                .identifier
                .push(id);
        }
    }

    let start = dtm::read_date(in1.field(12).first::<Text<'_>>(), ctx, at(12));
    let end = dtm::read_date(in1.field(13).first::<Text<'_>>(), ctx, at(13));
    if start.is_some() || end.is_some() {
        c.period = Some(Box::new(Period {
            start: start.map(Primitive::new),
            end: end.map(Primitive::new),
            ..Default::default()
        }));
    }

    c.type_ = in1
        .field(15)
        .first::<Cwe<'_>>()
        .and_then(|cwe| cwe_codeable_concept(&cwe, ctx, &at(15)))
        .map(Box::new);

    let relationship = in1.field(17).first::<Cwe<'_>>();
    let relationship_code = relationship.as_ref().and_then(|r| text(r.identifier()));
    if let Some(cwe) = &relationship {
        let mut cc = cwe_codeable_concept(cwe, ctx, &at(17));
        if let Some(code) = &relationship_code {
            if let Some(coding) = vocab_coding(&RELATIONSHIP, code, ctx, &at(17)) {
                cc.get_or_insert_with(CodeableConcept::default)
                    .coding
                    .push(coding);
            }
        }
        c.relationship = cc.map(Box::new);
    }
    let subscriber = if relationship_code.as_deref() == Some("SEL") {
        Some(Subscriber::Patient)
    } else {
        let names: Vec<_> = in1
            .field(16)
            .repetitions::<Xpn<'_>>()
            .enumerate()
            .filter_map(|(r, x)| xpn_human_name(&x, ctx, &at(16).repetition(r + 1)))
            .collect();
        (!names.is_empty()).then(|| {
            Subscriber::RelatedPerson(Box::new(RelatedPerson {
                name: names,
                relationship: c.relationship.as_deref().cloned().into_iter().collect(),
                ..Default::default()
            }))
        })
    };

    for (r, cx) in in1.field(49).repetitions::<Cx<'_>>().enumerate() {
        if let Some(id) = cx_identifier(&cx, ctx, &at(49).repetition(r + 1)) {
            c.extension.push(subscriber_id(id));
        }
    }

    for f in 1..=in1.field_count() {
        let field = in1.field(f);
        if !MAPPED_FIELDS.contains(&f) && field.repetition_count() > 0 && !field.is_null() {
            ctx.report(ReportKind::UnmappedField, at(f));
        }
    }
    CoverageParts {
        coverage: c,
        payor,
        policy_holder,
        subscriber,
    }
}

fn subscriber_id(id: Identifier) -> Extension {
    Extension {
        url: Some(SUBSCRIBER_ID.to_owned()),
        value: Some(ExtensionValue::Identifier(Box::new(id))),
        ..Default::default()
    }
}

const fn mapped(identifier: &'static str, fhir_attribute: &'static str) -> Row {
    mapped_in(FILE, identifier, fhir_attribute)
}

/// The spreadsheet rows of `IN1[Coverage]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped("IN1-2", "identifier"),
    mapped("IN1-4", "payor[1](Organization)"),
    mapped("IN1-5", "payer[1](Organization.address)"),
    mapped("IN1-10", "extension[1].url"),
    mapped("IN1-10", "extension[1].valueIdentifier"),
    mapped("IN1-10", "policyHolder([1]Organization.identifier)"),
    mapped("IN1-11", "policyHolder[1](Organization)"),
    mapped("IN1-12", "period.start"),
    mapped("IN1-13", "period.end"),
    mapped("IN1-15", "type"),
    mapped("IN1-16", "subscriber(RelatedPerson)"),
    mapped("IN1-16", "subscriber(Patient)"),
    mapped("IN1-17", "relationship"),
    mapped("IN1-49", "extension[1].url"),
    mapped("IN1-49", "extension[1].valueIdentifier"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use ehrkit_hl7v2::Message;

    #[test]
    fn payor_period_type_self_subscriber() {
        let profile = crate::Profile::generic();
        let msg = Message::parse(
            b"MSH|^~\\&|A|B|C|D|2026||ADT^A01|1|P|2.5.1\rIN1|1|PPO-GOLD^Gold PPO^BCBSPLANS|BCBS01^^^NAIC^NIIP|Blue Cross Blue Shield|PO BOX 1^^MILWAUKEE^WI^53201|||||||20260101|20261231||PPO^Preferred provider^L|DOE^JANE|SEL^Self^HL70063\r",
        )
        .unwrap();
        let mut ctx = Context::new(&profile);
        let parts = in1_coverage(&msg.segment("IN1", 1).unwrap(), 1, &mut ctx);
        let payor = parts.payor.unwrap();
        assert_eq!(
            payor.name.unwrap().value.as_deref(),
            Some("Blue Cross Blue Shield")
        );
        assert_eq!(payor.identifier.len(), 1);
        assert_eq!(payor.address.len(), 1);
        assert!(matches!(parts.subscriber, Some(Subscriber::Patient)));
        let c = parts.coverage;
        let rel = c.relationship.unwrap();
        assert_eq!(
            rel.coding
                .last()
                .unwrap()
                .code
                .as_ref()
                .unwrap()
                .value
                .as_deref(),
            Some("ONESELF")
        );
        assert_eq!(
            c.period.unwrap().end.unwrap().value.unwrap().as_str(),
            "2026-12-31"
        );
        assert_eq!(
            c.identifier[0].value.as_ref().unwrap().value.as_deref(),
            Some("PPO-GOLD")
        );
    }
}
