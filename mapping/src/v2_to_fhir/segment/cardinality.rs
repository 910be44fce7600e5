//! Which fields do not repeat: the v2 `Cardinality - Max` column (`1`) of the IG's segment
//! spreadsheets (`../shared/v2-to-fhir/segments/*.csv`), for the segments the IG maps.
//!
//! The maps read only the first repetition of such a field (`OBX-3`, `RXA-5`, `PID-7`), but
//! feeds do send `~` in them. The conversion (`report_extra_repetitions`) reports every valued
//! repetition after the first that no map read or reported, so that nothing is lost silently. A field the
//! spreadsheets list as repeating, or do not list, is left to its map. `MSH-1` and `MSH-2` (the
//! delimiters, `~` among them) are not fields of data and are left out. The test
//! `single_fields_match_the_ig_spreadsheets` checks this table against the spreadsheets.

use ehrkit_hl7v2::Message;

use crate::{Location, Report, ReportKind};

/// Per segment id, the fields whose v2 maximum cardinality is 1 (ascending).
pub const SINGLE_FIELDS: &[(&str, &[usize])] = &[
    ("AIG", &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]),
    ("AIL", &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
    ("AIP", &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
    ("AIS", &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
    ("AL1", &[1, 2, 3, 4, 6]),
    (
        "DG1",
        &[
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17, 18, 19, 20, 21, 22, 23, 24, 25,
            26,
        ],
    ),
    ("EVN", &[1, 2, 3, 4, 6, 7]),
    (
        "IAM",
        &[
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
            25, 26, 27, 28, 29, 30,
        ],
    ),
    (
        "IN1",
        &[
            1, 2, 8, 12, 13, 14, 15, 17, 18, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 31, 32, 33,
            34, 35, 36, 37, 39, 42, 43, 45, 46, 47, 48, 50, 51, 52, 53, 55,
        ],
    ),
    (
        "IN3",
        &[
            1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 13, 15, 17, 18, 21, 22, 23, 26, 27,
        ],
    ),
    ("MRG", &[3, 4, 5]),
    ("MSA", &[1, 2, 3, 4, 5, 6, 7, 8]),
    (
        "MSH",
        &[
            3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 19, 20, 22, 23, 24, 25, 26,
        ],
    ),
    (
        "NK1",
        &[
            1, 3, 7, 8, 9, 10, 11, 12, 14, 15, 16, 20, 21, 22, 23, 24, 25, 27, 34, 36, 37, 38, 39,
            40, 41,
        ],
    ),
    ("NTE", &[1, 2, 4, 5, 6, 7, 8]),
    (
        "OBR",
        &[
            1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 14, 15, 18, 19, 20, 21, 22, 23, 24, 25, 26, 29, 30,
            32, 36, 37, 40, 41, 42, 44, 48, 49, 50, 51, 52, 54,
        ],
    ),
    (
        "OBX",
        &[
            1, 2, 3, 4, 6, 7, 9, 11, 12, 13, 14, 15, 19, 21, 22, 23, 24, 25, 26, 27, 29, 30, 31,
        ],
    ),
    (
        "ORC",
        &[
            1, 2, 3, 4, 5, 6, 9, 13, 15, 16, 17, 18, 20, 25, 26, 27, 28, 29, 30, 31, 32, 35, 36,
            37, 38,
        ],
    ),
    (
        "PD1",
        &[2, 5, 6, 7, 8, 9, 11, 12, 13, 16, 17, 18, 19, 20, 21, 22],
    ),
    (
        "PID",
        &[
            1, 2, 4, 7, 8, 12, 15, 16, 17, 18, 19, 20, 23, 24, 25, 27, 28, 29, 30, 31, 33, 34, 35,
            36, 37,
        ],
    ),
    (
        "PR1",
        &[1, 5, 6, 7, 9, 10, 13, 14, 15, 17, 19, 20, 21, 22, 24, 25],
    ),
    (
        "PRT",
        &[1, 2, 3, 4, 6, 7, 11, 12, 13, 16, 17, 18, 19, 20, 21, 22, 23],
    ),
    (
        "PV1",
        &[
            1, 2, 3, 4, 5, 6, 10, 11, 12, 13, 14, 16, 18, 19, 21, 22, 23, 28, 29, 30, 31, 32, 33,
            34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 51, 53, 54,
        ],
    ),
    (
        "PV2",
        &[
            1, 2, 3, 4, 6, 8, 9, 10, 11, 12, 14, 15, 16, 17, 18, 19, 20, 21, 22, 24, 25, 26, 27,
            28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 40, 42, 43, 44, 46, 47, 48, 50,
        ],
    ),
    ("ROL", &[1, 2, 3, 5, 6, 7, 8, 10, 13, 14]),
    (
        "RXA",
        &[
            1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 14, 20, 21, 22, 23, 24, 25, 26, 27, 28,
        ],
    ),
    ("RXE", &[19]),
    (
        "RXO",
        &[
            1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13, 16, 17, 18, 19, 21, 22, 25, 26, 27, 28, 29, 30,
            31, 32, 33, 34, 35,
        ],
    ),
    ("RXR", &[1, 2, 3, 4, 5, 6]),
    (
        "SCH",
        &[1, 2, 3, 4, 5, 6, 7, 8, 13, 15, 17, 19, 22, 23, 24, 25],
    ),
    ("SFT", &[1, 2, 3, 4, 5, 6]),
    (
        "SPM",
        &[
            1, 2, 4, 7, 8, 10, 12, 13, 17, 18, 19, 20, 22, 23, 25, 26, 27, 28, 29, 32,
        ],
    ),
    ("TQ1", &[1, 2, 6, 7, 8, 10, 11, 12, 13, 14]),
    (
        "TXA",
        &[
            1, 2, 3, 4, 6, 7, 12, 13, 15, 16, 17, 18, 19, 20, 21, 26, 27, 28,
        ],
    ),
];

/// Fields that do not repeat but that a map reads in every repetition, so a second
/// repetition is data in the Bundle (or reported by that map), not lost: PID-2 (as Patient
/// identifiers), PID-15, NK1-12, PV1-19 (as Encounter identifiers), PV2-3, PR1-15, ORC-29,
/// MRG-4, RXR-5, SPM-32, TQ1-11, TXA-18.
const READ_IN_FULL: &[(&str, usize)] = &[
    ("PID", 2),
    ("PID", 15),
    ("NK1", 12),
    ("PV1", 19),
    ("PV2", 3),
    ("PR1", 15),
    ("ORC", 29),
    ("MRG", 4),
    ("RXR", 5),
    ("SPM", 32),
    ("TQ1", 11),
    ("TXA", 18),
];

/// The non-repeating fields of segment `id` ([`SINGLE_FIELDS`]); empty when the IG has no map
/// of it.
pub fn single_fields(id: &str) -> &'static [usize] {
    // The table is sorted by segment id (checked by a test): a binary search, since this runs
    // for every segment of every message.
    SINGLE_FIELDS
        .binary_search_by(|(s, _)| (*s).cmp(id))
        .map_or(&[], |i| SINGLE_FIELDS[i].1)
}

/// Reports, as [`ReportKind::UnmappedField`] at `SEG[n]-f(r)`, each valued repetition `r >= 2`
/// of a non-repeating field: the maps read the first one only. Skipped when the report already
/// names that repetition, the whole field as unmapped, or the whole segment (unmapped, Z).
pub(crate) fn report_extra_repetitions(msg: &Message<'_>, report: &mut Report) {
    let repetition = msg.delimiters().repetition;
    // Occurrences are counted only as far as a segment that needs one (few do), by a second
    // iterator that never goes back: linear in the message however many segments repeat.
    let mut seen: Vec<(&str, usize)> = Vec::new();
    let mut counter = msg.segments();
    let mut counted = 0;
    for (index, seg) in msg.segments().enumerate() {
        // Most segments hold no repetition separator at all (MSH-2 aside): nothing to look at,
        // and nothing else is read of them.
        let bytes = seg.as_bytes();
        let body = if bytes.starts_with(b"MSH") {
            bytes.get(8..).unwrap_or_default()
        } else {
            bytes
        };
        if !body.contains(&repetition) {
            continue;
        }
        let id = seg.name();
        let single = single_fields(id);
        if single.is_empty() {
            continue;
        }
        for s in counter.by_ref().take(index + 1 - counted) {
            match seen.iter_mut().find(|(n, _)| *n == s.name()) {
                Some((_, k)) => *k += 1,
                None => seen.push((s.name(), 1)),
            }
        }
        counted = index + 1;
        let occurrence = seen.iter().find(|(n, _)| *n == id).map_or(1, |(_, k)| *k);
        for &f in single {
            let field = seg.field(f);
            let count = field.repetition_count();
            if count < 2 || READ_IN_FULL.contains(&(id, f)) {
                continue;
            }
            for r in 2..=count {
                if field
                    .repetition_raw(r)
                    .is_none_or(|raw| raw.is_empty() || raw == b"\"\"")
                {
                    continue;
                }
                if already_reported(report, id, occurrence, f, r) {
                    continue;
                }
                report.push(
                    ReportKind::UnmappedField,
                    Location::segment(id, occurrence).field(f).repetition(r),
                );
            }
        }
    }
}

/// True when `report` already says something about repetition `r` of field `f`, or reports the
/// whole field as unmapped, or the whole segment.
fn already_reported(report: &Report, id: &str, occurrence: usize, f: usize, r: usize) -> bool {
    report.entries().iter().any(|e| {
        let at = &e.location;
        at.segment == id
            && at.occurrence == occurrence
            && match at.field {
                None => matches!(e.kind, ReportKind::UnmappedSegment | ReportKind::ZSegment),
                Some(n) if n == f => {
                    at.repetition == Some(r)
                        || (at.repetition.is_none() && e.kind == ReportKind::UnmappedField)
                }
                Some(_) => false,
            }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_for_its_binary_search() {
        assert!(SINGLE_FIELDS.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(single_fields("OBX")[..3], [1, 2, 3]);
        assert!(single_fields("ZZZ").is_empty());
        assert!(single_fields("AAA").is_empty());
    }
}
