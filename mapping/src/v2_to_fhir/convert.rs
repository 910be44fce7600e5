//! The converter: a borrowed HL7 v2 message → a FHIR R4 Bundle and a report.
//!
//! ```
//! use ehrkit_hl7v2::Message;
//! use ehrkit_mapping::v2_to_fhir::{BundleKind, Converter, Options};
//! use ehrkit_mapping::Profile;
//!
//! let converter = Converter::new(Profile::generic(), Options::default());
//! let msg = Message::parse(
//!     b"MSH|^~\\&|ADT1|GOOD HEALTH|RCV|RF|202603011230-0500||ADT^A01|MSG1|P|2.5\r\
//!       PID|1||123^^^MR_HOSP^MR||DOE^JANE||19800101|F\r\
//!       PV1|1|I\r",
//! )
//! .unwrap();
//! let conversion = converter.convert(&msg).unwrap();
//! assert_eq!(conversion.bundle.entry.len(), 2); // Patient, Encounter
//! ```

use ehrkit_fhir_model::codes::{BundleType, HTTPVerb};
use ehrkit_fhir_model::{
    Bundle, BundleEntry, BundleEntryRequest, Identifier, Primitive, Reference, Resource,
    TypedResource,
};
use ehrkit_hl7v2::datatypes::{Hd, Text};
use ehrkit_hl7v2::Message;

use super::datatype::{dtm, Context};
use super::ids::{content_key, write_identifier_key, Ids};
use super::message;
use crate::{DataProblem, Location, Profile, Report, ReportKind};

/// What kind of Bundle to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BundleKind {
    /// `transaction` (the default): every entry has a `request` that is idempotent on replay:
    /// `PUT Type?identifier=system|value` (conditional update) for resources of the message's
    /// subject with a business identifier, `POST` with `ifNoneExist` for shared reference data
    /// (Practitioner), `PUT Type/id` (the deterministic id) for the others.
    #[default]
    Transaction,
    /// `batch`: the same requests, processed independently by the server.
    Batch,
    /// `collection`: resources only.
    Collection,
    /// `message`: a MessageHeader first (`MSH[MessageHeader]`), then the resources.
    Message,
}

impl BundleKind {
    /// The FHIR `Bundle.type` code.
    pub fn code(self) -> &'static str {
        match self {
            BundleKind::Transaction => "transaction",
            BundleKind::Batch => "batch",
            BundleKind::Collection => "collection",
            BundleKind::Message => "message",
        }
    }

    /// Reads a `Bundle.type` code this converter writes (`transaction`, `batch`, `collection`,
    /// `message`).
    pub fn from_code(code: &str) -> Option<Self> {
        [
            BundleKind::Transaction,
            BundleKind::Batch,
            BundleKind::Collection,
            BundleKind::Message,
        ]
        .into_iter()
        .find(|k| k.code() == code)
    }

    fn has_requests(self) -> bool {
        matches!(self, BundleKind::Transaction | BundleKind::Batch)
    }
}

/// Conversion options (what the profile does not decide: how the output is packaged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// The Bundle type.
    pub bundle_kind: BundleKind,
    /// Keep the original message in the Bundle (off by default): a `Binary`
    /// (`x-application/hl7-v2+er7`, the bytes as received in base64) that a `Provenance`
    /// names as its `source` entity (`MSH[Provenance-Source]`), see [`Options::keep_original`].
    pub keep_original: bool,
}

impl Options {
    /// These options with Bundle type `kind`.
    pub fn bundle_kind(mut self, kind: BundleKind) -> Self {
        self.bundle_kind = kind;
        self
    }

