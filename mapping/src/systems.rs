//! Code-system and identifier-system registry: v2 names → canonical FHIR URIs.
//!
//! Two questions the converter asks everywhere:
//!
//! - **Which `Coding.system` for a v2 coding system name** (CWE-3 / CWE-6 / CWE-14, values of HL7
//!   table 0396: `LN`, `SCT`, `I10`, `RXNORM`, `HL70001`, …)? See [`Systems::coding_system`].
//! - **Which `Identifier.system` for an assigning authority** (CX-4 / EI-2..4 / XCN-9, an HD:
//!   namespace id, universal id, universal id type)? See [`Systems::identifier_system`].
//!
//! The built-in names come from the FHIR R4 code system list
//! (<http://hl7.org/fhir/R4/terminologies-systems.html>), HL7 Terminology's external code
//! systems (<https://terminology.hl7.org/external_terminologies.html>) and the R4 identifier
//! registry (<http://hl7.org/fhir/R4/identifier-registry.html>: `us-ssn` is OID
//! 2.16.840.1.113883.4.1, `us-npi` OID 2.16.840.1.113883.4.6). v2 tables `HL7nnnn` become
//! `http://terminology.hl7.org/CodeSystem/v2-nnnn` (THO's v2 code systems). ISO OIDs become
//! `urn:oid:…` and UUIDs `urn:uuid:…` (FHIR R4 §2.24.0.1, "uri" data type).
//!
//! A [`Profile`](crate::Profile) adds or replaces entries; a name nobody knows gets a URI under
//! the profile's base ([`Profile::unknown_system_base`](crate::Profile)), never a placeholder
//! domain, and comes back as [`SystemSource::Fallback`] so the converter reports it.

use std::borrow::Cow;
use std::collections::BTreeMap;

/// v2 coding system names (HL7 table 0396 and common legacy spellings) → canonical URIs.
///
/// Sorted by name (binary search). Sources: FHIR R4 terminologies-systems and THO external
/// terminologies (see the module documentation).
pub static CODING_SYSTEMS: &[(&str, &str)] = &[
    ("C4", "http://www.ama-assn.org/go/cpt"),
    ("C5", "http://www.ama-assn.org/go/cpt"),
    ("CPT", "http://www.ama-assn.org/go/cpt"),
    ("CVX", "http://hl7.org/fhir/sid/cvx"),
    ("I10", "http://hl7.org/fhir/sid/icd-10"),
    ("I10C", "http://hl7.org/fhir/sid/icd-10-cm"),
    ("I10P", "http://www.cms.gov/Medicare/Coding/ICD10"),
    ("I9C", "http://hl7.org/fhir/sid/icd-9-cm"),
    ("I9CM", "http://hl7.org/fhir/sid/icd-9-cm"),
    ("ICD10CM", "http://hl7.org/fhir/sid/icd-10-cm"),
    ("ICD10PCS", "http://www.cms.gov/Medicare/Coding/ICD10"),
    ("ISO3166", "urn:iso:std:iso:3166"),
    ("LN", "http://loinc.org"),
    ("LOINC", "http://loinc.org"),
    ("NDC", "http://hl7.org/fhir/sid/ndc"),
    ("NUCC", "http://nucc.org/provider-taxonomy"),
    ("RXN", "http://www.nlm.nih.gov/research/umls/rxnorm"),
    ("RXNORM", "http://www.nlm.nih.gov/research/umls/rxnorm"),
    ("SCT", "http://snomed.info/sct"),
    ("SNM", "http://snomed.info/sct"),
    ("SNOMEDCT", "http://snomed.info/sct"),
    ("UCUM", "http://unitsofmeasure.org"),
    ("UNII", "http://fdasis.nlm.nih.gov"),
];

/// Well-known assigning authorities (HD-1 namespace ids and OIDs) → identifier system URIs.
///
/// Sorted by key. Source: FHIR R4 identifier registry (see the module documentation).
pub static IDENTIFIER_SYSTEMS: &[(&str, &str)] = &[
    ("2.16.840.1.113883.4.1", "http://hl7.org/fhir/sid/us-ssn"),
    ("2.16.840.1.113883.4.6", "http://hl7.org/fhir/sid/us-npi"),
    ("NPI", "http://hl7.org/fhir/sid/us-npi"),
    ("SSA", "http://hl7.org/fhir/sid/us-ssn"),
    ("USSSA", "http://hl7.org/fhir/sid/us-ssn"),
];

