//! Profiles: the data that tunes a conversion (issue 12 item 9).
//!
//! A [`Profile`] is a plain, versioned value (serde; TOML and JSON): identifier-system and
//! coding-system overrides, vocabulary overrides, the source time zone, base URIs and a set of
//! named [`Quirk`]s. [`Profile::generic`] is the IG's behaviour. Build on it in the shape of
//! `ehrkit_smart_auth::VendorProfile`:
//!
//! ```
//! use ehrkit_mapping::{CodeOverride, Profile};
//!
//! let site = Profile::generic()
//!     .named("general-hospital")
//!     .version("3")
//!     .time_zone(chrono_tz::America::Chicago)
//!     .identifier_system("MR", "https://fhir.general-hospital.test/sid/mrn")
//!     .code_override("AdministrativeSex", "X", CodeOverride::new("other", "http://hl7.org/fhir/administrative-gender"));
//! let toml = site.to_toml();
//! assert_eq!(Profile::from_toml(&toml).unwrap(), site);
//! ```
//!
//! The pipeline stores `name` and `version` with each resource, so a profile that changes
//! behaviour must get a new version.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::error::{Error, ProfileProblem};
use crate::quirks::V2Settings;
use crate::systems::{is_absolute_uri, Systems, DEFAULT_UNKNOWN_SYSTEM_BASE};
use crate::v2_to_fhir::vocab::{self, ConceptMap, Translation};

/// One named, documented deviation from the IG, switched on per profile (issue 13).
///
/// Each variant says what it fixes, which vendor does it and the evidence (**S**: seen in
/// public samples, **D**: vendor documentation, **G**: a guess made configuration). The logic
/// lives in `mapping/src/quirks/`; the converter calls it from small hooks where the mapping
/// happens. Settings a quirk reads are in [`V2Settings`](crate::V2Settings) (`[v2]` in TOML).
/// Every variant has its own test message under `mapping/tests/data/quirks/<vendor>/` and
/// `tests/quirks_v2.rs` fails when one has no test or stops changing the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Quirk {
    /// Epic: identifier type code `MRN` (not in HL7 table 0203) read as `MR` in CX.5 / XCN.13
    /// (`E3866011^^^EPIC^MRN`). Without it the code is kept and reported as a vocabulary miss. S.
    MrnTypeCode,
    /// Epic: the Patient's primary identifier (first in `Patient.identifier`, hence its id and
    /// its conditional update) is the PID-3 repetition whose authority (CX.4.1) or type (CX.5)
    /// is [`V2Settings::primary_identifier`](crate::V2Settings) (enterprise `EPI`, or a
    /// facility MRN authority), not whichever comes first. S.
    PrimaryIdentifier,
    /// Epic: the legal name is sent without type `L` next to a `D` (display) name: when no
    /// PID-5 repetition is typed `L`, the first untyped one gets `use = official`. (`D` →
    /// `usual` is the IG's own `NameType` map.) S.
    LegalNameWithoutType,
    /// Epic (`ZPD` MyChart status, `ZCS`, `ZPV`), Veradigm/NextGen (`ZSC`), any site:
    /// Z-segment fields listed in [`V2Settings::z_segments`](crate::V2Settings) become
    /// extensions on the Patient or Encounter; the rest of a listed Z-segment is reported
    /// field by field; an unlisted Z-segment is reported as before. Never a failure. S.
    ZSegmentExtensions,
    /// Epic: an XCN field repeating the same provider with two id types (`PROVID`, `NPI`) is one
    /// Practitioner with two identifiers (one participant), not two. Same provider: equal
    /// name, or a repetition without a name right after one with it. S.
    MergeRepeatedProvider,
    /// Epic: order questions are OBX with OBX-29 `QST` under ORC/OBR. They are not results: kept
    /// as Observations (category `survey`) but left out of `DiagnosticReport.result`, and OBX-29
    /// is read. (`ServiceRequest.supportingInfo` comes when the converter writes
    /// ServiceRequests.) S.
    OrderQuestions,
    /// Epic (CSN), Oracle Health (FIN NBR): PV1-19 without an assigning authority gets
    /// [`V2Settings::visit_number_system`](crate::V2Settings) as its system, so the visit
    /// number is a usable business identifier (conditional update, stable id). G, configuration.
    VisitNumberSystem,
    /// Epic: PID-18 (HAR, hospital account record) is the visit's account: written as an
    /// Encounter identifier of type `AN` with system
    /// [`V2Settings::account_number_system`](crate::V2Settings) (else its CX.4). Without it
    /// PID-18 is reported as unmapped. G, configuration.
    AccountNumberOnEncounter,
    /// Oracle Health: alias pool type codes (`CMRN`, `MRN`, `FIN NBR`, …) in PID-2/PID-3/PV1-19
    /// CX.5 read through [`V2Settings::alias_types`](crate::V2Settings) to HL7 table 0203 codes
    /// (site authorities go in `identifier_systems`). S.
    AliasPoolTypes,
    /// Oracle Health: OBR-2/OBR-3 placer/filler ids namespaced `341856649^HNAM_ORDERID`: an EI
    /// whose namespace is in [`V2Settings::order_namespaces`](crate::V2Settings) gets the site's
    /// [`V2Settings::order_id_system`](crate::V2Settings) instead of an unknown-system fallback.
    /// S.
    PlacerOrderNamespace,
    /// MEDITECH: coded fields outside HL7 tables carry the site's dictionary mnemonic (CWE.1
    /// without CWE.3). The mnemonic is kept as a Coding in the site dictionary system
    /// (`<dictionary_system_base><SEG>-<field>`), and the site's
    /// [`V2Settings::dictionaries`](crate::V2Settings) map adds the standard coding. D.
    DictionaryMnemonics,
    /// athenahealth: interfaces exchange an explicit per-direction list of fields;
    /// fields "Not Specified" are ignored. Only segments/fields in
    /// [`V2Settings::allowed_fields`](crate::V2Settings) are converted; every other valued field
    /// is reported as unmapped, never converted. D.
    FieldAllowList,
    /// eClinicalWorks: the patient id is in PID-2 (or PID-4) with PID-3 empty. When PID-3 has no
    /// identifier, PID-2/PID-4 ids without an authority get
    /// [`V2Settings::patient_id_system`](crate::V2Settings) and type `MR`. D.
    PatientIdInPid2,
    /// eClinicalWorks: PID-10 race codes outside HL7/CDC tables (`C` for white, …), read
    /// through [`V2Settings::race_codes`](crate::V2Settings) into the US Core race extension
    /// (CDC race `ombCategory`). Without it PID-10 is reported as unmapped. D.
    RaceCodeMap,
    /// Veradigm/Allscripts, NextGen: PID-2 external ids without CX.5 get the type
    /// [`V2Settings::pid2_type`](crate::V2Settings) (default `PN`). Configure from your site's
    /// interface specification. G.
    Pid2ExternalIdType,
    /// Veradigm/Allscripts, NextGen: enterprise ids under a second authority (`TWENTERPRISE`)
    /// listed in [`V2Settings::enterprise_authorities`](crate::V2Settings) go first in
    /// `Patient.identifier` with `use = official`. Configure from your site's interface
    /// specification. G.
    EnterpriseAuthority,
    /// All vendors: a feed whose timestamps carry no offset needs a source time zone. With this
    /// quirk a message whose MSH-7 has no offset is refused
    /// ([`ConvertError::MissingSourceTimeZone`](crate::v2_to_fhir::ConvertError)) unless the
    /// profile has a `source_time_zone`: never a guess, never a day-only downgrade. S.
    RequireSourceTimeZone,
    /// All vendors: multi-line reports sent as one TX (or ST) OBX per line: consecutive OBX of
    /// type TX/ST with the same OBX-3 in one OBR group become one Observation whose value is the
    /// lines joined with `\n`. S.
    JoinTextLines,
    /// Oracle Health: Millennium sends a code value's display where an HL7 table code belongs
    /// when the site built no outbound alias (`^Current` as XPN.7, `^Home^Tel` in XTN): the
    /// display is read through [`V2Settings::display_codes`](crate::V2Settings) (IG map name →
    /// display → table code) before the IG map. Without it the display is a vocabulary miss. S.
    CodeValueDisplays,
    /// All vendors (Oracle Health tenant code sets next to LOINC): local codes (CWE.3 `L`,
    /// `99zzz`, or a name in [`V2Settings::local_coding_systems`](crate::V2Settings)) are kept
    /// with the site's [`V2Settings::local_code_system`](crate::V2Settings) URI instead of an
    /// unknown-system fallback. S.
    LocalCodeSystem,
}

