//! The conversion report: everything present in the message that the conversion did not carry
//! into FHIR, or carried with a problem (issue 12 item 8).
//!
//! Entries say **where** (segment, occurrence, repetition, field, component) and **what kind**,
//! never the value: a report can be logged or stored without PHI.
//!
//! ```
//! use ehrkit_mapping::{DataProblem, Location, Report, ReportKind};
//!
//! let mut report = Report::new();
//! report.push(ReportKind::ZSegment, Location::segment("ZPI", 1));
//! report.push(
//!     ReportKind::VocabularyMiss { map: "AdministrativeSex" },
//!     Location::segment("PID", 1).field(8),
//! );
//! report.push(
//!     ReportKind::DataQuality(DataProblem::InvalidDateTime),
//!     Location::segment("PID", 1).field(7),
//! );
//! let outcome = report.to_operation_outcome();
//! assert_eq!(outcome.issue.len(), 3);
//! assert_eq!(report.entries()[1].to_string(), "PID[1]-8: code not in the IG map AdministrativeSex");
//! ```

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use ehrkit_fhir_model::codes::{IssueSeverity, IssueType};
use ehrkit_fhir_model::{CodeableConcept, OperationOutcome, OperationOutcomeIssue, Primitive};

/// A segment id as kept in a [`Location`]: held inline, without an allocation, when it is at most
/// 7 bytes long (every HL7 v2 segment id is 3 characters); a longer id is kept on the heap.
/// Compares, orders, hashes and prints exactly as the `str` it holds.
#[derive(Clone)]
pub struct SegmentId(SegmentRepr);

#[derive(Clone)]
enum SegmentRepr {
    Inline {
        len: u8,
        bytes: [u8; SegmentId::INLINE],
    },
    Heap(Box<str>),
}

impl SegmentId {
    const INLINE: usize = 7;

    /// The id `id`.
    pub fn new(id: &str) -> Self {
        if id.len() <= Self::INLINE {
            let mut bytes = [0u8; Self::INLINE];
            bytes[..id.len()].copy_from_slice(id.as_bytes());
            SegmentId(SegmentRepr::Inline {
                len: id.len() as u8,
                bytes,
            })
        } else {
            SegmentId(SegmentRepr::Heap(id.into()))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            SegmentRepr::Inline { len, bytes } => {
                // Only whole `&str`s are copied in (`new`), so this slice is valid UTF-8.
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            SegmentRepr::Heap(s) => s,
        }
    }
}

impl Deref for SegmentId {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for SegmentId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for SegmentId {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for SegmentId {
    fn from(id: &str) -> Self {
        SegmentId::new(id)
    }
}

impl From<String> for SegmentId {
    fn from(id: String) -> Self {
        SegmentId::new(&id)
    }
}

impl From<SegmentId> for String {
    fn from(id: SegmentId) -> Self {
        id.as_str().to_owned()
    }
}

impl PartialEq for SegmentId {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for SegmentId {}

impl PartialEq<str> for SegmentId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for SegmentId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for SegmentId {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialOrd for SegmentId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SegmentId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for SegmentId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where in the message. Numbers are 1-based as in HL7 v2 paths (`PID[1]-3(2).1`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// Segment id (`PID`, `ZPI`). Reads as a `&str` (`Deref`, `as_str()`, `==` with `&str`).
    pub segment: SegmentId,
    /// Which occurrence of that segment id in the message (1 = first).
    pub occurrence: usize,
    /// Field number.
    pub field: Option<usize>,
    /// Field repetition (1 = first).
    pub repetition: Option<usize>,
    /// Component number.
    pub component: Option<usize>,
    /// Subcomponent number.
    pub subcomponent: Option<usize>,
}

impl Location {
    /// A whole segment: the `occurrence`-th segment with this id.
    pub fn segment(id: &str, occurrence: usize) -> Self {
        Location {
            segment: SegmentId::new(id),
            occurrence,
            field: None,
            repetition: None,
            component: None,
            subcomponent: None,
        }
    }

    /// Narrows to a field.
    pub fn field(mut self, n: usize) -> Self {
        self.field = Some(n);
        self
    }

    /// Narrows to a repetition of the field.
    pub fn repetition(mut self, n: usize) -> Self {
        self.repetition = Some(n);
        self
    }

    /// Narrows to a component.
    pub fn component(mut self, n: usize) -> Self {
        self.component = Some(n);
        self
    }

