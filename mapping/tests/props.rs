//! Property tests: the registry and profiles accept any input without panicking and keep their
//! promises (URIs are absolute and never a placeholder domain; profiles round-trip).

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