impl Quirk {
    /// Every quirk, in declaration order (tests iterate over it: each must have a test).
    pub const ALL: &'static [Quirk] = &[
        Quirk::MrnTypeCode,
        Quirk::PrimaryIdentifier,
        Quirk::LegalNameWithoutType,
        Quirk::ZSegmentExtensions,
        Quirk::MergeRepeatedProvider,
        Quirk::OrderQuestions,
        Quirk::VisitNumberSystem,
        Quirk::AccountNumberOnEncounter,
        Quirk::AliasPoolTypes,
        Quirk::PlacerOrderNamespace,
        Quirk::CodeValueDisplays,
        Quirk::DictionaryMnemonics,
        Quirk::FieldAllowList,
        Quirk::PatientIdInPid2,
        Quirk::RaceCodeMap,
        Quirk::Pid2ExternalIdType,
        Quirk::EnterpriseAuthority,
        Quirk::RequireSourceTimeZone,
        Quirk::JoinTextLines,
        Quirk::LocalCodeSystem,
    ];

    /// The name used in TOML and JSON (`mrn-type-code`).
    pub fn name(self) -> &'static str {
        match self {
            Quirk::MrnTypeCode => "mrn-type-code",
            Quirk::PrimaryIdentifier => "primary-identifier",
            Quirk::LegalNameWithoutType => "legal-name-without-type",
            Quirk::ZSegmentExtensions => "z-segment-extensions",
            Quirk::MergeRepeatedProvider => "merge-repeated-provider",
            Quirk::OrderQuestions => "order-questions",
            Quirk::VisitNumberSystem => "visit-number-system",
            Quirk::AccountNumberOnEncounter => "account-number-on-encounter",
            Quirk::AliasPoolTypes => "alias-pool-types",
            Quirk::PlacerOrderNamespace => "placer-order-namespace",
            Quirk::CodeValueDisplays => "code-value-displays",
            Quirk::DictionaryMnemonics => "dictionary-mnemonics",
            Quirk::FieldAllowList => "field-allow-list",
            Quirk::PatientIdInPid2 => "patient-id-in-pid2",
            Quirk::RaceCodeMap => "race-code-map",
            Quirk::Pid2ExternalIdType => "pid2-external-id-type",
            Quirk::EnterpriseAuthority => "enterprise-authority",
            Quirk::RequireSourceTimeZone => "require-source-time-zone",
            Quirk::JoinTextLines => "join-text-lines",
            Quirk::LocalCodeSystem => "local-code-system",
        }
    }
}

