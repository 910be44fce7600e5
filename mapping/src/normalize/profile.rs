//! FHIR vendor profiles: named quirks, the site's tables and the configured operations
//! (issue 13 items 1–3, the FHIR half).
//!
//! A [`FhirProfile`] is data: a set of [`FhirQuirk`]s (each documented with what it fixes and
//! where it was seen, [`FhirQuirk::info`]), the vendor's identifier-type labels, concept maps,
//! copy and conditional operations, and the namespaces the vendor uses for its own codes. A
//! [`SiteOverlay`] (TOML) extends a built-in profile with a site's OIDs and code maps;
//! [`FhirRouting`] picks a profile from a server's base URL, with an explicit override.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::NormalizeError;
use crate::CodeOverride;

/// HL7 table 0203 (identifier type) code system.
pub const V2_0203: &str = "http://terminology.hl7.org/CodeSystem/v2-0203";
/// HL7 v3 ActCode code system (`Encounter.class`).
pub const V3_ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
/// Epic's own `Encounter.class` code system (seen in Epic's public sandbox).
pub const EPIC_ENCOUNTER_CLASS_SYSTEM: &str = "urn:oid:1.2.840.114350.1.72.1.7.7.10.696784.13260";

/// Where the evidence for a quirk comes from (the issue's evidence levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Evidence {
    /// Seen in public samples or fixtures (vendor sandboxes, open-source test data).
    Seen,
    /// Described in the vendor's public documentation.
    Documented,
}

/// What a quirk is: its name, vendor, what it fixes and the evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuirkInfo {
    /// The quirk.
    pub quirk: FhirQuirk,
    /// Its TOML/JSON name (`epic-identifier-type-text`).
    pub name: &'static str,
    /// The built-in profile it belongs to (`epic`, `oracle_health`, `athenahealth`; `any` for
    /// those several vendors share).
    pub vendor: &'static str,
    /// Evidence level.
    pub evidence: Evidence,
    /// Where it was seen or documented.
    pub source: &'static str,
    /// What the normalizer does about it.
    pub fixes: &'static str,
}

/// One named, documented deviation of a vendor's FHIR API from the canonical US Core 7 shape,
/// switched on per profile. Each has its own test resource under
/// `mapping/tests/data/quirks/fhir/<vendor>/<name>.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FhirQuirk {
    /// Epic: `identifier.type` only as `type.text` (`EPI`, `MRN`, `INTERNAL`, `MYCHARTLOGIN`).
    EpicIdentifierTypeText,
    /// Epic: internal identifier values space-padded (`"     Z6129"`).
    EpicPaddedIdentifier,
    /// Epic: legal sex and sex for clinical use as Epic extensions with instance-OID codings.
    EpicSexExtensions,
    /// Epic: `Encounter.class` in Epic's own code system instead of v3 ActCode.
    EpicEncounterClass,
    /// Epic: `AllergyIntolerance.category` always present, also on "no known allergies".
    EpicAllergyCategoryAlways,
    /// Epic: `version` (`4.0.0`) on the clinical and verification status codings of
    /// Conditions and allergies.
    EpicStatusCodingVersion,
    /// Oracle Health: identifier types with a tenant code set (`codeSet/4`) coding next to
    /// v2-0203.
    OracleIdentifierTypeCodeSet,
    /// Oracle Health: identifiers whose `system` is a data-absent-reason (`_system`).
    OracleDataAbsentSystem,
    /// Oracle Health: custom extensions under `https://fhir-ehr.cerner.com/r4/StructureDefinition/`.
    OracleCustomExtensions,
    /// Oracle Health: codes of a tenant code set next to the standard coding, and
    /// `userSelected` on codings, in every coded element.
    OracleTenantCodes,
    /// Oracle Health: merged patients returned `active: false` with `link.type = replaced-by`.
    OracleMergedPatient,
    /// Oracle Health (and Epic): "no known allergies" as SNOMED 716186003 / 409137002 records.
    NoKnownAllergy,
    /// Oracle Health: patient-reported allergies with `S-` ids and `meta.security` UNCERTREL.
    OraclePatientReportedAllergy,
    /// Oracle Health: `verificationStatus.text` that disagrees with its code.
    OracleVerificationStatusText,
    /// Oracle Health: Locations as contained resources.
    OracleContainedLocations,
    /// Epic and Oracle Health: SSNs under `urn:oid:2.16.840.1.113883.4.1` (US Core uses
    /// `http://hl7.org/fhir/sid/us-ssn`).
    SsnOidSystem,
    /// Oracle Health: dateTimes and instants with a zero fraction of a second
    /// (`2020-07-06T21:11:00.000Z`) where other vendors write whole seconds.
    OracleZeroMilliseconds,
    /// athenahealth: ids embed the tenant (`a-195900.E-60178`).
    AthenaTenantIds,
    /// athenahealth: the tenancy extension `https://fhir.athena.io/StructureDefinition/ah-practice`.
    AthenaPracticeExtension,
}

