//! Multi-byte character sets whose characters can hold a byte equal to a delimiter (issue 10 item
//! 7): Big5 `0xCA 0x7C` and GB 18030 `0x81 0x7C` end in `|`, ISO-2022-JP double-byte runs may hold
//! `|`, `^`, `~`, `\` and `&`. Such a byte must never split a field (the birth date must stay in
//! PID-7), nor start an escape sequence; a sequence whose boundaries cannot be known is an error
//! naming the character set and the offset.

use ehrkit_hl7v2::datatypes::Xpn;
use ehrkit_hl7v2::{Error, Message, ParseOptions};
use encoding_rs::{Encoding, BIG5, EUC_KR, GB18030, ISO_2022_JP};

/// `MSH ... MSH-18 = charset`, then `PID|1||42||<name>||19800101|F`.
fn adt(charset: &str, name: &[u8]) -> Vec<u8> {
    let mut m = format!("MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5||||||{charset}\rPID|1||42||")
        .into_bytes();
    m.extend_from_slice(name);
    m.extend_from_slice(b"||19800101|F\r");
    m
}

/// The first CJK ideograph whose encoding in `enc` contains `needle` (outside escape sequences).
fn char_holding(enc: &'static Encoding, needle: u8) -> (String, Vec<u8>) {
    for cp in 0x4E00u32..0x9FA5 {
        let s = char::from_u32(cp).unwrap().to_string();
        let (bytes, _, unmappable) = enc.encode(&s);
        if unmappable {
            continue;
        }
        let body: Vec<u8> = if enc == ISO_2022_JP {
            // ESC $ B <pairs> ESC ( B: look only at the pairs.
            bytes[3..bytes.len() - 3].to_vec()
        } else {
            bytes.to_vec()
        };
        if body.contains(&needle) {
            let bytes = bytes.into_owned();
            return (s, bytes);
        }
    }
    panic!("no character of {} holds {needle:#x}", enc.name());
}

fn assert_fields_in_place(raw: &[u8], expected_name: &str) {
    let m = Message::parse(raw).unwrap();
    assert_eq!(m.get("PID-7").as_deref(), Some("19800101"), "PID-7 moved");
    assert_eq!(m.get("PID-8").as_deref(), Some("F"), "PID-8 moved");
    assert_eq!(m.get("PID-5.1").as_deref(), Some(expected_name));
    assert_eq!(m.segment("PID", 1).unwrap().field_count(), 8);
}

#[test]
fn big5_trail_byte_pipe_does_not_split_pid5() {
    // The issue's example: 0xCA 0x7C is one Big5 character.
    let (text, bad) = BIG5.decode_without_bom_handling(&[0xCA, 0x7C]);
    assert!(!bad && text.chars().count() == 1);
    let mut name = b"WANG^".to_vec();
    name.extend_from_slice(&[0xCA, 0x7C]);
    let raw = adt("BIG-5", &name);
    assert_fields_in_place(&raw, "WANG");
    let m = Message::parse(&raw).unwrap();
    assert_eq!(m.get("PID-5.2").as_deref(), Some(&*text));
    for needle in [b'^', b'~', b'\\'] {
        let (s, bytes) = char_holding(BIG5, needle);
        let raw = adt("BIG-5", &[b"LI^".as_slice(), &bytes].concat());
        assert_fields_in_place(&raw, "LI");
        let m = Message::parse(&raw).unwrap();
        assert_eq!(m.get("PID-5.2").as_deref(), Some(s.as_str()), "{needle:#x}");
        assert_eq!(m.repetitions("PID-5"), 1);
    }
}

#[test]
fn gb18030_trail_byte_pipe_does_not_split_pid5() {
    let (text, bad) = GB18030.decode_without_bom_handling(&[0x81, 0x7C]);
    assert!(!bad && text.chars().count() == 1);
    let raw = adt("GB 18030-2000", &[b'L', b'I', b'^', 0x81, 0x7C]);
    assert_fields_in_place(&raw, "LI");
    assert_eq!(
        Message::parse(&raw).unwrap().get("PID-5.2").as_deref(),
        Some(&*text)
    );
    // A four-byte sequence next to delimiters.
    let (s4, b4) = ("\u{00E5}", GB18030.encode("\u{00E5}").0.into_owned());
    assert_eq!(b4.len(), 4);
    let raw = adt("GB 18030-2000", &[&b4[..], b"^", &[0x81, 0x7C]].concat());
    let m = Message::parse(&raw).unwrap();
    assert_eq!(m.get("PID-5.1").as_deref(), Some(s4));
    assert_eq!(m.get("PID-7").as_deref(), Some("19800101"));
}

#[test]
fn iso_2022_jp_double_byte_runs_hide_delimiters() {
    for needle in [b'|', b'^', b'~', b'\\', b'&'] {
        let (s, bytes) = char_holding(ISO_2022_JP, needle);
        let raw = adt("ISO IR87", &[b"YAMADA^".as_slice(), &bytes].concat());
        assert_fields_in_place(&raw, "YAMADA");
        let m = Message::parse(&raw).unwrap();
        assert_eq!(m.get("PID-5.2").as_deref(), Some(s.as_str()), "{needle:#x}");
    }
}

