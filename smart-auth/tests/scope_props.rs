//! proptest: scope parse/format round-trip, v1⇄v2 mapping laws, and no panics on any input.

use ehrkit_smart_auth::{
    Context, Permissions, ResourceScope, Scope, ScopeSet, V1Access, V2Permissions,
};
use proptest::prelude::*;

fn resource_scope() -> impl Strategy<Value = Scope> {
    let ctx = prop_oneof![
        Just(Context::Patient),
        Just(Context::User),
        Just(Context::System)
    ];
    let rtype = prop_oneof![Just(None), "[A-Z][a-zA-Z]{0,20}".prop_map(Some)];
    let v1 = prop_oneof![
        Just(V1Access::Read),
        Just(V1Access::Write),
        Just(V1Access::All)
    ]
    .prop_map(|a| (Permissions::V1(a), None));
    let v2 = (
        1u8..32,
        proptest::option::of("[a-z_-]{1,10}=[a-zA-Z0-9|:._-]{1,12}"),
    )
        .prop_map(|(bits, q)| (Permissions::V2(V2Permissions::from_bits(bits)), q));
    (ctx, rtype, prop_oneof![v1, v2]).prop_map(|(context, resource_type, (permissions, query))| {
        Scope::Resource(ResourceScope {
            context,
            resource_type,
            permissions,
            query,
        })
    })
}

fn scope() -> impl Strategy<Value = Scope> {
    prop_oneof![
        Just(Scope::OpenId),
        Just(Scope::FhirUser),
        Just(Scope::Profile),
        Just(Scope::Launch),
        Just(Scope::OfflineAccess),
        Just(Scope::OnlineAccess),
        "[a-z][a-zA-Z]{0,12}".prop_map(Scope::LaunchContext),
        "[A-Z][a-z]{1,8}\\.[a-zA-Z:._-]{1,12}".prop_map(Scope::Other),
        resource_scope(),
        resource_scope(),
        resource_scope(),
    ]
}

proptest! {
    #[test]
    fn format_then_parse_is_identity(scopes in proptest::collection::vec(scope(), 0..12)) {
        let set: ScopeSet = scopes.into_iter().collect();
        let text = set.to_string();
        let back = ScopeSet::parse(&text).unwrap();
        prop_assert_eq!(&back, &set);
        prop_assert_eq!(back.to_string(), text);
    }

    #[test]
    fn v1_to_v2_is_exact_and_v2_to_v1_covers(s in resource_scope()) {
        let Scope::Resource(r) = &s else { unreachable!() };
        // v2 form means the same as the original.
        prop_assert!(s.to_v2().covers(&s) && s.covers(&s.to_v2()));
        // v1 form always covers (may be broader); "exact" means it also is covered back.
        let (v1, exact) = r.to_v1();
        prop_assert!(v1.covers(r));
        prop_assert_eq!(exact, r.covers(&v1));
    }

    #[test]
    fn any_text_parses_or_errors_with_an_in_bounds_offset(text in "\\PC{0,60}") {
        match ScopeSet::parse(&text) {
            Ok(set) => prop_assert_eq!(ScopeSet::parse(&set.to_string()).unwrap(), set),
            Err(ehrkit_smart_auth::Error::Scope { offset, .. }) => prop_assert!(offset <= text.len()),
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }

    #[test]
    fn difference_is_empty_against_itself(scopes in proptest::collection::vec(scope(), 0..8)) {
        let set: ScopeSet = scopes.into_iter().collect();
        let d = set.difference(&set);
        prop_assert!(d.not_granted.is_empty() && d.extra.is_empty());
        prop_assert!(set.equivalent(&set.to_v2()));
    }
}
