//! Quirks applied at the end of `PV1[Encounter]`: repeated providers, visit and account
//! numbers, Z-segment extensions.

use ehrkit_fhir_model::resources::{Encounter, Practitioner};
use ehrkit_fhir_model::{HumanName, Primitive};
use ehrkit_hl7v2::datatypes::Cx;
use ehrkit_hl7v2::Segment;

use super::{v2_0203, zsegments, ZTarget};
use crate::v2_to_fhir::datatype::{cx_identifier::cx_identifier, text, Context};
use crate::{Location, Quirk};

/// Applies the Encounter quirks of the profile to `e` and its participants' `practitioners`
/// (aligned with `e.participant`), converted from `pv1` (the `occurrence`-th PV1).
pub(crate) fn encounter(
    pv1: &Segment<'_>,
    occurrence: usize,
    e: &mut Encounter,
    practitioners: &mut Vec<(Practitioner, Location)>,
    ctx: &mut Context<'_>,
) {
    let profile = ctx.profile;
    if profile.has(Quirk::MergeRepeatedProvider) {
        merge_repeated(e, practitioners);
    }
    if profile.has(Quirk::VisitNumberSystem) {
        if let Some(system) = &profile.v2.visit_number_system {
            let reps: Vec<Cx<'_>> = pv1.field(19).repetitions::<Cx<'_>>().collect();
            let mut k = 0;
            for cx in reps {
                if text(cx.id_number()).is_none() {
                    continue;
                }
                if let Some(id) = e.identifier.get_mut(k) {
                    if cx.assigning_authority().is_none() && id.system.is_none() {
                        id.system = Some(Primitive::new(system.clone()));
                    }
                }
                k += 1;
            }
        }
    }
    if profile.has(Quirk::AccountNumberOnEncounter) {
        let msg = pv1.message();
        if let Some(pid) = msg.segment("PID", 1) {
            if let Some(cx) = pid.field(18).first::<Cx<'_>>() {
                let at = Location::segment("PID", 1).field(18);
                if let Some(mut id) = cx_identifier(&cx, ctx, &at) {
                    if id.system.is_none() {
                        id.system = profile.v2.account_number_system.clone().map(Primitive::new);
                    }
                    id.type_ = Some(Box::new(v2_0203("AN")));
                    e.identifier.push(id);
                }
            }
        }
    }
    if profile.has(Quirk::ZSegmentExtensions) && occurrence == 1 {
        zsegments::apply(pv1.message(), ZTarget::Encounter, &mut e.extension, ctx);
    }
}

/// Two Practitioners from repetitions of one XCN field are the same provider: the first has a
/// name, and the second has none or the same family and first given name.
pub(crate) fn same_person(a: &Practitioner, b: &Practitioner) -> bool {
    let key = |n: &[HumanName]| {
        n.first().map(|n| {
            (
                n.family.as_ref().and_then(|f| f.value.clone()),
                n.given.first().and_then(|g| g.value.clone()),
            )
        })
    };
    !a.name.is_empty() && (b.name.is_empty() || key(&a.name) == key(&b.name))
}

/// [`Quirk::MergeRepeatedProvider`]: consecutive participants of the same type whose
/// Practitioners are the same person (equal names, or the later one without a name) become
/// one, with both identifiers.
fn merge_repeated(e: &mut Encounter, practitioners: &mut Vec<(Practitioner, Location)>) {
    let mut i = 1;
    while i < practitioners.len() && i < e.participant.len() {
        let same_field = {
            let (a, b) = (&practitioners[i - 1].1, &practitioners[i].1);
            a.segment == b.segment && a.occurrence == b.occurrence && a.field == b.field
        };
        let same_person = same_person(&practitioners[i - 1].0, &practitioners[i].0);
        if same_field && same_person {
            let (p, _) = practitioners.remove(i);
            e.participant.remove(i);
            let keep = &mut practitioners[i - 1].0;
            for id in p.identifier {
                if !keep.identifier.contains(&id) {
                    keep.identifier.push(id);
                }
            }
        } else {
            i += 1;
        }
    }
}
