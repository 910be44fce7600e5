//! Property tests: the registry and profiles accept any input without panicking and keep their
//! promises (URIs are absolute and never a placeholder domain; profiles round-trip); any message
//! the parser accepts converts without panicking (`check_convert` of `fuzz/props/mapping.rs`).

#[path = "../../fuzz/props/mapping.rs"]
mod fuzz_props;

use ehrkit_mapping::v2_to_fhir::vocab;
use ehrkit_mapping::{Authority, CodeOverride, Profile, SystemSource};
use proptest::prelude::*;

fn absolute_uri(s: &str) -> bool {
    s.split_once(':').is_some_and(|(scheme, rest)| {
        !scheme.is_empty() && !rest.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric())
    }) && !s.chars().any(char::is_whitespace)
}

proptest! {
    #[test]
    fn any_coding_system_name_resolves_to_an_absolute_uri(name in "\\PC{0,24}") {
        let systems = Profile::generic().systems();
        if let Some(u) = systems.coding_system(&name) {
            prop_assert!(absolute_uri(&u.uri), "{:?}", u);
            prop_assert!(!u.uri.contains("example.com"));
        } else {
            prop_assert!(name.trim().is_empty());
        }
    }

    #[test]
    fn any_authority_resolves_to_an_absolute_uri(
        ns in proptest::option::of("\\PC{0,16}"),
        uid in proptest::option::of("[0-9.]{0,12}|\\PC{0,16}"),
        ty in proptest::option::of("ISO|UUID|URI|DNS|\\PC{0,4}"),
    ) {
        let systems = Profile::generic().unknown_system_base("https://fhir.site.test/sid").systems();
        let hd = Authority { namespace: ns.as_deref(), universal_id: uid.as_deref(), universal_id_type: ty.as_deref() };
        if let Some(u) = systems.identifier_system(hd) {
            prop_assert!(absolute_uri(&u.uri), "{:?}", u);
            if u.source == SystemSource::Fallback {
                prop_assert!(u.uri.starts_with("https://fhir.site.test/sid/identifier/"));
            }
        }
    }

    #[test]
    fn profiles_round_trip_through_toml_and_json(
        name in "[a-z][a-z0-9-]{0,12}",
        version in "[0-9][0-9.]{0,6}",
        ids in proptest::collection::btree_map("\\PC{1,8}", "https://[a-z]{1,8}\\.test/[a-z]{0,8}", 0..4),
        codes in proptest::collection::btree_map("[A-Z]{1,3}", "[a-z]{1,8}", 0..4),
        tz in proptest::sample::select(vec!["America/New_York", "Europe/Paris", "Asia/Kolkata", "UTC"]),
    ) {
        let mut p = Profile::generic().named(&name).version(&version).time_zone(tz.parse().unwrap());
        for (k, v) in &ids {
            p = p.identifier_system(k, v);
        }
        for (code, target) in &codes {
            p = p.code_override("AdministrativeSex", code, CodeOverride::new(target, "http://hl7.org/fhir/administrative-gender").display("D"));
        }
        prop_assert_eq!(&Profile::from_toml(&p.to_toml()).unwrap(), &p);
        prop_assert_eq!(&Profile::from_json(&p.to_json()).unwrap(), &p);
    }

    #[test]
    fn any_code_translates_without_panicking(code in "\\PC{0,8}") {
        for m in vocab::ALL {
            let _ = m.translate(&code);
        }
    }
}

mod datatypes {
    use ehrkit_hl7v2::datatypes::{Cwe, Cx, Dtm, Xpn};
    use ehrkit_hl7v2::Delimiters;
    use ehrkit_mapping::v2_to_fhir::datatype::{
        cwe_codeable_concept::cwe_codeable_concept, cx_identifier::cx_identifier, dtm,
        xpn_human_name::xpn_human_name, Context,
    };
    use ehrkit_mapping::{Location, Profile};
    use proptest::prelude::*;

