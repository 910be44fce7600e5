//! The rules: each quirk and each configured operation, applied in place to typed resources.
//!
//! Order per resource: vendor extensions moved, identifiers, resource-specific quirks,
//! configured operations (concept maps, copies, conditional transforms), periods, contained
//! resources, id fix; then one `meta.tag` per rule that changed something.

use std::borrow::Cow;
use std::collections::BTreeMap;

use ehrkit_fhir_model::codes::{BundleType, SearchEntryMode};
use ehrkit_fhir_model::json::Value;
use ehrkit_fhir_model::{
    Bundle, CodeableConcept, Coding, Extension, ExtensionValue, Identifier, Meta, Period,
    Primitive, Resource,
};
use ehrkit_fhir_model::{
    ConditionAbatement, ConditionOnset, MedicationRequestMedication, ObservationEffective,
};
use sha2::{Digest, Sha256};

use super::profile::{CodeElement, FhirProfile, FhirQuirk, V2_0203};
use super::{Change, Note, Operation, EXTENSION_BASE, TAG_SYSTEM};
use crate::CodeOverride;

const US_SSN: &str = "http://hl7.org/fhir/sid/us-ssn";
const SSN_OID: &str = "urn:oid:2.16.840.1.113883.4.1";
const DATA_ABSENT: &str = "http://hl7.org/fhir/StructureDefinition/data-absent-reason";
const EPIC_LEGAL_SEX: &str = "http://open.epic.com/FHIR/StructureDefinition/extension/legal-sex";
const EPIC_CLINICAL_SEX: &str =
    "http://open.epic.com/FHIR/StructureDefinition/extension/sex-for-clinical-use";
const US_CORE_SEX: &str = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-sex";
const SEX_PARAMETER: &str =
    "http://hl7.org/fhir/StructureDefinition/patient-sexParameterForClinicalUse";
const SEX_PARAMETER_CS: &str =
    "http://terminology.hl7.org/CodeSystem/sex-parameter-for-clinical-use";
const SNOMED: &str = "http://snomed.info/sct";
const CERNER_EXT: &str = "https://fhir-ehr.cerner.com/r4/StructureDefinition/";
const ATHENA_PRACTICE: &str = "https://fhir.athena.io/StructureDefinition/ah-practice";
const TENANT_TAG: &str = "urn:ehrkit:tenant";
const ALLERGY_VER: &str = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification";
const ALLERGY_CLIN: &str = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical";
const CONDITION_VER: &str = "http://terminology.hl7.org/CodeSystem/condition-ver-status";
const CONDITION_CLIN: &str = "http://terminology.hl7.org/CodeSystem/condition-clinical";
const STANDARD_SYSTEMS: &[&str] = &[
    "http://loinc.org",
    SNOMED,
    "http://www.nlm.nih.gov/research/umls/rxnorm",
    "http://hl7.org/fhir/sid/cvx",
    "http://hl7.org/fhir/sid/icd-10-cm",
];

fn text(p: &Option<Primitive<String>>) -> Option<&str> {
    p.as_ref().and_then(|p| p.value.as_deref())
}

fn prim(s: &str) -> Option<Primitive<String>> {
    Some(Primitive::new(s.to_owned()))
}

fn v2_0203_display(code: &str) -> Option<&'static str> {
    Some(match code {
        "MR" => "Medical record number",
        "PE" => "Living Subject Enterprise Number",
        "PI" => "Patient internal identifier",
        "PT" => "Patient external identifier",
        "SS" => "Social Security number",
        "U" => "Unspecified identifier",
        "AN" => "Account number",
        "VN" => "Visit number",
        "NPI" => "National provider identifier",
        _ => return None,
    })
}

fn v2_0203(code: &str) -> Coding {
    let c = Coding::with_code(V2_0203, code);
    match v2_0203_display(code) {
        Some(d) => c.display(d),
        None => c,
    }
}

fn status_display(system: &str, code: &str) -> Option<&'static str> {
    Some(match (system, code) {
        (ALLERGY_CLIN | CONDITION_CLIN, "active") => "Active",
        (ALLERGY_CLIN | CONDITION_CLIN, "inactive") => "Inactive",
        (ALLERGY_CLIN | CONDITION_CLIN, "resolved") => "Resolved",
        (CONDITION_CLIN, "recurrence") => "Recurrence",
        (CONDITION_CLIN, "relapse") => "Relapse",
        (CONDITION_CLIN, "remission") => "Remission",
        (ALLERGY_VER | CONDITION_VER, "unconfirmed") => "Unconfirmed",
        (ALLERGY_VER | CONDITION_VER, "confirmed") => "Confirmed",
        (ALLERGY_VER | CONDITION_VER, "refuted") => "Refuted",
        (ALLERGY_VER | CONDITION_VER, "entered-in-error") => "Entered in Error",
        (CONDITION_VER, "provisional") => "Provisional",
        (CONDITION_VER, "differential") => "Differential",
        _ => return None,
    })
}

fn no_known_allergy_display(code: &str) -> Option<&'static str> {
    Some(match code {
        "716186003" => "No known allergy",
        "409137002" => "No known drug allergy",
        "429625007" => "No known food allergy",
        "428607008" => "No known environmental allergy",
        _ => return None,
    })
}

/// Sets a concept's text to `new`, keeping a different text it had in an
/// `urn:ehrkit:normalization:original-text` extension (the words the clinician saw).
fn replace_text(c: &mut CodeableConcept, new: &str) {
    if let Some(old) = c.text.take().and_then(|t| t.value) {
        if old != new {
            c.extension.push(original_extension(
                "original-text",
                ExtensionValue::String(Primitive::new(old)),
            ));
        }
    }
    c.text = prim(new);
}

fn original_extension(name: &str, value: ExtensionValue) -> Extension {
    Extension {
        url: Some(format!("{EXTENSION_BASE}{name}")),
        value: Some(value),
        ..Default::default()
    }
}

/// A valid FHIR logical id: 1–64 of `[A-Za-z0-9\-\.]`.
pub(super) fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn hashed_id(seed: &str) -> String {
    let d = Sha256::digest(seed.as_bytes());
    let mut s = String::with_capacity(41);
    s.push('h');
    for b in &d[..20] {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The changes and notes of one resource, before its final id is known.
struct Ctx {
    rtype: Cow<'static, str>,
    changes: Vec<(String, Operation, String)>,
    notes: Vec<(String, String, &'static str)>,
}

impl Ctx {
    fn change(&mut self, path: impl Into<String>, op: Operation, rule: &str) {
        self.changes.push((path.into(), op, rule.to_owned()));
    }
    fn quirk(&mut self, path: impl Into<String>, op: Operation, q: FhirQuirk) {
        self.change(path, op, q.name());
    }
    fn note(&mut self, path: impl Into<String>, rule: &str, reason: &'static str) {
        self.notes.push((path.into(), rule.to_owned(), reason));
    }
}

/// `Type.identifier[i]`, written only when a change or note needs it.
struct At<'a> {
    rt: &'a str,
    i: usize,
}

impl std::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.identifier[{}]", self.rt, self.i)
    }
}

/// Borrowed common parts of the resource types with rules.
struct Parts<'a> {
    id: &'a mut Option<String>,
    meta: &'a mut Option<Box<Meta>>,
    extension: &'a mut Vec<Extension>,
    contained: &'a mut Vec<Resource>,
    identifier: &'a mut Vec<Identifier>,
}