    /// These options keeping (or not) the original message: when on, the Bundle also holds a
    /// `Binary` with the message bytes exactly as received (content type
    /// `x-application/hl7-v2+er7`) and a `Provenance` (per the IG's `MSH[Provenance-Source]`)
    /// whose `entity` is that Binary with role `source`, whose `target`s are every resource the
    /// message gave, whose `agent` is the sending application (MSH-3, a Device) on behalf of
    /// the sending facility (MSH-4, an Organization), both as logical references by identifier,
    /// and whose `recorded` and `occurred` are MSH-7. The Binary carries the whole message,
    /// PHI included: store it where the Bundle's resources go.
    pub fn keep_original(mut self, on: bool) -> Self {
        self.keep_original = on;
        self
    }
}

/// The result of converting one message: the Bundle, and what was not mapped.
#[derive(Debug, Clone)]
pub struct Conversion {
    /// The resources.
    pub bundle: Bundle,
    /// Segments, fields and components present but not mapped, vocabulary misses, data
    /// problems, each with its location (never the value).
    pub report: Report,
}

/// Why a message could not be converted at all. Carries the location and never message
/// content beyond the message type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    /// MSH-9 names a message type (and trigger event) no message map handles.
    #[error("{at}: message type {message_type} is not supported (supported: {SUPPORTED})")]
    UnsupportedMessageType {
        /// `CODE^EVENT` as written (only letters, digits and `_`; anything else is shown as `?`).
        message_type: String,
        /// MSH-9.
        at: Location,
    },
    /// The message could not be parsed (batch conversion, which parses its inputs).
    #[error("the message does not parse: {error}")]
    Parse {
        /// The parser's error (located; no message content).
        #[source]
        error: ehrkit_hl7v2::Error,
    },
    /// A segment the message map requires is absent.
    #[error("{at}: required segment {segment} is absent")]
    MissingSegment {
        /// The segment id (`PID`).
        segment: &'static str,
        /// Where it was expected (its first occurrence).
        at: Location,
    },
    /// The profile requires a source time zone for timestamps without an offset
    /// (`Quirk::RequireSourceTimeZone`) and has none: refused rather than guessed.
    #[error("{at}: timestamp without offset and the profile has no source_time_zone (required by quirk require-source-time-zone)")]
    MissingSourceTimeZone {
        /// The timestamp (MSH-7).
        at: Location,
    },
}

/// The message types converted today, for error messages and documentation.
pub const SUPPORTED: &str = "ADT^A01-A08, ADT^A11-A14, ADT^A17, ADT^A28, ADT^A31, ADT^A39, ADT^A40, ADT^A47, ORU^R01, ORM^O01, OML^O21, RDE^O11, SIU^S12-S24, SIU^S26, MDM^T01, MDM^T02, MDM^T06, MDM^T10, VXU^V04, DFT^P03, DFT^P11";

/// Converts HL7 v2 messages to FHIR R4 Bundles. Holds only its profile and options (no global
/// or interior mutable state): share one across threads.
#[derive(Debug, Clone)]
pub struct Converter {
    profile: Profile,
    options: Options,
}

impl Converter {
    /// A converter applying `profile`, packaging per `options`.
    pub fn new(profile: Profile, options: Options) -> Self {
        Converter { profile, options }
    }