    /// Narrows to a subcomponent.
    pub fn subcomponent(mut self, n: usize) -> Self {
        self.subcomponent = Some(n);
        self
    }
}

impl Location {
    /// Appends the [`Display`](fmt::Display) text (`PID[1]-3(2).1.2`) without the formatting
    /// machinery: the converter writes one into the key of every resource without business
    /// identifiers.
    pub(crate) fn push_to(&self, out: &mut String) {
        use crate::v2_to_fhir::ids::push_decimal;
        out.push_str(self.segment.as_str());
        out.push('[');
        push_decimal(out, self.occurrence);
        out.push(']');
        if let Some(n) = self.field {
            out.push('-');
            push_decimal(out, n);
            if let Some(r) = self.repetition {
                out.push('(');
                push_decimal(out, r);
                out.push(')');
            }
            if let Some(c) = self.component {
                out.push('.');
                push_decimal(out, c);
                if let Some(s) = self.subcomponent {
                    out.push('.');
                    push_decimal(out, s);
                }
            }
        }
    }
}

impl fmt::Display for Location {
    /// `PID[1]-3(2).1.2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.segment.as_str())?;
        write!(f, "[{}]", self.occurrence)?;
        if let Some(n) = self.field {
            write!(f, "-{n}")?;
            if let Some(r) = self.repetition {
                write!(f, "({r})")?;
            }
            if let Some(c) = self.component {
                write!(f, ".{c}")?;
                if let Some(s) = self.subcomponent {
                    write!(f, ".{s}")?;
                }
            }
        }
        Ok(())
    }
}

/// A problem with a value that was present. The value itself is not kept, except where the
/// variant says so ([`KeptAsString`](DataProblem::KeptAsString),
/// [`NumberWithComparator`](DataProblem::NumberWithComparator)); and
/// [`SharedDescribedDifferently`](DataProblem::SharedDescribedDifferently) reports details
/// that were not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum DataProblem {
    /// A date/time that does not parse as DTM/DT/TM.
    InvalidDateTime,
    /// A number that does not parse as NM.
    InvalidNumber,
    /// A timestamp with a time but no offset, and no source time zone in the profile: FHIR
    /// needs an offset, so only the day was kept.
    MissingTimeZone,
    /// A local time the source time zone skips (daylight-saving gap): only the day was kept.
    NonexistentLocalTime,
    /// A local time the source time zone has twice (daylight-saving fold): the earlier offset
    /// was used.
    AmbiguousLocalTime,
    /// An element the IG requires is absent or empty.
    MissingRequired,
    /// A coding or identifier system nobody knows: the profile's fallback URI was used.
    UnknownSystem,
    /// A value that is not valid for the FHIR element it maps to.
    InvalidValue,
    /// Two distinct source objects carry the same business identifier: the later one got an id
    /// of its own (derived from its position), never merged into the first.
    DuplicateIdentifier,
    /// A value its type cannot read (reported beside this entry) was kept as text
    /// (`valueString`) rather than lost.
    KeptAsString,
    /// A number written with a comparator (`<0.01`) where v2 wants a plain NM: read as a
    /// quantity with that comparator.
    NumberWithComparator,
    /// Shared reference data (a Practitioner, Location or Organization), or the patient of a
    /// repeated ORU PATIENT_RESULT group, met again under the same identifier but described
    /// differently: it is one resource, with the later description when it holds all of the
    /// earlier one, else the earlier.
    SharedDescribedDifferently,
}

impl DataProblem {
    fn text(self) -> &'static str {
        match self {
            DataProblem::InvalidDateTime => "not a valid HL7 v2 date/time",
            DataProblem::InvalidNumber => "not a valid HL7 v2 number",
            DataProblem::MissingTimeZone => {
                "timestamp without offset and no source time zone; day kept"
            }
            DataProblem::NonexistentLocalTime => {
                "local time skipped by the source time zone; day kept"
            }
            DataProblem::AmbiguousLocalTime => {
                "local time repeated in the source time zone; earlier offset used"
            }
            DataProblem::MissingRequired => "required value absent",
            DataProblem::UnknownSystem => "unknown coding or identifier system; fallback URI used",
            DataProblem::InvalidValue => "value not valid for its FHIR element",
            DataProblem::DuplicateIdentifier => {
                "business identifier already used by another object; kept apart by position"
            }
            DataProblem::KeptAsString => "value its type cannot read; kept as a string",
            DataProblem::NumberWithComparator => {
                "number with a comparator; read as a quantity with that comparator"
            }
            DataProblem::SharedDescribedDifferently => {
                "identifier met earlier in the message with other details; one resource, the \
                 fuller details kept (else the first)"
            }
        }
    }
}

/// What kind of entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ReportKind {
    /// A segment the message map does not use.
    UnmappedSegment,
    /// A field present but not mapped.
    UnmappedField,
    /// A component present but not mapped.
    UnmappedComponent,
    /// A Z-segment (site-defined; no IG map).
    ZSegment,
    /// A code the IG map (or the profile) does not list; the code was kept as given.
    VocabularyMiss {
        /// The IG map's name.
        map: &'static str,
    },
    /// A value that was present but had a problem.
    DataQuality(DataProblem),
}

impl ReportKind {
    /// The OperationOutcome severity of this kind.
    pub fn severity(self) -> IssueSeverity {
        match self {
            ReportKind::UnmappedSegment
            | ReportKind::UnmappedField
            | ReportKind::UnmappedComponent
            | ReportKind::ZSegment => IssueSeverity::Information,
            ReportKind::VocabularyMiss { .. } | ReportKind::DataQuality(_) => {
                IssueSeverity::Warning
            }
        }
    }