/// A replacement target for one v2 code of one vocabulary map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeOverride {
    /// The FHIR code.
    pub code: String,
    /// Its code system URI.
    pub system: String,
    /// Its display, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

impl CodeOverride {
    /// A code in a system, without display.
    pub fn new(code: &str, system: &str) -> Self {
        CodeOverride {
            code: code.to_owned(),
            system: system.to_owned(),
            display: None,
        }
    }

    /// Sets the display.
    pub fn display(mut self, display: &str) -> Self {
        self.display = Some(display.to_owned());
        self
    }
}

/// What a profile makes of a v2 code: its own override, or the IG's translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileTranslation<'a> {
    /// The profile overrides the IG for this code.
    Override(&'a CodeOverride),
    /// The IG's map decides.
    Ig(Translation),
}

/// The data that tunes a conversion: identifier-system and coding-system overrides, vocabulary
/// overrides, the source time zone, base URIs and named [`Quirk`]s; versioned, serde (TOML and
/// JSON). [`Profile::generic`] is the IG's behaviour; the builder follows
/// `ehrkit_smart_auth::VendorProfile` (`Profile::generic().named(..).with(..).without(..)`).
///
/// ```
/// use ehrkit_mapping::{CodeOverride, Profile};
///
/// let site = Profile::generic()
///     .named("general-hospital")
///     .version("3")
///     .time_zone(chrono_tz::America::Chicago)
///     .identifier_system("MR", "https://fhir.general-hospital.test/sid/mrn")
///     .code_override(
///         "AdministrativeSex",
///         "X",
///         CodeOverride::new("other", "http://hl7.org/fhir/administrative-gender"),
///     );
/// assert_eq!(Profile::from_toml(&site.to_toml()).unwrap(), site);
/// ```
///
/// The pipeline stores `name` and `version` with each resource, so a profile that changes
/// behaviour must get a new version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Name (`generic`, `epic`, `general-hospital`), stored with each converted resource.
    pub name: String,
    /// Version of this profile, stored with each converted resource.
    pub version: String,
    /// Enabled quirks.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub quirks: BTreeSet<Quirk>,
    /// IANA time zone of the sender, applied only to timestamps without an offset. `None`:
    /// such timestamps stay zone-less where FHIR allows it and are reported where it does not.
    /// Never the host's zone.
    #[serde(default, with = "tz_name", skip_serializing_if = "Option::is_none")]
    pub source_time_zone: Option<chrono_tz::Tz>,
    /// Base URI for code and identifier systems nobody knows (see
    /// [`Systems`](crate::Systems)).
    #[serde(default = "default_base")]
    pub unknown_system_base: String,
    /// Base URI of the FHIR server the Bundle is meant for (entries' `fullUrl`s); `None`:
    /// `urn:uuid:` full URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_base: Option<String>,
    /// v2 coding system name (CWE-3) → URI, added to or replacing the built-in table.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub coding_systems: BTreeMap<String, String>,
    /// Assigning authority (HD-1 namespace or HD-2 universal id) → identifier system URI.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub identifier_systems: BTreeMap<String, String>,
    /// IG map name → v2 code → replacement.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub code_maps: BTreeMap<String, BTreeMap<String, CodeOverride>>,
    /// The EHR vendor (`epic`, `meditech`, …): with [`interface`](Self::interface) and
    /// [`version`](Self::version) the key of a profile (MEDITECH documents its interfaces per
    /// product and release, not per vendor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// The interface (`ADT out`, `Expanse 2.2 results`, …) this profile is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Settings the HL7 v2 quirks read (site OIDs, Z-segment table, dictionaries, …).
    #[serde(default, skip_serializing_if = "V2Settings::is_empty")]
    pub v2: V2Settings,
    /// The character set this sender writes when MSH-18 is empty and the bytes are not UTF-8,
    /// as MSH-18 would name it (`8859/1`, `WINDOWS-1252`, `8859/15`; HL7 table 0211). Older
    /// systems send accented names in ISO 8859-1 or Windows-1252 without declaring it. `None`
    /// (default): such a message is an encoding error with its byte offset, never guessed.
    /// Read by [`Profile::parse_options`]; a declared MSH-18 always wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undeclared_charset: Option<String>,
}

fn default_base() -> String {
    DEFAULT_UNKNOWN_SYSTEM_BASE.to_owned()
}

impl Default for Profile {
    fn default() -> Self {
        Self::generic()
    }
}

impl Profile {
    /// The IG's behaviour: no quirks, no overrides, no source time zone, unknown systems under
    /// `urn:ehrkit:unknown-system:`.
    pub fn generic() -> Self {
        Profile {
            name: "generic".into(),
            version: "1".into(),
            quirks: BTreeSet::new(),
            source_time_zone: None,
            unknown_system_base: default_base(),
            resource_base: None,
            coding_systems: BTreeMap::new(),
            identifier_systems: BTreeMap::new(),
            code_maps: BTreeMap::new(),
            vendor: None,
            interface: None,
            v2: V2Settings::default(),
            undeclared_charset: None,
        }
    }