macro_rules! parts {
    ($r:expr) => {
        match $r {
            Resource::Patient(x) => Some(parts!(@ x)),
            Resource::Encounter(x) => Some(parts!(@ x)),
            Resource::Observation(x) => Some(parts!(@ x)),
            Resource::Condition(x) => Some(parts!(@ x)),
            Resource::AllergyIntolerance(x) => Some(parts!(@ x)),
            Resource::MedicationRequest(x) => Some(parts!(@ x)),
            Resource::Immunization(x) => Some(parts!(@ x)),
            Resource::DocumentReference(x) => Some(parts!(@ x)),
            Resource::Location(x) => Some(parts!(@ x)),
            Resource::Practitioner(x) => Some(parts!(@ x)),
            Resource::RelatedPerson(x) => Some(parts!(@ x)),
            Resource::DiagnosticReport(x) => Some(parts!(@ x)),
            _ => None,
        }
    };
    (@ $x:ident) => {
        Parts {
            id: &mut $x.id,
            meta: &mut $x.meta,
            extension: &mut $x.extension,
            contained: &mut $x.contained,
            identifier: &mut $x.identifier,
        }
    };
}

/// Where a coded element lives.
enum Slot<'a> {
    One(&'a mut Option<Box<CodeableConcept>>),
    Many(&'a mut Vec<CodeableConcept>),
    Class(&'a mut Option<Box<Coding>>),
    Medication(&'a mut Option<MedicationRequestMedication>),
}

fn slot(r: &mut Resource, el: CodeElement) -> Option<Slot<'_>> {
    Some(match (r, el) {
        (Resource::Encounter(e), CodeElement::EncounterClass) => Slot::Class(&mut e.class),
        (Resource::Encounter(e), CodeElement::EncounterType) => Slot::Many(&mut e.type_),
        (Resource::Encounter(e), CodeElement::EncounterServiceType) => {
            Slot::One(&mut e.service_type)
        }
        (Resource::Observation(o), CodeElement::ObservationCode) => Slot::One(&mut o.code),
        (Resource::Observation(o), CodeElement::ObservationCategory) => Slot::Many(&mut o.category),
        (Resource::Condition(c), CodeElement::ConditionCode) => Slot::One(&mut c.code),
        (Resource::Condition(c), CodeElement::ConditionCategory) => Slot::Many(&mut c.category),
        (Resource::AllergyIntolerance(a), CodeElement::AllergyIntoleranceCode) => {
            Slot::One(&mut a.code)
        }
        (Resource::Immunization(i), CodeElement::ImmunizationVaccineCode) => {
            Slot::One(&mut i.vaccine_code)
        }
        (Resource::MedicationRequest(m), CodeElement::MedicationRequestMedication) => {
            Slot::Medication(&mut m.medication)
        }
        (Resource::DocumentReference(d), CodeElement::DocumentReferenceType) => {
            Slot::One(&mut d.type_)
        }
        (Resource::DocumentReference(d), CodeElement::DocumentReferenceCategory) => {
            Slot::Many(&mut d.category)
        }
        _ => return None,
    })
}

impl Slot<'_> {
    /// Every coding, cloned.
    fn codings(&self) -> Vec<Coding> {
        match self {
            Slot::One(c) => c.as_ref().map(|c| c.coding.clone()).unwrap_or_default(),
            Slot::Many(v) => v.iter().flat_map(|c| c.coding.iter().cloned()).collect(),
            Slot::Class(c) => c.iter().map(|c| (**c).clone()).collect(),
            Slot::Medication(Some(MedicationRequestMedication::CodeableConcept(c))) => {
                c.coding.clone()
            }
            Slot::Medication(_) => Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Slot::One(c) => c.is_none(),
            Slot::Many(v) => v.is_empty(),
            Slot::Class(c) => c.is_none(),
            Slot::Medication(m) => m.is_none(),
        }
    }

    /// Writes `coding` first (a concept is created when there is none; `Encounter.class` is
    /// replaced, its original kept in an extension). False when it was already there.
    fn put_first(&mut self, coding: Coding, rule: &str) -> bool {
        let concept = match self {
            Slot::Class(c) => {
                if let Some(old) = c.as_deref() {
                    if old.system == coding.system && old.code == coding.code {
                        return false;
                    }
                }
                let mut coding = coding;
                if let Some(old) = c.take() {
                    coding
                        .extension
                        .push(original_extension(rule, ExtensionValue::Coding(old)));
                }
                **c = Some(Box::new(coding));
                return true;
            }
            Slot::One(c) => c.get_or_insert_with(Default::default).as_mut(),
            Slot::Many(v) => {
                if v.is_empty() {
                    v.push(CodeableConcept::default());
                }
                &mut v[0]
            }
            Slot::Medication(m) => {
                let m = m.get_or_insert_with(|| {
                    MedicationRequestMedication::CodeableConcept(Box::default())
                });
                match m {
                    MedicationRequestMedication::CodeableConcept(c) => c.as_mut(),
                    _ => return false,
                }
            }
        };
        if concept
            .coding
            .iter()
            .any(|c| c.system == coding.system && c.code == coding.code)
        {
            return false;
        }
        concept.coding.insert(0, coding);
        true
    }
}

fn override_coding(o: &CodeOverride) -> Coding {
    let c = Coding::with_code(&o.system, &o.code);
    match &o.display {
        Some(d) => c.display(d),
        None => c,
    }
}

pub(super) struct Run<'p> {
    p: &'p FhirProfile,
    pub(super) changes: Vec<Change>,
    pub(super) notes: Vec<Note>,
    /// (type, old id) → new id.
    id_map: BTreeMap<(String, String), String>,
}

impl<'p> Run<'p> {
    pub(super) fn new(p: &'p FhirProfile) -> Self {
        Run {
            p,
            changes: Vec::new(),
            notes: Vec::new(),
            id_map: BTreeMap::new(),
        }
    }

    pub(super) fn resources(&mut self, input: Vec<Resource>) -> Vec<Resource> {
        let mut out = Vec::with_capacity(input.len());
        for r in input {
            self.one(r, &mut out);
        }
        if !self.id_map.is_empty() {
            for r in &mut out {
                self.rewrite_references(r);
            }
        }
        out
    }

    pub(super) fn bundle(&mut self, mut bundle: Bundle) -> Bundle {
        let searchset = matches!(
            bundle.type_.as_ref().and_then(|t| t.value.as_ref()),
            Some(BundleType::Searchset)
        );
        let entries = std::mem::take(&mut bundle.entry);
        let mut buf = Vec::new();
        for mut entry in entries {
            let Some(resource) = entry.resource.take() else {
                bundle.entry.push(entry);
                continue;
            };
            let rtype = type_name(resource.resource_type());
            // Only an id that is not a FHIR id changes (the id fix): keep the old one then only.
            let old_id = resource.id().filter(|i| !is_valid_id(i)).map(str::to_owned);
            self.one(*resource, &mut buf);
            let mut rest = buf.drain(..);
            let Some(first) = rest.next() else {
                bundle.entry.push(entry);
                continue;
            };
            // `<base>` of the parent's `<base><Type>/<id>` full URL, for what was lifted out.
            let base = if rest.len() > 0 {
                let pid = old_id.as_deref().or(first.id());
                match (text(&entry.full_url), pid) {
                    (Some(url), Some(pid)) => url
                        .strip_suffix(pid)
                        .and_then(|u| u.strip_suffix('/'))
                        .and_then(|u| u.strip_suffix(&*rtype))
                        .map(str::to_owned),
                    _ => None,
                }
            } else {
                None
            };
            if let (Some(old), Some(new)) = (&old_id, first.id()) {
                if old != new {
                    if let Some(url) = text(&entry.full_url) {
                        entry.full_url = prim(&replace_tail(url, &rtype, old, new));
                    }
                }
            }
            entry.resource = Some(Box::new(first));
            bundle.entry.push(entry);
            for lifted in rest {
                let full_url = match (&base, lifted.id()) {
                    (Some(base), Some(lid)) => {
                        prim(&format!("{base}{}/{lid}", lifted.resource_type()))
                    }
                    _ => None,
                };
                bundle.entry.push(ehrkit_fhir_model::BundleEntry {
                    full_url,
                    resource: Some(Box::new(lifted)),
                    // Not what the search asked for (`total` counts the matches).
                    search: searchset.then(|| {
                        Box::new(ehrkit_fhir_model::BundleEntrySearch {
                            mode: Some(Primitive::new(SearchEntryMode::Include)),
                            ..Default::default()
                        })
                    }),
                    ..Default::default()
                });
            }
        }
        if !self.id_map.is_empty() {
            for e in &mut bundle.entry {
                if let Some(r) = e.resource.as_deref_mut() {
                    self.rewrite_references(r);
                }
            }
        }
        bundle
    }

