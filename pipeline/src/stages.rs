//! The stages between keeping a message and storing what it produced, each a trait a user can
//! replace or wrap: [`Parser`] (header and structure: what to NAK at once), the
//! [`Router`](crate::Router) (choose profile), [`Normalizer`] (convert / normalize with
//! `ehrkit-mapping`) and [`IdentityResolver`] (the MPI). The runtime calls them in that order
//! and owns retries, ordering and dead letters; the stages hold no orchestration.

use std::collections::HashSet;
use std::sync::Arc;

use ehrkit_fhir_model::resources::Patient;
use ehrkit_fhir_model::{Resource, Validator};
use ehrkit_hl7v2::Message;
use ehrkit_identity::{Assignment, EnterpriseId, PatientIndex, PatientRecord};
use ehrkit_mapping::v2_to_fhir::ConvertError;
use serde_json::Value;

use crate::error::{ErrorKind, Stage, StageError};
use crate::routing::{Route, Sender};
use crate::store::{sha256_hex, IdempotencyKey, PayloadKind};

/// What the runtime needs to know about a message before keeping it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Who sent it.
    pub sender: Sender,
    /// `CODE^EVENT` for HL7 v2 (`ADT^A01`), the resource type for FHIR.
    pub message_type: String,
    /// The idempotency key.
    pub key: IdempotencyKey,
    /// The ordering key: the source patient identity (PID-3 first repetition as
    /// `authority|value`; for FHIR resources the source's Patient), `None` when the message
    /// names no patient (it is then ordered by itself).
    pub patient_key: Option<String>,
}

/// The parse stage: reads the header, and refuses what cannot be kept (the MLLP source NAKs).
pub trait Parser: Send + Sync + 'static {
    /// The header of `payload` received through `endpoint`.
    fn header(
        &self,
        kind: PayloadKind,
        payload: &[u8],
        endpoint: &str,
    ) -> Result<Header, StageError>;
}

/// HL7 v2 message codes accepted by default (MSH-9.1); others are refused at once.
pub const DEFAULT_ACCEPTED_TYPES: &[&str] = &[
    "ADT", "ORU", "SIU", "ORM", "OML", "MDM", "VXU", "DFT", "BAR", "RDE", "PPR", "MFN",
];

/// The default [`Parser`]: HL7 v2 through `ehrkit-hl7v2`, FHIR JSON through `serde_json`.
#[derive(Debug, Clone)]
pub struct DefaultParser {
    accepted: HashSet<String>,
}

impl Default for DefaultParser {
    fn default() -> Self {
        Self {
            accepted: DEFAULT_ACCEPTED_TYPES
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

impl DefaultParser {
    /// Accepts the HL7 v2 message codes `codes` (MSH-9.1, e.g. `["ADT", "ORU"]`) only.
    pub fn accepted_types<I: IntoIterator<Item = S>, S: Into<String>>(mut self, codes: I) -> Self {
        self.accepted = codes.into_iter().map(Into::into).collect();
        self
    }
}

/// `authority|value` of PID-3's first repetition (HD.1, else HD.2), as `ehrkit-identity` keys
/// records.
pub fn pid_patient_key(msg: &Message<'_>) -> Option<String> {
    cx_key(msg, "PID", 1, 3)
}

/// `authority|value` of the first repetition of the CX field `SEG(occurrence)-field`.
fn cx_key(msg: &Message<'_>, seg: &str, occurrence: usize, field: usize) -> Option<String> {
    msg.segment(seg, occurrence)?;
    let at = format!("{seg}({occurrence})-{field}(1)");
    let value = msg
        .get(&format!("{at}.1"))
        .filter(|v| !v.trim().is_empty())?;
    let ns = msg.get(&format!("{at}.4.1")).unwrap_or_default();
    let authority = if ns.trim().is_empty() {
        msg.get(&format!("{at}.4.2")).unwrap_or_default()
    } else {
        ns
    };
    Some(format!("{}|{}", authority.trim(), value.trim()))
}

/// The message as far as the header needs it. Text that is not UTF-8 under an empty MSH-18
/// (ISO 8859-1 or Windows-1252 from older systems) does not refuse the message here: the
/// header fields are ASCII, and the message is kept so that the normalize stage reads it with
/// its route's [`Profile::undeclared_charset`](ehrkit_mapping::Profile::undeclared_charset),
/// or dead-letters it with the encoding error (replayable once the profile names the
/// character set) instead of losing it to a NAK the sender cannot act on.
fn header_message(payload: &[u8]) -> Result<Message<'_>, ehrkit_hl7v2::Error> {
    match Message::parse(payload) {
        Err(ehrkit_hl7v2::Error::Encoding { .. }) => {
            Message::parse_with(payload, ehrkit_hl7v2::ParseOptions::default().lossy(true))
        }
        other => other,
    }
}

/// The message with its route's parse options (the profile's undeclared character set).
fn route_message<'a>(payload: &'a [u8], route: &Route) -> Result<Message<'a>, ehrkit_hl7v2::Error> {
    Message::parse_with(payload, route.profile.parse_options())
}