    /// The HL7 v2 parse options for this sender's messages: the defaults, with
    /// [`undeclared_charset`](Self::undeclared_charset) as the fallback character set.
    pub fn parse_options(&self) -> ehrkit_hl7v2::ParseOptions {
        ehrkit_hl7v2::ParseOptions::default().fallback_charset(
            self.undeclared_charset
                .as_deref()
                .and_then(|c| ehrkit_hl7v2::Charset::from_msh18(c.as_bytes())),
        )
    }

    /// The names [`Profile::builtin`] knows: `generic`, `epic`, `oracle_health`, `veradigm`,
    /// `meditech`, `athenahealth`, `eclinicalworks`, `nextgen`.
    pub const BUILTIN: &'static [&'static str] = &[
        "generic",
        "epic",
        "oracle_health",
        "veradigm",
        "meditech",
        "athenahealth",
        "eclinicalworks",
        "nextgen",
    ];

    /// A built-in profile by name (see [`Profile::BUILTIN`]); `None` for other names. Case and
    /// `-`/`_` do not matter, and the vendors' other names are accepted (`cerner` and `oracle`
    /// for `oracle_health`, `allscripts` for `veradigm`, `athena`, `ecw`), as
    /// `FhirProfile::builtin` accepts them. Vendor profiles are the generic one with that
    /// vendor's [`Quirk`]s and their default settings; a site extends one with an overlay
    /// ([`Profile::from_toml`] with `extends = "epic"`).
    pub fn builtin(name: &str) -> Option<Self> {
        let name = name.trim().to_ascii_lowercase().replace('-', "_");
        Some(match name.as_str() {
            "generic" => Self::generic(),
            "epic" => Self::epic(),
            "oracle_health" | "oracle" | "cerner" => Self::oracle_health(),
            "veradigm" | "allscripts" => Self::veradigm(),
            "meditech" => Self::meditech(),
            "athenahealth" | "athena" => Self::athenahealth(),
            "eclinicalworks" | "ecw" => Self::eclinicalworks(),
            "nextgen" => Self::nextgen(),
            _ => return None,
        })
    }

    fn vendor_base(name: &str) -> Self {
        let mut p = Self::generic().named(name);
        p.vendor = Some(name.to_owned());
        p.with(Quirk::JoinTextLines).with(Quirk::LocalCodeSystem)
    }

    /// Epic (HL7 v2 Bridges interfaces): `MRN` type codes, enterprise `EPI` as the primary
    /// identifier, legal names without `L`, Z-segment extensions, repeated providers, order
    /// questions, CSN as configuration, text lines joined, local codes. PID-18 as the HAR
    /// ([`Quirk::AccountNumberOnEncounter`]) is a site's choice: switch it on in the overlay
    /// (it adds an Encounter identifier other converters do not write).
    pub fn epic() -> Self {
        let mut p = Self::vendor_base("epic")
            .with(Quirk::MrnTypeCode)
            .with(Quirk::PrimaryIdentifier)
            .with(Quirk::LegalNameWithoutType)
            .with(Quirk::ZSegmentExtensions)
            .with(Quirk::MergeRepeatedProvider)
            .with(Quirk::OrderQuestions)
            .with(Quirk::VisitNumberSystem);
        p.v2.primary_identifier = Some("EPI".into());
        p
    }

    /// Oracle Health (Cerner Millennium): alias pool types, `HNAM_ORDERID` placer ids, FIN in
    /// PV1-19, Z-segments, local code sets next to LOINC.
    pub fn oracle_health() -> Self {
        let mut p = Self::vendor_base("oracle_health")
            .with(Quirk::AliasPoolTypes)
            .with(Quirk::PlacerOrderNamespace)
            .with(Quirk::CodeValueDisplays)
            .with(Quirk::VisitNumberSystem)
            .with(Quirk::ZSegmentExtensions);
        for (alias, code) in [
            ("CMRN", "MR"),
            ("MRN", "MR"),
            ("FIN NBR", "AN"),
            ("FIN", "AN"),
            ("SSN", "SS"),
        ] {
            p.v2.alias_types.insert(alias.into(), code.into());
        }
        p.v2.order_namespaces = vec!["HNAM_ORDERID".into()];
        for (map, display, code) in [
            ("NameType", "Current", "L"),
            ("NameType", "Legal", "L"),
            ("NameType", "Maiden", "M"),
            ("NameType", "Alias", "A"),
            ("TelecommunicationUseCode", "Home", "PRN"),
            ("TelecommunicationUseCode", "Business", "WPN"),
            ("TelecommunicationUseCode", "Alternate", "ORN"),
            ("TelecommunicationUseCode", "Email", "NET"),
            ("TelecommunicationEquipmentType", "Tel", "PH"),
            ("TelecommunicationEquipmentType", "Fax", "FX"),
            ("TelecommunicationEquipmentType", "Cell", "CP"),
            ("TelecommunicationEquipmentType", "Mobile", "CP"),
            ("TelecommunicationEquipmentType", "Pager", "BP"),
            ("TelecommunicationEquipmentType", "Email", "Internet"),
            ("AddressType[Use]", "Home", "H"),
            ("AddressType[Use]", "Business", "B"),
            ("AddressType[Use]", "Mailing", "M"),
            ("AddressType[Use]", "Temporary", "C"),
            ("AddressType[Type]", "Home", "H"),
            ("AddressType[Type]", "Business", "B"),
            ("AddressType[Type]", "Mailing", "M"),
            ("AddressType[Type]", "Temporary", "C"),
        ] {
            p.v2.display_codes
                .entry(map.into())
                .or_default()
                .insert(display.into(), code.into());
        }
        p
    }

    /// MEDITECH: site dictionary mnemonics kept as local codings and mapped per site.
    pub fn meditech() -> Self {
        Self::vendor_base("meditech")
            .with(Quirk::DictionaryMnemonics)
            .with(Quirk::ZSegmentExtensions)
    }

    /// athenahealth: the per-direction field allow-list (the site file lists the fields).
    pub fn athenahealth() -> Self {
        Self::vendor_base("athenahealth").with(Quirk::FieldAllowList)
    }

    /// eClinicalWorks: patient id in PID-2 (or PID-4), race codes outside the table.
    pub fn eclinicalworks() -> Self {
        let mut p = Self::vendor_base("eclinicalworks")
            .with(Quirk::PatientIdInPid2)
            .with(Quirk::RaceCodeMap);
        for (code, cdc) in [
            ("C", "2106-3"),
            ("W", "2106-3"),
            ("B", "2054-5"),
            ("AA", "2054-5"),
            ("A", "2028-9"),
            ("I", "1002-5"),
            ("P", "2076-8"),
        ] {
            p.v2.race_codes.insert(code.into(), cdc.into());
        }
        p
    }

    /// Veradigm/Allscripts: nothing field-level is public. The knobs a site specification
    /// needs (PID-2 external ids typed `PN`, enterprise ids under a second authority, `ZSC`):
    /// configure from your site's interface specification.
    pub fn veradigm() -> Self {
        Self::veradigm_like("veradigm")
    }

    /// NextGen: as [`Profile::veradigm`], configure from your site's interface specification.
    pub fn nextgen() -> Self {
        Self::veradigm_like("nextgen")
    }

    fn veradigm_like(name: &str) -> Self {
        let mut p = Self::vendor_base(name)
            .with(Quirk::Pid2ExternalIdType)
            .with(Quirk::EnterpriseAuthority)
            .with(Quirk::ZSegmentExtensions);
        p.v2.pid2_type = Some("PN".into());
        p
    }

    /// The key of this profile: (vendor, interface, version). MEDITECH documents interfaces
    /// per product and release, so a store or routing layer keys profiles by all three, not by
    /// vendor alone.
    pub fn key(&self) -> (Option<&str>, Option<&str>, &str) {
        (
            self.vendor.as_deref(),
            self.interface.as_deref(),
            self.version.as_str(),
        )
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
    pub fn with(mut self, q: Quirk) -> Self {
        self.quirks.insert(q);
        self
    }

    /// Removes a quirk.
    pub fn without(mut self, q: Quirk) -> Self {
        self.quirks.remove(&q);
        self
    }

    /// True if the quirk is enabled.
    pub fn has(&self, q: Quirk) -> bool {
        self.quirks.contains(&q)
    }

    /// Sets the source time zone.
    pub fn time_zone(mut self, tz: chrono_tz::Tz) -> Self {
        self.source_time_zone = Some(tz);
        self
    }

    /// Sets the base URI for unknown systems.
    pub fn unknown_system_base(mut self, base: &str) -> Self {
        self.unknown_system_base = base.to_owned();
        self
    }

    /// Sets the base URI of the target FHIR server.
    pub fn resource_base(mut self, base: &str) -> Self {
        self.resource_base = Some(base.to_owned());
        self
    }

    /// Maps a v2 coding system name to a URI.
    pub fn coding_system(mut self, name: &str, uri: &str) -> Self {
        self.coding_systems.insert(name.to_owned(), uri.to_owned());
        self
    }

    /// Maps an assigning authority to an identifier system URI.
    pub fn identifier_system(mut self, authority: &str, uri: &str) -> Self {
        self.identifier_systems
            .insert(authority.to_owned(), uri.to_owned());
        self
    }

    /// Overrides the IG's map `map` for one v2 `code`.
    pub fn code_override(mut self, map: &str, code: &str, target: CodeOverride) -> Self {
        self.code_maps
            .entry(map.to_owned())
            .or_default()
            .insert(code.to_owned(), target);
        self
    }

    /// The system registry this profile describes.
    pub fn systems(&self) -> Systems {
        let mut s = Systems::new(&self.unknown_system_base);
        for (k, v) in &self.coding_systems {
            s = s.coding(k, v);
        }
        for (k, v) in &self.identifier_systems {
            s = s.identifier(k, v);
        }
        s
    }

    /// Translates a v2 code through the profile's override, else the IG's map.
    pub fn translate(&self, map: &ConceptMap, code: &str) -> ProfileTranslation<'_> {
        match self.code_maps.get(map.name).and_then(|m| m.get(code)) {
            Some(o) => ProfileTranslation::Override(o),
            None => ProfileTranslation::Ig(
                map.translate(crate::quirks::display_code(self, map.name, code)),
            ),
        }
    }

    /// Checks the values serde cannot: non-empty name and version, URIs that are absolute,
    /// code-map overrides that name real IG maps.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |field: &str, problem| {
            Err(Error::InvalidProfile {
                field: field.to_owned(),
                problem,
            })
        };
        if self.name.trim().is_empty() {
            return bad("name", ProfileProblem::Empty);
        }
        if self.version.trim().is_empty() {
            return bad("version", ProfileProblem::Empty);
        }
        if !is_absolute_uri(&self.unknown_system_base) {
            return bad("unknown_system_base", ProfileProblem::NotAUri);
        }
        if let Some(b) = &self.resource_base {
            if !is_absolute_uri(b) {
                return bad("resource_base", ProfileProblem::NotAUri);
            }
        }
        for (k, v) in &self.coding_systems {
            if !is_absolute_uri(v) {
                return bad(&format!("coding_systems.{k}"), ProfileProblem::NotAUri);
            }
        }
        for (k, v) in &self.identifier_systems {
            if !is_absolute_uri(v) {
                return bad(&format!("identifier_systems.{k}"), ProfileProblem::NotAUri);
            }
        }
        if let Some(c) = &self.undeclared_charset {
            if ehrkit_hl7v2::Charset::from_msh18(c.as_bytes()).is_none() {
                return bad("undeclared_charset", ProfileProblem::UnknownValue);
            }
        }
        if let Err((field, problem)) = self.v2.validate() {
            return bad(&format!("v2.{field}"), problem);
        }
        for (map, codes) in &self.code_maps {
            if vocab::get(map).is_none() {
                return bad(
                    &format!("code_maps.{map}"),
                    ProfileProblem::UnknownConceptMap,
                );
            }
            for (code, o) in codes {
                if !is_absolute_uri(&o.system) {
                    return bad(
                        &format!("code_maps.{map}.{code}.system"),
                        ProfileProblem::NotAUri,
                    );
                }
            }
        }
        Ok(())
    }

    /// Reads and [validates](Self::validate) a profile from TOML.
    ///
    /// A **site overlay** names a built-in profile in `extends` and adds to it: its quirks
    /// (`quirks`, and `without` to switch some off), OIDs and authorities
    /// (`identifier_systems`), code maps, the source time zone, Z-segment mappings and the
    /// other `[v2]` settings. Maps are merged key by key (the overlay wins), lists and single
    /// values replace the base's.
    ///
    /// ```
    /// use ehrkit_mapping::{Profile, Quirk};
    ///
    /// let site = Profile::from_toml(r#"
    /// extends = "epic"
    /// name = "general-hospital-epic"
    /// version = "2026-03"
    /// source_time_zone = "America/Chicago"
    /// without = ["order-questions"]
    /// [identifier_systems]
    /// EPI = "urn:oid:1.2.840.114350.1.13.999.2.7.5.737384.0"
    /// [v2.z_segments."ZPD-2"]
    /// url = "https://fhir.general-hospital.test/StructureDefinition/mychart-status"
    /// "#).unwrap();
    /// assert!(site.has(Quirk::MrnTypeCode) && !site.has(Quirk::OrderQuestions));
    /// assert_eq!(site.vendor.as_deref(), Some("epic"));
    /// ```
    pub fn from_toml(text: &str) -> Result<Self, Error> {
        let table: toml::Table =
            toml::from_str(text).map_err(|e| Error::ProfileToml(Box::new(e)))?;
        let p = if table.contains_key("extends") {
            let o: Overlay = toml::from_str(text).map_err(|e| Error::ProfileToml(Box::new(e)))?;
            o.apply()?
        } else {
            toml::from_str(text).map_err(|e| Error::ProfileToml(Box::new(e)))?
        };
        p.validate()?;
        Ok(p)
    }

    /// Reads and [validates](Self::validate) a profile from JSON (an object with `extends` is
    /// an overlay, as in [`Profile::from_toml`]).
    pub fn from_json(text: &str) -> Result<Self, Error> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(Error::ProfileJson)?;
        let p = if value.get("extends").is_some() {
            let o: Overlay = serde_json::from_str(text).map_err(Error::ProfileJson)?;
            o.apply()?
        } else {
            serde_json::from_str(text).map_err(Error::ProfileJson)?
        };
        p.validate()?;
        Ok(p)
    }

    /// The profile as TOML.
    pub fn to_toml(&self) -> String {
        // Every field is a string, a set of unit variants or a string map: always serializable.
        toml::to_string(self).unwrap_or_default()
    }

    /// The profile as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// A site overlay: a built-in profile (`extends`) and what the site adds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Overlay {
    extends: String,
    name: Option<String>,
    version: Option<String>,
    vendor: Option<String>,
    interface: Option<String>,
    #[serde(default)]
    quirks: BTreeSet<Quirk>,
    #[serde(default)]
    without: BTreeSet<Quirk>,
    #[serde(default, with = "tz_name")]
    source_time_zone: Option<chrono_tz::Tz>,
    unknown_system_base: Option<String>,
    resource_base: Option<String>,
    #[serde(default)]
    coding_systems: BTreeMap<String, String>,
    #[serde(default)]
    identifier_systems: BTreeMap<String, String>,
    #[serde(default)]
    code_maps: BTreeMap<String, BTreeMap<String, CodeOverride>>,
    #[serde(default)]
    v2: V2Settings,
    undeclared_charset: Option<String>,
}