impl FhirQuirk {
    /// Every quirk, in declaration order.
    pub const ALL: &'static [FhirQuirk] = &[
        FhirQuirk::EpicIdentifierTypeText,
        FhirQuirk::EpicPaddedIdentifier,
        FhirQuirk::EpicSexExtensions,
        FhirQuirk::EpicEncounterClass,
        FhirQuirk::EpicAllergyCategoryAlways,
        FhirQuirk::EpicStatusCodingVersion,
        FhirQuirk::OracleIdentifierTypeCodeSet,
        FhirQuirk::OracleDataAbsentSystem,
        FhirQuirk::OracleCustomExtensions,
        FhirQuirk::OracleTenantCodes,
        FhirQuirk::OracleMergedPatient,
        FhirQuirk::NoKnownAllergy,
        FhirQuirk::OraclePatientReportedAllergy,
        FhirQuirk::OracleVerificationStatusText,
        FhirQuirk::OracleContainedLocations,
        FhirQuirk::SsnOidSystem,
        FhirQuirk::OracleZeroMilliseconds,
        FhirQuirk::AthenaTenantIds,
        FhirQuirk::AthenaPracticeExtension,
    ];

    /// The quirk's name, vendor, evidence and what it fixes.
    pub fn info(self) -> QuirkInfo {
        use Evidence::{Documented as D, Seen as S};
        let (name, vendor, evidence, source, fixes) = match self {
            FhirQuirk::EpicIdentifierTypeText => (
                "epic-identifier-type-text",
                "epic",
                S,
                "Epic public sandbox Patient reads (type.text EPI, MRN, INTERNAL, MYCHARTLOGIN, no coding)",
                "a v2-0203 coding from the profile's `identifier_types` table (EPI→PE, MRN→MR, INTERNAL→PI, MYCHARTLOGIN→U) and the site's system for that label",
            ),
            FhirQuirk::EpicPaddedIdentifier => (
                "epic-padded-identifier",
                "epic",
                S,
                "Epic public sandbox Patient reads (INTERNAL values with leading spaces)",
                "identifier values trimmed",
            ),
            FhirQuirk::EpicSexExtensions => (
                "epic-sex-extensions",
                "epic",
                S,
                "Epic sandbox Patients: open.epic.com …/extension/legal-sex and …/sex-for-clinical-use with urn:oid:1.2.840.114350… codings",
                "legal sex → US Core `us-core-sex` (SNOMED) when absent; sex for clinical use → `patient-sexParameterForClinicalUse`; the Epic extensions are removed",
            ),
            FhirQuirk::EpicEncounterClass => (
                "epic-encounter-class",
                "epic",
                S,
                "Epic sandbox Encounters (class urn:oid:1.2.840.114350.1.72.1.7.7.10.696784.13260, 5 = Appointment, 13 = Support OP Encounter); CDC NHSN Link maps it with a per-facility ConceptMap",
                "Encounter.class through the profile's `encounter-class` concept map to v3 ActCode (site overlay adds codes); the Epic coding is kept in an extension",
            ),
            FhirQuirk::EpicAllergyCategoryAlways => (
                "epic-allergy-category-always",
                "epic",
                S,
                "Epic AllergyIntolerance reads: category always present as an array, also on the no-known-allergies record",
                "category, criticality and type removed from records that are not about a substance (no known allergy)",
            ),
            FhirQuirk::EpicStatusCodingVersion => (
                "epic-status-coding-version",
                "epic",
                S,
                "Epic Condition and AllergyIntolerance reads: clinicalStatus/verificationStatus codings with version 4.0.0 (Oracle Health writes none)",
                "the version removed from those codings and kept in an extension on the coding (urn:ehrkit:normalization:original-version)",
            ),
            FhirQuirk::OracleIdentifierTypeCodeSet => (
                "oracle-identifier-type-code-set",
                "oracle_health",
                D,
                "Oracle Health Millennium R4 Patient docs: identifier.type with https://fhir.cerner.com/<tenant>/codeSet/4 and v2-0203 codings",
                "the v2-0203 coding first (canonical display, no userSelected), the tenant coding kept after it; system from `identifier_types` when absent",
            ),
            FhirQuirk::OracleDataAbsentSystem => (
                "oracle-data-absent-system",
                "oracle_health",
                D,
                "Oracle Health Millennium R4 Patient docs: identifiers with _system data-absent-reason `unknown`",
                "system from the site's `identifier_types` table for the identifier's type; the data-absent-reason removed (kept when the site has no system)",
            ),
            FhirQuirk::OracleCustomExtensions => (
                "oracle-custom-extensions",
                "oracle_health",
                D,
                "Oracle Health Millennium R4 docs: extensions under https://fhir-ehr.cerner.com/r4/StructureDefinition/",
                "resource-level vendor extensions moved to meta.extension (provenance), never dropped",
            ),
            FhirQuirk::OracleTenantCodes => (
                "oracle-tenant-codes",
                "oracle_health",
                D,
                "Oracle Health Millennium R4 Observation/Condition docs: tenant code set codings next to LOINC/SNOMED",
                "in every coded element of the resource: standard codings (LOINC, SNOMED CT, RxNorm, CVX, ICD-10-CM, HL7 terminologies) first, tenant codings last, userSelected removed; elsewhere a userSelected false removed",
            ),
            FhirQuirk::OracleMergedPatient => (
                "oracle-merged-patient",
                "oracle_health",
                D,
                "Oracle Health Millennium R4 Patient docs: combined (merged) patients are active:false with link.type replaced-by",
                "tagged `merged` (meta.tag) and listed in the notes with the surviving reference, so it is not taken for a live person",
            ),
            FhirQuirk::NoKnownAllergy => (
                "no-known-allergy",
                "any",
                D,
                "Oracle Health Millennium R4 AllergyIntolerance docs: no known allergies as SNOMED 716186003 / 409137002, not asked as no result",
                "the SNOMED coding first with its canonical display and text; category, criticality and type removed (no substance)",
            ),
            FhirQuirk::OraclePatientReportedAllergy => (
                "oracle-patient-reported-allergy",
                "oracle_health",
                D,
                "Oracle Health Millennium R4 AllergyIntolerance docs: patient-entered records with S- ids and meta.security UNCERTREL",
                "verificationStatus `unconfirmed` when the record carries no verification status",
            ),
            FhirQuirk::OracleVerificationStatusText => (
                "oracle-verification-status-text",
                "oracle_health",
                D,
                "Oracle Health Millennium R4 AllergyIntolerance/Condition docs: verificationStatus.text may disagree with the coding",
                "clinicalStatus/verificationStatus text replaced by the code's canonical display (the code wins)",
            ),
            FhirQuirk::OracleContainedLocations => (
                "oracle-contained-locations",
                "oracle_health",
                D,
                "Oracle Health Millennium R4 Encounter docs: locations as contained Location resources",
                "contained Locations lifted to resources of their own (deterministic id) and the `#id` references rewritten",
            ),
            FhirQuirk::SsnOidSystem => (
                "ssn-oid-system",
                "any",
                S,
                "Epic sandbox and Oracle Health Patient reads: SSN system urn:oid:2.16.840.1.113883.4.1",
                "system http://hl7.org/fhir/sid/us-ssn and type v2-0203 SS",
            ),
            FhirQuirk::OracleZeroMilliseconds => (
                "oracle-zero-milliseconds",
                "oracle_health",
                D,
                "Oracle Health Millennium R4 docs examples: effectiveDateTime, issued, recordedDate and periods as 2020-07-06T21:11:00.000Z (Epic writes 2020-07-06T21:11:00Z)",
                "a zero fraction of a second removed from dateTimes and instants (the same instant), outside meta; a fraction that is not zero kept",
            ),
            FhirQuirk::AthenaTenantIds => (
                "athena-tenant-ids",
                "athenahealth",
                D,
                "athenahealth FHIR R4 docs: logical ids a-<practice>.<kind>-<id>",
                "the practice recorded as meta.tag urn:ehrkit:tenant (the id itself stays: it is the server's)",
            ),
            FhirQuirk::AthenaPracticeExtension => (
                "athena-practice-extension",
                "athenahealth",
                D,
                "athenahealth FHIR R4 docs: https://fhir.athena.io/StructureDefinition/ah-practice on every resource",
                "moved to meta.extension (provenance)",
            ),
        };
        QuirkInfo {
            quirk: self,
            name,
            vendor,
            evidence,
            source,
            fixes,
        }
    }

    /// The quirk's TOML/JSON name.
    pub fn name(self) -> &'static str {
        self.info().name
    }
}