fn first_component(s: &str) -> &str {
    s.split('^').next().unwrap_or("")
}

impl Parser for DefaultParser {
    fn header(
        &self,
        kind: PayloadKind,
        payload: &[u8],
        endpoint: &str,
    ) -> Result<Header, StageError> {
        match kind {
            PayloadKind::FhirJson => fhir_header(payload, endpoint),
            _ => {
                let msg = header_message(payload).map_err(|e| {
                    StageError::new(
                        Stage::Parse,
                        ErrorKind::Malformed,
                        format!("not an HL7 v2 message: {e}"),
                    )
                    .at("MSH")
                })?;
                let control_id = msg.control_id().ok_or_else(|| {
                    StageError::new(Stage::Parse, ErrorKind::MissingData, "no control id")
                        .at("MSH-10")
                })?;
                let (code, event) = msg.message_type();
                let code = code.unwrap_or_default();
                if !self.accepted.contains(code.as_ref()) {
                    return Err(StageError::new(
                        Stage::Parse,
                        ErrorKind::UnsupportedType,
                        format!("message code {} is not accepted here", sanitize(&code)),
                    )
                    .at("MSH-9"));
                }
                let app = msg.get("MSH-3").unwrap_or_default();
                let fac = msg.get("MSH-4").unwrap_or_default();
                Ok(Header {
                    sender: Sender {
                        application: first_component(&app).to_owned(),
                        facility: first_component(&fac).to_owned(),
                        endpoint: endpoint.to_owned(),
                    },
                    message_type: format!(
                        "{}^{}",
                        sanitize(&code),
                        sanitize(&event.unwrap_or_default())
                    ),
                    key: IdempotencyKey::v2(app.as_ref(), fac.as_ref(), control_id.as_ref()),
                    patient_key: pid_patient_key(&msg),
                })
            }
        }
    }
}

/// Letters, digits and `_` only (message types go into logs and metric labels).
fn sanitize(s: &str) -> String {
    s.chars()
        .take(16)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

fn fhir_header(payload: &[u8], endpoint: &str) -> Result<Header, StageError> {
    let v: Value = serde_json::from_slice(payload).map_err(|e| {
        StageError::new(
            Stage::Parse,
            ErrorKind::Malformed,
            format!("not JSON (line {}, column {})", e.line(), e.column()),
        )
    })?;
    let rt = v
        .get("resourceType")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            StageError::new(Stage::Parse, ErrorKind::MissingData, "no resourceType")
                .at("$.resourceType")
        })?;
    let id = v.get("id").and_then(Value::as_str).unwrap_or_default();
    let version = v
        .pointer("/meta/versionId")
        .or_else(|| v.pointer("/meta/lastUpdated"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        // Neither: the content decides (a changed resource is a new version).
        .unwrap_or_else(|| format!("sha256:{}", sha256_hex(payload)));
    let patient = if rt == "Patient" {
        Some(id.to_owned())
    } else {
        patient_reference(&v)
    };
    Ok(Header {
        sender: Sender {
            endpoint: endpoint.to_owned(),
            ..Sender::default()
        },
        message_type: sanitize(rt),
        key: IdempotencyKey::fhir(endpoint, rt, id, version),
        patient_key: patient.map(|p| format!("{endpoint}|Patient/{p}")),
    })
}

/// The id of the Patient a FHIR resource is about (`subject`, `patient`, `beneficiary`), when
/// it is a relative `Patient/<id>` reference.
fn patient_reference(v: &Value) -> Option<String> {
    ["subject", "patient", "beneficiary"].iter().find_map(|f| {
        v.get(*f)?
            .get("reference")?
            .as_str()?
            .strip_prefix("Patient/")
            .map(str::to_owned)
    })
}

/// Which patient a normalized resource belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatientRef {
    /// None (reference data: Practitioner, Location, Organization).
    None,
    /// A source patient by MPI record key.
    Key(String),
    /// A source patient by the (stored) id of its Patient resource, resolved by the runtime.
    ResourceId(String),
}

/// One canonical resource produced by the normalizer.
#[derive(Debug, Clone)]
pub struct NormalizedResource {
    /// Resource type.
    pub resource_type: String,
    /// Deterministic logical id.
    pub id: String,
    /// The resource.
    pub body: String,
    /// Its patient.
    pub patient: PatientRef,
    /// For a source Patient: the index of its record in [`Normalized::patients`].
    pub record: Option<usize>,
}