    /// Normalizes one resource into `out` (the resource, then what was lifted out of it).
    fn one(&mut self, r: Resource, out: &mut Vec<Resource>) {
        let ctx = Ctx {
            rtype: type_name(r.resource_type()),
            changes: Vec::new(),
            notes: Vec::new(),
        };
        self.run_one(r, ctx, out);
    }

    /// The rules on one resource whose record starts with `ctx`; what it lifts out goes through
    /// the same rules (bounded: the parser limits how deep resources nest).
    fn run_one(&mut self, mut r: Resource, mut ctx: Ctx, out: &mut Vec<Resource>) {
        let mut lifted = Vec::new();
        if let Some(parts) = parts!(&mut r) {
            self.common(parts, &mut ctx, &mut lifted);
        }
        self.specific(&mut r, &mut ctx);
        self.configured(&mut r, &mut ctx);
        if self.p.fix_period_precision {
            periods(&mut r, &mut ctx);
        }
        let lifted = if lifted.is_empty() {
            Vec::new()
        } else {
            self.lift(&mut r, lifted, &mut ctx)
        };
        if self.p.fix_ids {
            self.fix_id(&mut r, &mut ctx);
        }
        self.finish(r, ctx, out);
        for (c, c_ctx) in lifted {
            self.run_one(c, c_ctx, out);
        }
    }

    fn finish(&mut self, mut r: Resource, ctx: Ctx, out: &mut Vec<Resource>) {
        if ctx.changes.is_empty() && ctx.notes.is_empty() {
            out.push(r);
            return;
        }
        let id = r.id().map(str::to_owned);
        if !ctx.changes.is_empty() {
            let mut rules: Vec<(&str, Operation)> = Vec::new();
            for (_, op, rule) in &ctx.changes {
                if !rules.iter().any(|(r, _)| r == rule) {
                    rules.push((rule, *op));
                }
            }
            let tags: Vec<Coding> = rules
                .iter()
                .map(|(rule, op)| Coding::with_code(TAG_SYSTEM, rule).display(op.name()))
                .collect();
            if let Some(parts) = parts!(&mut r) {
                let meta = parts.meta.get_or_insert_with(Default::default);
                for t in tags {
                    if !meta
                        .tag
                        .iter()
                        .any(|x| x.system == t.system && x.code == t.code)
                    {
                        meta.tag.push(t);
                    }
                }
            } else {
                r = with_json(r, |v| add_json_tags(v, &tags));
            }
        }
        for (path, operation, rule) in ctx.changes {
            self.changes.push(Change {
                resource_type: ctx.rtype.to_string(),
                resource_id: id.clone(),
                path,
                operation,
                rule,
            });
        }
        for (path, rule, reason) in ctx.notes {
            self.notes.push(Note {
                resource_type: ctx.rtype.to_string(),
                resource_id: id.clone(),
                path,
                rule,
                reason,
            });
        }
        out.push(r);
    }