    /// The profile in use.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The options in use.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Converts one message. The same message gives the same Bundle (ids included) on every
    /// run and host.
    pub fn convert(&self, msg: &Message<'_>) -> Result<Conversion, ConvertError> {
        crate::quirks::message::check_time_zone(msg, &self.profile)?;
        if let Some((bytes, left_out)) = crate::quirks::message::allowed_only(msg, &self.profile) {
            let filtered = Message::parse_with(&bytes, *msg.options()).map_err(|_| {
                ConvertError::MissingSegment {
                    segment: "MSH",
                    at: Location::segment("MSH", 1),
                }
            })?;
            let mut c = self.convert(&filtered)?;
            for (kind, at) in left_out {
                c.report.push(kind, at);
            }
            return Ok(c);
        }
        let msh = msg.segment("MSH", 1).ok_or(ConvertError::MissingSegment {
            segment: "MSH",
            at: Location::segment("MSH", 1),
        })?;
        let (code, event) = msg.message_type();
        let code = sanitize(code.as_deref());
        let event = sanitize(event.as_deref());
        let map =
            message::find(&code, &event).ok_or_else(|| ConvertError::UnsupportedMessageType {
                message_type: format!("{code}^{event}"),
                at: Location::segment("MSH", 1).field(9),
            })?;

        let mut ctx = Context::new(&self.profile);
        // A message reports a few dozen entries: room for them up front (no regrowth).
        ctx.report = Report::with_capacity(32);
        let namespace = [3, 4]
            .map(|f| {
                msh.field(f)
                    .first::<Hd<'_>>()
                    .map(|hd| String::from_utf8_lossy(hd.raw()).into_owned())
                    .unwrap_or_default()
            })
            .join("|");
        let message_key = match msg.control_id() {
            Some(id) => format!("control:{id}"),
            None => format!("content:{}", content_key(msg.as_bytes())),
        };
        let mut out = Out {
            ids: Ids::new(&namespace, &message_key),
            entries: Vec::with_capacity(16),
            kind: self.options.bundle_kind,
            base: self.profile.resource_base.clone(),
            key: String::with_capacity(128),
        };
        map(msg, &event, &mut ctx, &mut out)?;
        // Repetitions of non-repeating fields: the maps read the first only.
        super::segment::cardinality::report_extra_repetitions(msg, &mut ctx.report);
        if self.options.keep_original {
            keep_original(msg, &msh, &code, &event, &message_key, &mut ctx, &mut out);
        }

        let mut bundle = Bundle::new(match self.options.bundle_kind {
            BundleKind::Transaction => BundleType::Transaction,
            BundleKind::Batch => BundleType::Batch,
            BundleKind::Collection => BundleType::Collection,
            BundleKind::Message => BundleType::Message,
        });
        bundle.id = Some(out.ids.peek("Bundle", &message_key));
        // MSH[Bundle]: MSH-10 → identifier, MSH-7 → timestamp (an instant: needs an offset).
        if let Some(id) = msg.control_id() {
            bundle.identifier = Some(Box::new(Identifier {
                value: Some(Primitive::new(id.trim().to_owned())),
                ..Default::default()
            }));
        }
        if let Some(t) = msh
            .field(7)
            .first::<Text<'_>>()
            .filter(|t| !t.is_null() && !t.is_empty())
        {
            let at = Location::segment("MSH", 1).field(7);
            match t.dtm() {
                Ok(v) => match dtm::instant(&v, self.profile.source_time_zone) {
                    Ok(c) => {
                        if let Some(p) = c.problem {
                            ctx.report(ReportKind::DataQuality(p), at);
                        }
                        bundle.timestamp = Some(Primitive::new(c.value));
                    }
                    Err(p) => ctx.report(ReportKind::DataQuality(p), at),
                },
                Err(_) => ctx.report(ReportKind::DataQuality(DataProblem::InvalidDateTime), at),
            }
        }
        bundle.entry = out.entries;
        Ok(Conversion {
            bundle,
            report: ctx.report,
        })
    }
}