/// An A37 unlink: two source patients that must not share an enterprise identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnlinkRequest {
    /// MPI record key of the first patient (the first PID).
    pub first: String,
    /// MPI record key of the second patient (the second PID).
    pub second: String,
}

/// An A40-style merge: the records of `retired` join the enterprise identity of `survivor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeRequest {
    /// MPI key of the surviving source patient (PID-3).
    pub survivor: String,
    /// MPI key of the retired source patient (MRG-1).
    pub retired: String,
}

/// What the normalize stage produced from one message.
#[derive(Debug, Clone, Default)]
pub struct Normalized {
    /// Canonical resources.
    pub resources: Vec<NormalizedResource>,
    /// Source patient records for the MPI.
    pub patients: Vec<PatientRecord>,
    /// Merges to apply.
    pub merges: Vec<MergeRequest>,
    /// Unlinks to apply (ADT^A37).
    pub unlinks: Vec<UnlinkRequest>,
    /// Entries of the conversion report (fields not mapped, data problems).
    pub unmapped: usize,
}

/// One message handed to the normalizer.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// What the payload is.
    pub kind: PayloadKind,
    /// The payload as kept in the inbox.
    pub payload: &'a [u8],
    /// The source name it is kept under.
    pub source: &'a str,
}

/// The convert / normalize stage.
pub trait Normalizer: Send + Sync + 'static {
    /// Canonical resources and patient records from one message, with the chosen route.
    fn normalize(&self, input: Input<'_>, route: &Route) -> Result<Normalized, StageError>;

    /// Whether what [`Normalizer::normalize`] makes of a payload of `kind` depends on the
    /// route's profile. Lineage names the profile only then, and
    /// [`Pipeline::reprocess_range`](crate::Pipeline::reprocess_range) runs such messages
    /// again with a new profile version (others are skipped, with that reason). The default:
    /// HL7 v2 yes, FHIR JSON no (validated and stored as sent).
    fn uses_profile(&self, kind: PayloadKind) -> bool {
        kind != PayloadKind::FhirJson
    }
}

/// The default [`Normalizer`]: HL7 v2 through the route's `ehrkit-mapping` converter (plus
/// ADT^A40 merges through the MPI), FHIR JSON validated with `ehrkit-fhir-model` and given
/// ids deterministic per source.
#[derive(Debug, Clone, Default)]
pub struct DefaultNormalizer;

/// HL7 v2 message codes that are about one patient and must carry a PID segment.
pub const PATIENT_MESSAGE_CODES: &[&str] = &[
    "ADT", "ORU", "SIU", "ORM", "OML", "MDM", "VXU", "DFT", "BAR", "RDE", "PPR",
];

/// Types that are shared reference data, not a patient's.
const REFERENCE_TYPES: &[&str] = &[
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "Location",
    "Medication",
    "Device",
    "HealthcareService",
    "Endpoint",
];

/// The id a FHIR-sourced resource is stored under: a hash of source, type and source id, so
/// two EHRs' `Patient/123` stay two resources and every run gives the same id.
pub fn fhir_storage_id(source: &str, resource_type: &str, id: &str) -> String {
    let h = sha256_hex(format!("{source}\u{1f}{resource_type}\u{1f}{id}").as_bytes());
    format!("src-{}", &h[..32])
}

/// Rewrites relative references `Type/id` to the storage ids of the same source.
fn rewrite_references(v: &mut Value, source: &str) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if k == "reference" {
                    if let Value::String(s) = child {
                        let parts: Vec<&str> = s.split('/').collect();
                        if parts.len() == 2
                            && parts[0]
                                .chars()
                                .next()
                                .is_some_and(|c| c.is_ascii_uppercase())
                        {
                            *s = format!(
                                "{}/{}",
                                parts[0],
                                fhir_storage_id(source, parts[0], parts[1])
                            );
                        }
                    }
                } else {
                    rewrite_references(child, source);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|c| rewrite_references(c, source)),
        _ => {}
    }
}