    /// Rules on the parts every resource type with rules shares.
    fn common(&self, parts: Parts<'_>, ctx: &mut Ctx, lifted: &mut Vec<Resource>) {
        let p = self.p;
        let rt = ctx.rtype.clone();
        let rt: &str = &rt;
        // Vendor extensions → meta.extension.
        let moves: [(FhirQuirk, &str, bool); 2] = [
            (FhirQuirk::OracleCustomExtensions, CERNER_EXT, true),
            (FhirQuirk::AthenaPracticeExtension, ATHENA_PRACTICE, false),
        ];
        for (q, url, prefix) in moves {
            if !p.has(q) {
                continue;
            }
            let mut i = 0;
            let mut n = 0;
            while i < parts.extension.len() {
                let hit = parts.extension[i].url.as_deref().is_some_and(|u| {
                    if prefix {
                        u.starts_with(url)
                    } else {
                        u == url
                    }
                });
                if hit {
                    let e = parts.extension.remove(i);
                    parts
                        .meta
                        .get_or_insert_with(Default::default)
                        .extension
                        .push(e);
                    ctx.quirk(format!("{rt}.extension[{n}]"), Operation::MoveElement, q);
                } else {
                    i += 1;
                }
                n += 1;
            }
        }
        if p.has(FhirQuirk::AthenaTenantIds) {
            let tenant = parts.id.as_deref().and_then(|id| {
                let rest = id.strip_prefix("a-")?;
                let (t, tail) = rest.split_once('.')?;
                (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) && !tail.is_empty())
                    .then(|| t.to_owned())
            });
            if let Some(t) = tenant {
                let meta = parts.meta.get_or_insert_with(Default::default);
                if !meta.tag.iter().any(|c| c.system_str() == Some(TENANT_TAG)) {
                    meta.tag.push(Coding::with_code(TENANT_TAG, &t));
                    ctx.quirk(
                        format!("{rt}.meta.tag"),
                        Operation::CopyElement,
                        FhirQuirk::AthenaTenantIds,
                    );
                }
            }
        }
        for (i, id) in parts.identifier.iter_mut().enumerate() {
            self.identifier(id, &At { rt, i }, ctx);
        }
        if p.has(FhirQuirk::OracleContainedLocations) {
            let mut i = 0;
            while i < parts.contained.len() {
                if matches!(parts.contained[i], Resource::Location(_)) {
                    lifted.push(parts.contained.remove(i));
                } else {
                    i += 1;
                }
            }
        }
    }

    fn identifier(&self, id: &mut Identifier, at: &At<'_>, ctx: &mut Ctx) {
        let p = self.p;
        // The normalizer's own identifiers (the original of a rewritten id) are not vendor data.
        if text(&id.system).is_some_and(|s| s.starts_with(EXTENSION_BASE)) {
            return;
        }
        if p.has(FhirQuirk::EpicPaddedIdentifier) {
            if let Some(v) = id.value.as_mut().and_then(|v| v.value.as_mut()) {
                let t = v.trim();
                if t.len() != v.len() && !t.is_empty() {
                    *v = t.to_owned();
                    ctx.quirk(
                        format!("{at}.value"),
                        Operation::ConditionalTransform,
                        FhirQuirk::EpicPaddedIdentifier,
                    );
                }
            }
        }
        // Before the type rules, so the SS coding it adds is seen by them in this pass.
        if p.has(FhirQuirk::SsnOidSystem) && text(&id.system) == Some(SSN_OID) {
            id.system = prim(US_SSN);
            ctx.quirk(
                format!("{at}.system"),
                Operation::ConceptMap,
                FhirQuirk::SsnOidSystem,
            );
            let ty = id.type_.get_or_insert_with(Default::default);
            if !ty.coding.iter().any(|c| c.system_str() == Some(V2_0203)) {
                ty.coding.insert(0, v2_0203("SS"));
                ctx.quirk(
                    format!("{at}.type.coding"),
                    Operation::ConditionalTransform,
                    FhirQuirk::SsnOidSystem,
                );
            }
        }
        let label = id.type_.as_deref().and_then(|t| {
            t.text_str().map(str::to_owned).or_else(|| {
                t.coding
                    .iter()
                    .find(|c| c.system_str() != Some(V2_0203))
                    .and_then(|c| text(&c.display).map(str::to_owned))
            })
        });
        let table = label.as_deref().and_then(|l| p.identifier_types.get(l));
        if p.has(FhirQuirk::EpicIdentifierTypeText) {
            if let (Some(t), Some(ty)) = (table, id.type_.as_deref_mut()) {
                if ty.coding.is_empty() {
                    // The label becomes a coding of its own (provenance), the text goes.
                    ty.coding.push(v2_0203(&t.code));
                    if let Some(label) = ty.text.take().and_then(|t| t.value) {
                        ty.coding.push(Coding::with_code(
                            &format!("{EXTENSION_BASE}identifier-type-label"),
                            &label,
                        ));
                    }
                    ctx.quirk(
                        format!("{at}.type.coding"),
                        Operation::ConceptMap,
                        FhirQuirk::EpicIdentifierTypeText,
                    );
                    if let Some(sys) = &t.system {
                        if text(&id.system) != Some(sys.as_str()) {
                            if let Some(old) = text(&id.system) {
                                id.extension.push(original_extension(
                                    "original-system",
                                    ExtensionValue::Uri(Primitive::new(old.to_owned())),
                                ));
                            }
                            id.system = prim(sys);
                            ctx.quirk(
                                format!("{at}.system"),
                                Operation::ConceptMap,
                                FhirQuirk::EpicIdentifierTypeText,
                            );
                        }
                    }
                }
            } else if label.is_some() && id.type_.as_deref().is_some_and(|t| t.coding.is_empty()) {
                ctx.note(
                    format!("{at}.type"),
                    FhirQuirk::EpicIdentifierTypeText.name(),
                    "identifier type label not in the profile's identifier_types",
                );
            }
        }
        if p.has(FhirQuirk::OracleIdentifierTypeCodeSet) {
            if let Some(ty) = id.type_.as_deref_mut() {
                let std = ty
                    .coding
                    .iter()
                    .position(|c| c.system_str() == Some(V2_0203));
                let tenant = ty
                    .coding
                    .iter()
                    .any(|c| c.system_str().is_some_and(|s| s.contains("/codeSet/")));
                if let (Some(i), true) = (std, tenant) {
                    let before = ty.coding.clone();
                    let code = ty
                        .coding
                        .remove(i)
                        .code_str()
                        .unwrap_or_default()
                        .to_owned();
                    for c in &mut ty.coding {
                        c.user_selected = None;
                    }
                    ty.coding.insert(0, v2_0203(&code));
                    // A text that repeats the tenant coding's display is that coding's label.
                    let label = ty.text_str().map(str::to_owned);
                    let mut dropped = false;
                    if label.is_some_and(|l| {
                        ty.coding[1..]
                            .iter()
                            .any(|c| text(&c.display) == Some(l.as_str()))
                    }) {
                        ty.text = None;
                        dropped = true;
                    }
                    if ty.coding != before || dropped {
                        ctx.quirk(
                            format!("{at}.type.coding"),
                            Operation::ConditionalTransform,
                            FhirQuirk::OracleIdentifierTypeCodeSet,
                        );
                    }
                }
            }
        }
        let absent = id.system.as_ref().is_some_and(|s| {
            s.value.is_none()
                && s.extension()
                    .iter()
                    .any(|e| e.url.as_deref() == Some(DATA_ABSENT))
        });
        if absent && p.has(FhirQuirk::OracleDataAbsentSystem) {
            match table.and_then(|t| t.system.as_deref()) {
                Some(sys) => {
                    id.system = prim(sys);
                    ctx.quirk(
                        format!("{at}.system"),
                        Operation::ConceptMap,
                        FhirQuirk::OracleDataAbsentSystem,
                    );
                }
                None => ctx.note(
                    format!("{at}.system"),
                    FhirQuirk::OracleDataAbsentSystem.name(),
                    "no site system for this identifier type",
                ),
            }
        }
    }

    /// Rules of one resource type.
    fn specific(&self, r: &mut Resource, ctx: &mut Ctx) {
        let p = self.p;
        // First, so the rules below see the standard codings first.
        let (codes, millis) = (
            p.has(FhirQuirk::OracleTenantCodes),
            p.has(FhirQuirk::OracleZeroMilliseconds),
        );
        if codes || millis {
            oracle_json(r, ctx, codes, millis);
        }
        if p.has(FhirQuirk::EpicStatusCodingVersion) {
            match r {
                Resource::AllergyIntolerance(a) => {
                    let at = "AllergyIntolerance.clinicalStatus";
                    status_version(&mut a.clinical_status, at, ctx);
                    let at = "AllergyIntolerance.verificationStatus";
                    status_version(&mut a.verification_status, at, ctx);
                }
                Resource::Condition(c) => {
                    status_version(&mut c.clinical_status, "Condition.clinicalStatus", ctx);
                    let at = "Condition.verificationStatus";
                    status_version(&mut c.verification_status, at, ctx);
                }
                _ => {}
            }
        }
        match r {
            Resource::AllergyIntolerance(a) => {
                let at = "AllergyIntolerance.clinicalStatus";
                status_from_text(&mut a.clinical_status, ALLERGY_CLIN, at, ctx);
                let at = "AllergyIntolerance.verificationStatus";
                status_from_text(&mut a.verification_status, ALLERGY_VER, at, ctx);
            }
            Resource::Condition(c) => {
                let at = "Condition.clinicalStatus";
                status_from_text(&mut c.clinical_status, CONDITION_CLIN, at, ctx);
                let at = "Condition.verificationStatus";
                status_from_text(&mut c.verification_status, CONDITION_VER, at, ctx);
            }
            _ => {}
        }
        match r {
            Resource::Patient(pt) => {
                if p.has(FhirQuirk::EpicSexExtensions) {
                    epic_sex(pt, ctx);
                }
                if p.has(FhirQuirk::OracleMergedPatient) {
                    let inactive = pt.active.as_ref().and_then(|a| a.value).is_some_and(|a| !a);
                    let replaced = pt.link.iter().position(|l| {
                        matches!(
                            l.type_.as_ref().and_then(|t| t.value.as_ref()),
                            Some(ehrkit_fhir_model::codes::LinkType::ReplacedBy)
                        )
                    });
                    if let (true, Some(i)) = (inactive, replaced) {
                        let meta = pt.meta.get_or_insert_with(Default::default);
                        if !meta.tag.iter().any(|c| c.is(TAG_SYSTEM, "merged")) {
                            meta.tag.push(
                                Coding::with_code(TAG_SYSTEM, "merged")
                                    .display("merged into the patient of link.other"),
                            );
                            ctx.quirk(
                                "Patient.meta.tag",
                                Operation::ConditionalTransform,
                                FhirQuirk::OracleMergedPatient,
                            );
                            ctx.note(
                                format!("Patient.link[{i}].other"),
                                FhirQuirk::OracleMergedPatient.name(),
                                "merged: the surviving patient is link.other",
                            );
                        }
                    }
                }
            }
            Resource::AllergyIntolerance(a) => {
                let nka = a.code.as_deref().and_then(|c| {
                    c.coding.iter().position(|x| {
                        x.system_str() == Some(SNOMED)
                            && x.code_str().and_then(no_known_allergy_display).is_some()
                    })
                });
                if let (Some(i), true) = (nka, p.has(FhirQuirk::NoKnownAllergy)) {
                    if let Some(code) = a.code.as_deref_mut() {
                        let mut c = code.coding.remove(i);
                        let display = c
                            .code_str()
                            .and_then(no_known_allergy_display)
                            .unwrap_or("");
                        let selected = c.user_selected.take().is_some();
                        let mut changed = i != 0 || selected;
                        // The canonical display; the vendor's kept on the coding.
                        if text(&c.display) != Some(display) {
                            if let Some(old) = c.display.take().and_then(|d| d.value) {
                                c.extension.push(original_extension(
                                    "original-display",
                                    ExtensionValue::String(Primitive::new(old)),
                                ));
                            }
                            c.display = prim(display);
                            changed = true;
                        }
                        changed |= code.text_str() != Some(display);
                        code.coding.insert(0, c);
                        if changed {
                            replace_text(code, display);
                            ctx.quirk(
                                "AllergyIntolerance.code",
                                Operation::ConditionalTransform,
                                FhirQuirk::NoKnownAllergy,
                            );
                        }
                    }
                }
                if nka.is_some() && p.has(FhirQuirk::EpicAllergyCategoryAlways) {
                    if !a.category.is_empty() {
                        a.category.clear();
                        ctx.quirk(
                            "AllergyIntolerance.category",
                            Operation::ConditionalTransform,
                            FhirQuirk::EpicAllergyCategoryAlways,
                        );
                    }
                    if a.criticality.take().is_some() {
                        ctx.quirk(
                            "AllergyIntolerance.criticality",
                            Operation::ConditionalTransform,
                            FhirQuirk::EpicAllergyCategoryAlways,
                        );
                    }
                    if a.type_.take().is_some() {
                        ctx.quirk(
                            "AllergyIntolerance.type",
                            Operation::ConditionalTransform,
                            FhirQuirk::EpicAllergyCategoryAlways,
                        );
                    }
                }
                if p.has(FhirQuirk::OraclePatientReportedAllergy) {
                    let by_id = a.id.as_deref().is_some_and(|i| i.starts_with("S-"));
                    let by_label = a.meta.as_deref().is_some_and(|m| {
                        m.security.iter().any(|c| c.code_str() == Some("UNCERTREL"))
                    });
                    if (by_id || by_label) && a.verification_status.is_none() {
                        a.verification_status = Some(Box::new(CodeableConcept::from_coding(
                            Coding::with_code(ALLERGY_VER, "unconfirmed").display("Unconfirmed"),
                        )));
                        ctx.quirk(
                            "AllergyIntolerance.verificationStatus",
                            Operation::ConditionalTransform,
                            FhirQuirk::OraclePatientReportedAllergy,
                        );
                    }
                }
                if p.has(FhirQuirk::OracleVerificationStatusText) {
                    status_text(
                        &mut a.clinical_status,
                        "AllergyIntolerance.clinicalStatus",
                        ctx,
                    );
                    status_text(
                        &mut a.verification_status,
                        "AllergyIntolerance.verificationStatus",
                        ctx,
                    );
                }
            }
            Resource::Condition(c) if p.has(FhirQuirk::OracleVerificationStatusText) => {
                status_text(&mut c.clinical_status, "Condition.clinicalStatus", ctx);
                status_text(
                    &mut c.verification_status,
                    "Condition.verificationStatus",
                    ctx,
                );
            }
            _ => {}
        }
    }

    /// The configured operations: concept maps, copies, conditional transforms.
    fn configured(&self, r: &mut Resource, ctx: &mut Ctx) {
        let rt = ctx.rtype.clone();
        let rt: &str = &rt;
        for (name, m) in &self.p.concept_maps {
            if m.element.resource_type() != rt || m.quirk.is_some_and(|q| !self.p.has(q)) {
                continue;
            }
            // A map that belongs to a quirk is recorded under the quirk's name.
            let name: &str = match m.quirk {
                Some(q) => q.name(),
                None => name,
            };
            let Some(mut s) = slot(r, m.element) else {
                continue;
            };
            for c in s.codings() {
                if c.system_str() != Some(m.source_system.as_str()) {
                    continue;
                }
                let code = c.code_str().unwrap_or_default();
                match m.map.get(code) {
                    Some(o) => {
                        if s.put_first(override_coding(o), name) {
                            ctx.change(m.element.path(), Operation::ConceptMap, name);
                        }
                    }
                    None => ctx.note(m.element.path(), name, "code not in the concept map"),
                }
            }
        }
        for op in &self.p.copy_elements {
            if op.from.resource_type() != rt {
                continue;
            }
            let from: Vec<Coding> = match slot(r, op.from) {
                Some(s) => s
                    .codings()
                    .into_iter()
                    .filter(|c| op.system.is_none() || c.system_str() == op.system.as_deref())
                    .collect(),
                None => continue,
            };
            let Some(mut to) = slot(r, op.to) else {
                continue;
            };
            if !to.is_empty() || from.is_empty() {
                continue;
            }
            let copies = if matches!(to, Slot::Class(_)) {
                &from[..1]
            } else {
                &from[..]
            };
            let mut changed = false;
            for c in copies.iter().rev() {
                changed |= to.put_first(c.clone(), &op.name);
            }
            if changed {
                ctx.change(op.to.path(), Operation::CopyElement, &op.name);
            }
        }
        for op in &self.p.conditional_transforms {
            if op.when.resource_type() != rt {
                continue;
            }
            let hit = slot(r, op.when)
                .is_some_and(|s| s.codings().iter().any(|c| c.is(&op.system, &op.code)));
            if !hit {
                continue;
            }
            if let Some(mut s) = slot(r, op.target) {
                if s.put_first(override_coding(&op.set), &op.name) {
                    ctx.change(op.target.path(), Operation::ConditionalTransform, &op.name);
                }
            }
        }
    }

    /// Lifts contained resources out: deterministic ids, `#id` references rewritten.
    fn lift(&self, r: &mut Resource, lifted: Vec<Resource>, ctx: &mut Ctx) -> Vec<(Resource, Ctx)> {
        let parent_id = r.id().unwrap_or_default().to_owned();
        let parent = format!("{}/{parent_id}", ctx.rtype);
        let mut map = BTreeMap::new();
        let mut new = Vec::new();
        for (i, mut c) in lifted.into_iter().enumerate() {
            let cid = c.id().unwrap_or_default().to_owned();
            let readable = format!("{parent_id}-{cid}");
            let nid = if is_valid_id(&readable) && !cid.is_empty() && !parent_id.is_empty() {
                readable
            } else {
                hashed_id(&format!("{parent}#{cid}#{i}"))
            };
            if let Some(parts) = parts!(&mut c) {
                *parts.id = Some(nid.clone());
            }
            let rt = c.resource_type().to_owned();
            map.insert(format!("#{cid}"), format!("{rt}/{nid}"));
            ctx.quirk(
                format!("{}.contained[{i}]", ctx.rtype),
                Operation::ExtractContained,
                FhirQuirk::OracleContainedLocations,
            );
            let c_ctx = Ctx {
                rtype: type_name(&rt),
                changes: vec![(
                    format!("{rt}.id"),
                    Operation::ExtractContained,
                    FhirQuirk::OracleContainedLocations.name().to_owned(),
                )],
                notes: Vec::new(),
            };
            new.push((c, c_ctx));
        }
        let taken = std::mem::replace(r, placeholder());
        *r = with_json(taken, |v| {
            walk_references(v, &mut |s| map.get(s).cloned());
        });
        // Contained resources refer to each other by `#id` too (a unit `partOf` its
        // facility): once lifted they are no longer inside the parent, so those references
        // get the lifted ids as well.
        for (c, _) in &mut new {
            let taken = std::mem::replace(c, placeholder());
            *c = with_json(taken, |v| {
                walk_references(v, &mut |s| map.get(s).cloned());
            });
        }
        new
    }

    fn fix_id(&mut self, r: &mut Resource, ctx: &mut Ctx) {
        match r.id() {
            Some(id) if !is_valid_id(id) => {}
            _ => return,
        }
        let Some(old) = r.id().map(str::to_owned) else {
            return;
        };
        let new = hashed_id(&format!("{}/{old}", ctx.rtype));
        let rt = ctx.rtype.to_string();
        match parts!(r) {
            Some(parts) => {
                *parts.id = Some(new.clone());
                parts.identifier.push(Identifier {
                    system: prim(&format!("{EXTENSION_BASE}original-id")),
                    value: prim(&old),
                    ..Default::default()
                });
            }
            None => {
                let taken = std::mem::replace(r, placeholder());
                let nid = new.clone();
                let oid = old.clone();
                *r = with_json(taken, move |v| {
                    if let Value::Object(m) = v {
                        for (k, val) in m.iter_mut() {
                            if k == "id" {
                                *val = Value::String(nid.clone());
                            }
                        }
                        let original = Value::Object(vec![
                            (
                                "url".into(),
                                Value::String(format!("{EXTENSION_BASE}original-id")),
                            ),
                            ("valueString".into(), Value::String(oid.clone())),
                        ]);
                        // Into the resource's own `extension` when it has one: a second
                        // member of that name would be a duplicate key (the first lost).
                        match m.iter_mut().find(|(k, _)| k == "extension") {
                            Some((_, Value::Array(a))) => a.push(original),
                            _ => m.push(("extension".into(), Value::Array(vec![original]))),
                        }
                    }
                });
            }
        }
        ctx.change(format!("{rt}.id"), Operation::IdFix, "id-fix");
        self.id_map.insert((rt, old), new);
    }

    fn rewrite_references(&self, r: &mut Resource) {
        let map = &self.id_map;
        let mut hit = false;
        let taken = std::mem::replace(r, placeholder());
        let bytes = ehrkit_fhir_model::to_vec(&taken);
        // Cheap test first: only resources that mention an old id are rewritten.
        let text = String::from_utf8_lossy(&bytes);
        if map.keys().any(|(_, old)| text.contains(old.as_str())) {
            hit = true;
        }
        if !hit {
            *r = taken;
            return;
        }
        *r = with_json(taken, |v| {
            walk_references(v, &mut |s| {
                // A versioned reference (`Type/id/_history/n`) keeps its version.
                let (s, version) = match s.rfind("/_history/") {
                    Some(i) => (&s[..i], &s[i..]),
                    None => (s, ""),
                };
                let t = ehrkit_fhir_model::ReferenceTarget::parse(s);
                // Long ids do not parse as targets: split by hand.
                let (head, id) = match t {
                    Some(t) if !t.resource_type.is_empty() => {
                        (s[..s.len() - t.id.len()].to_owned(), t.id.to_owned())
                    }
                    _ => {
                        let i = s.rfind('/')?;
                        (s[..=i].to_owned(), s[i + 1..].to_owned())
                    }
                };
                let rtype = head.trim_end_matches('/').rsplit('/').next()?.to_owned();
                map.get(&(rtype, id)).map(|n| format!("{head}{n}{version}"))
            });
        });
    }
}