    proptest! {
        /// Any field value (with separators, escapes, nulls, non-ASCII) converts without
        /// panicking, and the report names places only (its text never holds the value).
        #[test]
        fn datatype_maps_take_any_value(raw in "[A-Za-z0-9 ^&~\\\\\".+-]{0,40}|\\PC{0,20}") {
            let profile = Profile::generic().time_zone(chrono_tz::Asia::Kolkata);
            let mut ctx = Context::new(&profile);
            let d = Delimiters::default();
            let at = Location::segment("PID", 1).field(3).repetition(1);
            let _ = cx_identifier(&Cx::parse(raw.as_bytes(), &d), &mut ctx, &at);
            let _ = xpn_human_name(&Xpn::parse(raw.as_bytes(), &d), &mut ctx, &at);
            let _ = cwe_codeable_concept(&Cwe::parse(raw.as_bytes(), &d), &mut ctx, &at);
            if let Ok(t) = Dtm::parse(raw.as_bytes(), &d) {
                let _ = dtm::date_time(&t, profile.source_time_zone);
                let _ = dtm::date_time(&t, None);
            }
            for e in ctx.report.entries() {
                let text = e.to_string();
                prop_assert!(text.starts_with("PID[1]-3(1)"), "{}", text);
                let tail = text.split_once(": ").map(|(_, t)| t).unwrap_or("");
                if raw.trim().len() >= 6 {
                    prop_assert!(!tail.contains(raw.trim()), "{}", text);
                }
            }
        }

        /// Every DTM the parser accepts gives a FHIR dateTime whose date part is the DTM's.
        #[test]
        fn dtm_keeps_the_date(y in 1u16..=9999, m in 1u8..=12, d in 1u8..=28, h in 0u8..24, mi in 0u8..60, tz in proptest::option::of(proptest::sample::select(vec!["America/New_York", "Europe/Paris", "Australia/Lord_Howe"]))) {
            let raw = format!("{y:04}{m:02}{d:02}{h:02}{mi:02}");
            let dtm = Dtm::parse(raw.as_bytes(), &Delimiters::default()).unwrap();
            let c = dtm::date_time(&dtm, tz.map(|t| t.parse().unwrap())).unwrap();
            let prefix = format!("{y:04}-{m:02}-{d:02}");
            prop_assert!(c.value.as_str().starts_with(&prefix), "{} {}", raw, c.value.as_str());
            if tz.is_none() {
                prop_assert_eq!(c.value.as_str(), prefix.as_str());
                prop_assert!(dtm::instant(&dtm, None).is_err());
            } else if let Ok(i) = dtm::instant(&dtm, tz.map(|t| t.parse().unwrap())) {
                prop_assert!(i.value.as_str().starts_with(&prefix));
            }
        }
    }
}

/// One segment of a generated ADT-like message: a known segment id (or a Z-segment) and
/// fields drawn from values that exercise the maps (nulls, escapes, repetitions, components).
fn segment() -> impl Strategy<Value = String> {
    let id = prop::sample::select(vec![
        "PID", "PV1", "NK1", "EVN", "OBR", "OBX", "NTE", "PV2", "ZPI", "PD1",
    ]);
    let field = prop_oneof![
        Just(String::new()),
        Just("\"\"".to_owned()),
        "[A-Z0-9]{1,6}",
        "[A-Z]{1,5}\\^[A-Z]{1,5}\\^[A-Z0-9&.]{0,12}\\^[A-Z]{0,3}\\^[A-Z]{0,3}",
        "[0-9]{4,14}([-+][0-9]{4})?",
        "[A-Z]{1,4}(~[A-Z]{1,4}){0,2}",
        "\\\\[HNEFSTRX]\\\\[a-z ]{0,4}",
        "\\PC{0,10}",
    ];
    (id, prop::collection::vec(field, 0..46)).prop_map(|(id, fields)| {
        let mut s = id.to_owned();
        for f in fields {
            s.push('|');
            s.push_str(&f.replace(['\r', '\n', '|'], ""));
        }
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_parsed_message_converts_without_panicking(
        event in prop::sample::select(vec!["ADT^A01", "ADT^A02", "ADT^A03", "ADT^A04", "ADT^A08", "ADT^A99", "ORU^R01", ""]),
        segments in prop::collection::vec(segment(), 0..8),
    ) {
        let mut msg = format!("MSH|^~\\&|APP|FAC|RCV|RF|202603011230||{event}|C1|P|2.5\r");
        for s in segments {
            msg.push_str(&s);
            msg.push('\r');
        }
        fuzz_props::check_convert(msg.as_bytes());
    }
}
