//! HL7 v2 vendor quirks (issue 13): the logic behind each [`Quirk`], called from small hooks in
//! the IG maps, and the settings they read ([`V2Settings`], `[v2]` in a profile's TOML).
//!
//! Nothing here matches on a vendor name: every function asks the profile whether a quirk is
//! on ([`Profile::has`]) and reads its settings. The hooks:
//!
//! - `CX[Identifier]` / `XCN[Practitioner]` type codes → [`identifier_type_code`]
//!   ([`Quirk::MrnTypeCode`], [`Quirk::AliasPoolTypes`]);
//! - `EI` systems → [`ei_system`] ([`Quirk::PlacerOrderNamespace`]);
//! - `CWE` codings → [`coding_system`], [`codeable_concept`] ([`Quirk::LocalCodeSystem`],
//!   [`Quirk::DictionaryMnemonics`]);
//! - end of `PID[Patient]` → [`patient::patient`]; end of `PV1[Encounter]` →
//!   [`encounter::encounter`]; fields a quirk reads are not reported → [`consumes_field`];
//! - Z-segments → [`z_segment_handled`] ([`Quirk::ZSegmentExtensions`]);
//! - ORU result groups → [`observations::results`] ([`Quirk::JoinTextLines`],
//!   [`Quirk::OrderQuestions`]);
//! - the whole message, before conversion → [`message::allowed_only`]
//!   ([`Quirk::FieldAllowList`]) and [`message::check_time_zone`]
//!   ([`Quirk::RequireSourceTimeZone`]).

pub(crate) mod encounter;
pub(crate) mod message;
pub(crate) mod observations;
pub(crate) mod patient;
mod settings;
mod zsegments;

use std::borrow::Cow;

use ehrkit_fhir_model::{CodeableConcept, Coding, Primitive};
use ehrkit_hl7v2::Segment;

pub use settings::{V2Settings, ZField, ZTarget, ZValue};
pub(crate) use zsegments::z_segment_handled;

use crate::v2_to_fhir::datatype::Context;
use crate::{Location, Profile, Quirk};

/// CX.5 / XCN.13 as the IG map should see it: `MRN` → `MR` ([`Quirk::MrnTypeCode`]), alias
/// pool types through [`V2Settings::alias_types`] ([`Quirk::AliasPoolTypes`]).
pub(crate) fn identifier_type_code<'c>(profile: &Profile, code: &'c str) -> Cow<'c, str> {
    if profile.has(Quirk::AliasPoolTypes) {
        if let Some(c) = profile.v2.alias_types.get(code) {
            return Cow::Owned(c.clone());
        }
    }
    if profile.has(Quirk::MrnTypeCode) && code == "MRN" {
        return Cow::Borrowed("MR");
    }
    Cow::Borrowed(code)
}

/// The HL7 table code for `code` as [`Quirk::CodeValueDisplays`] reads it: a display the
/// profile lists for the IG map `map` becomes its code; anything else stays.
pub(crate) fn display_code<'c>(profile: &'c Profile, map: &str, code: &'c str) -> &'c str {
    if !profile.has(Quirk::CodeValueDisplays) {
        return code;
    }
    profile
        .v2
        .display_codes
        .get(map)
        .and_then(|m| m.get(code))
        .map_or(code, String::as_str)
}

/// The system of an EI whose assigning authority namespace is `namespace`, when
/// [`Quirk::PlacerOrderNamespace`] claims it.
pub(crate) fn ei_system(profile: &Profile, namespace: Option<&str>) -> Option<String> {
    if !profile.has(Quirk::PlacerOrderNamespace) {
        return None;
    }
    let ns = namespace?;
    if profile.v2.order_namespaces.iter().any(|n| n == ns) {
        profile.v2.order_id_system.clone()
    } else {
        None
    }
}