/// Where a system URI came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SystemSource {
    /// The built-in tables ([`CODING_SYSTEMS`], [`IDENTIFIER_SYSTEMS`]).
    BuiltIn,
    /// The profile's overrides.
    Profile,
    /// A v2 table name (`HL70001` → `…/CodeSystem/v2-0001`).
    V2Table,
    /// An ISO OID (`urn:oid:…`) or UUID (`urn:uuid:…`), or a value that already is a URI.
    Universal,
    /// Nobody knows the name: a URI under the profile's base. The converter reports it.
    Fallback,
}

/// A resolved system URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemUri<'a> {
    /// The URI.
    pub uri: Cow<'a, str>,
    /// Where it came from.
    pub source: SystemSource,
}

/// An assigning authority as the v2 HD data type carries it (HD-1, HD-2, HD-3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Authority<'a> {
    /// HD-1 namespace id (`SSA`, `MR_HOSP`).
    pub namespace: Option<&'a str>,
    /// HD-2 universal id (an OID, UUID, URI, …).
    pub universal_id: Option<&'a str>,
    /// HD-3 universal id type (HL7 table 0301: `ISO`, `UUID`, `URI`, `DNS`, …).
    pub universal_id_type: Option<&'a str>,
}

/// The registry: built-in tables plus overrides plus a base for unknown names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Systems {
    coding: BTreeMap<String, String>,
    identifier: BTreeMap<String, String>,
    base: String,
}

/// The base URI for names nobody knows, in [`Profile::generic`](crate::Profile::generic):
/// a URN that resolves nowhere on purpose (set a real one per site).
pub const DEFAULT_UNKNOWN_SYSTEM_BASE: &str = "urn:ehrkit:unknown-system:";

impl Systems {
    /// The built-in tables, with `base` for unknown names (e.g. `https://fhir.example.org/sid/`;
    /// `urn:…:` bases are used as they are, other bases get a `/` when they lack one).
    pub fn new(base: &str) -> Self {
        Systems {
            coding: BTreeMap::new(),
            identifier: BTreeMap::new(),
            base: base.to_owned(),
        }
    }

    /// Adds or replaces a coding system name (CWE-3 value) → URI.
    pub fn coding(mut self, name: &str, uri: &str) -> Self {
        self.coding.insert(name.to_owned(), uri.to_owned());
        self
    }

    /// Adds or replaces an assigning authority (HD-1 namespace or HD-2 universal id) → URI.
    pub fn identifier(mut self, authority: &str, uri: &str) -> Self {
        self.identifier.insert(authority.to_owned(), uri.to_owned());
        self
    }

    /// The base for unknown names.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The `Coding.system` for a v2 coding system name (CWE-3). `None` for an empty name.
    pub fn coding_system<'a>(&'a self, name: &'a str) -> Option<SystemUri<'a>> {
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        if let Some(uri) = self.coding.get(name) {
            return Some(SystemUri {
                uri: Cow::Borrowed(uri),
                source: SystemSource::Profile,
            });
        }
        if let Some(uri) = lookup(CODING_SYSTEMS, name) {
            return Some(SystemUri {
                uri: Cow::Borrowed(uri),
                source: SystemSource::BuiltIn,
            });
        }
        if let Some(table) = v2_table(name) {
            return Some(SystemUri {
                uri: Cow::Owned(format!("http://terminology.hl7.org/CodeSystem/v2-{table}")),
                source: SystemSource::V2Table,
            });
        }
        if let Some(uri) = universal(name, None) {
            return Some(uri);
        }
        Some(self.fallback("codesystem", name))
    }