impl Overlay {
    fn apply(self) -> Result<Profile, Error> {
        let Some(mut p) = Profile::builtin(&self.extends) else {
            return Err(Error::InvalidProfile {
                field: "extends".into(),
                problem: ProfileProblem::UnknownBuiltin,
            });
        };
        let set = |dst: &mut String, v: Option<String>| {
            if let Some(v) = v {
                *dst = v;
            }
        };
        set(&mut p.name, self.name);
        set(&mut p.version, self.version);
        set(&mut p.unknown_system_base, self.unknown_system_base);
        p.vendor = self.vendor.or(p.vendor);
        p.interface = self.interface.or(p.interface);
        p.quirks.extend(self.quirks);
        p.quirks.retain(|q| !self.without.contains(q));
        p.source_time_zone = self.source_time_zone.or(p.source_time_zone);
        p.resource_base = self.resource_base.or(p.resource_base);
        p.coding_systems.extend(self.coding_systems);
        p.identifier_systems.extend(self.identifier_systems);
        for (map, codes) in self.code_maps {
            p.code_maps.entry(map).or_default().extend(codes);
        }
        p.v2.overlay(self.v2);
        p.undeclared_charset = self.undeclared_charset.or(p.undeclared_charset);
        Ok(p)
    }
}

/// `Option<Tz>` as its IANA name.
mod tz_name {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        tz: &Option<chrono_tz::Tz>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match tz {
            Some(tz) => s.serialize_str(tz.name()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<chrono_tz::Tz>, D::Error> {
        let name = Option::<String>::deserialize(d)?;
        name.map(|n| {
            n.parse::<chrono_tz::Tz>().map_err(|_| {
                serde::de::Error::custom(format!("`{n}` is not an IANA time zone name"))
            })
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_is_valid_and_round_trips() {
        let g = Profile::generic();
        g.validate().unwrap();
        assert_eq!(Profile::from_toml(&g.to_toml()).unwrap(), g);
        assert_eq!(Profile::from_json(&g.to_json()).unwrap(), g);
        assert!(!g.unknown_system_base.contains("example.com"));
    }

    #[test]
    fn undeclared_charset_is_read_checked_overlaid_and_used_to_parse() {
        let p = Profile::from_toml(
            "name = \"site\"\nversion = \"1\"\nundeclared_charset = \"8859/1\"\n",
        )
        .unwrap();
        assert_eq!(p.undeclared_charset.as_deref(), Some("8859/1"));
        assert_eq!(Profile::from_toml(&p.to_toml()).unwrap(), p);
        assert_eq!(
            p.parse_options().fallback_charset,
            Some(ehrkit_hl7v2::Charset::LATIN1)
        );
        assert_eq!(Profile::generic().parse_options().fallback_charset, None);
        // A site overlay sets it on a built-in profile.
        let o =
            Profile::from_toml("extends = \"meditech\"\nundeclared_charset = \"WINDOWS-1252\"\n")
                .unwrap();
        assert!(o.parse_options().fallback_charset.is_some());
        // A name HL7 table 0211 does not know is refused at load, naming the field.
        let err = Profile::from_toml(
            "name = \"s\"\nversion = \"1\"\nundeclared_charset = \"latin-99\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("undeclared_charset"), "{err}");

        // A Latin-1 name without MSH-18: an encoding error by default, read with the profile.
        let mut raw = b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5\rPID|1||7^^^H^MR||M".to_vec();
        raw.push(0xDC);
        raw.extend_from_slice(b"LLER^ANNA\r");
        assert!(ehrkit_hl7v2::Message::parse(&raw).is_err());
        let msg = ehrkit_hl7v2::Message::parse_with(&raw, p.parse_options()).unwrap();
        let name = msg.get("PID-5.1").unwrap();
        assert_eq!(name, "M\u{dc}LLER");
    }

    #[test]
    fn toml_file_shape() {
        let p = Profile::from_toml(
            r#"
name = "site"
version = "2026-03"
source_time_zone = "Europe/Paris"
unknown_system_base = "https://fhir.site.test/sid/"
[identifier_systems]
MR = "https://fhir.site.test/sid/mrn"
[code_maps.AdministrativeSex.X]
code = "other"
system = "http://hl7.org/fhir/administrative-gender"
display = "Other"
"#,
        )
        .unwrap();
        assert_eq!(p.source_time_zone, Some(chrono_tz::Europe::Paris));
        let sex = vocab::get("AdministrativeSex").unwrap();
        let ProfileTranslation::Override(o) = p.translate(sex, "X") else {
            panic!()
        };
        assert_eq!(o.code, "other");
        // Codes without an override still go through the IG's map.
        assert!(matches!(
            p.translate(sex, "F"),
            ProfileTranslation::Ig(Translation::Mapped(_))
        ));
        assert_eq!(
            p.systems()
                .identifier_system(crate::Authority {
                    namespace: Some("MR"),
                    ..Default::default()
                })
                .unwrap()
                .uri,
            "https://fhir.site.test/sid/mrn"
        );
    }

    #[test]
    fn bad_profiles_are_refused_with_the_field() {
        let e = Profile::from_toml(
            "name = \"x\"\nversion = \"1\"\nsource_time_zone = \"Mars/Olympus\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("Mars/Olympus"), "{e}");
        let e = Profile::from_toml("name = \"x\"\nversion = \"1\"\nsurprise = 1\n").unwrap_err();
        assert!(matches!(e, Error::ProfileToml(_)));
        let e = Profile::generic()
            .code_override("NoSuchMap", "X", CodeOverride::new("a", "http://a.test"))
            .validate()
            .unwrap_err();
        assert!(matches!(
            e,
            Error::InvalidProfile { ref field, problem: ProfileProblem::UnknownConceptMap } if field == "code_maps.NoSuchMap"
        ));
        let e = Profile::generic()
            .unknown_system_base("not a uri")
            .validate()
            .unwrap_err();
        assert!(matches!(
            e,
            Error::InvalidProfile {
                problem: ProfileProblem::NotAUri,
                ..
            }
        ));
        let e = Profile::generic().version(" ").validate().unwrap_err();
        assert!(matches!(
            e,
            Error::InvalidProfile {
                problem: ProfileProblem::Empty,
                ..
            }
        ));
    }

    #[test]
    fn builtins_validate_round_trip_and_carry_their_vendor_quirks() {
        for name in Profile::BUILTIN {
            let p = Profile::builtin(name).unwrap();
            p.validate().unwrap();
            assert_eq!(&p.name, name);
            assert_eq!(Profile::from_toml(&p.to_toml()).unwrap(), p, "{name}");
            assert_eq!(Profile::from_json(&p.to_json()).unwrap(), p, "{name}");
        }
        // The vendors' other names and spellings name the same profile.
        for alias in ["cerner", "oracle", "Oracle-Health", " ORACLE_HEALTH "] {
            assert_eq!(
                Profile::builtin(alias),
                Some(Profile::oracle_health()),
                "{alias}"
            );
        }
        assert_eq!(Profile::builtin("allscripts"), Some(Profile::veradigm()));
        assert_eq!(Profile::builtin("ecw"), Some(Profile::eclinicalworks()));
        assert!(Profile::builtin("cernr").is_none());
        assert!(Profile::epic().has(Quirk::MrnTypeCode));
        assert!(!Profile::oracle_health().has(Quirk::MrnTypeCode));
        assert!(Profile::oracle_health().has(Quirk::AliasPoolTypes));
        assert_eq!(Profile::nextgen().quirks, Profile::veradigm().quirks);
        assert!(Profile::generic().quirks.is_empty());
        // Built-in vendor profiles never refuse a feed for lack of a time zone: a site turns
        // that on in its overlay, with its zone.
        for name in Profile::BUILTIN {
            assert!(!Profile::builtin(name)
                .unwrap()
                .has(Quirk::RequireSourceTimeZone));
        }
    }

    #[test]
    fn overlay_extends_merges_and_removes() {
        let p = Profile::from_toml(
            r#"
extends = "oracle_health"
name = "site"
interface = "results"
quirks = ["require-source-time-zone"]
without = ["placer-order-namespace"]
source_time_zone = "America/Denver"
[identifier_systems]
CMRN = "https://site.test/sid/cmrn"
[v2]
alias_types = { "MRN_X" = "MR" }
order_namespaces = ["OTHER"]
"#,
        )
        .unwrap();
        assert_eq!(p.name, "site");
        assert_eq!(p.version, "1", "kept from the base");
        assert_eq!(p.vendor.as_deref(), Some("oracle_health"));
        assert_eq!(p.interface.as_deref(), Some("results"));
        assert_eq!(p.key(), (Some("oracle_health"), Some("results"), "1"));
        assert!(p.has(Quirk::RequireSourceTimeZone) && p.has(Quirk::AliasPoolTypes));
        assert!(!p.has(Quirk::PlacerOrderNamespace));
        // Maps merge (base CMRN alias kept, site alias added); lists replace.
        assert_eq!(p.v2.alias_types.get("CMRN").map(String::as_str), Some("MR"));
        assert_eq!(
            p.v2.alias_types.get("MRN_X").map(String::as_str),
            Some("MR")
        );
        assert_eq!(p.v2.order_namespaces, ["OTHER"]);
        // The overlay is as JSON too.
        let j = Profile::from_json(r#"{"extends": "epic", "name": "j"}"#).unwrap();
        assert!(j.has(Quirk::MrnTypeCode));
    }

    #[test]
    fn overlay_errors_are_located() {
        let e = Profile::from_toml("extends = \"nobody\"\n").unwrap_err();
        assert!(matches!(
            e,
            Error::InvalidProfile { ref field, problem: ProfileProblem::UnknownBuiltin } if field == "extends"
        ));
        let e = Profile::from_toml("extends = \"epic\"\nquirks = [\"no-such\"]\n").unwrap_err();
        let Error::ProfileToml(t) = &e else {
            panic!("{e}")
        };
        assert!(t.span().is_some(), "{e}");
        let e = Profile::from_toml(
            "extends = \"epic\"\n[v2.z_segments.\"PID-2\"]\nurl = \"https://a.test/x\"\n",
        )
        .unwrap_err();
        assert!(
            matches!(e, Error::InvalidProfile { ref field, problem: ProfileProblem::NotAFieldReference } if field == "v2.z_segments.PID-2"),
            "{e}"
        );
        let e = Profile::from_toml(
            "extends = \"athenahealth\"\n[v2]\nallowed_fields = [\"PID-3\", \"pid\"]\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("v2.allowed_fields[1]"), "{e}");
        let e = Profile::from_toml("extends = \"epic\"\n[v2]\nvisit_number_system = \"csn\"\n")
            .unwrap_err();
        assert!(e.to_string().contains("v2.visit_number_system"), "{e}");
        let e = Profile::from_toml(
            "extends = \"oracle_health\"\n[v2.display_codes.NoSuchMap]\nCurrent = \"L\"\n",
        )
        .unwrap_err();
        assert!(
            matches!(e, Error::InvalidProfile { ref field, problem: ProfileProblem::UnknownConceptMap } if field == "v2.display_codes.NoSuchMap"),
            "{e}"
        );
    }

    #[test]
    fn quirk_names_round_trip_through_serde() {
        for q in Quirk::ALL {
            let json = serde_json::to_string(q).unwrap();
            assert_eq!(json, format!("\"{}\"", q.name()));
            assert_eq!(serde_json::from_str::<Quirk>(&json).unwrap(), *q);
        }
    }

    #[test]
    fn builder_shape() {
        let p = Profile::generic().named("x").version("7");
        assert_eq!((p.name.as_str(), p.version.as_str()), ("x", "7"));
        assert!(p.quirks.is_empty());
        assert_eq!(Profile::default(), Profile::generic());
    }
}