/// The system of a CWE coding whose coding system name is `name` (none for a bare mnemonic),
/// when a quirk decides it: [`Quirk::LocalCodeSystem`] for local names,
/// [`Quirk::DictionaryMnemonics`] for a code without a system. `at` is the coding's system
/// component (its segment and field name the dictionary).
pub(crate) fn coding_system(
    profile: &Profile,
    name: Option<&str>,
    has_oid: bool,
    at: &Location,
) -> Option<String> {
    if has_oid {
        return None;
    }
    match name {
        Some(n) if profile.has(Quirk::LocalCodeSystem) && is_local_name(profile, n) => {
            profile.v2.local_code_system.clone()
        }
        None if profile.has(Quirk::DictionaryMnemonics) => {
            let field = at.field?;
            let base = profile.v2.dictionary_system_base.as_deref()?;
            Some(format!("{base}{}-{field}", at.segment))
        }
        _ => None,
    }
}

fn is_local_name(profile: &Profile, name: &str) -> bool {
    let user_defined = name.len() == 5 && name.starts_with("99");
    name == "L"
        || name == "LOCAL"
        || user_defined
        || profile.v2.local_coding_systems.iter().any(|n| n == name)
}

/// [`Quirk::DictionaryMnemonics`]: adds the standard coding the site dictionary gives for a
/// mnemonic coding of the field at `at` (the mnemonic's own coding stays).
pub(crate) fn codeable_concept(cc: &mut CodeableConcept, ctx: &Context<'_>, at: &Location) {
    let profile = ctx.profile;
    if !profile.has(Quirk::DictionaryMnemonics) {
        return;
    }
    let Some(field) = at.field else { return };
    let Some(map) = profile
        .v2
        .dictionaries
        .get(&format!("{}-{field}", at.segment))
    else {
        return;
    };
    let Some(base) = profile.v2.dictionary_system_base.as_deref() else {
        return;
    };
    let mut added = Vec::new();
    for c in &cc.coding {
        let in_dictionary = c
            .system
            .as_ref()
            .and_then(|s| s.value.as_deref())
            .is_some_and(|s| s.starts_with(base));
        let code = c.code.as_ref().and_then(|c| c.value.as_deref());
        if let (true, Some(target)) = (in_dictionary, code.and_then(|k| map.get(k))) {
            added.push(Coding {
                system: Some(Primitive::new(target.system.clone())),
                code: Some(Primitive::new(target.code.clone())),
                display: target.display.clone().map(Primitive::new),
                ..Default::default()
            });
        }
    }
    cc.coding.extend(added);
}

/// [`Quirk::MergeRepeatedProvider`] for single-provider XCN fields (ORC-12, OBR-16): the
/// later repetitions of `field` (at `at`) that name the same provider as `first` (the
/// Practitioner of repetition 1) add their identifiers to it.
pub(crate) fn merge_provider_repeats(
    field: &ehrkit_hl7v2::Field<'_>,
    first: &mut ehrkit_fhir_model::resources::Practitioner,
    ctx: &mut Context<'_>,
    at: &Location,
) {
    if !ctx.profile.has(Quirk::MergeRepeatedProvider) {
        return;
    }
    for r in 2..=field.repetition_count() {
        let Some(xcn) = field.get::<ehrkit_hl7v2::datatypes::Xcn<'_>>(r) else {
            break;
        };
        let Some(p) = crate::v2_to_fhir::datatype::xcn_practitioner::xcn_practitioner(
            &xcn,
            ctx,
            &at.clone().repetition(r),
        ) else {
            break;
        };
        if !encounter::same_person(first, &p) {
            break;
        }
        for id in p.identifier {
            if !first.identifier.contains(&id) {
                first.identifier.push(id);
            }
        }
    }
}

