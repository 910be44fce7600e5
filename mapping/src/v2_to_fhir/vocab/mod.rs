//! The IG's vocabulary ConceptMaps: HL7 v2 table codes → FHIR codes.
//!
//! The tables are **generated** (module [`generated`]) from the IG's spreadsheets
//! (`../shared/v2-to-fhir/codesystems/HL7 Concept Map_ <Name> - Sheet1.csv`, 99 maps) by
//! `mapping/vocabgen`; `mapping/regen-vocab.sh` rewrites them and CI checks they are up to date.
//! Each generated map links its published IG ConceptMap
//! (`https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-<id>.html`) when the IG publishes one
//! (70 of the 99 spreadsheets).
//!
//! A map is a [`ConceptMap`]; look one up by its IG name with [`get`] or use its static
//! (`generated::ADMINISTRATIVE_SEX`), then [`ConceptMap::translate`] a code:
//!
//! ```
//! use ehrkit_mapping::v2_to_fhir::vocab::{self, Translation};
//!
//! let sex = vocab::get("AdministrativeSex").unwrap();
//! match sex.translate("F") {
//!     Translation::Mapped(c) => {
//!         assert_eq!((c.code, c.system), ("female", "http://hl7.org/fhir/administrative-gender"))
//!     }
//!     other => panic!("{other:?}"),
//! }
//! // A code the table does not list is not guessed at: the caller keeps it and reports it.
//! assert_eq!(sex.translate("female"), Translation::Unknown);
//! ```
//!
//! Rows the IG makes conditional (the `Computable ANTLR` / `Computable FHIRPath` / `Narrative`
//! columns) are kept with their condition text and come back as [`Translation::Conditional`]:
//! the caller (a segment map) decides, the vocabulary never picks one silently.
//!
//! Codes are matched exactly (v2 table values are case-sensitive).

pub mod generated;

pub use generated::ALL;

/// One generated vocabulary map (an IG ConceptMap spreadsheet).
#[derive(Debug)]
#[non_exhaustive]
pub struct ConceptMap {
    /// The IG's name for the map (`AdministrativeSex`, `AddressType[Use]`).
    pub name: &'static str,
    /// The spreadsheet it was generated from (file name in `../shared/v2-to-fhir/codesystems`).
    pub csv_file: &'static str,
    /// The id of the published IG ConceptMap (`table-hl70001-to-administrative-gender`), when
    /// the IG publishes one.
    pub ig_id: Option<&'static str>,
    /// The v2 table most rows name (`HL70001`).
    pub source_system: &'static str,
    /// The v2 codes, sorted by code (spreadsheet order among equal codes).
    pub entries: &'static [Entry],
    /// FHIR codes the spreadsheet lists without a v2 source: (spreadsheet line, concept,
    /// comment). A proposed FHIR code not in the value set has an empty code and its text in the
    /// comment.
    pub target_only: &'static [(u32, Concept, &'static str)],
}

/// A v2 code and what the IG maps it to.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// Line in the spreadsheet (1-based, counting both header rows).
    pub line: u32,
    /// The v2 code (may be empty: a table's own empty-code entry).
    pub code: &'static str,
    /// The v2 table's text for the code.
    pub display: &'static str,
    /// The v2 table (`HL70001`).
    pub system: &'static str,
    /// The FHIR concept, or `None` where the IG lists no equivalent.
    pub target: Option<Concept>,
    /// The condition under which this row applies, if the IG gives one.
    pub condition: Option<Condition>,
    /// The spreadsheet's comment (and repaired cells, see the generated module notes).
    pub comment: &'static str,
}

/// A FHIR code with its display and code system URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Concept {
    /// The FHIR code.
    pub code: &'static str,
    /// Its display.
    pub display: &'static str,
    /// Its code system URI.
    pub system: &'static str,
}