/// The canonical form of one vendor identifier-type label (`MRN`, `EPI`, a tenant code's
/// display): its v2-0203 code and, for a site, the identifier system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentifierType {
    /// v2-0203 code (`MR`, `PE`, `PI`, `SS`, `U`).
    pub code: String,
    /// The identifier system at this site, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
}

impl IdentifierType {
    /// A type code without a site system.
    pub fn code(code: &str) -> Self {
        IdentifierType {
            code: code.to_owned(),
            system: None,
        }
    }

    /// Sets the site's system.
    pub fn system(mut self, system: &str) -> Self {
        self.system = Some(system.to_owned());
        self
    }
}

/// A coded element the configured operations can read and write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum CodeElement {
    /// `Encounter.class` (one Coding).
    #[serde(rename = "Encounter.class")]
    EncounterClass,
    /// `Encounter.type`.
    #[serde(rename = "Encounter.type")]
    EncounterType,
    /// `Encounter.serviceType`.
    #[serde(rename = "Encounter.serviceType")]
    EncounterServiceType,
    /// `Observation.code`.
    #[serde(rename = "Observation.code")]
    ObservationCode,
    /// `Observation.category`.
    #[serde(rename = "Observation.category")]
    ObservationCategory,
    /// `Condition.code`.
    #[serde(rename = "Condition.code")]
    ConditionCode,
    /// `Condition.category`.
    #[serde(rename = "Condition.category")]
    ConditionCategory,
    /// `AllergyIntolerance.code`.
    #[serde(rename = "AllergyIntolerance.code")]
    AllergyIntoleranceCode,
    /// `Immunization.vaccineCode`.
    #[serde(rename = "Immunization.vaccineCode")]
    ImmunizationVaccineCode,
    /// `MedicationRequest.medicationCodeableConcept`.
    #[serde(rename = "MedicationRequest.medicationCodeableConcept")]
    MedicationRequestMedication,
    /// `DocumentReference.type`.
    #[serde(rename = "DocumentReference.type")]
    DocumentReferenceType,
    /// `DocumentReference.category`.
    #[serde(rename = "DocumentReference.category")]
    DocumentReferenceCategory,
}