/// True when a quirk reads field `field` of `seg`, so the IG map must not report it as
/// unmapped: PID-10 ([`Quirk::RaceCodeMap`]), PID-18 ([`Quirk::AccountNumberOnEncounter`],
/// when the message has a PV1 to carry it), OBX-29 ([`Quirk::OrderQuestions`]).
pub(crate) fn consumes_field(profile: &Profile, seg: &Segment<'_>, field: usize) -> bool {
    match (seg.name(), field) {
        ("PID", 10) => profile.has(Quirk::RaceCodeMap),
        ("PID", 18) => {
            profile.has(Quirk::AccountNumberOnEncounter)
                && seg.message().segment("PV1", 1).is_some()
        }
        ("OBX", 29) => profile.has(Quirk::OrderQuestions),
        _ => false,
    }
}

/// A `v2-0203` identifier type.
pub(crate) fn v2_0203(code: &str) -> CodeableConcept {
    CodeableConcept::from_coding(Coding::with_code(
        "http://terminology.hl7.org/CodeSystem/v2-0203",
        code,
    ))
}

/// Parses `SEG-n` (`ZPD-2`): a three-character segment id and a field number ≥ 1.
pub(crate) fn field_ref(s: &str) -> Option<(&str, usize)> {
    let (seg, n) = s.split_once('-')?;
    let n: usize = n.parse().ok()?;
    (is_segment_id(seg) && (1..=999).contains(&n)).then_some((seg, n))
}