/// The resource type as a `'static` name when it is an R4 type (no allocation per resource).
fn type_name(t: &str) -> Cow<'static, str> {
    match ehrkit_fhir_model::ALL_RESOURCE_TYPES.binary_search(&t) {
        Ok(i) => Cow::Borrowed(ehrkit_fhir_model::ALL_RESOURCE_TYPES[i]),
        Err(_) => Cow::Owned(t.to_owned()),
    }
}

fn placeholder() -> Resource {
    Resource::Other(Box::new(ehrkit_fhir_model::RawResource {
        resource_type: String::new(),
        members: Vec::new(),
    }))
}

fn replace_tail(url: &str, rtype: &str, old: &str, new: &str) -> String {
    let tail = format!("{rtype}/{old}");
    match url.strip_suffix(&tail) {
        Some(base) => format!("{base}{rtype}/{new}"),
        None => url.to_owned(),
    }
}

/// Runs `f` on the resource as JSON and reads it back (kept unchanged if it no longer reads).
fn with_json(r: Resource, f: impl FnOnce(&mut Value)) -> Resource {
    let Ok(mut v) = Value::parse(&ehrkit_fhir_model::to_vec(&r)) else {
        return r;
    };
    f(&mut v);
    ehrkit_fhir_model::from_slice::<Resource>(&v.to_vec()).unwrap_or(r)
}