impl DefaultNormalizer {
    fn v2(&self, payload: &[u8], route: &Route) -> Result<Normalized, StageError> {
        let msg = route_message(payload, route).map_err(|e| {
            StageError::new(Stage::Convert, ErrorKind::Malformed, e.to_string()).at("MSH")
        })?;
        let (code, event) = msg.message_type();
        let is_adt = code.as_deref() == Some("ADT");
        if is_adt && event.as_deref() == Some("A37") {
            return unlink_request(&msg, route);
        }
        // A39/A40: the merge is applied to the MPI, and the message's own resources (the
        // survivor `replaces` the merged Patient, which is `replaced-by` it) are stored.
        let merges = if is_adt && matches!(event.as_deref(), Some("A39" | "A40")) {
            merge_requests(&msg)?
        } else {
            Vec::new()
        };
        // Patient-centred messages must name their patient: without a PID nothing can be
        // linked or ordered, whatever the converter would make of the rest.
        if code
            .as_deref()
            .is_some_and(|c| PATIENT_MESSAGE_CODES.contains(&c))
            && msg.segment("PID", 1).is_none()
        {
            return Err(StageError::new(
                Stage::Convert,
                ErrorKind::MissingData,
                "required segment PID is absent",
            )
            .at("PID"));
        }
        let conversion = route.converter.convert(&msg).map_err(convert_error)?;
        let record = if msg.segment("PID", 1).is_some() {
            Some(ehrkit_identity::pid::record_from_pid(&msg).map_err(|e| {
                StageError::new(Stage::Identity, ErrorKind::MissingData, e.to_string()).at("PID-3")
            })?)
        } else {
            None
        };
        let mut out = Normalized {
            unmapped: conversion.report.entries().len(),
            ..Normalized::default()
        };
        let merged_keys: Vec<String> = merges.iter().map(|m| m.retired.clone()).collect();
        out.merges = merges;
        let patient_key = record.as_ref().map(|r| r.key.clone());
        if let Some(r) = record {
            out.patients.push(r);
        }
        // ORU_R01 repeats PATIENT_RESULT: the converter gives each PID a Patient of its own and
        // each result the patient of its group. Each is linked and indexed as that patient,
        // never as the first one.
        let others = if code.as_deref() == Some("ORU") && patient_key.is_some() {
            other_result_patients(&msg, &conversion.bundle, &mut out)?
        } else {
            OtherPatients::default()
        };
        let mut first_patient = true;
        for entry in &conversion.bundle.entry {
            let Some(res) = entry.resource.as_deref() else {
                continue;
            };
            let (Some(id), rt) = (res.id(), res.resource_type()) else {
                continue;
            };
            let body = ehrkit_fhir_model::to_string(res);
            if let Some((key, record)) = others.owner(entry, rt, &body) {
                out.resources.push(NormalizedResource {
                    resource_type: rt.to_owned(),
                    id: id.to_owned(),
                    body,
                    patient: PatientRef::Key(key.to_owned()),
                    record,
                });
                continue;
            }
            let is_source_patient = rt == "Patient" && first_patient && patient_key.is_some();
            // A merge's retired Patient belongs to the retired source patient.
            let merged_key = (rt == "Patient" && !is_source_patient)
                .then(|| merged_patient_key(&body, &merged_keys))
                .flatten();
            let patient = if let Some(k) = merged_key {
                PatientRef::Key(k)
            } else if REFERENCE_TYPES.contains(&rt) {
                PatientRef::None
            } else {
                patient_key
                    .clone()
                    .map_or(PatientRef::None, PatientRef::Key)
            };
            out.resources.push(NormalizedResource {
                resource_type: rt.to_owned(),
                id: id.to_owned(),
                body,
                patient,
                record: is_source_patient.then_some(0),
            });
            if is_source_patient {
                first_patient = false;
            }
        }
        Ok(out)
    }

    fn fhir(&self, payload: &[u8], source: &str) -> Result<Normalized, StageError> {
        let mut v: Value = serde_json::from_slice(payload).map_err(|e| {
            StageError::new(Stage::Convert, ErrorKind::Malformed, "not JSON").at(format!(
                "line {}, column {}",
                e.line(),
                e.column()
            ))
        })?;
        let typed: Resource = ehrkit_fhir_model::from_slice(payload).map_err(|e| {
            StageError::new(
                Stage::Convert,
                ErrorKind::Invalid,
                format!("not a FHIR R4 resource: {e}"),
            )
        })?;
        if let Some(issue) = Validator::check(&typed)
            .into_iter()
            .find(|i| matches!(i.severity, ehrkit_fhir_model::Severity::Error))
        {
            return Err(
                StageError::new(Stage::Convert, ErrorKind::Invalid, issue.message.clone())
                    .at(issue.path.clone()),
            );
        }
        let rt = typed.resource_type().to_owned();
        if rt == "Bundle" {
            return Err(StageError::new(
                Stage::Convert,
                ErrorKind::UnsupportedType,
                "a Bundle is split into its entries by the source; not stored whole",
            ));
        }
        let source_id = typed.id().unwrap_or_default().to_owned();
        if source_id.is_empty() {
            return Err(StageError::new(
                Stage::Convert,
                ErrorKind::MissingData,
                "resource has no id",
            )
            .at("$.id"));
        }
        let id = fhir_storage_id(source, &rt, &source_id);
        let patient_ref = if rt == "Patient" {
            None
        } else {
            patient_reference(&v).map(|p| fhir_storage_id(source, "Patient", &p))
        };
        rewrite_references(&mut v, source);
        if let Value::Object(m) = &mut v {
            m.insert("id".into(), Value::String(id.clone()));
            // The source's own version stays visible; the store versions the canonical copy.
            if let Some(Value::Object(meta)) = m.get_mut("meta") {
                meta.insert(
                    "source".into(),
                    Value::String(format!("{source}#{rt}/{source_id}")),
                );
            }
        }
        let mut out = Normalized::default();
        let (patient, record) = if let Resource::Patient(p) = &typed {
            let rec = ehrkit_identity::fhir::record_from_patient(p);
            if rec.key.is_empty() {
                return Err(StageError::new(
                    Stage::Identity,
                    ErrorKind::MissingData,
                    "Patient has no identifier and no id",
                )
                .at("$.identifier"));
            }
            let key = rec.key.clone();
            out.patients.push(rec);
            (PatientRef::Key(key), Some(0))
        } else if REFERENCE_TYPES.contains(&rt.as_str()) {
            (PatientRef::None, None)
        } else {
            (
                patient_ref.map_or(PatientRef::None, PatientRef::ResourceId),
                None,
            )
        };
        out.resources.push(NormalizedResource {
            resource_type: rt,
            id,
            body: v.to_string(),
            patient,
            record,
        });
        Ok(out)
    }
}

