//! Issue 12 items 8 and 10: the original message kept as a `Binary` referenced from a
//! `Provenance` (option, off by default), and batch conversion (`Converter::convert_batch`,
//! across cores with the `rayon` feature) returning results in input order.

use base64::Engine as _;
use ehrkit_fhir_model::resources::{Binary, Provenance};
use ehrkit_fhir_model::{Bundle, Resource, TypedResource, Validator};
use ehrkit_hl7v2::Message;
use ehrkit_mapping::v2_to_fhir::{
    BundleKind, ConvertError, Converter, Options, ORIGINAL_CONTENT_TYPE,
};
use ehrkit_mapping::Profile;

const ADT: &[u8] = b"MSH|^~\\&|ADTAPP^1.2.3.4^ISO|GOODHEALTH^2.16.840.1.113883.19.5^ISO|RCV|RF|202603011230-0500||ADT^A01|MSG1|P|2.5\r\
PID|1||123^^^2.16.840.1.113883.19.5&2.16.840.1.113883.19.5&ISO^MR||DOE^JANE||19800101|F\r\
PV1|1|I|4WEST^412^B\r";

const ORU: &[u8] = b"MSH|^~\\&|LAB|GOODHEALTH|RCV|RF|20260301123000||ORU^R01|MSG2|P|2.5\r\
PID|1||77^^^GOODHEALTH^MR||ROE^RICHARD||19700101|M\r\
OBR|1|P1|F1|24317-0^Hemogram^LN\r\
OBX|1|NM|718-7^Hemoglobin^LN||13.2|g/dL^^UCUM|||||F\r";

fn convert(raw: &[u8], options: Options) -> Bundle {
    let msg = Message::parse(raw).unwrap();
    Converter::new(Profile::generic(), options)
        .convert(&msg)
        .unwrap()
        .bundle
}

fn all<R: TypedResource + Clone>(b: &Bundle) -> Vec<R> {
    b.entry
        .iter()
        .filter_map(|e| e.resource.as_deref().and_then(R::from_resource).cloned())
        .collect()
}

fn full_url_of(b: &Bundle, type_name: &str) -> Vec<String> {
    b.entry
        .iter()
        .filter(|e| e.resource.as_deref().map(Resource::resource_type) == Some(type_name))
        .map(|e| e.full_url.as_ref().unwrap().value.clone().unwrap())
        .collect()
}

fn round_trips(b: &Bundle) {
    let text = ehrkit_fhir_model::to_string(b);
    let back: Bundle = ehrkit_fhir_model::from_slice(text.as_bytes()).unwrap();
    assert_eq!(&back, b);
    let issues = Validator::check(b);
    assert!(issues.is_empty(), "{issues:?}");
}

#[test]
fn the_original_is_not_kept_by_default() {
    let b = convert(ADT, Options::default());
    assert!(all::<Binary>(&b).is_empty());
    assert!(!Options::default().keep_original);
}