/// A row's condition, as the IG writes it (not evaluated here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Condition {
    /// `Computable ANTLR` (the IG's condition syntax, e.g. `IF NOT MAPPED ERROR`).
    pub antlr: &'static str,
    /// `Computable FHIRPath`.
    pub fhirpath: &'static str,
    /// `Narrative`.
    pub narrative: &'static str,
}

/// The result of [`ConceptMap::translate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Translation {
    /// Exactly one unconditional row maps the code to this concept.
    Mapped(&'static Concept),
    /// The IG lists the code with no FHIR equivalent.
    NoEquivalent(&'static Entry),
    /// The code has a conditional row or several rows: the caller evaluates the conditions.
    Conditional(&'static [Entry]),
    /// The map does not list the code.
    Unknown,
}

impl ConceptMap {
    /// The rows for `code` (empty when the map does not list it).
    pub fn entries_for(&self, code: &str) -> &'static [Entry] {
        let entries: &'static [Entry] = self.entries;
        let code = code.as_bytes();
        // Codes are a few bytes: compared inline rather than through `memcmp` (a conversion
        // looks up a few dozen codes, each a binary search of several comparisons).
        let start = entries.partition_point(|e| short_cmp(e.code.as_bytes(), code).is_lt());
        let len = entries[start..]
            .iter()
            .take_while(|e| short_cmp(e.code.as_bytes(), code).is_eq())
            .count();
        &entries[start..start + len]
    }

    /// What the IG maps `code` to.
    pub fn translate(&self, code: &str) -> Translation {
        match self.entries_for(code) {
            [] => Translation::Unknown,
            [one] if one.condition.is_none() => match &one.target {
                Some(c) => Translation::Mapped(c),
                None => Translation::NoEquivalent(one),
            },
            several => Translation::Conditional(several),
        }
    }

    /// The published IG page of this map, when the IG publishes it.
    pub fn ig_url(&self) -> Option<String> {
        self.ig_id
            .map(|id| format!("https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-{id}.html"))
    }
}

/// Byte-wise order of two short strings, the same as `str`'s `Ord` (lexicographic by byte,
/// then shorter first), without a library call.
#[inline]
fn short_cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

/// The map with this IG name (`"AdministrativeSex"`, `"AddressType[Use]"`).
pub fn get(name: &str) -> Option<&'static ConceptMap> {
    ALL.binary_search_by(|m| m.name.cmp(name))
        .ok()
        .map(|i| ALL[i])
}

/// Shorthand: [`get`] then [`ConceptMap::translate`]; `Unknown` when the map does not exist.
pub fn map(name: &str, code: &str) -> Translation {
    get(name).map_or(Translation::Unknown, |m| m.translate(code))
}

// Constructors used by the generated tables (short names keep the tables compact).

pub(crate) const fn e(
    line: u32,
    code: &'static str,
    display: &'static str,
    system: &'static str,
    target: Option<Concept>,
    condition: Option<Condition>,
    comment: &'static str,
) -> Entry {
    Entry {
        line,
        code,
        display,
        system,
        target,
        condition,
        comment,
    }
}

pub(crate) const fn t(code: &'static str, display: &'static str, system: &'static str) -> Concept {
    Concept {
        code,
        display,
        system,
    }
}