/// The merges of an A39/A40: the n-th PID survives, the n-th MRG is retired into it.
fn merge_requests(msg: &Message<'_>) -> Result<Vec<MergeRequest>, StageError> {
    let pids = msg.segments_named("PID").count().max(1);
    let mut out = Vec::new();
    for n in 1..=pids {
        let survivor = cx_key(msg, "PID", n, 3).ok_or_else(|| {
            StageError::new(
                Stage::Convert,
                ErrorKind::MissingData,
                "merge without a surviving patient identifier",
            )
            .at(format!("PID({n})-3"))
        })?;
        let retired = cx_key(msg, "MRG", n, 1).ok_or_else(|| {
            StageError::new(
                Stage::Convert,
                ErrorKind::MissingData,
                "merge without a prior patient identifier",
            )
            .at(format!("MRG({n})-1"))
        })?;
        out.push(MergeRequest { survivor, retired });
    }
    Ok(out)
}

/// The retired key a converted Patient (JSON) stands for: one of `keys` (`authority|value`)
/// whose value is among the Patient's identifiers, when the Patient is `replaced-by` another.
fn merged_patient_key(body: &str, keys: &[String]) -> Option<String> {
    if keys.is_empty() {
        return None;
    }
    let v: Value = serde_json::from_str(body).ok()?;
    let replaced = v["link"]
        .as_array()
        .is_some_and(|a| a.iter().any(|l| l["type"] == "replaced-by"));
    if !replaced {
        return None;
    }
    let ids = v["identifier"].as_array()?;
    keys.iter()
        .find(|k| {
            let value = k.rsplit('|').next().unwrap_or_default();
            ids.iter()
                .any(|i| i["value"].as_str().is_some_and(|x| x.trim() == value))
        })
        .cloned()
}

/// A conversion error as a convert-stage error, located where the converter says.
fn convert_error(e: ConvertError) -> StageError {
    let kind = match &e {
        ConvertError::UnsupportedMessageType { .. } => ErrorKind::UnsupportedType,
        _ => ErrorKind::MissingData,
    };
    let at = match &e {
        ConvertError::UnsupportedMessageType { at, .. } => at.to_string(),
        ConvertError::MissingSegment { at, .. } => at.to_string(),
        _ => String::new(),
    };
    let err = StageError::new(Stage::Convert, kind, e.to_string());
    if at.is_empty() {
        err
    } else {
        err.at(at)
    }
}

