//! The `[v2]` settings of a profile: what the HL7 v2 quirks read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{field_ref, is_segment_id};
use crate::systems::is_absolute_uri;
use crate::{CodeOverride, ProfileProblem};

/// Settings the HL7 v2 [`Quirk`](crate::Quirk)s read: a site's OIDs and systems, Z-segment
/// mappings, dictionaries, allow-lists. Each is used only when its quirk is on; all are empty
/// in [`Profile::generic`](crate::Profile::generic). In TOML they live under `[v2]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct V2Settings {
    /// [`PrimaryIdentifier`](crate::Quirk::PrimaryIdentifier): the PID-3 authority (CX.4.1) or
    /// type code (CX.5) of the primary identifier (`EPI`, or the facility's MRN authority).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_identifier: Option<String>,
    /// [`AliasPoolTypes`](crate::Quirk::AliasPoolTypes): vendor alias type (`CMRN`,
    /// `FIN NBR`) → HL7 table 0203 code (`MR`, `AN`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub alias_types: BTreeMap<String, String>,
    /// [`ZSegmentExtensions`](crate::Quirk::ZSegmentExtensions): `ZPD-2` → the extension it
    /// becomes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub z_segments: BTreeMap<String, ZField>,
    /// [`VisitNumberSystem`](crate::Quirk::VisitNumberSystem): the system of PV1-19 when it has
    /// no assigning authority (Epic CSN, Oracle FIN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visit_number_system: Option<String>,
    /// [`AccountNumberOnEncounter`](crate::Quirk::AccountNumberOnEncounter): the system of
    /// PID-18 (Epic HAR) when it has no assigning authority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_number_system: Option<String>,
    /// [`PlacerOrderNamespace`](crate::Quirk::PlacerOrderNamespace): EI namespaces that mark
    /// the vendor's order ids (`HNAM_ORDERID`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub order_namespaces: Vec<String>,
    /// [`PlacerOrderNamespace`](crate::Quirk::PlacerOrderNamespace): the site's order id
    /// system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id_system: Option<String>,
    /// [`DictionaryMnemonics`](crate::Quirk::DictionaryMnemonics): base URI of the site's
    /// dictionaries; a mnemonic of field `PID-16` gets system `<base>PID-16`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dictionary_system_base: Option<String>,
    /// [`DictionaryMnemonics`](crate::Quirk::DictionaryMnemonics): field (`PID-16`) →
    /// mnemonic → the standard coding added next to it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dictionaries: BTreeMap<String, BTreeMap<String, CodeOverride>>,
    /// [`FieldAllowList`](crate::Quirk::FieldAllowList): the fields the interface exchanges
    /// (`PID-3`, or `MSH` for a whole segment). MSH is always kept whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_fields: Vec<String>,
    /// [`PatientIdInPid2`](crate::Quirk::PatientIdInPid2): the system of a PID-2/PID-4 patient
    /// id without an assigning authority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_id_system: Option<String>,
    /// [`RaceCodeMap`](crate::Quirk::RaceCodeMap): vendor race code (`C`) → CDC race code
    /// (`2106-3`, OMB category).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub race_codes: BTreeMap<String, String>,
    /// [`Pid2ExternalIdType`](crate::Quirk::Pid2ExternalIdType): the type of an untyped PID-2
    /// id (`PN`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid2_type: Option<String>,
    /// [`EnterpriseAuthority`](crate::Quirk::EnterpriseAuthority): authorities (CX.4.1) of
    /// enterprise ids (`TWENTERPRISE`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enterprise_authorities: Vec<String>,
    /// [`CodeValueDisplays`](crate::Quirk::CodeValueDisplays): IG map name (`NameType`) →
    /// display sent instead of a code (`Current`) → the HL7 table code (`L`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub display_codes: BTreeMap<String, BTreeMap<String, String>>,
    /// [`LocalCodeSystem`](crate::Quirk::LocalCodeSystem): the site's code system URI for local
    /// codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_code_system: Option<String>,
    /// [`LocalCodeSystem`](crate::Quirk::LocalCodeSystem): coding system names (CWE.3) that are
    /// local at this site, besides `L`, `LOCAL` and `99zzz`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub local_coding_systems: Vec<String>,
}

/// What one Z-segment field becomes: an extension with this URL on a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZField {
    /// The extension URL (the site's StructureDefinition).
    pub url: String,
    /// The resource that carries it.
    #[serde(default)]
    pub resource: ZTarget,
    /// The extension's value type.
    #[serde(default)]
    pub value: ZValue,
}

/// The resource a Z-segment field's extension goes on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ZTarget {
    /// The message's Patient (PID).
    #[default]
    Patient,
    /// The message's Encounter (PV1).
    Encounter,
}