fn walk_references(v: &mut Value, f: &mut dyn FnMut(&str) -> Option<String>) {
    match v {
        Value::Object(m) => {
            for (k, val) in m.iter_mut() {
                match val {
                    Value::String(s) if k == "reference" || k == "fullUrl" => {
                        if let Some(n) = f(s) {
                            *s = n;
                        }
                    }
                    _ => walk_references(val, f),
                }
            }
        }
        Value::Array(a) => {
            for i in a {
                walk_references(i, f);
            }
        }
        _ => {}
    }
}

fn add_json_tags(v: &mut Value, tags: &[Coding]) {
    let Value::Object(m) = v else { return };
    let tag_values: Vec<Value> = tags
        .iter()
        .map(|t| {
            Value::Object(vec![
                ("system".into(), Value::String(TAG_SYSTEM.into())),
                (
                    "code".into(),
                    Value::String(t.code_str().unwrap_or("").into()),
                ),
                (
                    "display".into(),
                    Value::String(text(&t.display).unwrap_or("").into()),
                ),
            ])
        })
        .collect();
    let meta_pos = m.iter().position(|(k, _)| k == "meta");
    let meta = match meta_pos {
        Some(i) => &mut m[i].1,
        None => {
            m.push(("meta".into(), Value::Object(Vec::new())));
            &mut m.last_mut().expect("just pushed").1
        }
    };
    if let Value::Object(mm) = meta {
        match mm.iter_mut().find(|(k, _)| k == "tag") {
            Some((_, Value::Array(a))) => a.extend(tag_values),
            _ => mm.push(("tag".into(), Value::Array(tag_values))),
        }
    }
}

fn epic_sex(pt: &mut ehrkit_fhir_model::Patient, ctx: &mut Ctx) {
    let q = FhirQuirk::EpicSexExtensions;
    let code_of = |e: &Extension| -> Option<String> {
        match &e.value {
            Some(ExtensionValue::CodeableConcept(c)) => c
                .coding
                .iter()
                .find_map(|c| c.code_str())
                .map(|s| s.to_ascii_lowercase()),
            _ => None,
        }
    };
    let mut i = 0;
    while i < pt.extension.len() {
        let url = pt.extension[i].url.clone().unwrap_or_default();
        if url == EPIC_LEGAL_SEX {
            let snomed = match code_of(&pt.extension[i]).as_deref() {
                Some("female") => Some("248152002"),
                Some("male") => Some("248153007"),
                _ => None,
            };
            let Some(snomed) = snomed else {
                ctx.note(
                    format!("Patient.extension[{i}]"),
                    q.name(),
                    "legal sex code not mapped",
                );
                i += 1;
                continue;
            };
            let existing = pt.extension.iter().find_map(|e| {
                (e.url.as_deref() == Some(US_CORE_SEX)).then(|| match &e.value {
                    Some(ExtensionValue::Code(c)) => c.value.clone(),
                    _ => None,
                })
            });
            match existing {
                Some(Some(c)) if c != snomed => {
                    ctx.note(
                        format!("Patient.extension[{i}]"),
                        q.name(),
                        "legal sex disagrees with us-core-sex: both kept",
                    );
                    i += 1;
                    continue;
                }
                Some(_) => {}
                None => {
                    pt.extension.push(Extension {
                        url: Some(US_CORE_SEX.into()),
                        value: Some(ExtensionValue::Code(Primitive::new(snomed.into()))),
                        ..Default::default()
                    });
                    ctx.quirk("Patient.extension", Operation::CopyElement, q);
                }
            }
            let e = pt.extension.remove(i);
            pt.meta
                .get_or_insert_with(Default::default)
                .extension
                .push(e);
            ctx.quirk(format!("Patient.extension[{i}]"), Operation::MoveElement, q);
        } else if url == EPIC_CLINICAL_SEX {
            let code = match code_of(&pt.extension[i]).as_deref() {
                Some("female") => Some((
                    "female-typical",
                    "Apply female-typical setting or reference range",
                )),
                Some("male") => Some((
                    "male-typical",
                    "Apply male-typical setting or reference range",
                )),
                _ => None,
            };
            let Some((code, display)) = code else {
                ctx.note(
                    format!("Patient.extension[{i}]"),
                    q.name(),
                    "sex for clinical use code not mapped",
                );
                i += 1;
                continue;
            };
            let e = pt.extension.remove(i);
            pt.meta
                .get_or_insert_with(Default::default)
                .extension
                .push(e);
            pt.extension.push(Extension {
                url: Some(SEX_PARAMETER.into()),
                extension: vec![Extension {
                    url: Some("value".into()),
                    value: Some(ExtensionValue::CodeableConcept(Box::new(
                        CodeableConcept::from_coding(
                            Coding::with_code(SEX_PARAMETER_CS, code).display(display),
                        ),
                    ))),
                    ..Default::default()
                }],
                ..Default::default()
            });
            ctx.quirk(format!("Patient.extension[{i}]"), Operation::ConceptMap, q);
        } else {
            i += 1;
        }
    }
}