impl Converter {
    /// Parses and converts each message of a batch (raw bytes, one message each; a leading
    /// BOM, blank lines and MLLP framing are skipped as by [`Message::parse`]) and returns the
    /// results **in input order**, one per input: a message that does not parse is
    /// [`ConvertError::Parse`], one that cannot be converted its own error, and neither stops
    /// the others.
    ///
    /// With the crate feature `rayon` the batch is spread over rayon's current thread pool
    /// (the global one, or the pool of an enclosing `ThreadPool::install`); without it, it runs
    /// on the calling thread. Results are the same either way.
    ///
    /// ```
    /// use ehrkit_mapping::v2_to_fhir::{Converter, Options};
    /// use ehrkit_mapping::Profile;
    ///
    /// let converter = Converter::new(Profile::generic(), Options::default());
    /// let batch: Vec<&[u8]> = vec![
    ///     b"MSH|^~\\&|A|F|R|RF|202603011230-0500||ADT^A01|1|P|2.5\rPID|1||1^^^F^MR||DOE^J\r",
    ///     b"not HL7",
    /// ];
    /// let results = converter.convert_batch(batch);
    /// assert!(results[0].is_ok());
    /// assert!(results[1].is_err());
    /// ```
    pub fn convert_batch<I, B>(&self, messages: I) -> Vec<Result<Conversion, ConvertError>>
    where
        I: IntoIterator<Item = B>,
        B: AsRef<[u8]> + Send + Sync,
    {
        let inputs: Vec<B> = messages.into_iter().collect();
        let one = |raw: &B| -> Result<Conversion, ConvertError> {
            let msg =
                Message::parse(raw.as_ref()).map_err(|error| ConvertError::Parse { error })?;
            self.convert(&msg)
        };
        #[cfg(feature = "rayon")]
        {
            use rayon::prelude::*;
            inputs.par_iter().map(one).collect()
        }
        #[cfg(not(feature = "rayon"))]
        {
            inputs.iter().map(one).collect()
        }
    }
}

/// `MSH[Provenance-Source]` with the original message: a `Binary` of the bytes as received and
/// a `Provenance` naming it as the `source` of every resource written so far.
/// IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-msh-to-provenance-source.html>
/// (the IG points `entity.what` at a DocumentReference holding the message; a Binary holds the
/// same bytes without a document's metadata, as issue 12 item 8 asks).
fn keep_original(
    msg: &Message<'_>,
    msh: &ehrkit_hl7v2::Segment<'_>,
    code: &str,
    event: &str,
    message_key: &str,
    ctx: &mut Context<'_>,
    out: &mut Out,
) {
    use base64::Engine as _;
    use ehrkit_fhir_model::resources::{
        Binary, Provenance, ProvenanceAgent, ProvenanceEntity, ProvenanceOccurred,
    };
    use ehrkit_fhir_model::{CodeableConcept, Coding};

    let targets: Vec<Reference> = out
        .entries
        .iter()
        .filter_map(|e| {
            let r = e.resource.as_deref()?;
            Some(out.reference(r.resource_type(), r.id()?))
        })
        .collect();
    let at = Location::segment("MSH", 1);
    let mut binary = Binary::new(ORIGINAL_CONTENT_TYPE);
    binary.data = Some(Primitive::new(
        base64::engine::general_purpose::STANDARD.encode(msg.as_bytes()),
    ));
    let source = out.add_keyed(
        binary,
        |b: &mut Binary| &mut b.id,
        &format!("original:{message_key}"),
        ctx,
        &at,
    );

    // MSH-3 (application) acting for MSH-4 (facility), as logical references by identifier.
    let party = |field: usize, type_name: &str, ctx: &Context<'_>| -> Option<Reference> {
        let hd = msh.field(field).first::<Hd<'_>>()?;
        if hd.is_null() || hd.is_empty() {
            return None;
        }
        // The universal id (HD-2, a URI) when there is one, else the namespace (HD-1).
        let mut ids = super::datatype::hd_identifier::hd_identifier(&hd, ctx);
        let k = ids.iter().position(|i| i.system.is_some()).unwrap_or(0);
        let identifier = (k < ids.len()).then(|| ids.swap_remove(k));
        let display = super::datatype::text(hd.namespace_id());
        (identifier.is_some() || display.is_some()).then(|| Reference {
            type_: Some(Primitive::new(type_name.to_owned())),
            identifier: identifier.map(Box::new),
            display: display.map(Primitive::new),
            ..Default::default()
        })
    };
    let application = party(3, "Device", ctx);
    let facility = party(4, "Organization", ctx);
    let (who, on_behalf_of) = match (application, facility) {
        (Some(a), f) => (a, f),
        (None, Some(f)) => (f, None),
        (None, None) => (
            Reference {
                display: Some(Primitive::new("sender not named (MSH-3, MSH-4)".to_owned())),
                ..Default::default()
            },
            None,
        ),
    };
    let mut agent = ProvenanceAgent::new(who);
    agent.type_ = Some(Box::new(CodeableConcept::from_coding(Coding::with_code(
        "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
        "author",
    ))));
    agent.on_behalf_of = on_behalf_of.map(Box::new);

    let mut provenance = Provenance {
        target: if targets.is_empty() {
            vec![source.clone()]
        } else {
            targets
        },
        activity: Some(Box::new(CodeableConcept {
            coding: vec![Coding {
                display: Some(Primitive::new(format!("{code}^{event}"))),
                ..Default::default()
            }],
            ..Default::default()
        })),
        agent: vec![agent],
        entity: vec![ProvenanceEntity::new(
            ehrkit_fhir_model::codes::ProvenanceEntityRole::Source,
            source,
        )],
        ..Default::default()
    };
    // MSH-7 → recorded (an instant) and occurred; a value without an offset is reported where
    // the Bundle's timestamp is read, and `recorded` (required) then says why it is absent.
    let msh7 = msh
        .field(7)
        .first::<Text<'_>>()
        .filter(|t| !t.is_null() && !t.is_empty())
        .and_then(|t| t.dtm().ok());
    let recorded = msh7
        .as_ref()
        .and_then(|v| dtm::instant(v, ctx.profile.source_time_zone).ok());
    provenance.recorded = Some(match recorded {
        Some(c) => Primitive::new(c.value),
        None => Primitive {
            value: None,
            ext: Some(Box::new(ehrkit_fhir_model::ElementExt {
                extension: vec![ehrkit_fhir_model::Extension {
                    url: Some(
                        "http://hl7.org/fhir/StructureDefinition/data-absent-reason".to_owned(),
                    ),
                    value: Some(ehrkit_fhir_model::ExtensionValue::Code(Primitive::new(
                        "unknown".to_owned(),
                    ))),
                    ..Default::default()
                }],
                ..Default::default()
            })),
        },
    });
    if let Some(v) = msh7.as_ref() {
        if let Ok(c) = dtm::date_time(v, ctx.profile.source_time_zone) {
            provenance.occurred = Some(ProvenanceOccurred::DateTime(Primitive::new(c.value)));
        }
    }
    out.add_keyed(
        provenance,
        |p: &mut Provenance| &mut p.id,
        &format!("original-provenance:{message_key}"),
        ctx,
        &at,
    );
}

