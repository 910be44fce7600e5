//! Repetitions of fields that do not repeat (issue 12, *Nothing silently lost*).
//!
//! The maps read a non-repeating field's first repetition only (`OBX-3`, `RXA-5`, `PID-7`),
//! but real feeds do send `~` in them (a second code, a second date). The repetitions after the
//! first must not vanish: each valued one is reported as an unmapped field at its repetition.

use ehrkit_hl7v2::Message;
use ehrkit_mapping::v2_to_fhir::{Converter, Options};
use ehrkit_mapping::Profile;

/// The report lines of one message converted with the generic profile.
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

fn assert_reported(lines: &[String], at: &str) {
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{at}: field not mapped"))),
        "{at} not reported as unmapped; report:\n{}",
        lines.join("\n")
    );
}

#[test]
fn second_repetitions_of_single_fields_in_an_oru_are_reported() {
    let lines = report(concat!(
        "MSH|^~\\&|LAB|HOSP|RCV|FAC|20260301123000-0500||ORU^R01|M7|P|2.5.1\r",
        "PID|1||123^^^HOSP^MR||DOE^JANE||19800101~19810101|F~M\r",
        "PV1|1|I~O|||||||||||||||||V1\r",
        "OBR|1|P1~P9||CBC^CBC^L~WBC^WBC^L|||202603011000-0500~202603021000-0500\r",
        "OBX|1|NM|2345-7^Glu^LN~2339-0^Glu2^LN||99|mg/dL~mmol/L|70-99~3-5|H|||F~C|||20260301-0500~20260302-0500\r",
    ));
    for at in [
        "PID[1]-7(2)",
        "PID[1]-8(2)",
        "PV1[1]-2(2)",
        "OBR[1]-2(2)",
        "OBR[1]-4(2)",
        "OBR[1]-7(2)",
        "OBX[1]-3(2)",
        "OBX[1]-6(2)",
        "OBX[1]-7(2)",
        "OBX[1]-11(2)",
        "OBX[1]-14(2)",
    ] {
        assert_reported(&lines, at);
    }
}

#[test]
fn a_second_vaccine_code_in_rxa_5_is_reported() {
    let lines = report(concat!(
        "MSH|^~\\&|EHR|CLINIC|IIS|STATE|20260301123000-0500||VXU^V04^VXU_V04|M4|P|2.5.1\r",
        "PID|1||777^^^CLINIC^MR||KID^AMY||20200101|F\r",
        "ORC|RE||IZ-1^EHR\r",
        "RXA|0|1|20260215||08^HepB^CVX~10^IPV^CVX|0.5|mL^mL^UCUM||||||||LOT1|||||CP|A\r",
    ));
    assert_reported(&lines, "RXA[1]-5(2)");
}

#[test]
fn repeating_fields_empty_repetitions_and_encoding_characters_are_not_reported() {
    // PID-3 and PID-5 repeat (every repetition is mapped); `~~` leaves an empty repetition
    // that carries nothing; MSH-2 holds the `~` of the encoding characters.
    let lines = report(concat!(
        "MSH|^~\\&|ADT|HOSP|RCV|FAC|20260301123000-0500||ADT^A01|M8|P|2.5\r",
        "PID|1||1^^^HOSP^MR~2^^^HOSP^PI||DOE^JANE~ROE^JANE||19800101~|F\r",
        "PV1|1|I|||||||||||||||||V1~\r",
    ));
    assert!(
        !lines.iter().any(|l| l.contains("field not mapped")
            && (l.starts_with("PID[1]-3")
                || l.starts_with("PID[1]-5")
                || l.starts_with("PID[1]-7")
                || l.starts_with("PV1[1]-19")
                || l.starts_with("MSH[1]-2"))),
        "{}",
        lines.join("\n")
    );
}