#[test]
fn escape_character_as_trail_byte_is_data() {
    // Big5 characters ending in 0x5C ("\") next to a real escape sequence.
    let (s, bytes) = char_holding(BIG5, b'\\');
    let raw = adt("BIG-5", &[&bytes[..], b"\\T\\", &bytes[..]].concat());
    let m = Message::parse(&raw).unwrap();
    let want = format!("{s}&{s}");
    assert_eq!(m.get("PID-5").as_deref(), Some(want.as_str()));
    let mut buf = Vec::new();
    let got = m
        .decode_into(&"PID-5".parse().unwrap(), &mut buf)
        .unwrap()
        .unwrap();
    assert_eq!(got, want);
    // A trail byte 0x5C followed by "T" and a real escape character must not read as `\T\` (`&`).
    let raw = adt("BIG-5", &[&bytes[..], b"T\\"].concat());
    let m = Message::parse(&raw).unwrap();
    assert_eq!(m.get("PID-5").as_deref(), Some(format!("{s}T\\").as_str()));
}

#[test]
fn broken_sequences_are_located_errors_not_shifted_fields() {
    // A Big5 lead byte before "&" (not a trail byte) and before end of line.
    let raw = adt("BIG-5", &[b'A', 0xCA, b'&', b'B']);
    let e = Message::parse(&raw).unwrap_err();
    match e {
        Error::Encoding { location, charset } => {
            assert_eq!(charset, "Big5");
            assert_eq!(
                location.offset,
                raw.iter().position(|&b| b == 0xCA).unwrap()
            );
            assert_eq!(location.segment, Some(1));
        }
        other => panic!("{other:?}"),
    }
    assert!(!e_string(&raw).contains('A'));
    // Lossy: read as the decoder does (the lone lead byte is U+FFFD, "&" separates).
    let m = Message::parse_with(&raw, ParseOptions::default().lossy(true)).unwrap();
    assert_eq!(m.get("PID-7").as_deref(), Some("19800101"));
    // ISO-2022-JP left in double-byte mode at the end of a segment.
    let raw = adt("ISO IR87", b"\x1b$B\x30\x7c");
    assert!(matches!(
        Message::parse(&raw),
        Err(Error::Encoding {
            charset: "ISO-2022-JP",
            ..
        })
    ));
}

fn e_string(raw: &[u8]) -> String {
    Message::parse(raw).unwrap_err().to_string()
}

#[test]
fn euc_kr_never_uses_delimiters_as_trail_bytes() {
    // KS X 1001 is read as EUC-KR (UHC): trail bytes are letters or >= 0x81, so a lead byte
    // before "|" is not a character and the "|" stays a delimiter, in the decoder as in the index.
    let (_, bad) = EUC_KR.decode_without_bom_handling(&[0x81, 0x7C]);
    assert!(bad);
    let name = EUC_KR.encode("\u{AE40}\u{C2E0}").0.into_owned();
    let raw = adt("KS X 1001", &[b"KIM^".as_slice(), &name].concat());
    assert_fields_in_place(&raw, "KIM");
    assert_eq!(
        Message::parse(&raw).unwrap().get("PID-5.2").as_deref(),
        Some("\u{AE40}\u{C2E0}")
    );
}

#[test]
fn typed_views_read_the_repaired_structure() {
    let raw = adt("BIG-5", &[b'W', b'A', b'N', b'G', b'^', 0xCA, 0x7C]);
    let m = Message::parse(&raw).unwrap();
    let xpn: Xpn<'_> = m.typed("PID-5").unwrap().unwrap();
    assert_eq!(xpn.surname().unwrap().raw(), b"WANG");
}

#[test]
fn owned_message_edits_find_fields_at_character_boundaries() {
    use ehrkit_hl7v2::OwnedMessage;
    let (text, _) = BIG5.decode_without_bom_handling(&[0xCA, 0x7C]);
    let raw = adt("BIG-5", &[b'W', b'A', b'N', b'G', b'^', 0xCA, 0x7C]);
    let mut owned = OwnedMessage::from_message(&Message::parse(&raw).unwrap());
    assert_eq!(owned.get("PID-7").as_deref(), Some("19800101"));
    assert_eq!(owned.get("PID-5.2").as_deref(), Some(&*text));
    assert_eq!(owned.raw("PID-8"), Some(&b"F"[..]));
    owned.set("PID-8", "M").unwrap();
    let bytes = owned.to_bytes();
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.get("PID-8").as_deref(), Some("M"));
    assert_eq!(m.get("PID-7").as_deref(), Some("19800101"));
    assert_eq!(m.get("PID-5.2").as_deref(), Some(&*text));
}