impl CodeElement {
    /// The FHIR path (`Encounter.class`).
    pub fn path(self) -> &'static str {
        match self {
            CodeElement::EncounterClass => "Encounter.class",
            CodeElement::EncounterType => "Encounter.type",
            CodeElement::EncounterServiceType => "Encounter.serviceType",
            CodeElement::ObservationCode => "Observation.code",
            CodeElement::ObservationCategory => "Observation.category",
            CodeElement::ConditionCode => "Condition.code",
            CodeElement::ConditionCategory => "Condition.category",
            CodeElement::AllergyIntoleranceCode => "AllergyIntolerance.code",
            CodeElement::ImmunizationVaccineCode => "Immunization.vaccineCode",
            CodeElement::MedicationRequestMedication => {
                "MedicationRequest.medicationCodeableConcept"
            }
            CodeElement::DocumentReferenceType => "DocumentReference.type",
            CodeElement::DocumentReferenceCategory => "DocumentReference.category",
        }
    }

    /// The resource type the element belongs to.
    pub fn resource_type(self) -> &'static str {
        self.path().split('.').next().unwrap_or_default()
    }
}

/// The ConceptMap operation: codes of `source_system` in `element` get the mapped coding
/// (first); the source coding is kept (for `Encounter.class`, which holds one Coding, in an
/// extension naming the operation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConceptMapOp {
    /// The element mapped.
    pub element: CodeElement,
    /// The vendor's code system the map reads.
    pub source_system: String,
    /// Source code → canonical coding.
    #[serde(default)]
    pub map: BTreeMap<String, CodeOverride>,
    /// The quirk this map belongs to: the map runs only while that quirk is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quirk: Option<FhirQuirk>,
}

/// The copy-element operation: when `to` is empty, it gets the codings of `from` that are in
/// `system` (all codings when `system` is absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopyElementOp {
    /// Name recorded with each change.
    pub name: String,
    /// Source element.
    pub from: CodeElement,
    /// Target element (same resource type).
    pub to: CodeElement,
    /// Only codings of this system are copied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
}

/// The conditional-transform operation: when `when` holds the coding `system|code`, `set`
/// is written into `target` (replacing `Encounter.class`, added first to concepts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionalTransformOp {
    /// Name recorded with each change.
    pub name: String,
    /// Element tested.
    pub when: CodeElement,
    /// The system tested.
    pub system: String,
    /// The code tested.
    pub code: String,
    /// Element written (same resource type).
    pub target: CodeElement,
    /// The coding written.
    pub set: CodeOverride,
}

/// A FHIR vendor profile: quirks, the vendor's identifier-type labels, configured operations
/// and the vendor's own namespaces; versioned, serde (TOML and JSON).
///
/// ```
/// use ehrkit_mapping::normalize::{FhirProfile, FhirQuirk};
///
/// let epic = FhirProfile::builtin("epic").unwrap();
/// assert!(epic.has(FhirQuirk::EpicIdentifierTypeText));
/// assert!(FhirProfile::generic().quirks.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FhirProfile {
    /// Name (`epic`, `general-hospital-epic`), recorded with each change set.
    pub name: String,
    /// Version; a profile that changes behaviour gets a new one.
    pub version: String,
    /// Enabled quirks.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub quirks: BTreeSet<FhirQuirk>,
    /// Vendor identifier-type label (type.text, or a tenant coding's display) → canonical type
    /// and the site's system.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub identifier_types: BTreeMap<String, IdentifierType>,
    /// Named ConceptMap operations (`encounter-class` for Epic's class codes).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub concept_maps: BTreeMap<String, ConceptMapOp>,
    /// Copy-element operations, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub copy_elements: Vec<CopyElementOp>,
    /// Conditional transforms, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditional_transforms: Vec<ConditionalTransformOp>,
    /// Prefixes of the vendor's and site's own code and identifier systems (provenance, see
    /// [`without_provenance`](super::without_provenance)).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub local_namespaces: Vec<String>,
    /// Rewrite ids over 64 characters (or with characters FHIR ids do not allow), updating
    /// every reference and keeping the original as an identifier.
    #[serde(default = "yes")]
    pub fix_ids: bool,
    /// Give a Period's start and end the same precision.
    #[serde(default = "yes")]
    pub fix_period_precision: bool,
}

fn yes() -> bool {
    true
}

/// The names [`FhirProfile::builtin`] knows.
pub const BUILTIN_FHIR_PROFILES: &[&str] = &[
    "generic",
    "epic",
    "oracle_health",
    "athenahealth",
    "veradigm",
];

fn actcode(code: &str, display: &str) -> CodeOverride {
    CodeOverride::new(code, V3_ACT_CODE).display(display)
}

impl FhirProfile {
    /// No quirks, no tables; ids and periods fixed.
    pub fn generic() -> Self {
        FhirProfile {
            name: "generic".into(),
            version: "1".into(),
            quirks: BTreeSet::new(),
            identifier_types: BTreeMap::new(),
            concept_maps: BTreeMap::new(),
            copy_elements: Vec::new(),
            conditional_transforms: Vec::new(),
            local_namespaces: Vec::new(),
            fix_ids: true,
            fix_period_precision: true,
        }
    }

