//! `XTN[ContactPoint]`: HL7 v2 XTN → FHIR ContactPoint.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-datatype-xtn-to-contactpoint.html>
//!
//! - `value`: for equipment type `Internet` / `X.400`, XTN.4 (or XTN.1 when XTN.4 is empty, a
//!   pre-v2.3 habit). Otherwise the number from its components as the IG composes it
//!   (`+`XTN.5 XTN.6 XTN.7 ` X`XTN.8, the parts present), else XTN.12, else XTN.1 as written.
//! - `system`: XTN.3 through the IG map `TelecommunicationEquipmentType` (HL7 table 0202);
//!   `email` when XTN.3 is empty and XTN.4 is valued.
//! - `use`: XTN.2 through `TelecommunicationUseCode` (HL7 table 0201).
//! - XTN.13 / XTN.14 → `period`; XTN.18 → `rank` (a positive integer, else reported).
//! - The country/area/local/extension extensions are not written (their parts are in `value`);
//!   XTN.9–XTN.11 and XTN.15–XTN.17 are reported when valued.

use std::num::NonZeroU32;

use ehrkit_fhir_model::codes::{ContactPointSystem, ContactPointUse};
use ehrkit_fhir_model::{ContactPoint, Period, Primitive};
use ehrkit_hl7v2::datatypes::Xtn;

use super::dtm::read_date_time;
use super::{has_text, report_past_last, report_unmapped, text, text_ref, Context};
use crate::v2_to_fhir::vocab::generated::{
    TELECOMMUNICATION_EQUIPMENT_TYPE, TELECOMMUNICATION_USE_CODE,
};
use crate::v2_to_fhir::vocab::{ConceptMap, Translation};
use crate::{DataProblem, Location, ProfileTranslation, ReportKind};

/// Converts one XTN repetition found at `at`. `None` when no address or number is valued.
pub fn xtn_contact_point(
    xtn: &Xtn<'_>,
    ctx: &mut Context<'_>,
    at: &Location,
) -> Option<ContactPoint> {
    if xtn.is_empty() || xtn.is_null() {
        return None;
    }
    let equipment = text_ref(xtn.telecommunication_equipment_type());
    let network = equipment
        .as_deref()
        .is_some_and(|e| e.eq_ignore_ascii_case("Internet") || e == "X.400");
    let value = if network {
        text(xtn.communication_address()).or_else(|| text(xtn.telephone_number()))
    } else if let Some(local) = text(xtn.local_number()) {
        let mut v = String::new();
        if let Some(cc) = text(xtn.country_code()) {
            v.push('+');
            v.push_str(&cc);
            v.push(' ');
        }
        if let Some(area) = text(xtn.area_city_code()) {
            v.push_str(&area);
            v.push(' ');
        }
        v.push_str(&local);
        if let Some(ext) = text(xtn.extension()) {
            v.push_str(" X");
            v.push_str(&ext);
        }
        Some(v)
    } else {
        text(xtn.unformatted_telephone_number())
            .or_else(|| text(xtn.telephone_number()))
            .or_else(|| text(xtn.communication_address()))
    };
    let value = value?;
    let mut cp = ContactPoint {
        value: Some(Primitive::new(value)),
        ..Default::default()
    };
    // The IG's equipment map gives `CP` (cellular phone) the *use* `mobile`, not a system: a
    // mobile phone is system `phone`, use `mobile` (the use XTN.2 gives then yields to it).
    let mut mobile = false;
    cp.system = match &equipment {
        Some(code) => {
            let target = translate(
                &TELECOMMUNICATION_EQUIPMENT_TYPE,
                code,
                ctx,
                &at.clone().component(3),
            );
            match target {
                Some(t) if ContactPointUse::from_code(t) == Some(ContactPointUse::Mobile) => {
                    mobile = true;
                    Some(ContactPointSystem::Phone)
                }
                Some(t) => ContactPointSystem::from_code(t),
                None => None,
            }
        }
        None if has_text(xtn.communication_address()) => Some(ContactPointSystem::Email),
        None => None,
    }
    .map(Primitive::new);
    if let Some(code) = text_ref(xtn.telecommunication_use_code()) {
        let given = translate(
            &TELECOMMUNICATION_USE_CODE,
            &code,
            ctx,
            &at.clone().component(2),
        )
        .and_then(ContactPointUse::from_code);
        if mobile
            && given
                .as_ref()
                .is_some_and(|u| *u != ContactPointUse::Mobile)
        {
            // One use only: `mobile` is kept, XTN.2's use is not carried.
            ctx.report(ReportKind::UnmappedComponent, at.clone().component(2));
        } else {
            cp.use_ = given.map(Primitive::new);
        }
    }
    if mobile {
        cp.use_ = Some(Primitive::new(ContactPointUse::Mobile));
    }
    let start = read_date_time(
        xtn.effective_start_date().and_then(|t| t.time()),
        ctx,
        at.clone().component(13),
    );
    let end = read_date_time(
        xtn.expiration_date().and_then(|t| t.time()),
        ctx,
        at.clone().component(14),
    );
    if start.is_some() || end.is_some() {
        cp.period = Some(Box::new(Period {
            start: start.map(Primitive::new),
            end: end.map(Primitive::new),
            ..Default::default()
        }));
    }
    if let Some(rank) = text(xtn.preference_order()) {
        match rank.parse::<u32>().ok().and_then(NonZeroU32::new) {
            Some(r) => cp.rank = Some(Primitive::new(r)),
            None => ctx.report(
                ReportKind::DataQuality(DataProblem::InvalidValue),
                at.clone().component(18),
            ),
        }
    }
    // Components past the last one written are absent: one scan, not one per number.
    let count = xtn.component_count();
    report_unmapped(
        ctx,
        at,
        [9, 10, 11, 15, 16, 17].map(|n| (n, n <= count && has_text(xtn.component(n)))),
    );
    report_past_last(ctx, at, xtn.component_count(), 18, |n| xtn.component(n));
    Some(cp)
}

