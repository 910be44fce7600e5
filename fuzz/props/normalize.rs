//! The property behind the `fhir_normalize` fuzz target, shared by path with
//! `mapping/tests/normalize_fhir.rs` (seed replay and proptest) so both run the exact same
//! check. Uses `ehrkit-mapping` and `ehrkit-fhir-model` through their public APIs only. Panics
//! when the property is violated; must never panic otherwise.

use ehrkit_fhir_model::{from_slice, to_vec, Resource};
use ehrkit_mapping::normalize::{
    CodeElement, ConditionalTransformOp, CopyElementOp, FhirProfile, IdentifierType, Normalizer,
    BUILTIN_FHIR_PROFILES,
};
use ehrkit_mapping::CodeOverride;

fn profiles() -> Vec<FhirProfile> {
    let mut v: Vec<FhirProfile> = BUILTIN_FHIR_PROFILES
        .iter()
        .map(|n| FhirProfile::builtin(n).expect("built-in"))
        .collect();
    // Every quirk at once, with site tables and configured operations.
    let mut all = FhirProfile::generic().named("everything");
    for q in ehrkit_mapping::normalize::FhirQuirk::ALL {
        all = all.with(*q);
    }
    all.identifier_types = FhirProfile::epic().identifier_types;
    all = all.identifier_type(
        "MRN",
        IdentifierType::code("MR").system("https://fhir.site.test/sid/mrn"),
    );
    all.concept_maps = FhirProfile::epic().concept_maps;
    all.copy_elements.push(CopyElementOp {
        name: "class-from-type".into(),
        from: CodeElement::EncounterType,
        to: CodeElement::EncounterClass,
        system: None,
    });
    all.conditional_transforms.push(ConditionalTransformOp {
        name: "cond".into(),
        when: CodeElement::ObservationCode,
        system: "http://loinc.org".into(),
        code: "718-7".into(),
        target: CodeElement::ObservationCategory,
        set: CodeOverride::new(
            "laboratory",
            "http://terminology.hl7.org/CodeSystem/observation-category",
        ),
    });
    v.push(all);
    v
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn top_level_ids(r: &Resource) -> Vec<Option<String>> {
    match r {
        Resource::Bundle(b) => b.resources().map(|r| r.id().map(str::to_owned)).collect(),
        r => vec![r.id().map(str::to_owned)],
    }
}

/// Reads `data` as any FHIR resource (lenient, as a vendor's server would be read); for each
/// built-in profile and one with every quirk and operation: no panic; the output is
/// deterministic, writes JSON that reads back, has valid FHIR ids at the top level (ids are
/// fixed), records each change against a resource of the output with a path that starts with
/// its type, and is a fixed point (normalizing it again changes nothing).
#[allow(dead_code)]
pub fn check(data: &[u8]) {
    let Ok(resource) = from_slice::<Resource>(data) else {
        return;
    };
    for profile in profiles() {
        let n = Normalizer::new(profile.clone());
        let out = n.normalize(resource.clone());
        let again = n.normalize(resource.clone());
        assert_eq!(
            out.changes, again.changes,
            "{}: not deterministic",
            profile.name
        );
        assert_eq!(out.resources.len(), again.resources.len());
        for (a, b) in out.resources.iter().zip(&again.resources) {
            assert_eq!(to_vec(a), to_vec(b), "{}: not deterministic", profile.name);
        }
        assert!(!out.resources.is_empty());
        for r in &out.resources {
            let bytes = to_vec(r);
            let back: Resource = from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{}: output does not read back: {e}", profile.name));
            assert_eq!(
                to_vec(&back),
                bytes,
                "{}: output does not round-trip",
                profile.name
            );
            for id in top_level_ids(r).into_iter().flatten() {
                assert!(valid_id(&id), "{}: invalid id left", profile.name);
            }
        }
        for c in &out.changes {
            assert!(c.path.starts_with(c.resource_type.as_str()), "{c}");
            let all: Vec<&Resource> = out
                .resources
                .iter()
                .flat_map(|r| match r {
                    Resource::Bundle(b) => b.resources().collect::<Vec<_>>(),
                    r => vec![r],
                })
                .collect();
            assert!(
                all.iter()
                    .any(|r| r.resource_type() == c.resource_type
                        && r.id() == c.resource_id.as_deref()),
                "{}: change {c} names no output resource",
                profile.name
            );
        }
        for r in out.resources {
            let second = n.normalize(r);
            assert!(
                second.changes.is_empty(),
                "{}: not a fixed point: {:?}",
                profile.name,
                second.changes
            );
        }
    }
}
