//! Issue 12 item 1: every row of every implemented IG segment map is either mapped or listed as
//! deliberately unmapped with a reason (`ehrkit_mapping::v2_to_fhir::segment::COVERAGE`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ehrkit_mapping::v2_to_fhir::segment::{Row, RowStatus, SegmentCoverage, COVERAGE};

/// (identifier, FHIR attribute) of every spreadsheet row that has a FHIR attribute.
fn spreadsheet_rows(path: &Path) -> Result<BTreeSet<(String, String)>, String> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let records: Vec<csv::StringRecord> = rdr
        .records()
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let head = records
        .get(1)
        .ok_or_else(|| format!("{}: no second header row", path.display()))?;
    let col = |name: &str| {
        head.iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
            .ok_or_else(|| format!("{}: no `{name}` column", path.display()))
    };
    // The AL1[AllergyIntolerance] spreadsheet leaves the first five column names blank; the
    // layout (SOURCES.md) puts `Identifier` second.
    let id = col("Identifier").or_else(|e| {
        head.get(1)
            .filter(|h| h.trim().is_empty())
            .map(|_| 1)
            .ok_or(e)
    })?;
    let attr = col("FHIR Attribute")?;
    Ok(records[2..]
        .iter()
        .filter_map(|r| {
            let i = r.get(id)?.trim();
            let a = r.get(attr)?.trim();
            (!i.is_empty() && !a.is_empty()).then(|| (i.to_owned(), a.to_owned()))
        })
        .collect())
}

/// The spreadsheet of an IG segment map (`PID[Patient]`) in `dir`.
fn spreadsheet(dir: &Path, map: &str) -> Option<PathBuf> {
    let prefix = format!("HL7 Segment - FHIR R4_ {map} - ");
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".csv"))
        })
        .collect();
    found.sort();
    found.into_iter().next()
}

/// Problems of one map's coverage list against its spreadsheet.
fn check(dir: &Path, cov: &SegmentCoverage) -> Vec<String> {
    let Some(path) = spreadsheet(dir, cov.map) else {
        return vec![format!("{}: no spreadsheet", cov.map)];
    };
    let rows = match spreadsheet_rows(&path) {
        Ok(r) => r,
        Err(e) => return vec![e],
    };
    let listed: BTreeSet<(String, String)> = cov
        .rows
        .iter()
        .map(|r| (r.identifier.to_owned(), r.fhir_attribute.to_owned()))
        .collect();
    let mut problems = Vec::new();
    for (i, a) in rows.difference(&listed) {
        problems.push(format!(
            "{}: row {i} → {a} is neither mapped nor listed as unmapped",
            cov.map
        ));
    }
    for (i, a) in listed.difference(&rows) {
        problems.push(format!(
            "{}: listed row {i} → {a} is not in the spreadsheet",
            cov.map
        ));
    }
    for r in cov.rows {
        if let RowStatus::Unmapped(reason) = r.status {
            if reason.trim().is_empty() {
                problems.push(format!(
                    "{}: {} unmapped without a reason",
                    cov.map, r.identifier
                ));
            }
        }
    }
    problems
}

#[test]
fn every_row_of_every_implemented_segment_map_is_accounted_for() {
    let Some(dir) =
        ehrkit_testkit::shared::require("v2-to-fhir/segments", "the segment row-coverage test")
    else {
        return;
    };
    let problems: Vec<String> = COVERAGE.iter().flat_map(|c| check(&dir, c)).collect();
    println!("segment maps implemented: {}", COVERAGE.len());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_segment_spreadsheet_has_the_columns_the_check_reads() {
    let Some(dir) =
        ehrkit_testkit::shared::require("v2-to-fhir/segments", "the segment spreadsheet test")
    else {
        return;
    };
    let mut maps = 0;
    let mut rows = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|x| x == "csv") {
            rows += spreadsheet_rows(&p).unwrap().len();
            maps += 1;
        }
    }
    println!("{maps} segment spreadsheets, {rows} rows with a FHIR attribute");
    assert_eq!(maps, 75);
    assert!(rows > 1000, "{rows}");
}

const FIXTURE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/coverage");

#[test]
fn the_check_finds_unlisted_and_stale_rows() {
    let dir = Path::new(FIXTURE_DIR);
    static ROWS: &[Row] = &[
        Row {
            identifier: "ZZT-2",
            fhir_attribute: "identifier[1]",
            status: RowStatus::Mapped("segment/zzt_patient.rs"),
        },
        Row {
            identifier: "ZZT-4",
            fhir_attribute: "birthDate",
            status: RowStatus::Mapped("segment/zzt_patient.rs"),
        },
        Row {
            identifier: "ZZT-4",
            fhir_attribute: "birthDate.extension[1].url",
            status: RowStatus::Unmapped(""),
        },
        Row {
            identifier: "ZZT-9",
            fhir_attribute: "gender",
            status: RowStatus::Unmapped("gone from the IG"),
        },
    ];
    let problems = check(
        dir,
        &SegmentCoverage {
            map: "ZZT[Patient]",
            rows: ROWS,
        },
    );
    assert_eq!(
        problems,
        [
            "ZZT[Patient]: row ZZT-3 → name[1] is neither mapped nor listed as unmapped",
            "ZZT[Patient]: listed row ZZT-9 → gender is not in the spreadsheet",
            "ZZT[Patient]: ZZT-4 unmapped without a reason",
        ]
    );
    // ZZT-1 has no FHIR attribute: nothing to list.
    assert!(
        !spreadsheet_rows(&dir.join("HL7 Segment - FHIR R4_ ZZT[Patient] - Sheet1.csv"))
            .unwrap()
            .iter()
            .any(|(i, _)| i == "ZZT-1")
    );
    assert_eq!(
        check(
            dir,
            &SegmentCoverage {
                map: "QQQ[X]",
                rows: &[]
            }
        ),
        ["QQQ[X]: no spreadsheet"]
    );
}