    /// Epic: identifier type labels, padded ids, sex extensions, Epic encounter classes
    /// (codes 5 and 13 from Epic's sandbox; the site adds its own), allergy categories, SSN OID.
    pub fn epic() -> Self {
        let mut p = Self::generic().named("epic");
        for q in [
            FhirQuirk::EpicIdentifierTypeText,
            FhirQuirk::EpicPaddedIdentifier,
            FhirQuirk::EpicSexExtensions,
            FhirQuirk::EpicEncounterClass,
            FhirQuirk::EpicAllergyCategoryAlways,
            FhirQuirk::EpicStatusCodingVersion,
            FhirQuirk::NoKnownAllergy,
            FhirQuirk::SsnOidSystem,
        ] {
            p.quirks.insert(q);
        }
        for (label, code) in [
            ("EPI", "PE"),
            ("MRN", "MR"),
            ("INTERNAL", "PI"),
            ("MYCHARTLOGIN", "U"),
            ("CEID", "PE"),
        ] {
            p.identifier_types
                .insert(label.into(), IdentifierType::code(code));
        }
        let mut map = BTreeMap::new();
        map.insert("5".into(), actcode("AMB", "ambulatory"));
        map.insert("13".into(), actcode("AMB", "ambulatory"));
        p.concept_maps.insert(
            "encounter-class".into(),
            ConceptMapOp {
                element: CodeElement::EncounterClass,
                source_system: EPIC_ENCOUNTER_CLASS_SYSTEM.into(),
                map,
                quirk: Some(FhirQuirk::EpicEncounterClass),
            },
        );
        p.local_namespaces = vec![
            "urn:oid:1.2.840.114350.".into(),
            "http://open.epic.com/".into(),
        ];
        p
    }

    /// Oracle Health (Cerner Millennium): tenant code sets, data-absent systems, custom
    /// extensions, merged patients, allergy records, contained Locations, SSN OID.
    pub fn oracle_health() -> Self {
        let mut p = Self::generic().named("oracle_health");
        for q in [
            FhirQuirk::OracleIdentifierTypeCodeSet,
            FhirQuirk::OracleDataAbsentSystem,
            FhirQuirk::OracleCustomExtensions,
            FhirQuirk::OracleTenantCodes,
            FhirQuirk::OracleMergedPatient,
            FhirQuirk::NoKnownAllergy,
            FhirQuirk::OraclePatientReportedAllergy,
            FhirQuirk::OracleVerificationStatusText,
            FhirQuirk::OracleContainedLocations,
            FhirQuirk::SsnOidSystem,
            FhirQuirk::OracleZeroMilliseconds,
        ] {
            p.quirks.insert(q);
        }
        p.local_namespaces = vec![
            "https://fhir.cerner.com/".into(),
            "https://fhir-ehr.cerner.com/".into(),
            "urn:oid:2.16.840.1.113883.3.13.6".into(),
        ];
        p
    }

    /// athenahealth: tenant-embedded ids and the `ah-practice` extension.
    pub fn athenahealth() -> Self {
        let mut p = Self::generic().named("athenahealth");
        p.quirks.insert(FhirQuirk::AthenaTenantIds);
        p.quirks.insert(FhirQuirk::AthenaPracticeExtension);
        p.local_namespaces = vec!["https://fhir.athena.io/".into()];
        p
    }

    /// Veradigm: nothing field-level is public; the generic behaviour under its own name, to be
    /// configured from the site's documentation with a [`SiteOverlay`].
    pub fn veradigm() -> Self {
        Self::generic().named("veradigm")
    }

    /// A built-in profile by name (`generic`, `epic`, `oracle_health`, `athenahealth`,
    /// `veradigm`; also `cerner`, `oracle`, `athena`, `allscripts`); case and `-`/`_` do not
    /// matter.
    pub fn builtin(name: &str) -> Result<Self, NormalizeError> {
        let key = name.trim().to_ascii_lowercase().replace('-', "_");
        Ok(match key.as_str() {
            "generic" => Self::generic(),
            "epic" => Self::epic(),
            "oracle_health" | "oracle" | "cerner" => Self::oracle_health(),
            "athenahealth" | "athena" => Self::athenahealth(),
            "veradigm" | "allscripts" => Self::veradigm(),
            _ => return Err(NormalizeError::UnknownProfile(name.to_owned())),
        })
    }