/// The content type of the kept original message (HL7 v2 in its usual encoding rules, ER7).
pub const ORIGINAL_CONTENT_TYPE: &str = "x-application/hl7-v2+er7";

/// A message type part as shown in errors: letters, digits and `_` only (no content leaks).
fn sanitize(s: Option<&str>) -> String {
    let s = s.map(str::trim).unwrap_or("");
    if s.is_empty() {
        return "(none)".to_owned();
    }
    s.chars()
        .take(8)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_ascii_uppercase()
            } else {
                '?'
            }
        })
        .collect()
}

/// How an entry is written to a server (transaction and batch Bundles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A resource of this message's subject (Patient, Encounter, RelatedPerson): conditional
    /// update on its identifier, else update by id.
    Record,
    /// Shared reference data (Practitioner, Location, Organization): created if absent (never
    /// overwritten by a message that merely mentions it); one identifier (or Location path) met
    /// twice in the same message is one entry, reported when the two descriptions differ.
    Shared,
    /// A record that may come twice in one message as the same thing: the patient of a further
    /// PATIENT_RESULT group of an ORU, whose PID repeats an earlier one. Written as a
    /// [`Record`](Role::Record); met again under the same identifier it is one entry, as
    /// [`Shared`](Role::Shared) data is.
    RecordOnce,
}