/// The FHIR code for `code` through `map` (profile overrides first); a miss (not listed, listed
/// without a FHIR code, or conditional) is reported at `at`.
pub(crate) fn translate<'p>(
    map: &ConceptMap,
    code: &str,
    ctx: &mut Context<'p>,
    at: &Location,
) -> Option<&'p str> {
    // Borrowed from the profile or the generated map: callers read it as an enum code.
    let profile: &'p crate::Profile = ctx.profile;
    let found = match profile.translate(map, code) {
        ProfileTranslation::Override(o) => Some(o.code.as_str()),
        ProfileTranslation::Ig(Translation::Mapped(c)) => Some(c.code),
        _ => None,
    };
    if found.is_none() {
        ctx.report(ReportKind::VocabularyMiss { map: map.name }, at.clone());
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehrkit_hl7v2::Delimiters;

    fn run(raw: &[u8]) -> (Option<ContactPoint>, Vec<String>) {
        let profile = crate::Profile::generic();
        let mut ctx = Context::new(&profile);
        let cp = xtn_contact_point(
            &Xtn::parse(raw, &Delimiters::default()),
            &mut ctx,
            &Location::segment("PID", 1).field(13).repetition(1),
        );
        (
            cp,
            ctx.report.entries().iter().map(|e| e.to_string()).collect(),
        )
    }

    #[test]
    fn phone_from_components() {
        let (cp, report) = run(b"^PRN^PH^^1^608^5551212^45^^^^^^^^^^2");
        let cp = cp.unwrap();
        assert_eq!(
            cp.value.unwrap().value.as_deref(),
            Some("+1 608 5551212 X45")
        );
        assert_eq!(cp.system.unwrap().value, Some(ContactPointSystem::Phone));
        assert_eq!(cp.use_.unwrap().value, Some(ContactPointUse::Home));
        assert_eq!(cp.rank.unwrap().value.map(|r| r.get()), Some(2));
        assert!(report.is_empty(), "{report:?}");
    }

    #[test]
    fn email_and_old_form() {
        let (cp, _) = run(b"^NET^Internet^jane@example.org");
        let cp = cp.unwrap();
        assert_eq!(cp.value.unwrap().value.as_deref(), Some("jane@example.org"));
        assert_eq!(cp.system.unwrap().value, Some(ContactPointSystem::Email));
        // NET has no FHIR use in the IG map: reported, not guessed.
        let (_, report) = run(b"^NET^Internet^jane@example.org");
        assert_eq!(
            report,
            ["PID[1]-13(1).2: code not in the IG map TelecommunicationUseCode"]
        );
        let (cp, _) = run(b"(608)555-1212");
        assert_eq!(
            cp.unwrap().value.unwrap().value.as_deref(),
            Some("(608)555-1212")
        );
        let (cp, _) = run(b"^^^jane@example.org");
        assert_eq!(
            cp.unwrap().system.unwrap().value,
            Some(ContactPointSystem::Email)
        );
    }

    #[test]
    fn bad_rank_is_reported() {
        let (cp, report) = run(b"^PRN^PH^^^^5551212^^^^^^^^^^^0");
        assert!(cp.unwrap().rank.is_none());
        assert_eq!(
            report,
            ["PID[1]-13(1).18: value not valid for its FHIR element"]
        );
    }
}