    /// Renames the profile.
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }

    /// Sets the version.
    pub fn version(mut self, version: &str) -> Self {
        self.version = version.to_owned();
        self
    }

    /// Adds a quirk.
    pub fn with(mut self, q: FhirQuirk) -> Self {
        self.quirks.insert(q);
        self
    }

    /// Removes a quirk.
    pub fn without(mut self, q: FhirQuirk) -> Self {
        self.quirks.remove(&q);
        self
    }

    /// True if the quirk is enabled.
    pub fn has(&self, q: FhirQuirk) -> bool {
        self.quirks.contains(&q)
    }

    /// Sets the canonical type (and the site's system) of a vendor identifier-type label.
    pub fn identifier_type(mut self, label: &str, t: IdentifierType) -> Self {
        self.identifier_types.insert(label.to_owned(), t);
        self
    }

    /// Adds (or replaces) a named ConceptMap operation.
    pub fn concept_map(mut self, name: &str, op: ConceptMapOp) -> Self {
        self.concept_maps.insert(name.to_owned(), op);
        self
    }

    /// True when `system` is in one of the profile's (vendor or site) namespaces.
    pub fn is_local(&self, system: &str) -> bool {
        self.local_namespaces
            .iter()
            .any(|n| system.starts_with(n.as_str()))
    }

    /// Checks what serde cannot: non-empty name and version, absolute URIs, operations that
    /// stay within one resource type.
    pub fn validate(&self) -> Result<(), NormalizeError> {
        let bad = |field: String, problem: &'static str| {
            Err(NormalizeError::InvalidProfile { field, problem })
        };
        if self.name.trim().is_empty() {
            return bad("name".into(), "must not be empty");
        }
        if self.version.trim().is_empty() {
            return bad("version".into(), "must not be empty");
        }
        let uri = |s: &str| crate::systems::is_absolute_uri(s);
        for (k, t) in &self.identifier_types {
            if t.code.trim().is_empty() {
                return bad(format!("identifier_types.{k}.code"), "must not be empty");
            }
            if t.system.as_deref().is_some_and(|s| !uri(s)) {
                return bad(
                    format!("identifier_types.{k}.system"),
                    "is not an absolute URI",
                );
            }
        }
        for (k, m) in &self.concept_maps {
            if !uri(&m.source_system) {
                return bad(
                    format!("concept_maps.{k}.source_system"),
                    "is not an absolute URI",
                );
            }
            for (code, o) in &m.map {
                if !uri(&o.system) {
                    return bad(
                        format!("concept_maps.{k}.map.{code}.system"),
                        "is not an absolute URI",
                    );
                }
            }
        }
        for (i, c) in self.copy_elements.iter().enumerate() {
            if c.from.resource_type() != c.to.resource_type() {
                return bad(
                    format!("copy_elements[{i}]"),
                    "copies between resource types",
                );
            }
        }
        for (i, c) in self.conditional_transforms.iter().enumerate() {
            if c.when.resource_type() != c.target.resource_type() {
                return bad(
                    format!("conditional_transforms[{i}]"),
                    "tests and writes different resource types",
                );
            }
            if !uri(&c.set.system) || !uri(&c.system) {
                return bad(
                    format!("conditional_transforms[{i}]"),
                    "system is not an absolute URI",
                );
            }
        }
        Ok(())
    }

    /// Reads and [validates](Self::validate) a whole profile from TOML.
    pub fn from_toml(text: &str) -> Result<Self, NormalizeError> {
        let p: FhirProfile = toml::from_str(text).map_err(|e| NormalizeError::Toml(Box::new(e)))?;
        p.validate()?;
        Ok(p)
    }

    /// The profile as TOML.
    pub fn to_toml(&self) -> String {
        // Strings, unit variants, booleans and string maps: always serializable.
        toml::to_string(self).unwrap_or_default()
    }
}

/// A site overlay (TOML): extends a built-in vendor profile with the site's identifier systems,
/// code maps, operations and namespaces.
///
/// ```
/// use ehrkit_mapping::normalize::SiteOverlay;
///
/// let site = SiteOverlay::from_toml(r#"
/// base = "epic"
/// name = "general-hospital-epic"
/// version = "2026-03"
/// local_namespaces = ["urn:oid:1.2.840.114350.1.13.999."]
///
/// [identifier_types.MRN]
/// code = "MR"
/// system = "https://fhir.general-hospital.test/sid/mrn"
///
/// [concept_maps.encounter-class.map.3]
/// code = "IMP"
/// system = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
/// display = "inpatient encounter"
/// "#).unwrap();
/// let profile = site.build().unwrap();
/// assert_eq!(profile.name, "general-hospital-epic");
/// assert_eq!(profile.concept_maps["encounter-class"].map.len(), 3);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteOverlay {
    /// The built-in profile extended (`epic`).
    pub base: String,
    /// The site profile's name (default: the base's).
    #[serde(default)]
    pub name: Option<String>,
    /// The site profile's version (default: the base's).
    #[serde(default)]
    pub version: Option<String>,
    /// Quirks switched on on top of the base.
    #[serde(default)]
    pub with: Vec<FhirQuirk>,
    /// Quirks switched off.
    #[serde(default)]
    pub without: Vec<FhirQuirk>,
    /// Identifier-type labels added or replaced, each with its code and the site's system.
    #[serde(default)]
    pub identifier_types: BTreeMap<String, IdentifierType>,
    /// Codes added to (or replacing codes of) the base's concept maps, or new maps.
    #[serde(default)]
    pub concept_maps: BTreeMap<String, ConceptMapOverlay>,
    /// Copy operations appended.
    #[serde(default)]
    pub copy_elements: Vec<CopyElementOp>,
    /// Conditional transforms appended.
    #[serde(default)]
    pub conditional_transforms: Vec<ConditionalTransformOp>,
    /// Namespaces appended (the site's own OIDs).
    #[serde(default)]
    pub local_namespaces: Vec<String>,
}

/// Codes a site adds to a concept map (or a new map, with element and source system).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConceptMapOverlay {
    /// Element (needed for a new map).
    #[serde(default)]
    pub element: Option<CodeElement>,
    /// Source system (needed for a new map).
    #[serde(default)]
    pub source_system: Option<String>,
    /// Codes added or replaced.
    #[serde(default)]
    pub map: BTreeMap<String, CodeOverride>,
}

