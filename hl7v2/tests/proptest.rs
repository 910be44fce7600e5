//! Property tests: generated messages round-trip byte for byte and every leaf decodes back to the text
//! it was built from; escaping then decoding gives the original text, for any delimiter set.

use ehrkit_hl7v2::{escape, Delimiters, Message, OwnedMessage};
use proptest::prelude::*;

type Leaf = String;
type Comp = Vec<Leaf>;
type Rep = Vec<Comp>;
type Field = Vec<Rep>;

fn text() -> impl Strategy<Value = String> {
    // Plain text, delimiters, escape characters, line breaks, quotes and non-ASCII.
    proptest::collection::vec(
        prop_oneof![
            6 => proptest::char::range('a', 'z').prop_map(String::from),
            1 => Just("|".to_string()),
            1 => Just("^".to_string()),
            1 => Just("~".to_string()),
            1 => Just("\\".to_string()),
            1 => Just("&".to_string()),
            1 => Just("#".to_string()),
            1 => Just("\r".to_string()),
            1 => Just("\n".to_string()),
            1 => Just("\"".to_string()),
            1 => Just(" ".to_string()),
            1 => Just("é".to_string()),
            1 => Just("☃".to_string()),
            1 => Just("\\.br\\".to_string()),
        ],
        0..6,
    )
    .prop_map(|v| v.concat())
}

fn field() -> impl Strategy<Value = Field> {
    proptest::collection::vec(
        proptest::collection::vec(proptest::collection::vec(text(), 1..3), 1..4),
        1..3,
    )
}

fn segment() -> impl Strategy<Value = (String, Vec<Field>)> {
    (
        prop::sample::select(vec!["PID", "OBX", "NTE", "ZP1", "PV1"]),
        proptest::collection::vec(field(), 0..6),
    )
        .prop_map(|(n, f)| (n.to_string(), f))
}

fn delimiters() -> impl Strategy<Value = Delimiters> {
    prop::sample::select(vec![
        Delimiters::default(),
        Delimiters {
            truncation: Some(b'#'),
            ..Delimiters::default()
        },
        Delimiters {
            field: b'^',
            component: b'~',
            repetition: b'|',
            ..Delimiters::default()
        },
        Delimiters {
            field: b'!',
            component: b'@',
            repetition: b'*',
            escape: Some(b'$'),
            subcomponent: b'%',
            truncation: Some(b'+'),
        },
    ])
}

fn render(d: &Delimiters, segs: &[(String, Vec<Field>)], term: &str) -> Vec<u8> {
    let f = d.field as char;
    let mut out = format!(
        "MSH{f}{}{f}APP{f}FAC{f}{f}{f}20240101{f}{f}ADT{f}1{f}P{f}2.5{term}",
        d.encoding_characters()
    );
    for (name, fields) in segs {
        out.push_str(name);
        for field in fields {
            out.push(f);
            let reps: Vec<String> = field
                .iter()
                .map(|rep| {
                    let comps: Vec<String> = rep
                        .iter()
                        .map(|comp| {
                            let subs: Vec<String> = comp
                                .iter()
                                .map(|s| escape::encode(s, d).into_owned())
                                .collect();
                            subs.join(&(d.subcomponent as char).to_string())
                        })
                        .collect();
                    comps.join(&(d.component as char).to_string())
                })
                .collect();
            out.push_str(&reps.join(&(d.repetition as char).to_string()));
        }
        out.push_str(term);
    }
    out.into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn generated_messages_round_trip(
        d in delimiters(),
        segs in proptest::collection::vec(segment(), 0..6),
        term in prop::sample::select(vec!["\r", "\n", "\r\n"]),
    ) {
        let bytes = render(&d, &segs, term);
        let m = Message::parse(&bytes).unwrap();
        prop_assert_eq!(m.as_bytes(), &bytes[..]);
        prop_assert_eq!(m.segment_count(), segs.len() + 1);
        prop_assert_eq!(OwnedMessage::from_message(&m).to_bytes(), bytes.clone());
        let msh9 = m.get("MSH-9");
        prop_assert_eq!(msh9.as_deref(), Some("ADT"));
        let mut occ = std::collections::HashMap::new();
        for (name, fields) in &segs {
            let n = occ.entry(name.clone()).or_insert(0u32);
            *n += 1;
            for (fi, field) in fields.iter().enumerate() {
                prop_assert_eq!(m.repetitions(&format!("{name}({n})-{}", fi + 1)), field.len());
                for (ri, rep) in field.iter().enumerate() {
                    for (ci, comp) in rep.iter().enumerate() {
                        for (si, leaf) in comp.iter().enumerate() {
                            let p = format!("{name}({n})-{}({}).{}.{}", fi + 1, ri + 1, ci + 1, si + 1);
                            let got = m.get(&p).map(|c| c.into_owned());
                            prop_assert_eq!(got.as_deref(), Some(leaf.as_str()), "path {}", p);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn escape_then_decode_is_identity(d in delimiters(), s in text(), t in "\\PC{0,40}") {
        for input in [&s, &t] {
            let enc = escape::encode(input, &d);
            prop_assert!(!enc.bytes().any(|b| d.is_separator(b) || b == b'\r' || b == b'\n'));
            prop_assert_eq!(escape::decode(enc.as_bytes(), &d).unwrap(), input.as_str());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut with_header = b"MSH|^~\\&|".to_vec();
        with_header.extend_from_slice(&data);
        for input in [&data, &with_header] {
            if let Ok(m) = Message::parse(input) {
                prop_assert_eq!(OwnedMessage::from_message(&m).to_bytes(), m.as_bytes());
                let _ = m.get("PID-3(2).1.1");
            }
        }
    }
}
