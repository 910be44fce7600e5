//! `MRG` → the merged (non-surviving) FHIR Patient of a merge or identifier change.
//!
//! The IG 1.0.0 has no `MRG[Patient]` map (its only MRG map is `MRG[Account]`,
//! [`super::mrg_account`]) and no message map for ADT^A39/A40/A47. Issue 12 asks for the FHIR
//! way of saying "this record was merged into that one" (R4 `Patient.link`, the semantics of
//! FHIR's patient `$merge`): the surviving Patient (the PID) gets `link` type `replaces`
//! pointing here; this Patient gets `link` type `replaced-by` pointing there (the message map
//! sets both) and `active` `false`. Microsoft's FHIR-Converter writes a `Linkage` instead
//! (source / historical), with no Patient at all: a divergence listed in the crate README.
//!
//! - MRG-1 (prior patient identifier list, `CX`) and MRG-4 (prior patient id, deprecated) →
//!   `identifier`: the business key, so the merged Patient gets the id every earlier message
//!   from the same sender gave that record.
//! - MRG-7 (prior patient name, `XPN`) → `name`.
//! - MRG-3 (prior account number, `MRG[Account]`), MRG-2, MRG-5, MRG-6 (prior alternate id,
//!   visit numbers) are reported when valued.

use ehrkit_fhir_model::resources::Patient;
use ehrkit_fhir_model::{Identifier, Primitive};
use ehrkit_hl7v2::datatypes::{Cx, Xpn};
use ehrkit_hl7v2::Segment;

use crate::v2_to_fhir::datatype::{
    cx_identifier::cx_identifier, xpn_human_name::xpn_human_name, Context,
};
use crate::{DataProblem, Location, ReportKind};

/// Fields this map reads.
const MAPPED_FIELDS: &[usize] = &[1, 4, 7];

/// MRG-1 and MRG-4: the identifiers the record had before the merge or change. None at all is
/// reported at MRG-1 (required: without it the prior record cannot be found).
pub fn mrg_prior_identifiers(
    mrg: &Segment<'_>,
    occurrence: usize,
    ctx: &mut Context<'_>,
) -> Vec<Identifier> {
    let at = |field: usize| Location::segment("MRG", occurrence).field(field);
    let mut ids = Vec::new();
    for f in [1, 4] {
        for (r, cx) in mrg.field(f).repetitions::<Cx<'_>>().enumerate() {
            ids.extend(cx_identifier(&cx, ctx, &at(f).repetition(r + 1)));
        }
    }
    if ids.is_empty() {
        ctx.report(ReportKind::DataQuality(DataProblem::MissingRequired), at(1));
    }
    ids
}

/// The merged Patient of the `occurrence`-th MRG (no id and no link yet), and reports the
/// fields it does not carry.
pub fn mrg_patient(mrg: &Segment<'_>, occurrence: usize, ctx: &mut Context<'_>) -> Patient {
    let at = |field: usize| Location::segment("MRG", occurrence).field(field);
    let mut p = Patient {
        identifier: mrg_prior_identifiers(mrg, occurrence, ctx),
        active: Some(Primitive::new(false)),
        ..Default::default()
    };
    for (r, xpn) in mrg.field(7).repetitions::<Xpn<'_>>().enumerate() {
        p.name
            .extend(xpn_human_name(&xpn, ctx, &at(7).repetition(r + 1)));
    }
    report_other_fields(mrg, occurrence, MAPPED_FIELDS, ctx);
    p
}

/// Reports every valued field of `mrg` not in `read`.
pub fn report_other_fields(
    mrg: &Segment<'_>,
    occurrence: usize,
    read: &[usize],
    ctx: &mut Context<'_>,
) {
    for f in 1..=mrg.field_count() {
        let field = mrg.field(f);
        if !read.contains(&f) && field.repetition_count() > 0 && !field.is_null() {
            ctx.report(
                ReportKind::UnmappedField,
                Location::segment("MRG", occurrence).field(f),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehrkit_hl7v2::Message;

    fn report(msg: &[u8]) -> (Patient, Vec<String>) {
        let profile = crate::Profile::generic();
        let msg = Message::parse(msg).unwrap();
        let mut ctx = Context::new(&profile);
        let p = mrg_patient(&msg.segment("MRG", 1).unwrap(), 1, &mut ctx);
        (
            p,
            ctx.report.entries().iter().map(|e| e.to_string()).collect(),
        )
    }

    #[test]
    fn merged_patient_from_prior_identifiers_and_name() {
        let (p, r) = report(
            b"MSH|^~\\&|A|B|C|D|2026||ADT^A40|1|P|2.5.1\rMRG|OLD1^^^SSA~OLD2^^^SSA|||||PV9|DOE^JON\r",
        );
        assert_eq!(p.identifier.len(), 2);
        assert_eq!(p.active.unwrap().value, Some(false));
        assert_eq!(p.name.len(), 1);
        assert_eq!(r, ["MRG[1]-6: field not mapped"]);
    }

    #[test]
    fn no_prior_identifier_is_reported() {
        let (p, r) = report(b"MSH|^~\\&|A|B|C|D|2026||ADT^A40|1|P|2.5.1\rMRG||||||||DOE^JON\r");
        assert!(p.identifier.is_empty());
        assert!(
            r.contains(&"MRG[1]-1: required value absent".to_owned()),
            "{r:?}"
        );
    }
}