    /// The OperationOutcome issue type of this kind.
    pub fn issue_type(self) -> IssueType {
        match self {
            ReportKind::UnmappedSegment
            | ReportKind::UnmappedField
            | ReportKind::UnmappedComponent
            | ReportKind::ZSegment => IssueType::NotSupported,
            ReportKind::VocabularyMiss { .. } => IssueType::CodeInvalid,
            ReportKind::DataQuality(DataProblem::MissingRequired) => IssueType::Required,
            ReportKind::DataQuality(_) => IssueType::Value,
        }
    }
}

impl fmt::Display for ReportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportKind::UnmappedSegment => f.write_str("segment not mapped"),
            ReportKind::UnmappedField => f.write_str("field not mapped"),
            ReportKind::UnmappedComponent => f.write_str("component not mapped"),
            ReportKind::ZSegment => f.write_str("Z-segment not mapped"),
            ReportKind::VocabularyMiss { map } => write!(f, "code not in the IG map {map}"),
            ReportKind::DataQuality(p) => f.write_str(p.text()),
        }
    }
}

/// One report entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportEntry {
    /// What.
    pub kind: ReportKind,
    /// Where.
    pub location: Location,
}

impl fmt::Display for ReportEntry {
    /// `PID[1]-8: code not in the IG map AdministrativeSex` (no values, no PHI).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.kind)
    }
}

/// Everything a conversion did not map, in the order the conversion met it (a map reads its
/// fields in the IG's order, which is not always the field order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    entries: Vec<ReportEntry>,
}

impl Report {
    /// An empty report.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an entry.
    pub fn push(&mut self, kind: ReportKind, location: Location) {
        self.entries.push(ReportEntry { kind, location });
    }

    /// The entries, in the order they were added.
    pub fn entries(&self) -> &[ReportEntry] {
        &self.entries
    }

    /// True when nothing was reported.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// An empty report with room for `n` entries (a conversion reports a few dozen: no regrowth
    /// while it runs).
    pub(crate) fn with_capacity(n: usize) -> Self {
        Report {
            entries: Vec::with_capacity(n),
        }
    }

    /// Drops repeated entries (the same kind at the same location), keeping the first, in
    /// place. Repeats are rare, so the usual case only hashes each entry once and keeps the
    /// entries where they are (no copy). The hasher is `rustc-hash`'s: the keys are our own
    /// locations, not attacker-chosen table keys worth SipHash's cost per conversion.
    pub(crate) fn dedup(&mut self) {
        let mut seen = rustc_hash::FxHashSet::default();
        seen.reserve(self.entries.len());
        let unique = self
            .entries
            .iter()
            .all(|e| seen.insert((e.kind, &e.location)));
        if unique {
            return;
        }
        seen.clear();
        let keep: Vec<bool> = self
            .entries
            .iter()
            .map(|e| seen.insert((e.kind, &e.location)))
            .collect();
        drop(seen);
        let mut keep = keep.into_iter();
        self.entries.retain(|_| keep.next().unwrap_or(true));
    }

    /// The report as a FHIR OperationOutcome: one issue per entry, with severity and type from
    /// [`ReportKind`], the entry's text in `details.text`, and the v2 location (`PID[1]-3(2).1`)
    /// in `diagnostics`. An empty report gives one `information` / `informational` issue
    /// ("all content mapped"), since an OperationOutcome needs at least one issue.
    pub fn to_operation_outcome(&self) -> OperationOutcome {
        let issue = if self.entries.is_empty() {
            let mut i =
                OperationOutcomeIssue::new(IssueSeverity::Information, IssueType::Informational);
            i.details = Some(Box::new(text_concept("all content mapped")));
            vec![i]
        } else {
            self.entries
                .iter()
                .map(|e| {
                    let mut i = OperationOutcomeIssue::new(e.kind.severity(), e.kind.issue_type());
                    i.details = Some(Box::new(text_concept(&e.kind.to_string())));
                    i.diagnostics = Some(Primitive::new(e.location.to_string()));
                    i
                })
                .collect()
        };
        OperationOutcome::new(issue)
    }
}