    /// The `Identifier.system` for an assigning authority. `None` when the HD is empty.
    ///
    /// Order: profile overrides (by universal id, then namespace), the built-in well-known
    /// authorities (same order), the universal id by its type (`ISO` → `urn:oid:`, `UUID` →
    /// `urn:uuid:`, `URI` → as is; an untyped id that looks like an OID or URI likewise), then the
    /// fallback under the base named after the namespace (or the universal id).
    pub fn identifier_system<'a>(&'a self, hd: Authority<'a>) -> Option<SystemUri<'a>> {
        let ns = hd.namespace.map(str::trim).filter(|s| !s.is_empty());
        let uid = hd.universal_id.map(str::trim).filter(|s| !s.is_empty());
        let keys = [uid, ns];
        for key in keys.iter().flatten() {
            if let Some(uri) = self.identifier.get(*key) {
                return Some(SystemUri {
                    uri: Cow::Borrowed(uri),
                    source: SystemSource::Profile,
                });
            }
        }
        for key in keys.iter().flatten() {
            if let Some(uri) = lookup(IDENTIFIER_SYSTEMS, key) {
                return Some(SystemUri {
                    uri: Cow::Borrowed(uri),
                    source: SystemSource::BuiltIn,
                });
            }
        }
        if let Some(uid) = uid {
            if let Some(uri) = universal(uid, hd.universal_id_type.map(str::trim)) {
                return Some(uri);
            }
        }
        let name = ns.or(uid)?;
        Some(self.fallback("identifier", name))
    }

    fn fallback<'a>(&self, kind: &str, name: &str) -> SystemUri<'a> {
        let mut uri = self.base.clone();
        if !(uri.ends_with('/') || uri.ends_with(':')) {
            uri.push('/');
        }
        uri.push_str(kind);
        uri.push(if self.base.starts_with("urn:") {
            ':'
        } else {
            '/'
        });
        percent_encode(name, &mut uri);
        SystemUri {
            uri: Cow::Owned(uri),
            source: SystemSource::Fallback,
        }
    }
}

fn lookup(table: &'static [(&'static str, &'static str)], key: &str) -> Option<&'static str> {
    table
        .binary_search_by(|(k, _)| (*k).cmp(key))
        .ok()
        .map(|i| table[i].1)
}

/// `HL70001` / `HL7-0001` → `0001`.
fn v2_table(name: &str) -> Option<&str> {
    let digits = name
        .strip_prefix("HL7")
        .map(|r| r.strip_prefix('-').unwrap_or(r))?;
    (digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

fn is_oid(s: &str) -> bool {
    s.split('.').count() >= 2
        && s.split('.').all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p == "0" || !p.starts_with('0'))
        })
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn universal<'a>(id: &str, kind: Option<&str>) -> Option<SystemUri<'a>> {
    let owned = |uri: String| {
        Some(SystemUri {
            uri: Cow::Owned(uri),
            source: SystemSource::Universal,
        })
    };
    let lower = id.to_ascii_lowercase();
    if lower.starts_with("urn:oid:") || lower.starts_with("urn:uuid:") {
        return owned(id.to_owned());
    }
    match kind.map(str::to_ascii_uppercase).as_deref() {
        Some("ISO") if is_oid(id) => owned(format!("urn:oid:{id}")),
        Some("UUID") if is_uuid(id) => owned(format!("urn:uuid:{}", id.to_ascii_lowercase())),
        Some("URI" | "URL") if is_absolute_uri(id) => owned(id.to_owned()),
        _ if is_oid(id) => owned(format!("urn:oid:{id}")),
        _ if is_uuid(id) => owned(format!("urn:uuid:{}", id.to_ascii_lowercase())),
        _ if (lower.starts_with("http://") || lower.starts_with("https://"))
            && is_absolute_uri(id) =>
        {
            owned(id.to_owned())
        }
        _ => None,
    }
}

/// `scheme:rest` with a letter-led scheme (RFC 3986 §3.1), a non-empty rest and no whitespace.
pub(crate) fn is_absolute_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && !s.chars().any(char::is_whitespace)
}

