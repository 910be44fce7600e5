//! Components written past the last one of their datatype (issue 12, *Nothing silently lost*).
//!
//! A feed that writes a 28th CWE component or a 20th CX component (a site-defined extension,
//! a shifted field) sends data the datatype map never reads: each valued one is reported at
//! its component, as the maps already do for the components they know but do not map.

use ehrkit_hl7v2::Message;
use ehrkit_mapping::v2_to_fhir::{Converter, Options};
use ehrkit_mapping::Profile;

/// `n` components: `first`, then empty ones, then `EXTRA` as component `n`.
fn with_extra(first: &str, n: usize) -> String {
    format!(
        "{first}{}EXTRA",
        "^".repeat(n - first.matches('^').count() - 1)
    )
}

fn report(er7: &str) -> Vec<String> {
    let msg = Message::parse(er7.as_bytes()).expect("message parses");
    Converter::new(Profile::generic(), Options::default())
        .convert(&msg)
        .expect("message converts")
        .report
        .entries()
        .iter()
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn components_past_the_datatype_are_reported() {
    let er7 = format!(
        "MSH|^~\\&|LAB|HOSP|RCV|FAC|20260301123000+0000||ORU^R01|M15|P|2.5.1\r\
         PID|1||{cx}||{xpn}||19800101|F|||{xad}||{xtn}\r\
         PV1|1|I|{pl}||||{xcn}\r\
         OBR|1|{ei}||CBC^CBC^L\r\
         OBX|1|CWE|{cwe}||{cwe_value}||||||F\r",
        cx = with_extra("123^^^HOSP^MR", 13),
        xpn = with_extra("DOE^JANE", 16),
        xad = with_extra("1 Main St^^Town", 24),
        xtn = with_extra("^PRN^PH^^^030^1234567", 19),
        pl = with_extra("W^1^A", 12),
        xcn = with_extra("1234^DOC^A", 26),
        ei = with_extra("P1^LAB", 5),
        cwe = with_extra("x^Code^L", 23),
        cwe_value = with_extra("A^Alpha^L", 28),
    );
    let lines = report(&er7);
    for at in [
        "PID[1]-3(1).13",
        "PID[1]-5(1).16",
        "PID[1]-11(1).24",
        "PID[1]-13(1).19",
        "PV1[1]-3.12",
        "PV1[1]-7(1).26",
        "OBR[1]-2.5",
        "OBX[1]-3.23",
        "OBX[1]-5(1).28",
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l == &format!("{at}: component not mapped")),
            "{at} not reported; report:\n{}",
            lines.join("\n")
        );
    }
}

#[test]
fn the_last_component_of_each_datatype_is_not_reported_as_extra() {
    // CWE.22 and CX.12 exist (v2.9): read or reported as the maps decide, never as extra.
    let er7 = format!(
        "MSH|^~\\&|LAB|HOSP|RCV|FAC|20260301123000+0000||ORU^R01|M16|P|2.5.1\r\
         PID|1||{cx}||DOE^JANE\r\
         OBR|1|P1||CBC^CBC^L\r\
         OBX|1|NM|{cwe}||5||||||F\r",
        cx = with_extra("123^^^HOSP^MR", 12),
        cwe = with_extra("x^Code^L", 22),
    );
    let lines = report(&er7);
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("PID[1]-3(1).12") || l.starts_with("OBX[1]-3.22"))
            .count(),
        2,
        "{}",
        lines.join("\n")
    );
}