/// An ADT^A37 (unlink patient information): the first and second PID name two source patients
/// that must end under different enterprise ids. `ehrkit-mapping` has no A37 map, so each
/// PID's Patient is converted as an ADT^A08 (update patient information) carrying that PID
/// would be ([`pid_as_a08`]); the two Patients are stored with the unlink, each under its
/// source patient, and their MPI records are updated with the A37's demographics after the
/// unlink (the runtime applies the unlink first: upserting a record the MPI knows keeps its
/// enterprise id and never re-matches it, so the two stay apart).
fn unlink_request(msg: &Message<'_>, route: &Route) -> Result<Normalized, StageError> {
    let missing = |n: usize| {
        StageError::new(
            Stage::Convert,
            ErrorKind::MissingData,
            "A37 needs two patients, each with an identifier",
        )
        .at(format!("PID({n})-3"))
    };
    let first = cx_key(msg, "PID", 1, 3).ok_or_else(|| missing(1))?;
    let second = cx_key(msg, "PID", 2, 3).ok_or_else(|| missing(2))?;
    let mut out = Normalized::default();
    for (n, key) in [(1, &first), (2, &second)] {
        let update = pid_as_a08(msg, n);
        let m = route_message(&update, route).map_err(|e| {
            StageError::new(Stage::Convert, ErrorKind::Malformed, e.to_string())
                .at(format!("PID({n})"))
        })?;
        let conversion = route.converter.convert(&m).map_err(|e| {
            let mut err = convert_error(e);
            err.location = Some(format!("PID({n})"));
            err
        })?;
        out.unmapped += conversion.report.entries().len();
        let patient = conversion
            .bundle
            .entry
            .iter()
            .filter_map(|e| e.resource.as_deref())
            .find(|r| r.resource_type() == "Patient");
        if let Some((res, id)) = patient.and_then(|r| r.id().map(|id| (r, id))) {
            if out.resources.iter().any(|r| r.id == id) {
                // Both PIDs give the same Patient id (their first identifier with a system is
                // the same, e.g. a shared SSN): storing the second would overwrite the first
                // under the other source patient. Keep the first; the unlink still applies.
                tracing::warn!(
                    pid = n,
                    "A37: both PIDs convert to the same Patient id; the second is not stored"
                );
                out.unmapped += 1;
                continue;
            }
            // The record of the PID as the MPI keys it (the same key: PID-3's first CX).
            let record = ehrkit_identity::pid::record_from_pid(&m)
                .ok()
                .filter(|r| r.key == *key);
            let index = record.map(|r| {
                out.patients.push(r);
                out.patients.len() - 1
            });
            out.resources.push(NormalizedResource {
                resource_type: "Patient".to_owned(),
                id: id.to_owned(),
                body: ehrkit_fhir_model::to_string(res),
                patient: PatientRef::Key(key.clone()),
                record: index,
            });
        }
    }
    out.unlinks.push(UnlinkRequest { first, second });
    Ok(out)
}

/// The patients of an ORU's second and later PATIENT_RESULT groups: the Bundle reference of
/// each one's Patient, with its MPI key and record index.
#[derive(Default)]
struct OtherPatients {
    /// (Patient reference forms, key, index in `Normalized::patients`).
    patients: Vec<(Vec<String>, String, usize)>,
}

impl OtherPatients {
    /// The key of the patient `entry` belongs to when that is one of these patients, and the
    /// record index when `entry` is that Patient itself.
    fn owner(
        &self,
        entry: &ehrkit_fhir_model::resources::BundleEntry,
        rt: &str,
        body: &str,
    ) -> Option<(&str, Option<usize>)> {
        if self.patients.is_empty() || REFERENCE_TYPES.contains(&rt) {
            return None;
        }
        if rt == "Patient" {
            let full_url = entry.full_url.as_ref()?.value.as_deref()?;
            return self
                .patients
                .iter()
                .find(|(refs, _, _)| refs.iter().any(|r| r == full_url))
                .map(|(_, key, i)| (key.as_str(), Some(*i)));
        }
        let v: Value = serde_json::from_str(body).ok()?;
        let subject = ["subject", "patient"]
            .iter()
            .find_map(|f| v.get(f)?.get("reference")?.as_str())?;
        self.patients
            .iter()
            .find(|(refs, _, _)| refs.iter().any(|r| r == subject))
            .map(|(_, key, _)| (key.as_str(), None))
    }
}

/// Links the PIDs after the first of an ORU (its further PATIENT_RESULT groups): each PID's
/// record joins `out.patients`, with the Bundle's Patient that carries its PID-3 value. A PID
/// repeating an earlier patient's key is that patient (the converter gives it no Patient of
/// its own), so it adds nothing.
fn other_result_patients(
    msg: &Message<'_>,
    bundle: &ehrkit_fhir_model::resources::Bundle,
    out: &mut Normalized,
) -> Result<OtherPatients, StageError> {
    let pids = msg.segments_named("PID").count();
    let mut others = OtherPatients::default();
    if pids < 2 {
        return Ok(others);
    }
    // The Patients after the first PID's (the first entry), each claimed by one PID at most.
    let mut candidates: Vec<(&ehrkit_fhir_model::resources::BundleEntry, &Patient)> = bundle
        .entry
        .iter()
        .filter_map(|e| match e.resource.as_deref() {
            Some(Resource::Patient(p)) => Some((e, p.as_ref())),
            _ => None,
        })
        .skip(1)
        .collect();
    for n in 2..=pids {
        let update = pid_as_a08(msg, n);
        // Read as the message was (its route's undeclared character set).
        let m = Message::parse_with(&update, *msg.options()).map_err(|e| {
            StageError::new(Stage::Identity, ErrorKind::Malformed, e.to_string())
                .at(format!("PID[{n}]"))
        })?;
        let record = ehrkit_identity::pid::record_from_pid(&m).map_err(|e| {
            StageError::new(Stage::Identity, ErrorKind::MissingData, e.to_string())
                .at(format!("PID[{n}]-3"))
        })?;
        if out.patients.iter().any(|r| r.key == record.key) {
            continue;
        }
        let value = record.key.rsplit('|').next().unwrap_or_default();
        let Some(i) = candidates.iter().position(|(_, p)| {
            p.identifier
                .iter()
                .any(|id| id.value.as_ref().and_then(|v| v.value.as_deref()) == Some(value))
        }) else {
            continue;
        };
        let (entry, patient) = candidates.remove(i);
        let mut refs = Vec::new();
        refs.extend(entry.full_url.as_ref().and_then(|u| u.value.clone()));
        if let Some(id) = &patient.id {
            refs.push(format!("Patient/{id}"));
        }
        let key = record.key.clone();
        out.patients.push(record);
        others.patients.push((refs, key, out.patients.len() - 1));
    }
    Ok(others)
}

