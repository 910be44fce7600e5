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
use crate::systems::{is_absolute_uri, Systems, DEFAULT_UNKNOWN_SYSTEM_BASE};
use crate::v2_to_fhir::vocab::{self, ConceptMap, Translation};

/// One named, documented deviation from the IG, switched on per profile.
///
/// None yet: vendor profiles (the next issue) add one variant per vendor deviation, each with its
/// own test input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Quirk {}

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
        }
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
            None => ProfileTranslation::Ig(map.translate(code)),
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
    pub fn from_toml(text: &str) -> Result<Self, Error> {
        let p: Profile = toml::from_str(text).map_err(|e| Error::ProfileToml(Box::new(e)))?;
        p.validate()?;
        Ok(p)
    }

    /// Reads and [validates](Self::validate) a profile from JSON.
    pub fn from_json(text: &str) -> Result<Self, Error> {
        let p: Profile = serde_json::from_str(text).map_err(Error::ProfileJson)?;
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
    fn builder_shape() {
        let p = Profile::generic().named("x").version("7");
        assert_eq!((p.name.as_str(), p.version.as_str()), ("x", "7"));
        assert!(p.quirks.is_empty());
        assert_eq!(Profile::default(), Profile::generic());
    }
}