/// Oracle Health writes `userSelected` on its codings and the tenant's code set first in
/// every coded element (results, interpretations, components, reactions, categories,
/// extensions), not only in the main code. In every concept of the resource (its `meta`
/// aside) that has a tenant coding: the tenant's codings last, `userSelected` removed; on
/// every other coding, a `userSelected: false` (which claims nothing) removed.
///
/// With `millis` ([`FhirQuirk::OracleZeroMilliseconds`]), in the same pass: dateTimes and
/// instants written with a zero fraction of a second lose it (the same instant).
fn oracle_json(r: &mut Resource, ctx: &mut Ctx, codes: bool, millis: bool) {
    let bytes = ehrkit_fhir_model::to_vec(r);
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    let codes = codes && (has(b"\"userSelected\"") || has(b"https://fhir.cerner.com/"));
    let millis = millis && has(b".0");
    if !codes && !millis {
        return;
    }
    let Ok(mut v) = Value::parse(&bytes) else {
        return;
    };
    let (mut code_paths, mut time_paths) = (Vec::new(), Vec::new());
    if let Value::Object(m) = &mut v {
        for (k, val) in m.iter_mut() {
            if k == "meta" || k == "text" {
                continue;
            }
            let mut path = format!("{}.{k}", ctx.rtype);
            if codes {
                concepts(val, &mut path, &mut code_paths);
            }
            if millis {
                if let Value::String(s) = val {
                    if let Some(t) = without_zero_fraction(s) {
                        *s = t;
                        time_paths.push(path);
                    }
                } else {
                    zero_fractions(val, &mut path, &mut time_paths);
                }
            }
        }
    }
    if code_paths.is_empty() && time_paths.is_empty() {
        return;
    }
    let Ok(back) = ehrkit_fhir_model::from_slice::<Resource>(&v.to_vec()) else {
        return;
    };
    *r = back;
    for path in code_paths {
        ctx.quirk(
            path,
            Operation::ConditionalTransform,
            FhirQuirk::OracleTenantCodes,
        );
    }
    for path in time_paths {
        ctx.quirk(
            path,
            Operation::ConditionalTransform,
            FhirQuirk::OracleZeroMilliseconds,
        );
    }
}

/// `2020-07-06T21:11:00.000Z` → `2020-07-06T21:11:00Z`: a dateTime or instant (a time and an
/// offset) whose fraction of a second is all zeros, without it. `None` for anything else
/// (a fraction that is not zero, a date, free text).
fn without_zero_fraction(s: &str) -> Option<String> {
    let b = s.as_bytes();
    // YYYY-MM-DDThh:mm:ss is 19 bytes, then `.`, at least one digit, then an offset.
    if b.len() < 22 || b[10] != b'T' || b[19] != b'.' {
        return None;
    }
    let shape = b[..19].iter().enumerate().all(|(i, c)| match i {
        4 | 7 => *c == b'-',
        10 => *c == b'T',
        13 | 16 => *c == b':',
        _ => c.is_ascii_digit(),
    });
    if !shape {
        return None;
    }
    let zeros = b[20..].iter().take_while(|c| **c == b'0').count();
    let rest = &s[20 + zeros..];
    let offset = rest == "Z"
        || (rest.len() == 6
            && (rest.starts_with('+') || rest.starts_with('-'))
            && rest.as_bytes()[3] == b':'
            && rest
                .bytes()
                .enumerate()
                .all(|(i, c)| i == 0 || i == 3 || c.is_ascii_digit()));
    (zeros > 0 && offset).then(|| format!("{}{rest}", &s[..19]))
}

/// The walk of [`oracle_json`] for the fractions; `path` is the FHIR path of `v`.
fn zero_fractions(v: &mut Value, path: &mut String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, val) in m.iter_mut() {
                let len = path.len();
                path.push('.');
                path.push_str(k);
                match val {
                    Value::String(s) => {
                        if let Some(t) = without_zero_fraction(s) {
                            *s = t;
                            out.push(path.clone());
                        }
                    }
                    _ => zero_fractions(val, path, out),
                }
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                match item {
                    Value::String(s) => {
                        if let Some(t) = without_zero_fraction(s) {
                            *s = t;
                            out.push(path.clone());
                        }
                    }
                    _ => zero_fractions(item, path, out),
                }
                path.truncate(len);
            }
        }
        _ => {}
    }
}

fn json_str<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    match v.get(key) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

/// Removes `userSelected` from a coding (all of it, or only a `false`). True when removed.
fn drop_user_selected(coding: &mut Value, only_false: bool) -> bool {
    let Value::Object(m) = coding else {
        return false;
    };
    let before = m.len();
    m.retain(|(k, v)| k != "userSelected" || (only_false && *v != Value::Bool(false)));
    m.len() != before
}