/// The Bundle being written: entries, and the ids handed out.
#[derive(Debug)]
pub(crate) struct Out {
    ids: Ids,
    pub(crate) entries: Vec<BundleEntry>,
    kind: BundleKind,
    base: Option<String>,
    /// The key of the resource being added (reused: one buffer, not a `format!` per resource).
    key: String,
}

impl Out {
    /// The Bundle kind being written.
    pub(crate) fn kind(&self) -> BundleKind {
        self.kind
    }

    /// Adds `r` with a deterministic id from its business `identifiers` and returns a reference
    /// to it. `at` names the source object (`PV1[1]-7(1)`) and is where a duplicate identifier
    /// is reported.
    pub(crate) fn add<R: TypedResource + PartialEq>(
        &mut self,
        r: R,
        id_of: fn(&mut R) -> &mut Option<String>,
        identifiers: &[Identifier],
        role: Role,
        ctx: &mut Context<'_>,
        at: &Location,
    ) -> Reference {
        let (mut key, business, query) = self.identity(identifiers);
        let reference = self.insert(r, id_of, &mut key, business, query, role, ctx, at);
        self.key = key;
        reference
    }

    /// [`Out::add`] with the business identifiers read from `r` itself (`identifiers_of`),
    /// not from a copy of them made before `r` is moved in.
    pub(crate) fn add_own<R: TypedResource + PartialEq>(
        &mut self,
        r: R,
        id_of: fn(&mut R) -> &mut Option<String>,
        identifiers_of: fn(&R) -> &[Identifier],
        role: Role,
        ctx: &mut Context<'_>,
        at: &Location,
    ) -> Reference {
        let (mut key, business, query) = self.identity(identifiers_of(&r));
        let reference = self.insert(r, id_of, &mut key, business, query, role, ctx, at);
        self.key = key;
        reference
    }

    /// The id key of a resource with business `identifiers`, written into the reused key
    /// buffer (taken out of `self`; give it back after use), whether it is a business key
    /// (else the caller keys the resource by position), and its conditional query.
    fn identity(&mut self, identifiers: &[Identifier]) -> (String, bool, Option<String>) {
        let mut key = std::mem::take(&mut self.key);
        key.clear();
        let business = write_identifier_key(identifiers, &mut key);
        (key, business, identifier_query(identifiers))
    }

    /// Adds shared reference data `r` whose identity is `key` (a Location's path), not an
    /// identifier a server could search: written as `PUT Type/id`.
    pub(crate) fn add_keyed<R: TypedResource + PartialEq>(
        &mut self,
        r: R,
        id_of: fn(&mut R) -> &mut Option<String>,
        key: &str,
        ctx: &mut Context<'_>,
        at: &Location,
    ) -> Reference {
        let mut buf = std::mem::take(&mut self.key);
        buf.clear();
        buf.push_str("path:");
        buf.push_str(key);
        let reference = self.insert(r, id_of, &mut buf, true, None, Role::Shared, ctx, at);
        self.key = buf;
        reference
    }

