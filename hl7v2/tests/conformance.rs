//! Conformance over the shared corpora: every HL7 v2 file under `../shared/corpus/hl7v2/` and every
//! input message under `../shared/corpus/v2-to-fhir/` parses, every path of every message can be read,
//! and writing back (zero-copy and through the owned writer) gives the identical bytes.
//! Skipped with a notice when `../shared` is absent.

use std::path::PathBuf;

use ehrkit_hl7v2::batch::BatchFile;
use ehrkit_hl7v2::{escape, Delimiters, Message, OwnedMessage};
use ehrkit_testkit::shared;

/// `../shared/corpus`, or `None` after the skip notice.
fn corpus() -> Option<PathBuf> {
    shared::require("corpus", "HL7 v2 corpus conformance")
}

fn starts_with_segment(b: &[u8]) -> bool {
    let b = b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b);
    b.len() >= 4
        && b[..3]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// Reads every element of every segment by path (fields, repetitions, components, subcomponents).
fn walk(m: &Message<'_>) -> usize {
    let mut reads = 0;
    for seg in m.segments() {
        for f in 1..=seg.field_count() {
            let reps = m.repetitions(&format!(
                "{}({})-{f}",
                seg.name(),
                occurrence(m, seg.index())
            ));
            for r in 1..=reps.max(1) {
                for c in 1..=3 {
                    let p = format!(
                        "{}({})-{f}({r}).{c}",
                        seg.name(),
                        occurrence(m, seg.index())
                    );
                    let _ = m.get(&p);
                    reads += 1;
                }
            }
        }
    }
    reads
}

fn occurrence(m: &Message<'_>, idx: usize) -> usize {
    let name = m.segment_at(idx).unwrap().name();
    m.segments()
        .take(idx + 1)
        .filter(|s| s.name() == name)
        .count()
}

#[test]
fn corpus_parses_and_writes_back_identically() {
    let Some(corpus) = corpus() else { return };
    let mut files = shared::files(&corpus.join("hl7v2"), &["hl7", "txt"]);
    files.extend(shared::files(&corpus.join("v2-to-fhir"), &["hl7", "txt"]));
    assert!(
        files.len() > 100,
        "expected the corpora, found {} files",
        files.len()
    );
    let (mut n_files, mut n_msgs, mut n_payloads, mut reads) = (0, 0, 0, 0);
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let name = path.display();
        if !starts_with_segment(&bytes) {
            // A field payload, not a message (hapi__uuencoded_escaped.txt): an escape-decoder input.
            let d = Delimiters::default();
            let text = escape::decode(&bytes, &d).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(text.len() < bytes.len(), "{name}: escapes were decoded");
            let again = escape::encode(&text, &d);
            assert_eq!(
                escape::decode(again.as_bytes(), &d).unwrap(),
                text,
                "{name}"
            );
            n_payloads += 1;
            continue;
        }
        let file = BatchFile::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(file.to_bytes(), bytes, "{name}: batch write-back");
        let msgs: Vec<Message<'_>> = Message::parse_all(&bytes)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(msgs.len(), file.messages().count(), "{name}");
        assert!(!msgs.is_empty(), "{name}");
        for m in &msgs {
            assert!(m.get("MSH-9.1").is_some(), "{name}: MSH-9");
            let owned = OwnedMessage::from_message(m);
            assert_eq!(owned.to_bytes(), m.as_bytes(), "{name}: owned write-back");
            reads += walk(m);
            n_msgs += 1;
        }
        n_files += 1;
    }
    println!("corpus: {n_files} message files, {n_msgs} messages, {n_payloads} payload files, {reads} path reads");
}

#[test]
fn corpus_specifics() {
    let Some(corpus) = corpus() else { return };
    let read = |p: &str| std::fs::read(corpus.join("hl7v2").join(p)).unwrap();
    // Alternate delimiters: field separator '^', component '~', repetition '|'.
    let b = read("hapi__segmentfinder_a24.hl7");
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.delimiters().field, b'^');
    assert_eq!(m.get("MSH-9.1").as_deref(), Some("ADT"));
    assert_eq!(m.get("MSH-9.2").as_deref(), Some("A24"));
    assert_eq!(m.get("PID(2)-3(1).1").as_deref(), Some("22222"));
    assert_eq!(m.get("PID-3.6.2").as_deref(), Some("200M"));
    assert_eq!(m.get("PID-3.4.3").as_deref(), Some("0363"));
    // 13 CR-separated messages in one file.
    let b = read("hapi__example_oml_o21.hl7");
    assert_eq!(Message::parse_all(&b).count(), 13);
    // Batch with envelope.
    let b = read("hl7rust__batch.hl7");
    let f = BatchFile::parse(&b).unwrap();
    assert_eq!(
        f.file_header().unwrap().get("FHS-3").as_deref(),
        Some("LAB")
    );
    assert_eq!(
        f.batches()
            .next()
            .unwrap()
            .trailer()
            .unwrap()
            .get("BTS-1")
            .as_deref(),
        Some("2")
    );
    assert_eq!(f.messages().count(), 2);
    // UTF-8 BOM + LF line ends.
    let b = read("fhirconverter__ADT01-28.hl7");
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.start_offset(), 3);
    assert!(m.segment_count() >= 4);
    // v2.7 truncation character in MSH-2.
    let b = std::fs::read(corpus.join("v2-to-fhir/hl7-v2-to-fhir-ig/input/IG-test-ORU_R01.hl7"))
        .unwrap();
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.delimiters().truncation, Some(b'#'));
    assert_eq!(m.get("MSH-2").as_deref(), Some("^~\\&#"));
    // Doubled escape character in MSH-2 (source-code artefact): accepted leniently.
    let b = std::fs::read(corpus.join("v2-to-fhir/linuxforhealth/input/sample_unix.hl7")).unwrap();
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.get("PID-3(2).1").as_deref(), Some("1234568965"));
}