#[test]
fn a_second_visit_number_is_kept_not_reported() {
    // PV1-19 does not repeat, but the map reads every repetition (as Encounter identifiers):
    // nothing is lost, so nothing is reported.
    let er7 = concat!(
        "MSH|^~\\&|ADT|HOSP|RCV|FAC|20260301123000-0500||ADT^A01|M9|P|2.5\r",
        "PID|1||1^^^HOSP^MR||DOE^JANE\r",
        "PV1|1|I|||||||||||||||||V1~V2\r",
    );
    let msg = Message::parse(er7.as_bytes()).unwrap();
    let c = Converter::new(Profile::generic(), Options::default())
        .convert(&msg)
        .unwrap();
    let json = ehrkit_fhir_model::to_string(&c.bundle);
    assert!(json.contains(r#""value":"V2""#), "{json}");
    assert!(!c
        .report
        .entries()
        .iter()
        .any(|e| e.to_string().starts_with("PV1[1]-19(2)")));
}

/// The v2 maximum cardinality of every `SEG-n` row of the IG's segment spreadsheets
/// (column 6, `Cardinality - Max`); a field listed by several maps repeats if any says so.
fn spreadsheet_cardinalities(
    dir: &std::path::Path,
) -> std::collections::BTreeMap<(String, usize), i64> {
    let mut max = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_none_or(|x| x != "csv") {
            continue;
        }
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_path(&p)
            .unwrap();
        for row in reader.records().skip(2) {
            let row = row.unwrap();
            let (Some(id), Some(m)) = (row.get(1), row.get(5)) else {
                continue;
            };
            let Some((seg, n)) = id.trim().split_once('-') else {
                continue;
            };
            let (Ok(n), Ok(m)) = (n.parse::<usize>(), m.trim().parse::<i64>()) else {
                continue;
            };
            if seg.len() != 3 {
                continue;
            }
            let e = max.entry((seg.to_owned(), n)).or_insert(m);
            if m == -1 || (*e != -1 && m > *e) {
                *e = m;
            }
        }
    }
    max
}

#[test]
fn single_fields_match_the_ig_spreadsheets() {
    use ehrkit_mapping::v2_to_fhir::segment::cardinality::SINGLE_FIELDS;
    let Some(dir) =
        ehrkit_testkit::shared::require("v2-to-fhir/segments", "the field cardinality test")
    else {
        return;
    };
    let max = spreadsheet_cardinalities(&dir);
    let mut expected: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
    for ((seg, n), m) in &max {
        // MSH-1 and MSH-2 are the delimiters, not data.
        if (0..=1).contains(m) && !(seg == "MSH" && *n <= 2) {
            expected.entry(seg.clone()).or_default().push(*n);
        }
    }
    let table: std::collections::BTreeMap<String, Vec<usize>> = SINGLE_FIELDS
        .iter()
        .map(|(s, f)| ((*s).to_owned(), f.to_vec()))
        .collect();
    assert_eq!(table, expected);
}

#[test]
fn single_fields_a_map_reads_in_full_are_not_reported() {
    // PID-15, SPM-32, TQ1-11, TXA-18 and RXR-5 have v2 cardinality 1 in the IG's sheets, but
    // their maps read every repetition: a second one is in the Bundle, not lost.
    let oru = report(concat!(
        "MSH|^~\\&|LAB|HOSP|RCV|FAC|20260301123000-0500||ORU^R01|M70|P|2.5.1\r",
        "PID|1||123^^^HOSP^MR||DOE^JANE||||||||||en^English^HL70296~fr^French^HL70296\r",
        "ORC|RE|P1\r",
        "TQ1|1||||||||||Q1~Q2\r",
        "OBR|1|P1||CBC^CBC^L\r",
        "SPM|1|S1||BLD^Blood^HL70487|||||||||||||||||||||||||||||P1~P2\r",
    ));
    let rde = report(concat!(
        "MSH|^~\\&|PHARM|HOSP|RCV|FAC|20260301123000-0500||RDE^O11^RDE_O11|M71|P|2.5\r",
        "PID|1||123^^^HOSP^MR||DOE^JANE\r",
        "ORC|NW|RX1^PHARM\r",
        "RXE|^Q8H|00093-0311^Amoxicillin^NDC|500||mg^mg^UCUM\r",
        "RXR|PO^Oral^HL70162||||A^Before meals^L~B^With water^L\r",
    ));
    let mdm = report(concat!(
        "MSH|^~\\&|DOC|HOSP|RCV|FAC|20260301123000-0500||MDM^T02^MDM_T02|M72|P|2.5\r",
        "PID|1||123^^^HOSP^MR||DOE^JANE\r",
        "TXA|1|CN^Consult note^L|TX|||20260301100000-0500||||||DOC-1^HOSP|||||AU|R~V|AV\r",
        "OBX|1|TX|||Line one||||||F\r",
    ));
    let adt = report(concat!(
        "MSH|^~\\&|ADT|HOSP|RCV|FAC|20260301123000-0500||ADT^A01|M73|P|2.5\r",
        "PID|1||1^^^HOSP^MR||DOE^JANE\r",
        "NK1|1|DOE^JOHN|SPO|||||||||N1~N2\r",
        "PV1|1|I|||||||||||||||||V1\r",
    ));
    for (lines, at) in [
        (&adt, "NK1[1]-12(2)"),
        (&oru, "PID[1]-15(2)"),
        (&oru, "TQ1[1]-11(2)"),
        (&oru, "SPM[1]-32(2)"),
        (&rde, "RXR[1]-5(2)"),
        (&mdm, "TXA[1]-18(2)"),
    ] {
        assert!(
            !lines
                .iter()
                .any(|l| l == &format!("{at}: field not mapped")),
            "{at} reported:\n{}",
            lines.join("\n")
        );
    }
}

#[test]
fn a_repetition_in_a_later_segment_is_reported_at_that_segments_occurrence() {
    // Only the third OBX and the second NTE hold a `~`; the segments before them hold none,
    // and still count for the occurrence.
    let lines = report(concat!(
        "MSH|^~\\&|LAB|HOSP|RCV|FAC|20260301123000-0500||ORU^R01|M9|P|2.5.1\r",
        "PID|1||123^^^HOSP^MR||DOE^JANE||19800101|F\r",
        "OBR|1|P1||CBC^CBC^L\r",
        "OBX|1|NM|2345-7^Glu^LN||99|mg/dL|||||F\r",
        "NTE|1||first\r",
        "OBX|2|NM|2339-0^Glu2^LN||5|mmol/L|||||F\r",
        "NTE|1||second|RE~X\r",
        "OBX|3|NM|718-7^Hgb^LN~20509-6^Hgb2^LN||13|g/dL|||||F\r",
    ));
    assert_reported(&lines, "OBX[3]-3(2)");
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("OBX[1]-3") || l.starts_with("OBX[2]-3")),
        "{}",
        lines.join("\n")
    );
}