/// The value type of a Z-segment field's extension.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ZValue {
    /// `valueString`: the first component, escapes decoded.
    #[default]
    String,
    /// `valueCode`: the first component.
    Code,
    /// `valueBoolean`: `Y`/`N` (other values are reported).
    Boolean,
}

impl V2Settings {
    /// True when nothing is set.
    pub fn is_empty(&self) -> bool {
        self == &V2Settings::default()
    }

    /// Applies a site overlay: maps merge key by key (the overlay wins), values and lists set
    /// in the overlay replace the base's.
    pub(crate) fn overlay(&mut self, o: V2Settings) {
        fn opt(dst: &mut Option<String>, v: Option<String>) {
            if v.is_some() {
                *dst = v;
            }
        }
        fn list(dst: &mut Vec<String>, v: Vec<String>) {
            if !v.is_empty() {
                *dst = v;
            }
        }
        opt(&mut self.primary_identifier, o.primary_identifier);
        self.alias_types.extend(o.alias_types);
        self.z_segments.extend(o.z_segments);
        opt(&mut self.visit_number_system, o.visit_number_system);
        opt(&mut self.account_number_system, o.account_number_system);
        list(&mut self.order_namespaces, o.order_namespaces);
        opt(&mut self.order_id_system, o.order_id_system);
        opt(&mut self.dictionary_system_base, o.dictionary_system_base);
        for (field, codes) in o.dictionaries {
            self.dictionaries.entry(field).or_default().extend(codes);
        }
        list(&mut self.allowed_fields, o.allowed_fields);
        opt(&mut self.patient_id_system, o.patient_id_system);
        self.race_codes.extend(o.race_codes);
        opt(&mut self.pid2_type, o.pid2_type);
        list(&mut self.enterprise_authorities, o.enterprise_authorities);
        for (map, codes) in o.display_codes {
            self.display_codes.entry(map).or_default().extend(codes);
        }
        opt(&mut self.local_code_system, o.local_code_system);
        list(&mut self.local_coding_systems, o.local_coding_systems);
    }

    /// Checks what serde cannot; the error names the key under `v2.`.
    pub(crate) fn validate(&self) -> Result<(), (String, ProfileProblem)> {
        let uris = [
            ("visit_number_system", &self.visit_number_system),
            ("account_number_system", &self.account_number_system),
            ("order_id_system", &self.order_id_system),
            ("dictionary_system_base", &self.dictionary_system_base),
            ("patient_id_system", &self.patient_id_system),
            ("local_code_system", &self.local_code_system),
        ];
        for (name, v) in uris {
            if v.as_deref().is_some_and(|u| !is_absolute_uri(u)) {
                return Err((name.to_owned(), ProfileProblem::NotAUri));
            }
        }
        for (key, z) in &self.z_segments {
            match field_ref(key) {
                Some((seg, _)) if seg.starts_with('Z') => {}
                _ => {
                    return Err((
                        format!("z_segments.{key}"),
                        ProfileProblem::NotAFieldReference,
                    ))
                }
            }
            if !is_absolute_uri(&z.url) {
                return Err((format!("z_segments.{key}.url"), ProfileProblem::NotAUri));
            }
        }
        for (field, codes) in &self.dictionaries {
            if field_ref(field).is_none() {
                return Err((
                    format!("dictionaries.{field}"),
                    ProfileProblem::NotAFieldReference,
                ));
            }
            for (code, o) in codes {
                if !is_absolute_uri(&o.system) {
                    return Err((
                        format!("dictionaries.{field}.{code}.system"),
                        ProfileProblem::NotAUri,
                    ));
                }
            }
        }
        for (i, f) in self.allowed_fields.iter().enumerate() {
            if field_ref(f).is_none() && !is_segment_id(f) {
                return Err((
                    format!("allowed_fields[{i}]"),
                    ProfileProblem::NotAFieldReference,
                ));
            }
        }
        for (map, codes) in &self.display_codes {
            if crate::v2_to_fhir::vocab::get(map).is_none() {
                return Err((
                    format!("display_codes.{map}"),
                    ProfileProblem::UnknownConceptMap,
                ));
            }
            if let Some((display, _)) = codes.iter().find(|(_, c)| c.trim().is_empty()) {
                return Err((
                    format!("display_codes.{map}.{display}"),
                    ProfileProblem::Empty,
                ));
            }
        }
        for (k, v) in self.alias_types.iter().chain(&self.race_codes) {
            if v.trim().is_empty() {
                return Err((k.clone(), ProfileProblem::Empty));
            }
        }
        Ok(())
    }
}