#[test]
fn the_original_message_is_kept_as_a_binary_named_by_a_provenance() {
    let b = convert(ADT, Options::default().keep_original(true));
    round_trips(&b);
    let binaries = all::<Binary>(&b);
    assert_eq!(binaries.len(), 1);
    let binary = &binaries[0];
    assert_eq!(
        binary.content_type.as_ref().unwrap().value.as_deref(),
        Some(ORIGINAL_CONTENT_TYPE)
    );
    let data = base64::engine::general_purpose::STANDARD
        .decode(binary.data.as_ref().unwrap().value.as_deref().unwrap())
        .unwrap();
    assert_eq!(data, ADT, "the bytes exactly as received");

    let binary_url = full_url_of(&b, "Binary").pop().unwrap();
    let provenance = all::<Provenance>(&b)
        .into_iter()
        .find(|p| {
            p.entity.iter().any(|e| {
                e.what
                    .as_ref()
                    .and_then(|w| w.reference.as_ref()?.value.clone())
                    == Some(binary_url.clone())
            })
        })
        .expect("a Provenance names the Binary");
    let entity = &provenance.entity[0];
    assert_eq!(
        entity.role.as_ref().unwrap().value,
        Some(ehrkit_fhir_model::codes::ProvenanceEntityRole::Source)
    );
    // Its targets: every resource of the message (the Patient among them), not the Binary.
    let targets: Vec<String> = provenance
        .target
        .iter()
        .filter_map(|t| t.reference.as_ref()?.value.clone())
        .collect();
    let patient = full_url_of(&b, "Patient").pop().unwrap();
    assert!(targets.contains(&patient));
    assert!(!targets.contains(&binary_url));
    for t in &full_url_of(&b, "Encounter") {
        assert!(targets.contains(t));
    }
    // The agent: the sending application (MSH-3) for the sending facility (MSH-4).
    let agent = &provenance.agent[0];
    let who = agent.who.as_ref().unwrap();
    assert_eq!(who.type_.as_ref().unwrap().value.as_deref(), Some("Device"));
    assert_eq!(
        who.identifier
            .as_ref()
            .unwrap()
            .value
            .as_ref()
            .unwrap()
            .value
            .as_deref(),
        Some("urn:oid:1.2.3.4")
    );
    assert_eq!(
        who.display.as_ref().unwrap().value.as_deref(),
        Some("ADTAPP")
    );
    let org = agent.on_behalf_of.as_ref().unwrap();
    assert_eq!(
        org.type_.as_ref().unwrap().value.as_deref(),
        Some("Organization")
    );
    assert_eq!(
        org.display.as_ref().unwrap().value.as_deref(),
        Some("GOODHEALTH")
    );
    // MSH-7 (with its offset) is when it was recorded.
    let recorded = provenance
        .recorded
        .as_ref()
        .unwrap()
        .value
        .as_ref()
        .unwrap();
    assert_eq!(recorded.as_str(), "2026-03-01T12:30:00-05:00");
    assert!(ehrkit_fhir_model::to_string(&b)
        .contains(r#""activity":{"coding":[{"display":"ADT^A01"}]}"#));
}

#[test]
fn kept_originals_have_their_own_ids_and_requests() {
    let a = convert(ADT, Options::default().keep_original(true));
    let again = convert(ADT, Options::default().keep_original(true));
    assert_eq!(a, again, "deterministic");
    let b = convert(ORU, Options::default().keep_original(true));
    assert_ne!(
        full_url_of(&a, "Binary"),
        full_url_of(&b, "Binary"),
        "two messages never share the Binary of their original"
    );
    // In a transaction the Binary is written by id (replays are idempotent).
    let entry = a
        .entry
        .iter()
        .find(|e| e.resource.as_deref().map(Resource::resource_type) == Some("Binary"))
        .unwrap();
    let url = entry.request.as_ref().unwrap().url.as_ref().unwrap();
    assert!(url.value.as_deref().unwrap().starts_with("Binary/"));
    // In a message Bundle too, it and its Provenance come after the MessageHeader.
    let m = convert(
        ADT,
        Options::default()
            .keep_original(true)
            .bundle_kind(BundleKind::Message),
    );
    round_trips(&m);
    assert_eq!(
        m.entry[0].resource.as_deref().unwrap().resource_type(),
        "MessageHeader"
    );
    assert_eq!(all::<Binary>(&m).len(), 1);
}

#[test]
fn a_message_time_without_offset_leaves_recorded_absent_with_a_reason() {
    let b = convert(ORU, Options::default().keep_original(true));
    round_trips(&b);
    let binary_url = full_url_of(&b, "Binary").pop().unwrap();
    let provenance = all::<Provenance>(&b)
        .into_iter()
        .find(|p| {
            p.entity.iter().any(|e| {
                e.what
                    .as_ref()
                    .and_then(|w| w.reference.as_ref()?.value.clone())
                    == Some(binary_url.clone())
            })
        })
        .unwrap();
    let recorded = provenance.recorded.as_ref().unwrap();
    assert!(recorded.value.is_none(), "never the host's zone");
    assert_eq!(
        recorded.extension()[0].url.as_deref(),
        Some("http://hl7.org/fhir/StructureDefinition/data-absent-reason")
    );
    // With a source time zone in the profile, MSH-7 is an instant again.
    let msg = Message::parse(ORU).unwrap();
    let b = Converter::new(
        Profile::generic().time_zone(ehrkit_mapping::chrono_tz::America::Chicago),
        Options::default().keep_original(true),
    )
    .convert(&msg)
    .unwrap()
    .bundle;
    let p = all::<Provenance>(&b)
        .into_iter()
        .find(|p| !p.entity.is_empty())
        .unwrap();
    let recorded = p.recorded.as_ref().unwrap().value.as_ref().unwrap();
    assert_eq!(recorded.as_str(), "2026-03-01T12:30:00-06:00");
}

#[test]
fn a_batch_gives_one_result_per_input_in_input_order() {
    let converter = Converter::new(Profile::generic(), Options::default());
    let inputs: Vec<&[u8]> = vec![
        ORU,
        b"garbage",
        ADT,
        b"MSH|^~\\&|A|B|C|D|20260301||ZZZ^Z01|3|P|2.5\r",
        ORU,
    ];
    let results = converter.convert_batch(inputs.iter().copied());
    assert_eq!(results.len(), inputs.len());
    let single = |raw: &[u8]| converter.convert(&Message::parse(raw).unwrap()).unwrap();
    assert_eq!(results[0].as_ref().unwrap().bundle, single(ORU).bundle);
    assert!(matches!(results[1], Err(ConvertError::Parse { .. })));
    assert_eq!(results[2].as_ref().unwrap().bundle, single(ADT).bundle);
    assert!(matches!(
        &results[3],
        Err(ConvertError::UnsupportedMessageType { message_type, .. }) if message_type == "ZZZ^Z01"
    ));
    assert_eq!(results[4].as_ref().unwrap().bundle, single(ORU).bundle);
    // Owned inputs too, and an empty batch.
    let owned: Vec<Vec<u8>> = vec![ADT.to_vec()];
    assert_eq!(converter.convert_batch(owned).len(), 1);
    assert!(converter.convert_batch(Vec::<&[u8]>::new()).is_empty());
}

#[cfg(feature = "rayon")]
#[test]
fn a_parallel_batch_equals_the_sequential_one() {
    use ehrkit_mapping::v2_to_fhir::rayon::ThreadPoolBuilder;

    let converter = Converter::new(Profile::generic(), Options::default());
    // Distinct messages (control ids) so a reordering would show.
    let inputs: Vec<Vec<u8>> = (0..200)
        .map(|i| {
            let text = String::from_utf8(ORU.to_vec()).unwrap();
            text.replace("MSG2", &format!("MSG2-{i}"))
                .replace("13.2", &format!("{i}.5"))
                .into_bytes()
        })
        .collect();
    let sequential: Vec<Bundle> = inputs
        .iter()
        .map(|raw| {
            converter
                .convert(&Message::parse(raw).unwrap())
                .unwrap()
                .bundle
        })
        .collect();
    for threads in [1, 2, 4] {
        let pool = ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let parallel: Vec<Bundle> = pool
            .install(|| converter.convert_batch(&inputs))
            .into_iter()
            .map(|r| r.unwrap().bundle)
            .collect();
        assert_eq!(parallel, sequential, "{threads} threads");
    }
}