/// RFC 3986 unreserved characters stay; everything else is `%XX` (UTF-8 bytes).
fn percent_encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g() -> Systems {
        Systems::new(DEFAULT_UNKNOWN_SYSTEM_BASE)
    }

    #[test]
    fn tables_are_sorted() {
        assert!(CODING_SYSTEMS.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(IDENTIFIER_SYSTEMS.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn coding_systems() {
        let s = g();
        let uri = |n: &str| s.coding_system(n).unwrap().uri.into_owned();
        assert_eq!(uri("LN"), "http://loinc.org");
        assert_eq!(uri("SCT"), "http://snomed.info/sct");
        assert_eq!(uri("I10"), "http://hl7.org/fhir/sid/icd-10");
        assert_eq!(uri("RXNORM"), uri("RXN"));
        assert_eq!(uri("CVX"), "http://hl7.org/fhir/sid/cvx");
        assert_eq!(uri("UCUM"), "http://unitsofmeasure.org");
        assert_eq!(
            uri("HL70001"),
            "http://terminology.hl7.org/CodeSystem/v2-0001"
        );
        assert_eq!(
            uri("HL7-0354"),
            "http://terminology.hl7.org/CodeSystem/v2-0354"
        );
        assert_eq!(
            uri("2.16.840.1.113883.6.1"),
            "urn:oid:2.16.840.1.113883.6.1"
        );
        assert!(s.coding_system(" ").is_none());
        let local = s.coding_system("99ZZZ").unwrap();
        assert_eq!(local.source, SystemSource::Fallback);
        assert_eq!(local.uri, "urn:ehrkit:unknown-system:codesystem:99ZZZ");
    }

    #[test]
    fn identifier_systems() {
        let s = g();
        let id = |ns: Option<&str>, uid: Option<&str>, ty: Option<&str>| {
            s.identifier_system(Authority {
                namespace: ns,
                universal_id: uid,
                universal_id_type: ty,
            })
            .map(|u| (u.uri.into_owned(), u.source))
        };
        assert_eq!(
            id(Some("SSA"), None, None),
            Some((
                "http://hl7.org/fhir/sid/us-ssn".into(),
                SystemSource::BuiltIn
            ))
        );
        assert_eq!(
            id(None, Some("2.16.840.1.113883.4.6"), Some("ISO"))
                .unwrap()
                .0,
            "http://hl7.org/fhir/sid/us-npi"
        );
        assert_eq!(
            id(Some("HOSP"), Some("1.2.3.4"), Some("ISO")),
            Some(("urn:oid:1.2.3.4".into(), SystemSource::Universal))
        );
        assert_eq!(
            id(
                None,
                Some("A0B1C2D3-0000-4000-8000-00000000000F"),
                Some("UUID")
            )
            .unwrap()
            .0,
            "urn:uuid:a0b1c2d3-0000-4000-8000-00000000000f"
        );
        // Not an OID although typed ISO: falls back on the namespace.
        assert_eq!(
            id(Some("MR HOSP/1"), Some("1..2"), Some("ISO")),
            Some((
                "urn:ehrkit:unknown-system:identifier:MR%20HOSP%2F1".into(),
                SystemSource::Fallback
            ))
        );
        assert_eq!(id(None, None, Some("ISO")), None);
        // Typed URI but not one (found by the proptest): falls back.
        assert_eq!(
            id(None, Some(":"), Some("URI")).unwrap().1,
            SystemSource::Fallback
        );
    }

    #[test]
    fn overrides_win_and_base_is_configurable() {
        let s = Systems::new("https://fhir.hospital.test/sid")
            .identifier("MR", "https://fhir.hospital.test/sid/mrn")
            .coding("LN", "http://loinc.org/override-test")
            .identifier("SSA", "urn:test:ssn");
        let mr = s
            .identifier_system(Authority {
                namespace: Some("MR"),
                ..Authority::default()
            })
            .unwrap();
        assert_eq!(
            (mr.uri.as_ref(), mr.source),
            ("https://fhir.hospital.test/sid/mrn", SystemSource::Profile)
        );
        assert_eq!(
            s.coding_system("LN").unwrap().uri,
            "http://loinc.org/override-test"
        );
        let other = s
            .identifier_system(Authority {
                namespace: Some("FIN"),
                ..Authority::default()
            })
            .unwrap();
        assert_eq!(other.uri, "https://fhir.hospital.test/sid/identifier/FIN");
        assert!(!other.uri.contains("example.com"));
    }
}
