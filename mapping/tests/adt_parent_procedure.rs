//! Issue 12, ADT family: PR1-25 (parent procedure) whose identifier has no assigning
//! authority. The IG row `PR1[Procedure]` PR1-25 → `partOf(Procedure.identifier)`: `partOf`
//! points at the Procedure whose identifier matches PR1-25's value. Without a system a server
//! cannot be searched safely (`identifier=value` matches any system), so the parent is a
//! Procedure holding that value, keyed by the sender and the value: `PUT Procedure/<id>`, the
//! same id in every message of that sender, never a conditional create.
//!
//! Message written for this test: `tests/data/adt/a01_pr1_parent_without_system.hl7`.

mod common;
use common::{all, convert_transaction as convert, request_of};

use ehrkit_fhir_model::resources::Procedure;

fn data(name: &str) -> String {
    common::data("adt", name)
}

fn identifier_value(p: &Procedure) -> Option<&str> {
    p.identifier.first()?.value.as_ref()?.value.as_deref()
}

#[test]
fn parent_procedure_without_a_system_is_a_procedure_keyed_by_sender_and_value() {
    let raw = data("a01_pr1_parent_without_system.hl7");
    let c = convert(&raw);
    let ps = all::<Procedure>(&c.bundle);
    assert_eq!(ps.len(), 2, "the PR1 and its parent");
    let child = ps
        .iter()
        .find(|p| identifier_value(p) == Some("PRX-7781"))
        .expect("the PR1");
    let parent = ps
        .iter()
        .find(|p| identifier_value(p) == Some("PRP-2201"))
        .expect("the parent");
    assert!(
        parent.identifier[0].system.is_none(),
        "no system is invented"
    );
    let parent_url = format!("urn:uuid:{}", parent.id.as_deref().unwrap());
    assert_eq!(child.part_of.len(), 1);
    assert_eq!(
        child.part_of[0]
            .reference
            .as_ref()
            .and_then(|r| r.value.as_deref()),
        Some(parent_url.as_str())
    );
    // Written by id (no search on a system-less identifier), not reported as lost.
    let (request, _) = request_of(&c.bundle, parent.id.as_deref());
    let url = request.url.as_ref().and_then(|u| u.value.clone()).unwrap();
    assert_eq!(url, format!("Procedure/{}", parent.id.as_deref().unwrap()));
    assert!(
        !c.report
            .entries()
            .iter()
            .any(|r| r.to_string().starts_with("PR1[1]-25")),
        "{:?}",
        c.report.entries()
    );

    // Another message of the same sender naming the same parent: the same parent id.
    let other = raw
        .replace("NC-A01-0020", "NC-A01-0021")
        .replace("PRX-7781", "PRX-7782");
    let again = all::<Procedure>(&convert(&other).bundle);
    let parent_again = again
        .iter()
        .find(|p| identifier_value(p) == Some("PRP-2201"))
        .unwrap();
    assert_eq!(parent_again.id, parent.id);
}
