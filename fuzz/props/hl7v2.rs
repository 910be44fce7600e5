//! The property behind the `hl7v2_parse` fuzz target, shared by path with
//! `hl7v2/tests/fuzz_seeds.rs` so the seeds run the exact same check without cargo-fuzz. Uses
//! `ehrkit-hl7v2` through its public API only. Panics when the property is violated; must never
//! panic otherwise.

use ehrkit_hl7v2::batch::BatchFile;
use ehrkit_hl7v2::escape::{self, DecodeOptions};
use ehrkit_hl7v2::{Charset, Delimiters, Message, OwnedMessage, ParseOptions, Path, Value};

const MAX_COMPONENTS: u32 = 40;
const MAX_READS: usize = 20_000;

/// Parses `data` (lenient), walks every path, writes back and compares. Panics when a property fails;
/// returns the number of messages checked.
pub fn check_roundtrip(data: &[u8]) -> usize {
    let mut checked = 0;
    if let Ok(file) = BatchFile::parse(data) {
        assert_eq!(file.to_bytes(), data, "batch write-back differs from input");
        for m in file.messages() {
            check_message(m);
            checked += 1;
        }
    }
    // Lenient and strict single-message parses never panic; strict success implies lenient success.
    let lenient = Message::parse(data);
    if Message::parse_with(data, ParseOptions::default().strict(true)).is_ok() {
        assert!(lenient.is_ok(), "strict accepted what lenient rejected");
    }
    if let Ok(m) = &lenient {
        check_message(m);
    }
    let _ = Message::parse_with(data, ParseOptions::default().lossy(true)).map(|m| m.get("MSH-10"));
    // Escape decoding of arbitrary bytes never panics.
    let d = Delimiters::default();
    let _ = escape::decode_with(
        data,
        &d,
        &DecodeOptions::default().lossy(true),
        Charset::UTF8,
    );
    checked
}

fn check_message(m: &Message<'_>) {
    let owned = OwnedMessage::from_message(m);
    assert_eq!(owned.to_bytes(), m.as_bytes(), "owned write-back differs");
    let reparsed =
        Message::parse_with(m.as_bytes(), *m.options()).expect("a message's own bytes parse again");
    assert_eq!(reparsed.segment_count(), m.segment_count());
    let d = *m.delimiters();
    let multibyte = m.charset().has_delimiter_like_trail_bytes();
    let mut reads = 0usize;
    let mut seen: Vec<([u8; 3], u32)> = Vec::new();
    for seg in m.segments() {
        let name = seg.name();
        let occ = {
            let mut id = [0u8; 3];
            id.copy_from_slice(&name.as_bytes()[..3]);
            match seen.iter_mut().find(|(n, _)| *n == id) {
                Some((_, c)) => {
                    *c += 1;
                    *c
                }
                None => {
                    seen.push((id, 1));
                    1
                }
            }
        };
        let Ok(base) = Path::parse(name) else {
            panic!("segment name is not a path")
        };
        let base = base.with_occurrence(occ);
        assert_eq!(m.raw_path(&base), Some(seg.as_bytes()));
        for f in 1..=seg.field_count() as u32 {
            let fp = Path::new(name, f).expect("path").with_occurrence(occ);
            let field = m.raw_path(&fp).expect("field present");
            assert_eq!(Some(field), seg.field_raw(f as usize));
            // In Big5 / GB 18030 / ISO-2022-JP a multi-byte character may hold a delimiter byte,
            // which is data: the byte-level check only holds for the other character sets.
            let header_field = f == 1 && matches!(name, "MSH" | "FHS" | "BHS");
            if !(multibyte || header_field) {
                assert!(!field.contains(&d.field), "field holds the field separator");
            }
            let reps = m.repetitions(&fp.to_string()) as u32;
            assert!(reps >= 1);
            assert_eq!(m.value_path(&fp.with_repetition(reps + 1)), Value::Absent);
            for r in 1..=reps {
                for c in 1..=MAX_COMPONENTS {
                    let cp = fp.with_repetition(r).with_component(c);
                    let Some(comp) = m.raw_path(&cp) else { break };
                    let header_fields = f <= 2 && matches!(name, "MSH" | "FHS" | "BHS");
                    if !(multibyte || header_fields) {
                        assert!(!comp.contains(&d.component) && !comp.contains(&d.repetition));
                    }
                    for s in 1..=MAX_COMPONENTS {
                        reads += 1;
                        let sp = cp.with_subcomponent(s);
                        let Some(leaf) = m.raw_path(&sp) else { break };
                        if let Ok(Some(text)) =
                            m.decoded(&sp.to_string(), &DecodeOptions::default())
                        {
                            let again = escape::encode(&text, &d);
                            if m.charset().is_utf8() {
                                let back = escape::decode(again.as_bytes(), &d)
                                    .expect("encoded text decodes");
                                assert_eq!(back, text, "escape then decode differs");
                            }
                        }
                        let _ = m.get_path(&sp);
                        let _ = leaf;
                    }
                    if reads > MAX_READS {
                        return;
                    }
                }
            }
        }
    }
}