/// The walk of [`oracle_json`] for the codings; `path` is the FHIR path of `v`.
fn concepts(v: &mut Value, path: &mut String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            let coding_at = m
                .iter()
                .position(|(k, c)| k == "coding" && matches!(c, Value::Array(_)));
            if let Some(i) = coding_at {
                if let Value::Array(codings) = &mut m[i].1 {
                    let is_tenant = |c: &Value| {
                        json_str(c, "system")
                            .is_some_and(|s| s.starts_with("https://fhir.cerner.com/"))
                    };
                    let mut changed = false;
                    if codings.iter().any(is_tenant) {
                        let before = codings.clone();
                        // Standard systems (and HL7's own terminologies: v2-0203, v3,
                        // observation-category…) first, other codings next, the tenant's
                        // code sets last; the order within each group kept.
                        let rank = |c: &Value| match json_str(c, "system") {
                            Some(s) if STANDARD_SYSTEMS.contains(&s) => 0,
                            Some(s)
                                if s.starts_with("http://terminology.hl7.org/")
                                    || s.starts_with("http://hl7.org/fhir/") =>
                            {
                                0
                            }
                            Some(s) if s.starts_with("https://fhir.cerner.com/") => 2,
                            _ => 1,
                        };
                        codings.sort_by_key(rank);
                        for c in codings.iter_mut() {
                            drop_user_selected(c, false);
                        }
                        changed = *codings != before;
                    } else {
                        for c in codings.iter_mut() {
                            changed |= drop_user_selected(c, true);
                        }
                    }
                    if changed {
                        out.push(format!("{path}.coding"));
                    }
                }
            } else if m.iter().any(|(k, _)| k == "system" || k == "code")
                && drop_user_selected(v, true)
            {
                // A Coding on its own (an extension's valueCoding, Encounter.class).
                out.push(path.clone());
                return;
            }
            let Value::Object(m) = v else { return };
            for (k, val) in m.iter_mut() {
                if k == "coding" {
                    continue;
                }
                let len = path.len();
                path.push('.');
                path.push_str(k);
                concepts(val, path, out);
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                concepts(item, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// Epic's `version` on a status coding (of one of the four status code systems) moved into
/// an `urn:ehrkit:normalization:original-version` extension on that coding.
fn status_version(c: &mut Option<Box<CodeableConcept>>, at: &str, ctx: &mut Ctx) {
    let Some(c) = c.as_deref_mut() else { return };
    for (i, coding) in c.coding.iter_mut().enumerate() {
        let status = coding.system_str().is_some_and(|s| {
            [ALLERGY_CLIN, ALLERGY_VER, CONDITION_CLIN, CONDITION_VER].contains(&s)
        });
        if !status {
            continue;
        }
        if let Some(v) = coding.version.take().and_then(|v| v.value) {
            coding.extension.push(original_extension(
                "original-version",
                ExtensionValue::String(Primitive::new(v)),
            ));
            ctx.quirk(
                format!("{at}.coding[{i}].version"),
                Operation::ConditionalTransform,
                FhirQuirk::EpicStatusCodingVersion,
            );
        }
    }
}

/// The codes of each status code system, for [`status_from_text`].
const STATUS_CODES: &[(&str, &[&str])] = &[
    (ALLERGY_CLIN, &["active", "inactive", "resolved"]),
    (
        ALLERGY_VER,
        &["unconfirmed", "confirmed", "refuted", "entered-in-error"],
    ),
    (
        CONDITION_CLIN,
        &[
            "active",
            "recurrence",
            "relapse",
            "inactive",
            "remission",
            "resolved",
        ],
    ),
    (
        CONDITION_VER,
        &[
            "unconfirmed",
            "provisional",
            "differential",
            "confirmed",
            "refuted",
            "entered-in-error",
        ],
    ),
];

/// A clinical or verification status sent only as text: when the text is a status's display
/// or code (any case), that coding is added (US Core binds these elements, required); the
/// text stays. Any other text is noted, not guessed.
fn status_from_text(
    c: &mut Option<Box<CodeableConcept>>,
    system: &'static str,
    at: &str,
    ctx: &mut Ctx,
) {
    const RULE: &str = "status-text-code";
    let Some(c) = c.as_deref_mut() else { return };
    if !c.coding.is_empty() {
        return;
    }
    let Some(t) = c.text_str().map(str::trim) else {
        return;
    };
    let codes = STATUS_CODES
        .iter()
        .find(|(s, _)| *s == system)
        .map_or(&[][..], |(_, c)| *c);
    let hit = codes.iter().find_map(|code| {
        let display = status_display(system, code)?;
        (t.eq_ignore_ascii_case(display) || t.eq_ignore_ascii_case(code)).then_some((code, display))
    });
    match hit {
        Some((code, display)) => {
            c.coding
                .push(Coding::with_code(system, code).display(display));
            ctx.change(format!("{at}.coding"), Operation::ConceptMap, RULE);
        }
        None => ctx.note(at, RULE, "status text is no status display: no code added"),
    }
}

fn status_text(c: &mut Option<Box<CodeableConcept>>, at: &str, ctx: &mut Ctx) {
    let Some(c) = c.as_deref_mut() else { return };
    let display = c
        .coding
        .iter()
        .find_map(|x| status_display(x.system_str()?, x.code_str()?));
    let Some(d) = display else { return };
    match c.text_str() {
        Some(t) if !t.eq_ignore_ascii_case(d) => {
            replace_text(c, d);
            ctx.quirk(
                format!("{at}.text"),
                Operation::ConditionalTransform,
                FhirQuirk::OracleVerificationStatusText,
            );
        }
        _ => {}
    }
}

/// The Periods with a start and an end the period fix looks at.
fn periods(r: &mut Resource, ctx: &mut Ctx) {
    let mut fix = |p: Option<&mut Period>, at: &str| {
        if let Some(p) = p {
            if fix_period(p) {
                ctx.change(at, Operation::PeriodPrecision, "period-precision");
            }
        }
    };
    match r {
        Resource::Encounter(e) => fix(e.period.as_deref_mut(), "Encounter.period"),
        Resource::Observation(o) => {
            if let Some(ObservationEffective::Period(p)) = o.effective.as_mut() {
                fix(Some(p), "Observation.effectivePeriod");
            }
        }
        Resource::Condition(c) => {
            if let Some(ConditionOnset::Period(p)) = c.onset.as_mut() {
                fix(Some(p), "Condition.onsetPeriod");
            }
            if let Some(ConditionAbatement::Period(p)) = c.abatement.as_mut() {
                fix(Some(p), "Condition.abatementPeriod");
            }
        }
        Resource::DocumentReference(d) => fix(
            d.context
                .as_deref_mut()
                .and_then(|c| c.period.as_deref_mut()),
            "DocumentReference.context.period",
        ),
        Resource::MedicationRequest(m) => fix(
            m.dispense_request
                .as_deref_mut()
                .and_then(|d| d.validity_period.as_deref_mut()),
            "MedicationRequest.dispenseRequest.validityPeriod",
        ),
        _ => {}
    }
}

/// The offset of a dateTime with a time (`Z`, `+01:00`), if any.
fn offset(s: &str) -> Option<&str> {
    if s.len() <= 10 {
        return None;
    }
    if let Some(stripped) = s.strip_suffix('Z') {
        let _ = stripped;
        return Some("Z");
    }
    let i = s.len().checked_sub(6)?;
    let tail = s.get(i..)?;
    (tail.starts_with('+') || tail.starts_with('-')).then_some(tail)
}

fn last_day(year: i32, month: u32) -> u32 {
    (28..=31)
        .rev()
        .find(|d| chrono::NaiveDate::from_ymd_opt(year, month, *d).is_some())
        .unwrap_or(28)
}

/// A date (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`) widened to a dateTime at the start or end of it.
fn widen(date: &str, end: bool, off: &str) -> Option<String> {
    let parts: Vec<&str> = date.split('-').collect();
    let year: i32 = parts.first()?.parse().ok()?;
    let month: u32 = match parts.get(1) {
        Some(m) => m.parse().ok()?,
        None if end => 12,
        None => 1,
    };
    let day: u32 = match parts.get(2) {
        Some(d) => d.parse().ok()?,
        None if end => last_day(year, month),
        None => 1,
    };
    let time = if end { "23:59:59" } else { "00:00:00" };
    Some(format!("{year:04}-{month:02}-{day:02}T{time}{off}"))
}

fn fix_period(p: &mut Period) -> bool {
    let get = |x: &Option<Primitive<ehrkit_fhir_model::DateTime>>| {
        x.as_ref()
            .and_then(|v| v.value.as_ref())
            .map(|v| v.as_str().to_owned())
    };
    let (Some(s), Some(e)) = (get(&p.start), get(&p.end)) else {
        return false;
    };
    let (s_time, e_time) = (s.len() > 10, e.len() > 10);
    if s_time == e_time {
        return false;
    }
    let (date, other, is_end) = if s_time {
        (&e, &s, true)
    } else {
        (&s, &e, false)
    };
    let Some(off) = offset(other) else {
        return false;
    };
    let Some(wide) = widen(date, is_end, off) else {
        return false;
    };
    let Some(dt) = ehrkit_fhir_model::DateTime::new(&wide) else {
        return false;
    };
    let slot = if is_end { &mut p.end } else { &mut p.start };
    if let Some(prim) = slot.as_mut() {
        // The value sent (its precision is information) stays on the element.
        if let Some(old) = prim.value.replace(dt) {
            prim.ext
                .get_or_insert_with(Default::default)
                .extension
                .push(original_extension(
                    "original-value",
                    ExtensionValue::DateTime(Primitive::new(old)),
                ));
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_zero_fraction_of_a_second_with_an_offset_is_removed() {
        let f = without_zero_fraction;
        assert_eq!(
            f("2020-07-06T21:11:00.000Z").as_deref(),
            Some("2020-07-06T21:11:00Z")
        );
        assert_eq!(
            f("2020-07-06T21:11:00.0-05:00").as_deref(),
            Some("2020-07-06T21:11:00-05:00")
        );
        for kept in [
            "2020-07-06T21:11:00Z",
            "2020-07-06T21:11:00.001Z",
            "2020-07-06T21:11:00.000",
            "2020-07-06",
            "2020-07-06T21:11:00.000+0500",
            "Taken 2020-07-06T21:11:00.000Z",
            "2020-07-06X21:11:00.000Z",
        ] {
            assert_eq!(f(kept), None, "{kept}");
        }
    }

    #[test]
    fn r4_type_names_are_static_and_the_list_is_sorted_for_the_lookup() {
        let all = ehrkit_fhir_model::ALL_RESOURCE_TYPES;
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        assert!(matches!(type_name("Patient"), Cow::Borrowed("Patient")));
        assert!(matches!(type_name("NotAType"), Cow::Owned(ref s) if s == "NotAType"));
    }
}