/// The ADT^A08 the message's `n`-th PID stands for (an A37's unlinked patients, an ORU's
/// further patients): the message's MSH with MSH-9 `ADT^A08^ADT_A01`, its EVN, and that PID
/// (the other PIDs and the visit segments left out).
fn pid_as_a08(msg: &Message<'_>, n: usize) -> Vec<u8> {
    let d = msg.delimiters();
    let (f, c) = (d.field, d.component);
    let mut out = Vec::new();
    let mut pid = 0;
    for seg in msg.segments() {
        match seg.name() {
            "MSH" => {
                let mut fields: Vec<Vec<u8>> = seg
                    .as_bytes()
                    .split(|b| *b == f)
                    .map(<[u8]>::to_vec)
                    .collect();
                // fields[0] is "MSH" and fields[1] MSH-2: MSH-9 is fields[8].
                while fields.len() < 9 {
                    fields.push(Vec::new());
                }
                let mut code = b"ADT".to_vec();
                code.push(c);
                code.extend_from_slice(b"A08");
                code.push(c);
                code.extend_from_slice(b"ADT_A01");
                fields[8] = code;
                out.extend_from_slice(&fields.join(&f));
            }
            "EVN" => out.extend_from_slice(seg.as_bytes()),
            "PID" => {
                pid += 1;
                if pid != n {
                    continue;
                }
                out.extend_from_slice(seg.as_bytes());
            }
            _ => continue,
        }
        out.push(b'\r');
    }
    out
}

impl Normalizer for DefaultNormalizer {
    fn normalize(&self, input: Input<'_>, route: &Route) -> Result<Normalized, StageError> {
        match input.kind {
            PayloadKind::FhirJson => self.fhir(input.payload, input.source),
            _ => self.v2(input.payload, route),
        }
    }
}

/// How one record was linked.
#[derive(Debug, Clone)]
pub struct Linked {
    /// The record.
    pub record: PatientRecord,
    /// What the MPI did.
    pub assignment: Assignment,
}

/// What the identity stage did for one message.
#[derive(Debug, Clone, Default)]
pub struct IdentityOutcome {
    /// Each record of [`Normalized::patients`], in order, with its assignment.
    pub linked: Vec<Linked>,
    /// Records whose enterprise id changed through a merge, with the new id.
    pub moved: Vec<(PatientRecord, EnterpriseId)>,
    /// True when the MPI's state besides its records changed (a merge).
    pub merged: bool,
    /// True when an unlink (A37) moved records to other enterprise ids.
    pub unlinked: bool,
}

impl IdentityOutcome {
    /// Adds what another step of the same message did.
    pub fn absorb(&mut self, other: IdentityOutcome) {
        self.linked.extend(other.linked);
        self.moved.extend(other.moved);
        self.merged |= other.merged;
        self.unlinked |= other.unlinked;
    }
}

/// The resolve-identity stage.
pub trait IdentityResolver: Send + Sync + 'static {
    /// Upserts every record and applies the merges.
    fn resolve(
        &self,
        patients: &[PatientRecord],
        merges: &[MergeRequest],
    ) -> Result<IdentityOutcome, StageError>;

    /// Applies unlinks (ADT^A37): the two records of each end under different enterprise
    /// ids. The default refuses any (a resolver without an MPI cannot apply them).
    fn unlink(&self, unlinks: &[UnlinkRequest]) -> Result<IdentityOutcome, StageError> {
        if unlinks.is_empty() {
            return Ok(IdentityOutcome::default());
        }
        Err(StageError::new(
            Stage::Identity,
            ErrorKind::UnsupportedType,
            "this identity stage does not apply unlinks",
        ))
    }

    /// The MPI, when the resolver has one (for snapshots and queries).
    fn index(&self) -> Option<&Arc<PatientIndex>> {
        None
    }
}

