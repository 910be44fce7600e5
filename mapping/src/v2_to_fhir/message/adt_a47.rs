//! `ADT_A47`: HL7 v2 change patient identifier list → FHIR Bundle.
//!
//! The IG 1.0.0 has no message map for ADT^A47; Microsoft's FHIR-Converter (template
//! `ADT_A47`) writes a `Linkage` between the new (PID-3) and the prior (MRG-1) identifier. Here
//! the record stays one Patient, as the event means ("the identifier changed", not "two
//! records became one"):
//!
//! - the Patient is `PID[Patient]` (the new identifiers) plus MRG-1/MRG-4's prior identifiers
//!   with `use` `old`;
//! - it is **keyed by the prior identifiers**: it keeps the id earlier messages from this sender
//!   gave it, and a transaction updates it where it is (`PUT Patient?identifier=<prior>`)
//!   instead of creating a second record under the new identifier;
//! - a PV1 gives an Encounter (status `unknown`); EVN gives a Provenance.
//!
//! A group without MRG is an error naming it. MRG fields other than MRG-1/MRG-4 (MRG-3 prior
//! account, MRG-7 prior name, …) are reported.

use ehrkit_fhir_model::Reference;
use ehrkit_hl7v2::Message;

use super::adt_a01::{convert_group, groups, missing_pid, provenance, PatientKey, MAPPED};
use super::{finish, report_other_segments};
use crate::v2_to_fhir::convert::{ConvertError, Out};
use crate::v2_to_fhir::datatype::Context;
use crate::v2_to_fhir::segment::mrg_patient::{mrg_prior_identifiers, report_other_fields};
use crate::{Location, ReportKind};

/// Converts an ADT^A47 message.
pub(crate) fn convert(
    msg: &Message<'_>,
    event: &str,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Result<(), ConvertError> {
    let groups = groups(msg);
    if groups.is_empty() {
        return Err(missing_pid());
    }
    let mut focus: Vec<Reference> = Vec::new();
    for g in &groups {
        let Some(n) = g.first("MRG") else {
            return Err(ConvertError::MissingSegment {
                segment: "MRG",
                at: Location::segment("PID", g.pid),
            });
        };
        let prior = match msg.segment("MRG", n) {
            Some(mrg) => {
                let ids = mrg_prior_identifiers(&mrg, n, ctx);
                report_other_fields(&mrg, n, &[1, 4], ctx);
                ids
            }
            None => Vec::new(),
        };
        for extra in g.all("MRG").skip(1) {
            ctx.report(ReportKind::UnmappedSegment, Location::segment("MRG", extra));
        }
        let key = if prior.is_empty() {
            PatientKey::Own
        } else {
            PatientKey::Prior(prior)
        };
        focus.extend(convert_group(msg, g, event, key, ctx, out).focus());
    }
    provenance(msg, event, &focus, ctx, out);
    let mapped: Vec<&str> = MAPPED.iter().chain(["MRG"].iter()).copied().collect();
    report_other_segments(msg, &mapped, ctx);
    finish(msg, focus, ctx, out);
    Ok(())
}