impl SiteOverlay {
    /// Reads an overlay from TOML (validated when built).
    pub fn from_toml(text: &str) -> Result<Self, NormalizeError> {
        toml::from_str(text).map_err(|e| NormalizeError::Toml(Box::new(e)))
    }

    /// The overlay applied to its built-in base, validated.
    pub fn build(&self) -> Result<FhirProfile, NormalizeError> {
        self.apply(FhirProfile::builtin(&self.base)?)
    }

    /// The overlay applied to `profile` (any profile, e.g. `generic` to see what the base's
    /// quirks change at this site), validated.
    pub fn apply(&self, mut p: FhirProfile) -> Result<FhirProfile, NormalizeError> {
        if let Some(n) = &self.name {
            p.name = n.clone();
        }
        if let Some(v) = &self.version {
            p.version = v.clone();
        }
        p.quirks.extend(self.with.iter().copied());
        for q in &self.without {
            p.quirks.remove(q);
        }
        for (k, t) in &self.identifier_types {
            p.identifier_types.insert(k.clone(), t.clone());
        }
        for (k, m) in &self.concept_maps {
            match p.concept_maps.get_mut(k) {
                Some(base) => {
                    if let Some(e) = m.element {
                        base.element = e;
                    }
                    if let Some(s) = &m.source_system {
                        base.source_system = s.clone();
                    }
                    base.map
                        .extend(m.map.iter().map(|(a, b)| (a.clone(), b.clone())));
                }
                None => {
                    let (Some(element), Some(source_system)) = (m.element, &m.source_system) else {
                        return Err(NormalizeError::InvalidProfile {
                            field: format!("concept_maps.{k}"),
                            problem: "a new map needs element and source_system",
                        });
                    };
                    p.concept_maps.insert(
                        k.clone(),
                        ConceptMapOp {
                            element,
                            source_system: source_system.clone(),
                            map: m.map.clone(),
                            quirk: None,
                        },
                    );
                }
            }
        }
        p.copy_elements.extend(self.copy_elements.iter().cloned());
        p.conditional_transforms
            .extend(self.conditional_transforms.iter().cloned());
        p.local_namespaces
            .extend(self.local_namespaces.iter().cloned());
        p.validate()?;
        Ok(p)
    }
}

/// Picks a profile from a FHIR server's base URL through a user-provided table, with an
/// explicit override.
///
/// ```
/// use ehrkit_mapping::normalize::FhirRouting;
///
/// let routes = FhirRouting::from_toml(r#"
/// [[route]]
/// base = "https://fhir.epic.com/interconnect-fhir-oauth/api/FHIR/R4"
/// profile = "epic"
/// [[route]]
/// base = "https://fhir-ehr-code.cerner.com/r4/"
/// profile = "oracle_health"
/// "#).unwrap();
/// let p = routes.select("https://FHIR.epic.com/interconnect-fhir-oauth/api/FHIR/R4/", None).unwrap();
/// assert_eq!(p.name, "epic");
/// let p = routes.select("https://fhir-ehr-code.cerner.com/r4/ec2458f2-1e24-41c8-b71b-0e701af7583d", None).unwrap();
/// assert_eq!(p.name, "oracle_health");
/// // The override wins; an unknown server without one is an error.
/// assert_eq!(routes.select("https://other.test/fhir", Some("generic")).unwrap().name, "generic");
/// assert!(routes.select("https://other.test/fhir", None).is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FhirRouting {
    /// Routes; the longest matching base wins.
    #[serde(default, rename = "route")]
    pub routes: Vec<FhirRoute>,
    /// Profile for servers no route matches (`None`: such a server is an error).
    #[serde(default)]
    pub default: Option<String>,
    /// Site profiles by name (overlays built by the caller), consulted before the built-ins.
    #[serde(skip)]
    pub profiles: BTreeMap<String, FhirProfile>,
}

/// One routing-table row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FhirRoute {
    /// Base URL prefix (scheme and host compared without case, trailing `/` ignored).
    pub base: String,
    /// Profile name: a site profile added with [`FhirRouting::profile`], or a built-in.
    pub profile: String,
}

fn url_key(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    match url.find("://") {
        Some(i) => {
            let rest = &url[i + 3..];
            let host_end = rest.find('/').unwrap_or(rest.len());
            format!(
                "{}://{}{}",
                url[..i].to_ascii_lowercase(),
                rest[..host_end].to_ascii_lowercase(),
                &rest[host_end..]
            )
        }
        None => url.to_owned(),
    }
}

impl FhirRouting {
    /// Reads a table from TOML (`[[route]] base = … profile = …`, optional `default`).
    pub fn from_toml(text: &str) -> Result<Self, NormalizeError> {
        toml::from_str(text).map_err(|e| NormalizeError::Toml(Box::new(e)))
    }

    /// Adds a route.
    pub fn route(mut self, base: &str, profile: &str) -> Self {
        self.routes.push(FhirRoute {
            base: base.to_owned(),
            profile: profile.to_owned(),
        });
        self
    }

    /// Registers a site profile under its name.
    pub fn profile(mut self, p: FhirProfile) -> Self {
        self.profiles.insert(p.name.clone(), p);
        self
    }