    #[allow(clippy::too_many_arguments)]
    fn insert<R: TypedResource + PartialEq>(
        &mut self,
        mut r: R,
        id_of: fn(&mut R) -> &mut Option<String>,
        key: &mut String,
        business: bool,
        query: Option<String>,
        role: Role,
        ctx: &mut Context<'_>,
        at: &Location,
    ) -> Reference {
        if !business {
            // `Ids::positional_key(&at.to_string())`, written into the reused buffer.
            key.clear();
            key.push_str("message:");
            key.push_str(self.ids.message_key());
            key.push('#');
            at.push_to(key);
        }
        let key = key.as_str();
        let mut id = self.ids.peek(R::TYPE_NAME, key);
        let mut query = query;
        if self.ids.is_used(&id) {
            *id_of(&mut r) = Some(id.clone());
            if matches!(role, Role::Shared | Role::RecordOnce) {
                let same = self.entries.iter().any(|e| {
                    e.resource
                        .as_deref()
                        .and_then(R::from_resource)
                        .is_some_and(|o| o == &r)
                });
                if same {
                    return Reference::from_str_ref(&self.reference_str(R::TYPE_NAME, &id));
                }
                if business {
                    // The same identifier (or Location path) is the same practitioner, place
                    // or organization, however each field spells it (`DR` in one XCN and not
                    // in the other): one resource, so a server does not get two with one NPI.
                    // The fuller description is kept when one holds all of the other (a bare
                    // id first, the named doctor later); else the first. Reported either way.
                    ctx.report(
                        ReportKind::DataQuality(DataProblem::SharedDescribedDifferently),
                        at.clone(),
                    );
                    self.keep_fuller(r.into_resource(), &id);
                    return Reference::from_str_ref(&self.reference_str(R::TYPE_NAME, &id));
                }
            }
            ctx.report(
                ReportKind::DataQuality(DataProblem::DuplicateIdentifier),
                at.clone(),
            );
            query = None;
            let position = at.to_string();
            let mut n = 0usize;
            while self.ids.is_used(&id) {
                n += 1;
                id = self
                    .ids
                    .peek(R::TYPE_NAME, &format!("{key}\u{1f}{position}\u{1f}{n}"));
            }
        }
        let request = self.kind.has_requests().then(|| {
            Box::new(match (query, role) {
                (Some(q), Role::Record | Role::RecordOnce) => {
                    BundleEntryRequest::new(HTTPVerb::PUT, concat(&[R::TYPE_NAME, "?", &q]))
                }
                (Some(q), Role::Shared) => {
                    let mut req = BundleEntryRequest::new(HTTPVerb::POST, R::TYPE_NAME);
                    req.if_none_exist = Some(Primitive::new(q));
                    req
                }
                (None, _) => {
                    BundleEntryRequest::new(HTTPVerb::PUT, concat(&[R::TYPE_NAME, "/", &id]))
                }
            })
        });
        let full_url = self.full_url(R::TYPE_NAME, &id);
        // Without a base the reference is the full URL (`urn:uuid:<id>`).
        let reference = match &self.base {
            Some(_) => self.reference_str(R::TYPE_NAME, &id),
            None => full_url.clone(),
        };
        self.ids.reserve(&id);
        *id_of(&mut r) = Some(id);
        self.entries.push(BundleEntry {
            full_url: Some(Primitive::new(full_url)),
            resource: Some(Box::new(r.into_resource())),
            request,
            ..Default::default()
        });
        Reference {
            reference: Some(Primitive::new(reference)),
            ..Default::default()
        }
    }

    /// Replaces the entry with id `id` by `later` when `later` says all the entry says and
    /// more (see [`covers`]); otherwise the entry stays as it is.
    fn keep_fuller(&mut self, later: Resource, id: &str) {
        let Some(entry) = self.entries.iter_mut().find(|e| {
            e.resource
                .as_deref()
                .is_some_and(|r| r.resource_type() == later.resource_type() && r.id() == Some(id))
        }) else {
            return;
        };
        let json = |r: &Resource| {
            ehrkit_fhir_model::json::Value::parse(ehrkit_fhir_model::to_string(r).as_bytes()).ok()
        };
        let (Some(earlier), Some(fuller)) =
            (entry.resource.as_deref().and_then(json), json(&later))
        else {
            return;
        };
        if covers(&fuller, &earlier) {
            entry.resource = Some(Box::new(later));
        }
    }

    /// Puts `r` first (the MessageHeader of a `message` Bundle), with an id from the message.
    pub(crate) fn add_first(&mut self, r: Resource, type_name: &str, id: String) {
        self.ids.reserve(&id);
        self.entries.insert(
            0,
            BundleEntry {
                full_url: Some(Primitive::new(self.full_url(type_name, &id))),
                resource: Some(Box::new(r)),
                ..Default::default()
            },
        );
    }

    /// The id of the message-level resource `type_name` (one per message).
    pub(crate) fn message_id(&self, type_name: &str) -> String {
        self.ids
            .peek(type_name, &self.ids.positional_key("message"))
    }