pub(crate) const fn c(
    antlr: &'static str,
    fhirpath: &'static str,
    narrative: &'static str,
) -> Condition {
    Condition {
        antlr,
        fhirpath,
        narrative,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_sorted_by_name_and_complete() {
        assert_eq!(ALL.len(), 99);
        assert!(ALL.windows(2).all(|w| w[0].name < w[1].name));
        assert_eq!(ALL.iter().filter(|m| m.ig_id.is_some()).count(), 70);
    }

    #[test]
    fn entries_are_sorted_for_binary_search() {
        for m in ALL {
            assert!(
                m.entries.windows(2).all(|w| w[0].code <= w[1].code),
                "{}",
                m.name
            );
        }
    }

    #[test]
    fn short_cmp_orders_as_str() {
        let words = [
            "", "A", "AB", "B", "a", "Ab", "ABC", "AA", "é", "1", "10", "2",
        ];
        for a in words {
            for b in words {
                assert_eq!(
                    short_cmp(a.as_bytes(), b.as_bytes()),
                    a.cmp(b),
                    "{a:?} {b:?}"
                );
            }
        }
        // Every code of every map finds exactly its own rows.
        for m in ALL {
            for e in m.entries {
                let rows = m.entries_for(e.code);
                assert!(rows.iter().all(|r| r.code == e.code), "{}", m.name);
                assert_eq!(
                    rows.len(),
                    m.entries.iter().filter(|r| r.code == e.code).count(),
                    "{}",
                    m.name
                );
            }
        }
    }

    #[test]
    fn administrative_sex() {
        let m = get("AdministrativeSex").unwrap();
        assert_eq!(m.source_system, "HL70001");
        assert_eq!(
            m.ig_url().as_deref(),
            Some("https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-table-hl70001-to-administrative-gender.html")
        );
        let Translation::Mapped(a) = m.translate("A") else {
            panic!()
        };
        assert_eq!((a.code, a.display), ("other", "Other"));
        assert_eq!(m.translate("f"), Translation::Unknown);
        assert_eq!(map("NoSuchMap", "F"), Translation::Unknown);
    }

    #[test]
    fn no_equivalent_is_not_unknown() {
        // AddressType[Use]: `M` (Mailing) is listed without a FHIR `use`.
        let Translation::NoEquivalent(e) = map("AddressType[Use]", "M") else {
            panic!()
        };
        assert_eq!(e.display, "Mailing");
        let Translation::Mapped(h) = map("AddressType[Use]", "H") else {
            panic!()
        };
        assert_eq!(h.code, "home");
    }

    #[test]
    fn conditional_rows_are_kept_with_their_condition() {
        // ResultStatus[Non-Queries]: Y and Z carry `IF NOT MAPPED ERROR`.
        let Translation::Conditional([y]) = map("ResultStatus[Non-Queries]", "Y") else {
            panic!()
        };
        assert_eq!(y.condition.unwrap().antlr, "IF NOT MAPPED ERROR");
        assert!(y.target.is_none());
        // SegmentActionCode: U → PUT or PATCH, both "local assessment".
        let Translation::Conditional(rows) = map("SegmentActionCode", "U") else {
            panic!()
        };
        let targets: Vec<_> = rows.iter().map(|r| r.target.unwrap().code).collect();
        assert_eq!(targets, ["PUT", "PATCH"]);
        assert!(rows
            .iter()
            .all(|r| r.condition.unwrap().narrative == "local assessment"));
    }

    #[test]
    fn spreadsheet_repairs_hold() {
        // The display sat in the unnamed column.
        let Translation::Mapped(e) = map("PatientClass[EncounterClass]", "E") else {
            panic!()
        };
        assert_eq!((e.code, e.display), ("EMER", "emergency"));
        // A definition in the system column is kept as the comment, not as a system.
        let m = get("ParticipantOrganizationUnitType").unwrap();
        let ins = m
            .target_only
            .iter()
            .find(|(_, c, _)| c.code == "ins")
            .unwrap();
        assert_eq!(ins.1.system, "");
        assert!(ins.2.starts_with("A company that provides insurance"));
        // Misspelled table names are repaired.
        assert!(ALL
            .iter()
            .flat_map(|m| m.entries)
            .all(|e| !e.system.starts_with("HL0") && !e.system.starts_with("HL7-")));
    }

    #[test]
    fn every_target_system_is_a_uri_or_empty() {
        for m in ALL {
            let concepts = m
                .entries
                .iter()
                .filter_map(|e| e.target.as_ref())
                .chain(m.target_only.iter().map(|(_, c, _)| c));
            for c in concepts {
                assert!(
                    c.system.is_empty() || c.system.contains(':'),
                    "{}: {c:?}",
                    m.name
                );
                assert_eq!(c.system, c.system.trim(), "{}", m.name);
            }
        }
    }
}