    /// The profile for `base_url`: `override_name` when given, else the longest matching
    /// route, else `default`.
    pub fn select(
        &self,
        base_url: &str,
        override_name: Option<&str>,
    ) -> Result<FhirProfile, NormalizeError> {
        let name = match override_name {
            Some(n) => n.to_owned(),
            None => {
                let key = url_key(base_url);
                let best = self
                    .routes
                    .iter()
                    .filter(|r| {
                        let b = url_key(&r.base);
                        key == b || key.starts_with(&format!("{b}/"))
                    })
                    .max_by_key(|r| url_key(&r.base).len());
                match (best, &self.default) {
                    (Some(r), _) => r.profile.clone(),
                    (None, Some(d)) => d.clone(),
                    (None, None) => return Err(NormalizeError::NoRoute),
                }
            }
        };
        match self.profiles.get(&name) {
            Some(p) => Ok(p.clone()),
            None => FhirProfile::builtin(&name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_quirk_is_listed_once_with_a_unique_name() {
        let mut names = BTreeSet::new();
        for (i, q) in FhirQuirk::ALL.iter().enumerate() {
            // Exhaustive: a new variant must be added to ALL at its declaration position.
            let pos = match q {
                FhirQuirk::EpicIdentifierTypeText => 0,
                FhirQuirk::EpicPaddedIdentifier => 1,
                FhirQuirk::EpicSexExtensions => 2,
                FhirQuirk::EpicEncounterClass => 3,
                FhirQuirk::EpicAllergyCategoryAlways => 4,
                FhirQuirk::EpicStatusCodingVersion => 5,
                FhirQuirk::OracleIdentifierTypeCodeSet => 6,
                FhirQuirk::OracleDataAbsentSystem => 7,
                FhirQuirk::OracleCustomExtensions => 8,
                FhirQuirk::OracleTenantCodes => 9,
                FhirQuirk::OracleMergedPatient => 10,
                FhirQuirk::NoKnownAllergy => 11,
                FhirQuirk::OraclePatientReportedAllergy => 12,
                FhirQuirk::OracleVerificationStatusText => 13,
                FhirQuirk::OracleContainedLocations => 14,
                FhirQuirk::SsnOidSystem => 15,
                FhirQuirk::OracleZeroMilliseconds => 16,
                FhirQuirk::AthenaTenantIds => 17,
                FhirQuirk::AthenaPracticeExtension => 18,
            };
            assert_eq!(pos, i, "{q:?}");
            assert!(names.insert(q.name()), "{q:?}");
            // The serde name is the documented name.
            let json = serde_json::to_string(q).unwrap();
            assert_eq!(json, format!("\"{}\"", q.name()));
        }
    }

    #[test]
    fn builtins_validate_and_round_trip_through_toml() {
        for name in BUILTIN_FHIR_PROFILES {
            let p = FhirProfile::builtin(name).unwrap();
            p.validate().unwrap();
            assert_eq!(FhirProfile::from_toml(&p.to_toml()).unwrap(), p, "{name}");
        }
        assert!(matches!(
            FhirProfile::builtin("meditech"),
            Err(NormalizeError::UnknownProfile(_))
        ));
        // The spellings the v2 profiles accept (`Profile::builtin`) name the same profiles.
        for alias in ["Oracle-Health", "cerner", " ORACLE_HEALTH "] {
            assert_eq!(
                FhirProfile::builtin(alias).unwrap(),
                FhirProfile::oracle_health(),
                "{alias}"
            );
        }
    }

    #[test]
    fn overlay_errors_name_the_field() {
        let e = SiteOverlay::from_toml(
            "base = \"epic\"\n[identifier_types.MRN]\ncode = \"MR\"\nsystem = \"no uri\"\n",
        )
        .unwrap()
        .build()
        .unwrap_err();
        assert!(e.to_string().contains("identifier_types.MRN.system"), "{e}");
        let e = SiteOverlay::from_toml("base = \"epic\"\nsurprise = 1\n").unwrap_err();
        assert!(matches!(e, NormalizeError::Toml(_)));
        let e = SiteOverlay::from_toml("base = \"nobody\"\n")
            .unwrap()
            .build()
            .unwrap_err();
        assert!(matches!(e, NormalizeError::UnknownProfile(_)));
        let e = SiteOverlay::from_toml(
            "base = \"epic\"\n[concept_maps.new.map.1]\ncode = \"a\"\nsystem = \"http://a.test\"\n",
        )
        .unwrap()
        .build()
        .unwrap_err();
        assert!(e.to_string().contains("concept_maps.new"), "{e}");
    }

    #[test]
    fn routing_prefers_the_longest_base_and_needs_a_path_boundary() {
        let r = FhirRouting::default()
            .route("https://ehr.test/fhir", "epic")
            .route("https://ehr.test/fhir/tenant-a", "oracle_health")
            .profile(FhirProfile::generic().named("site-a"))
            .route("https://site-a.test", "site-a");
        assert_eq!(
            r.select("https://ehr.test/fhir/x", None).unwrap().name,
            "epic"
        );
        assert_eq!(
            r.select("https://ehr.test/fhir/tenant-a/", None)
                .unwrap()
                .name,
            "oracle_health"
        );
        assert!(r.select("https://ehr.test/fhirx", None).is_err());
        assert_eq!(
            r.select("https://site-a.test/r4", None).unwrap().name,
            "site-a"
        );
        assert!(matches!(
            r.select("https://ehr.test/fhir", Some("nobody")),
            Err(NormalizeError::UnknownProfile(_))
        ));
    }
}