/// The default [`IdentityResolver`]: an `ehrkit-identity` [`PatientIndex`]; MATCH joins the
/// enterprise id, POSSIBLE is returned for review, A40 merges the two enterprise ids.
#[derive(Debug, Clone)]
pub struct MpiResolver {
    index: Arc<PatientIndex>,
}

impl MpiResolver {
    /// A resolver over `index`.
    pub fn new(index: Arc<PatientIndex>) -> Self {
        Self { index }
    }
}

fn identity_error(e: ehrkit_identity::Error) -> StageError {
    StageError::new(Stage::Identity, ErrorKind::Identity, e.to_string())
}

impl IdentityResolver for MpiResolver {
    fn resolve(
        &self,
        patients: &[PatientRecord],
        merges: &[MergeRequest],
    ) -> Result<IdentityOutcome, StageError> {
        let mut out = IdentityOutcome::default();
        // A merge whose prior patient the MPI does not know fails before any upsert, so a
        // dead-lettered merge leaves the index as it was.
        for m in merges {
            if self.index.enterprise_id(&m.retired).is_err() {
                return Err(StageError::new(
                    Stage::Identity,
                    ErrorKind::Identity,
                    "merge: prior patient unknown to the MPI",
                )
                .at("MRG-1"));
            }
        }
        for rec in patients {
            let assignment = self.index.upsert(rec.clone()).map_err(identity_error)?;
            out.linked.push(Linked {
                record: rec.clone(),
                assignment,
            });
        }
        for m in merges {
            let survivor = self.index.enterprise_id(&m.survivor).map_err(|_| {
                StageError::new(
                    Stage::Identity,
                    ErrorKind::Identity,
                    "merge: surviving patient unknown to the MPI",
                )
                .at("PID-3")
            })?;
            let retired = self.index.enterprise_id(&m.retired).map_err(|_| {
                StageError::new(
                    Stage::Identity,
                    ErrorKind::Identity,
                    "merge: prior patient unknown to the MPI",
                )
                .at("MRG-1")
            })?;
            if survivor == retired {
                continue; // already one identity: applying it again changes nothing
            }
            let moved = self.index.members(retired).map_err(identity_error)?;
            self.index
                .merge(survivor, retired)
                .map_err(identity_error)?;
            for key in moved {
                let rec = self.index.record(&key).map_err(identity_error)?;
                out.moved.push((rec, survivor));
            }
            out.merged = true;
        }
        Ok(out)
    }

    fn unlink(&self, unlinks: &[UnlinkRequest]) -> Result<IdentityOutcome, StageError> {
        let mut out = IdentityOutcome::default();
        for u in unlinks {
            let unknown = |n: usize| {
                StageError::new(
                    Stage::Identity,
                    ErrorKind::Identity,
                    "unlink: patient unknown to the MPI",
                )
                .at(format!("PID({n})-3"))
            };
            let e1 = self.index.enterprise_id(&u.first).map_err(|_| unknown(1))?;
            let e2 = self
                .index
                .enterprise_id(&u.second)
                .map_err(|_| unknown(2))?;
            if e1 != e2 {
                continue; // already apart: applying it again changes nothing
            }
            let before = self.index.members(e1).map_err(identity_error)?;
            // Undo the latest merge that brought one of them in, when there is one; else give
            // the second record an enterprise id of its own.
            let merges = self.index.snapshot().map_err(identity_error)?.merges;
            let undo = merges.iter().rev().find(|m| {
                !m.undone
                    && (m.moved.contains(&u.first) != m.moved.contains(&u.second))
                    && self.index.resolve(m.survivor).ok() == Some(e1)
            });
            if let Some(m) = undo {
                self.index.unmerge(m.id).map_err(identity_error)?;
            }
            if self.index.enterprise_id(&u.first).map_err(identity_error)?
                == self
                    .index
                    .enterprise_id(&u.second)
                    .map_err(identity_error)?
            {
                self.index.split_record(&u.second).map_err(identity_error)?;
            }
            for key in before {
                let now = self.index.enterprise_id(&key).map_err(identity_error)?;
                if now != e1 {
                    let rec = self.index.record(&key).map_err(identity_error)?;
                    out.moved.push((rec, now));
                }
            }
            out.unlinked = true;
        }
        Ok(out)
    }

    fn index(&self) -> Option<&Arc<PatientIndex>> {
        Some(&self.index)
    }
}

/// True when an assignment joined an existing enterprise id by a MATCH (not new, not an update).
pub fn is_match(a: &Assignment) -> bool {
    !a.created && !a.updated
}

/// True when an assignment has candidates to review (POSSIBLE, or a MATCH a rule vetoed).
pub fn has_possible(a: &Assignment) -> bool {
    !a.review.is_empty()
}