fn text_concept(text: &str) -> CodeableConcept {
    CodeableConcept {
        text: Some(Primitive::new(text.to_owned())),
        ..Default::default()
    }
}

impl<'a> IntoIterator for &'a Report {
    type Item = &'a ReportEntry;
    type IntoIter = std::slice::Iter<'a, ReportEntry>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_to_writes_the_display_text() {
        let base = Location::segment("OBX", 12);
        for at in [
            base.clone(),
            base.clone().field(5),
            base.clone().field(5).repetition(2),
            base.clone().field(5).component(3),
            base.clone()
                .field(5)
                .repetition(10)
                .component(1)
                .subcomponent(4),
            Location::segment("ZX1", 0).field(0).subcomponent(7),
            Location {
                repetition: Some(3),
                ..Location::segment("PID", 1)
            },
        ] {
            let mut out = String::from("key#");
            at.push_to(&mut out);
            assert_eq!(out, format!("key#{at}"));
        }
    }

    #[test]
    fn segment_ids_behave_as_their_text() {
        let pid = Location::segment("PID", 2).field(3);
        assert_eq!(pid.segment, "PID");
        assert_eq!(pid.segment.as_str(), "PID");
        assert_eq!(format!("{:?}", pid.segment), "\"PID\"");
        // Ordered as strings, whatever the length: "OBX" < "PID" < "PV1" < "ZZZZZZZZZ".
        let mut ids: Vec<SegmentId> = ["PV1", "ZZZZZZZZZ", "PID", "OBX"]
            .into_iter()
            .map(SegmentId::new)
            .collect();
        ids.sort();
        let ids: Vec<&str> = ids.iter().map(|s| s.as_str()).collect();
        assert_eq!(ids, ["OBX", "PID", "PV1", "ZZZZZZZZZ"]);
        // An id longer than the inline capacity is kept whole.
        let long = Location::segment("ZLONGSEGMENT", 1).field(1);
        assert_eq!(long.to_string(), "ZLONGSEGMENT[1]-1");
        let set: std::collections::BTreeSet<SegmentId> =
            [SegmentId::new("ZLONGSEGMENT"), SegmentId::new("PID")].into();
        assert!(set.contains("PID") && set.contains("ZLONGSEGMENT"));
    }

    #[test]
    fn locations_print_as_v2_paths() {
        assert_eq!(Location::segment("PID", 1).to_string(), "PID[1]");
        assert_eq!(
            Location::segment("PID", 1)
                .field(3)
                .repetition(2)
                .component(4)
                .subcomponent(1)
                .to_string(),
            "PID[1]-3(2).4.1"
        );
        assert_eq!(
            Location::segment("OBX", 12)
                .field(5)
                .component(2)
                .to_string(),
            "OBX[12]-5.2"
        );
    }

    #[test]
    fn operation_outcome_has_one_issue_per_entry_and_round_trips() {
        let mut r = Report::new();
        r.push(
            ReportKind::UnmappedField,
            Location::segment("PV1", 1).field(52),
        );
        r.push(
            ReportKind::DataQuality(DataProblem::MissingRequired),
            Location::segment("OBX", 2).field(11),
        );
        let oo = r.to_operation_outcome();
        assert_eq!(oo.issue.len(), 2);
        let i = &oo.issue[1];
        assert_eq!(
            i.severity.as_ref().unwrap().value,
            Some(IssueSeverity::Warning)
        );
        assert_eq!(i.code.as_ref().unwrap().value, Some(IssueType::Required));
        assert_eq!(
            i.diagnostics.as_ref().unwrap().value.as_deref(),
            Some("OBX[2]-11")
        );
        let json = ehrkit_fhir_model::to_string(&oo);
        assert!(json.contains("\"not-supported\""), "{json}");
        let back: OperationOutcome = ehrkit_fhir_model::from_slice(json.as_bytes()).unwrap();
        assert_eq!(back, oo);
    }

    #[test]
    fn empty_report_still_gives_a_valid_outcome() {
        let oo = Report::new().to_operation_outcome();
        assert_eq!(oo.issue.len(), 1);
        assert_eq!(
            oo.issue[0].code.as_ref().unwrap().value,
            Some(IssueType::Informational)
        );
    }
}