    fn full_url(&self, type_name: &str, id: &str) -> String {
        match &self.base {
            Some(base) => concat(&[base.trim_end_matches('/'), "/", type_name, "/", id]),
            None => concat(&["urn:uuid:", id]),
        }
    }

    fn reference(&self, type_name: &str, id: &str) -> Reference {
        Reference {
            reference: Some(Primitive::new(self.reference_str(type_name, id))),
            ..Default::default()
        }
    }

    fn reference_str(&self, type_name: &str, id: &str) -> String {
        match &self.base {
            Some(_) => concat(&[type_name, "/", id]),
            None => concat(&["urn:uuid:", id]),
        }
    }
}

/// True when `a` says everything `b` says: every member of an object in `b` is in `a` with a
/// value that covers it, every element of an array in `b` is covered by some element of `a`'s,
/// and other values are equal.
fn covers(a: &ehrkit_fhir_model::json::Value, b: &ehrkit_fhir_model::json::Value) -> bool {
    use ehrkit_fhir_model::json::Value;
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => b
            .iter()
            .all(|(k, vb)| a.iter().any(|(ka, va)| ka == k && covers(va, vb))),
        (Value::Array(a), Value::Array(b)) => b.iter().all(|vb| a.iter().any(|va| covers(va, vb))),
        _ => a == b,
    }
}

/// `parts` joined, in one allocation of the right size.
fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.push_str(p);
    }
    out
}

/// `identifier=system|value` of the first identifier with both parts: each part escaped as
/// FHIR search requires (`\`, `|`, `,`, `$` preceded by `\`; a server splits a token on them
/// after percent-decoding, and an unescaped `,` would ask for two identifiers), then
/// percent-encoded.
fn identifier_query(ids: &[Identifier]) -> Option<String> {
    ids.iter().find_map(|i| {
        let s = i.system.as_ref()?.value.as_deref()?;
        let v = i.value.as_ref()?.value.as_deref()?;
        let mut q = String::with_capacity(12 + s.len() + v.len());
        q.push_str("identifier=");
        search_escaped(&mut q, s);
        q.push('|');
        search_escaped(&mut q, v);
        Some(q)
    })
}

/// Appends `s` with the FHIR search delimiters `\ | , $` escaped by a `\`, percent-encoded as
/// [`pct_encode`] writes it (straight to it when `s` has none, the usual case).
fn search_escaped(out: &mut String, s: &str) {
    if !s.bytes().any(|b| matches!(b, b'\\' | b'|' | b',' | b'$')) {
        pct_encode(out, s);
        return;
    }
    let mut escaped = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if matches!(c, '\\' | '|' | ',' | '$') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    pct_encode(out, &escaped);
}

/// Appends `s` percent-encoded as [`Pct`] writes it (without the formatting machinery: one
/// query per resource).
fn pct_encode(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters and `:` `/` (kept readable in
/// system URIs). The reference [`pct_encode`] is tested against.
#[cfg(test)]
struct Pct<'a>(&'a str);

#[cfg(test)]
impl std::fmt::Display for Pct<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~:/".contains(&b) {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "%{b:02X}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converter_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Converter>();
    }

    #[test]
    fn queries_are_percent_encoded() {
        assert_eq!(
            Pct("urn:oid:1.2|a b&c").to_string(),
            "urn:oid:1.2%7Ca%20b%26c"
        );
        let all: String = (1u8..=0x7f).map(char::from).chain("é€".chars()).collect();
        let mut fast = String::new();
        pct_encode(&mut fast, &all);
        assert_eq!(fast, Pct(&all).to_string());
    }

    #[test]
    fn bundle_kinds_round_trip_their_codes() {
        for k in ["transaction", "batch", "collection", "message"] {
            assert_eq!(BundleKind::from_code(k).map(BundleKind::code), Some(k));
        }
        assert_eq!(BundleKind::from_code("document"), None);
    }
}
