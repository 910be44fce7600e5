//! `XPN[HumanName]`: HL7 v2 XPN → FHIR HumanName.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-datatype-xpn-to-humanname.html>
//!
//! - XPN.1 (FN) → `family` (the surname, FN.1).
//! - XPN.2, XPN.3 → `given` (in that order).
//! - XPN.4, XPN.6, XPN.14 → `suffix` (in that order); XPN.5 → `prefix`.
//! - XPN.7 → `use` through the IG map `NameType` (HL7 table 0200); a code the map does not list,
//!   or lists without a FHIR `use` (`C` adopted, `F` father's, …), is left out of `use` and
//!   reported as a vocabulary miss.
//! - XPN.12 / XPN.13 (DTM) → `period.start` / `period.end` (XPN.10, the deprecated DR, applies
//!   only when neither is valued: not read yet, reported).
//! - XPN.8–XPN.11 and XPN.15 are reported when valued (XPN.11's assembly-order extension and
//!   XPN.15's nickname name come with the segment maps).

use ehrkit_fhir_model::codes::NameUse;
use ehrkit_fhir_model::{HumanName, Period, Primitive};
use ehrkit_hl7v2::datatypes::Xpn;

use super::dtm::read_date_time;
use super::{has_text, report_past_last, report_unmapped, text, text_ref, Context};
use crate::v2_to_fhir::vocab::{generated::NAME_TYPE, Translation};
use crate::{Location, ProfileTranslation, ReportKind};

/// Converts one XPN repetition found at `at`. `None` when no name part is valued.
pub fn xpn_human_name(xpn: &Xpn<'_>, ctx: &mut Context<'_>, at: &Location) -> Option<HumanName> {
    if xpn.is_empty() || xpn.is_null() {
        return None;
    }
    let family = text(xpn.surname());
    let given: Vec<String> = [
        text(xpn.given_name()),
        text(xpn.second_and_further_given_names_or_initials_thereof()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let suffix: Vec<String> = [
        text(xpn.suffix()),
        text(xpn.degree()),
        text(xpn.professional_suffix()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let prefix: Vec<String> = text(xpn.prefix()).into_iter().collect();
    if family.is_none() && given.is_empty() && suffix.is_empty() && prefix.is_empty() {
        return None;
    }
    let mut name = HumanName {
        family: family.map(Primitive::new),
        given: given.into_iter().map(Primitive::new).collect(),
        suffix: suffix.into_iter().map(Primitive::new).collect(),
        prefix: prefix.into_iter().map(Primitive::new).collect(),
        ..Default::default()
    };
    if let Some(code) = text_ref(xpn.name_type_code()) {
        name.use_ = name_use(&code, ctx, &at.clone().component(7)).map(Primitive::new);
    }
    let start = read_date_time(
        xpn.effective_date().and_then(|t| t.time()),
        ctx,
        at.clone().component(12),
    );
    let end = read_date_time(
        xpn.expiration_date().and_then(|t| t.time()),
        ctx,
        at.clone().component(13),
    );
    if start.is_some() || end.is_some() {
        name.period = Some(Box::new(Period {
            start: start.map(Primitive::new),
            end: end.map(Primitive::new),
            ..Default::default()
        }));
    }
    // FN.2–FN.5 (own surname prefix, own surname, partner's) are not carried by `family`.
    let fn_parts = xpn
        .family_name()
        .is_some_and(|f| (2..=5).any(|n| has_text(f.component(n))));
    report_unmapped(ctx, at, [(1, fn_parts)]);
    // Components past the last one written are absent: one scan, not one per number.
    let count = xpn.component_count();
    report_unmapped(
        ctx,
        at,
        [8, 9, 10, 11, 15].map(|n| (n, n <= count && has_text(xpn.component(n)))),
    );
    report_past_last(ctx, at, xpn.component_count(), 15, |n| xpn.component(n));
    Some(name)
}

fn name_use(code: &str, ctx: &mut Context<'_>, at: &Location) -> Option<NameUse> {
    let target = match ctx.profile.translate(&NAME_TYPE, code) {
        ProfileTranslation::Override(o) => Some(o.code.as_str()),
        ProfileTranslation::Ig(Translation::Mapped(c)) => Some(c.code),
        _ => None,
    };
    let found = target.and_then(NameUse::from_code);
    if found.is_none() {
        ctx.report(
            ReportKind::VocabularyMiss {
                map: NAME_TYPE.name,
            },
            at.clone(),
        );
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehrkit_hl7v2::Delimiters;

    fn run(raw: &[u8], profile: &crate::Profile) -> (Option<HumanName>, Vec<String>) {
        let mut ctx = Context::new(profile);
        let xpn = Xpn::parse(raw, &Delimiters::default());
        let n = xpn_human_name(
            &xpn,
            &mut ctx,
            &Location::segment("PID", 1).field(5).repetition(1),
        );
        (
            n,
            ctx.report.entries().iter().map(|e| e.to_string()).collect(),
        )
    }

    fn strs(v: &[Primitive<String>]) -> Vec<&str> {
        v.iter().filter_map(|p| p.value.as_deref()).collect()
    }

    #[test]
    fn parts_and_use() {
        let (n, report) = run(
            br"O\S\BRIEN^ANNA^MARIE^JR^DR^PHD^L",
            &crate::Profile::generic(),
        );
        let n = n.unwrap();
        assert_eq!(n.family.unwrap().value.as_deref(), Some("O^BRIEN"));
        assert_eq!(strs(&n.given), ["ANNA", "MARIE"]);
        assert_eq!(strs(&n.suffix), ["JR", "PHD"]);
        assert_eq!(strs(&n.prefix), ["DR"]);
        assert_eq!(n.use_.unwrap().value, Some(NameUse::Official));
        assert!(report.is_empty(), "{report:?}");
    }

    #[test]
    fn period_uses_the_profile_zone() {
        let ny = crate::Profile::generic().time_zone(chrono_tz::America::New_York);
        let (n, _) = run(b"DOE^JANE^^^^^M^^^^^200001011200", &ny);
        let start = n.unwrap().period.unwrap().start.unwrap().value.unwrap();
        assert_eq!(start.as_str(), "2000-01-01T12:00:00-05:00");
    }

    #[test]
    fn codes_without_a_fhir_use_are_reported() {
        let (n, report) = run(b"DOE^JOHN^^^^^C", &crate::Profile::generic());
        assert!(n.unwrap().use_.is_none());
        assert_eq!(report, ["PID[1]-5(1).7: code not in the IG map NameType"]);
    }

    #[test]
    fn unmapped_parts_are_reported() {
        let (_, report) = run(
            b"VAN DER BERG&VAN&BERG^ANNA^^^^^^A",
            &crate::Profile::generic(),
        );
        assert_eq!(
            report,
            [
                "PID[1]-5(1).1: component not mapped",
                "PID[1]-5(1).8: component not mapped"
            ]
        );
        assert_eq!(run(b"^^^^^^L", &crate::Profile::generic()).0, None);
    }
}