/// A three-character segment id of upper-case letters and digits, starting with a letter.
pub(crate) fn is_segment_id(s: &str) -> bool {
    s.len() == 3
        && s.as_bytes()[0].is_ascii_uppercase()
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v2_to_fhir::{Converter, Options};
    use ehrkit_hl7v2::Message;

    fn run(profile: Profile, msg: &str) -> (serde_json::Value, Vec<String>) {
        let msg = Message::parse(msg.as_bytes()).unwrap();
        let c = Converter::new(profile, Options::default())
            .convert(&msg)
            .unwrap();
        (
            serde_json::from_str(&ehrkit_fhir_model::to_string(&c.bundle)).unwrap(),
            c.report.entries().iter().map(|e| e.to_string()).collect(),
        )
    }

    fn resources<'a>(b: &'a serde_json::Value, ty: &str) -> Vec<&'a serde_json::Value> {
        b["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["resource"])
            .filter(|r| r["resourceType"] == ty)
            .collect()
    }

    #[test]
    fn field_references() {
        assert_eq!(field_ref("ZPD-2"), Some(("ZPD", 2)));
        assert_eq!(field_ref("PID-0"), None);
        assert_eq!(field_ref("pid-3"), None);
        assert_eq!(field_ref("PID3"), None);
        assert!(is_segment_id("ZC1") && !is_segment_id("1AB") && !is_segment_id("PIDX"));
    }

    #[test]
    fn different_providers_in_one_field_stay_two() {
        let msg = "MSH|^~\\&|EPIC|GHH|R|F|20260301123000-0600||ADT^A01|1|P|2.5\rPID|1||9^^^EPI^MR||DOE^J\rPV1|1|I|||||1^WELBY^MARCUS^^^^^^PROVID~2^KILDARE^JAMES^^^^^^PROVID\r";
        let (b, _) = run(Profile::epic(), msg);
        assert_eq!(resources(&b, "Practitioner").len(), 2);
        assert_eq!(
            resources(&b, "Encounter")[0]["participant"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn an_ordering_provider_repeated_with_its_npi_is_one_practitioner() {
        let msg = "MSH|^~\\&|EPIC|GHH|R|F|20260301123000-0600||ORU^R01|1|P|2.5\rPID|1||9^^^EPI^MR||DOE^J\rORC|RE|O1^EPC|F1^EPC||CM|||||||1234^WELBY^MARCUS^^^^^^PROVID~1234567890^WELBY^MARCUS^^^^^^NPI\rOBR|1|O1^EPC|F1^EPC|2345-7^Glucose^LN|||20260301080000-0600||||||||1234^WELBY^MARCUS^^^^^^PROVID~1234567890^WELBY^MARCUS^^^^^^NPI||||||20260301100000-0600|||F\rOBX|1|NM|2345-7^Glucose^LN||95|mg/dL^mg/dL^UCUM|||||F\r";
        let ids = |p: Profile| {
            let (b, _) = run(p, msg);
            resources(&b, "Practitioner")
                .iter()
                .map(|p| p["identifier"].as_array().map_or(0, Vec::len))
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(Profile::generic()), [1]);
        assert_eq!(ids(Profile::epic()), [2]);
    }

    #[test]
    fn allow_list_keeps_msh_reports_what_it_drops_and_can_refuse_a_required_segment() {
        let site = Profile::athenahealth().named("s");
        let mut site = site;
        site.v2.allowed_fields = vec!["PID-3".into(), "PID-5".into()];
        let msg = "MSH|^~\\&|ATHENA|FP|R|F|20260301123000-0800||ADT^A01|7|P|2.5\rPID|1||A1^^^ATHENA^MR||LEE^ANN||19900909|F\rPV1|1|O\rZXY|1|SECRET\r";
        let (b, report) = run(site.clone(), msg);
        let p = resources(&b, "Patient")[0];
        assert!(p.get("birthDate").is_none() && p.get("gender").is_none());
        assert_eq!(p["name"][0]["family"], "LEE");
        for want in [
            "PID[1]-7: field not mapped",
            "PID[1]-8: field not mapped",
            "PV1[1]: segment not mapped",
            "ZXY[1]: segment not mapped",
        ] {
            assert!(
                report.iter().any(|r| r.starts_with(want)),
                "{want}: {report:#?}"
            );
        }
        assert!(!report
            .iter()
            .any(|r| r.contains("SECRET") || r.contains("LEE")));
        // The Bundle keeps the message's identity (MSH is never filtered).
        assert_eq!(b["identifier"]["value"], "7");
        // A required segment left out entirely: the message map's own error.
        site.v2.allowed_fields = vec!["PV1-2".into()];
        let m = Message::parse(msg.as_bytes()).unwrap();
        let e = Converter::new(site, Options::default())
            .convert(&m)
            .unwrap_err();
        assert!(e.to_string().contains("PID"), "{e}");
    }

    #[test]
    fn z_boolean_values_that_are_not_y_or_n_are_reported_not_guessed() {
        let mut p = Profile::epic();
        p.v2.z_segments.insert(
            "ZPD-3".into(),
            ZField {
                url: "https://site.test/x".into(),
                resource: ZTarget::Patient,
                value: ZValue::Boolean,
            },
        );
        let msg = "MSH|^~\\&|EPIC|GHH|R|F|20260301123000-0600||ADT^A01|1|P|2.5\rPID|1||9^^^EPI^MR||DOE^J\rPV1|1|I\rZPD|1||MAYBE\r";
        let (b, report) = run(p, msg);
        assert!(resources(&b, "Patient")[0].get("extension").is_none());
        assert!(
            report
                .iter()
                .any(|r| r.starts_with("ZPD[1]-3: value not valid")),
            "{report:#?}"
        );
    }

    #[test]
    fn an_unknown_race_code_is_reported_and_a_cdc_code_passes() {
        let msg = "MSH|^~\\&|ECW|C|R|F|20260301123000-0500||ADT^A04|1|P|2.3\rPID|1|5|||B^B||1950|M||Q~2028-9\rPV1|1|O\r";
        let (b, report) = run(Profile::eclinicalworks(), msg);
        let race = &resources(&b, "Patient")[0]["extension"][0];
        assert_eq!(race["extension"][0]["valueCoding"]["code"], "2028-9");
        assert!(
            report
                .iter()
                .any(|r| r.starts_with("PID[1]-10(1).1: code not in the IG map RaceCodes")),
            "{report:#?}"
        );
    }
}
