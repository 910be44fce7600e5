//! The `hl7v2_query` example (`examples/hl7v2_query.rs`) tested as a program: built once with cargo,
//! then run on files written here, its stdout, stderr and exit code compared with its output
//! contract; and library behaviour on messy, real-world-shaped input (line ends, BOM, batches, odd
//! delimiters, escapes, character sets).

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

#[path = "../../fuzz/props/hl7v2.rs"]
mod props;

use ehrkit_hl7v2::{Error, Message, Path, Value};
use props::check_roundtrip;

/// The example's executable (see `ehrkit_testkit::examples`: reused from the workspace's test
/// build, or built with only the `hl7v2` feature).
fn example() -> PathBuf {
    ehrkit_testkit::examples::binary("hl7v2_query", &["hl7v2"])
}

/// Runs the example with `args`; `Ok(stdout)` on success, `Err(stderr)` on exit code 2.
fn run(args: &[&std::ffi::OsStr]) -> Result<String, String> {
    let out = Command::new(example())
        .args(args)
        .output()
        .expect("example runs");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
    let stderr = String::from_utf8(out.stderr).expect("UTF-8 errors");
    match out.status.code() {
        Some(0) => Ok(stdout),
        Some(2) => Err(stderr),
        other => panic!("unexpected exit {other:?}: {stderr}"),
    }
}

/// A file holding `input`, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(input: &[u8]) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "hl7v2_query_test_{}_{}.hl7",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&p, input).unwrap();
        TempFile(p)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// What the program prints for `paths` over `input` (each line ending in `\n`), or its one-line error.
fn q(input: &[u8], paths: &[&str], all: bool) -> Result<String, String> {
    let f = TempFile::new(input);
    let mut args: Vec<&std::ffi::OsStr> = Vec::new();
    if all {
        args.push("--all".as_ref());
    }
    args.push(f.0.as_os_str());
    args.extend(paths.iter().map(|p| std::ffi::OsStr::new(*p)));
    run(&args)
}

fn lines(input: &[u8], paths: &[&str]) -> Vec<String> {
    let out = q(input, paths, false).unwrap();
    assert!(out.ends_with('\n'));
    out[..out.len() - 1].split('\n').map(String::from).collect()
}

#[test]
fn help_usage_and_bad_paths() {
    let help = run(&["--help".as_ref()]).unwrap();
    assert!(help.contains("--all") && help.contains("PATHS"), "{help}");
    // A file named like an option is not opened: clap answers, exit code 2.
    assert!(run(&[]).unwrap_err().contains("Usage"));
    let f = TempFile::new(ADT);
    let e = run(&[f.0.as_os_str(), "PID-0".as_ref()]).unwrap_err();
    assert!(
        e.starts_with("hl7v2_query: ") && e.trim_end().lines().count() == 1,
        "{e}"
    );
    let e = run(&["/nonexistent/file.hl7".as_ref(), "PID-3".as_ref()]).unwrap_err();
    assert!(e.contains("cannot read"), "{e}");
    // `--all` may come after the file, as before.
    let out = run(&[f.0.as_os_str(), "--all".as_ref(), "MSH-10".as_ref()]).unwrap();
    assert_eq!(out, "MSG1\n");
}

const ADT: &[u8] = b"MSH|^~\\&|EPIC|HOSP|LAB|HOSP|20240102||ADT^A01^ADT_A01|MSG1|P|2.5.1\r\
PID|1||111^^^HOSP&1.2.3&ISO^MR~222^^^SSA&2.16&ISO^SS||DOE^JANE^Q||19800101|F|||\"\"\r\
OBX|1|TX|A||v1\r\
OBX|2|TX|B||v2\r\
OBX|3|FT|C||a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\X41\\g\\.br\\h\r\
OBX|4|CE|D||x\\S\\y^comp\\F\\2\r";

#[test]
fn header_fields_print_as_written() {
    assert_eq!(
        lines(
            ADT,
            &["MSH-1", "MSH-2", "MSH-9", "MSH-9.1", "MSH-9.2", "MSH-10", "MSH-12"]
        ),
        [
            "|",
            "^~\\&",
            "ADT^A01^ADT_A01",
            "ADT",
            "A01",
            "MSG1",
            "2.5.1"
        ]
    );
    let m = Message::parse(ADT).unwrap();
    assert_eq!(m.get("MSH-1").as_deref(), Some("|"));
    assert_eq!(m.get("MSH-2").as_deref(), Some("^~\\&"));
    // MSH-2 has no components: `.1` is the value itself (as for any simple value), `.2` is absent.
    assert_eq!(m.get("MSH-2.1").as_deref(), Some("^~\\&"));
    assert_eq!(m.get("MSH-2.2"), None);
    assert_eq!(m.get("MSH-1.2"), None);
}

#[test]
fn repetitions_components_subcomponents() {
    assert_eq!(
        lines(
            ADT,
            &[
                "PID-3",
                "PID-3(2)",
                "PID-3(2).4",
                "PID-3(2).4.2",
                "PID-3.1",
                "PID-5",
                "PID-5.2"
            ]
        ),
        [
            "111^^^HOSP&1.2.3&ISO^MR~222^^^SSA&2.16&ISO^SS",
            "222^^^SSA&2.16&ISO^SS",
            "SSA&2.16&ISO",
            "2.16",
            "111",
            "DOE^JANE^Q",
            "JANE"
        ]
    );
}

#[test]
fn null_empty_and_absent() {
    assert_eq!(
        lines(
            ADT,
            &[
                "PID-11",
                "PID-4",
                "PID-99",
                "PID-5.9",
                "PID-5.1.9",
                "PID-3(5)",
                "OBX(9)-5",
                "ZZZ-1",
                "ZZZ"
            ]
        ),
        ["\"\"", "", "", "", "", "", "", "", ""]
    );
}

#[test]
fn escapes_decode_in_leaves_and_stay_raw_in_structures() {
    assert_eq!(
        lines(
            ADT,
            &[
                "OBX(3)-5",
                "OBX(4)-5",
                "OBX(4)-5.1",
                "OBX(4)-5.2",
                "OBX(2)-5"
            ]
        ),
        [
            "a|b^c&d~e\\fAg\\.br\\h",
            "x\\S\\y^comp\\F\\2",
            "x^y",
            "comp|2",
            "v2"
        ]
    );
}

#[test]
fn path_syntax_errors_are_errors() {
    for bad in [
        "PID-0",
        "PID-3(0)",
        "PID-a",
        "PI-1",
        "",
        "PID-3.",
        "OBX(0)-5",
        "PID-3(2)(3)",
        "P D-1",
    ] {
        let e = bad.parse::<Path>().unwrap_err();
        let text = e.to_string();
        assert!(
            !text.contains('\n') && text.contains("path"),
            "{bad}: {text}"
        );
    }
    // Case-insensitive segment IDs; a bare segment ID is a valid path (the whole segment).
    assert_eq!(lines(ADT, &["pid-5.1"]), ["DOE"]);
    assert_eq!(lines(ADT, &["OBX(2)"]), ["OBX|2|TX|B||v2"]);
}

#[test]
fn line_ends_bom_and_trailing_blank_lines() {
    let lf: Vec<u8> = ADT
        .iter()
        .map(|&b| if b == b'\r' { b'\n' } else { b })
        .collect();
    let crlf = String::from_utf8(lf.clone())
        .unwrap()
        .replace('\n', "\r\n")
        .into_bytes();
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(ADT);
    bom.extend_from_slice(b"\r\n\r\n\n\n");
    let want = ["A01", "a|b^c&d~e\\fAg\\.br\\h", "Q", "MSG1"];
    let paths = ["MSH-9.2", "OBX(3)-5", "PID-5.3", "MSH-10"];
    for input in [&lf, &crlf, &bom] {
        assert_eq!(lines(input, &paths), want);
        assert_eq!(
            q(input, &["MSH-10"], true).unwrap(),
            "MSG1\n",
            "--all: one message"
        );
        let m = Message::parse(input).unwrap();
        assert_eq!(m.segment_count(), 6);
        assert_eq!(m.segments().count(), 6);
        assert_eq!(check_roundtrip(input), 1);
    }
}

#[test]
fn several_messages_and_batches() {
    let two = b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|M1|P|2.5\rPID|1||1\rMSH|^~\\&|A|B|C|D|20240101||ADT^A08|M2|P|2.5\rPID|1||2\r";
    assert_eq!(q(two, &["MSH-10", "PID-3"], false).unwrap(), "M1\n1\n");
    assert_eq!(
        q(two, &["MSH-10", "PID-3"], true).unwrap(),
        "M1\n1\nM2\n2\n"
    );
    let batch = b"FHS|^~\\&|F\r\nBHS|^~\\&|B\r\nMSH|^~\\&|A|B|C|D|20240101||ADT^A01|M1|P|2.5\r\nPID|1||1\r\nMSH|^~\\&|A|B|C|D|20240101||ADT^A08|M2|P|2.5\r\nPID|1||2\r\nBTS|2\r\nFTS|1\r\n";
    assert_eq!(
        q(batch, &["MSH-10", "MSH-9.2", "PID-3"], true).unwrap(),
        "M1\nA01\n1\nM2\nA08\n2\n"
    );
    assert_eq!(q(batch, &["MSH-10"], false).unwrap(), "M1\n");
    assert!(check_roundtrip(batch) >= 2);
    // An envelope without any message is not a result.
    assert!(q(b"FHS|^~\\&\rBHS|^~\\&\rBTS|0\rFTS|1\r", &["MSH-10"], true).is_err());
}

#[test]
fn five_encoding_characters_and_alternate_delimiters() {
    let five = b"MSH|^~\\&#|A|B|C|D|20240101||ADT^A01|M1|P|2.7\rPID|1||1^^^X&Y#Z\r";
    assert_eq!(
        lines(five, &["MSH-1", "MSH-2", "MSH-10", "PID-3.4.2", "PID-3.4"]),
        ["|", "^~\\&#", "M1", "Y#Z", "X&Y#Z"]
    );
    let alt = b"MSH#$%!@#A#B#C#D#20240101##ADT$A01$ADT_A01#M1#P#2.5\rPID#1##1$$$X@Y%2$$$Z##DOE$JANE$!F!\r";
    assert_eq!(
        lines(
            alt,
            &[
                "MSH-1",
                "MSH-2",
                "MSH-9",
                "MSH-9.2",
                "MSH-10",
                "PID-3",
                "PID-3(2)",
                "PID-3.4.2",
                "PID-5.2",
                "PID-5.3"
            ]
        ),
        [
            "#",
            "$%!@",
            "ADT$A01$ADT_A01",
            "A01",
            "M1",
            "1$$$X@Y%2$$$Z",
            "2$$$Z",
            "Y",
            "JANE",
            "#"
        ]
    );
    for input in [&five[..], &alt[..]] {
        assert_eq!(check_roundtrip(input), 1);
    }
}

#[test]
fn unparseable_input_is_a_one_line_error_without_content() {
    for bad in [
        &b""[..],
        b"hello world, not hl7\n",
        b"\xEF\xBB\xBF\r\n\r\n",
        b"PID|1||SECRET-MRN\r",
        b"MSX|^~\\&|A\r",
    ] {
        for all in [false, true] {
            let e = q(bad, &["MSH-10"], all).unwrap_err();
            assert!(e.starts_with("hl7v2_query: "), "{e}");
            let e = e.trim_end();
            assert!(
                !e.contains('\n') && !e.contains("SECRET") && !e.contains("hello"),
                "{e}"
            );
        }
    }
}

#[test]
fn minimal_and_truncated_messages() {
    assert_eq!(
        lines(b"MSH|^~\\&|A", &["MSH-1", "MSH-2", "MSH-3", "MSH-10"]),
        ["|", "^~\\&", "A", ""]
    );
    assert_eq!(lines(b"MSH|^~\\&\r", &["MSH-2", "MSH-3"]), ["^~\\&", ""]);
    // Cut off in the middle of a segment: what is there is read, the rest is absent.
    let cut = b"MSH|^~\\&|A|B|C|D|2024||ADT^A01|M1|P|2.5\rPID|1||12^^^HO";
    assert_eq!(
        lines(cut, &["PID-3.1", "PID-3.4", "PID-5"]),
        ["12", "HO", ""]
    );
    assert_eq!(check_roundtrip(cut), 1);
}

#[test]
fn latin1_without_msh18_is_read_as_latin1() {
    let undeclared = b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|M1|P|2.5\rPID|1||1||M\xfcller^J\xf6rg\r";
    assert_eq!(
        lines(undeclared, &["PID-5.1", "PID-5"]),
        ["M\u{fc}ller", "M\u{fc}ller^J\u{f6}rg"]
    );
    // The library default stays an error with a location (no silent guess) ...
    assert!(matches!(
        Message::parse(undeclared),
        Err(Error::Encoding { .. })
    ));
    // ... and a declared UTF-8 message with bad bytes is not reinterpreted: U+FFFD marks them. An
    // unknown MSH-18 is read as UTF-8.
    let declared =
        b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|M1|P|2.5||||||UNICODE UTF-8\rPID|1||1||M\xfcller\r";
    assert_eq!(
        lines(declared, &["PID-5", "MSH-10"]),
        ["M\u{fffd}ller", "M1"]
    );
    assert!(Message::parse(declared).is_err());
    let unknown =
        b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|M1|P|2.5||||||X-MADE-UP\rPID|1||1||D\xc3\xbcrr\r";
    assert_eq!(lines(unknown, &["PID-5"]), ["D\u{fc}rr"]);
    let cp1252 = b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|M1|P|2.5||||||CP1252\rPID|1||1||\x93Q\x94\r";
    assert_eq!(lines(cp1252, &["PID-5"]), ["\u{201c}Q\u{201d}"]);
    let latin = b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|M1|P|2.5||||||8859/1\rPID|1||1||M\xfcller\r";
    assert_eq!(
        lines(latin, &["PID-5", "MSH-18"]),
        ["M\u{fc}ller", "8859/1"]
    );
}

#[test]
fn odd_segments_round_trip() {
    // Z-segments, a blank segment (`\r\r`) mid-message, a very long field.
    let long = "x".repeat(200_000);
    let input = format!(
        "MSH|^~\\&|A|B|C|D|2024||ADT^A01|M1|P|2.5\rZPD|1|custom^val\r\rPID|1||{long}\r\r\n"
    );
    let m = Message::parse(input.as_bytes()).unwrap();
    assert_eq!(m.get("ZPD-2.2").as_deref(), Some("val"));
    assert_eq!(m.get("PID-3").map(|v| v.len()), Some(200_000));
    assert_eq!(
        m.segments()
            .filter(|s| !s.name().is_empty())
            .map(|s| s.name().to_string())
            .collect::<Vec<_>>(),
        ["MSH", "ZPD", "PID"]
    );
    assert_eq!(m.value("PID-2").unwrap(), Value::Empty);
    assert_eq!(check_roundtrip(input.as_bytes()), 1);
}

#[test]
fn short_segment_name_is_an_error_or_kept_verbatim() {
    let input = b"MSH|^~\\&|A|B|C|D|2024||ADT^A01|M1|P|2.5\rPI|1|x\rPID|1||7\r";
    match Message::parse(input) {
        Ok(m) => {
            assert_eq!(m.get("PID-3").as_deref(), Some("7"));
            assert_eq!(check_roundtrip(input), 1);
        }
        Err(e) => assert!(e.to_string().contains("segment"), "{e}"),
    }
}

#[test]
fn mllp_framing_and_whitespace_lines_are_skipped_leniently() {
    let framed = b"\x0bMSH|^~\\&|A|B|C|D|2024||ADT^A01|M1|P|2.5\rPID|1||7\r\x1c\r\x0bMSH|^~\\&|A|B|C|D|2024||ADT^A01|M2|P|2.5\rPID|1||8\r\x1c\r";
    assert_eq!(q(framed, &["MSH-10", "PID-3"], false).unwrap(), "M1\n7\n");
    assert_eq!(
        q(framed, &["MSH-10", "PID-3"], true).unwrap(),
        "M1\n7\nM2\n8\n"
    );
    let ws = b"  \r\nMSH|^~\\&|A|B|C|D|2024||ADT^A01|M1|P|2.5\r  \nPID|1||7\r \t \r\nMSH|^~\\&|A|B|C|D|2024||ADT^A01|M2|P|2.5\r   ";
    assert_eq!(q(ws, &["MSH-10", "PID-3"], true).unwrap(), "M1\n7\nM2\n\n");
    for input in [&framed[..], &ws[..]] {
        let m = Message::parse(input).unwrap();
        assert_eq!(m.segment_count(), 2);
        assert!(check_roundtrip(input) >= 1);
        let all: Vec<_> = Message::parse_all(input).map(Result::unwrap).collect();
        assert_eq!(all.len(), 2);
        assert_eq!(check_roundtrip(all[1].as_bytes()), 1);
    }
    // Strict mode still rejects them; a space-led segment is still an error.
    assert!(Message::parse_with(ws, ehrkit_hl7v2::ParseOptions::default().strict(true)).is_err());
    assert!(Message::parse(b"MSH|^~\\&|A\r PID|1\r").is_err());
    assert!(matches!(
        Message::parse(b" \t\x0b\x1c\r\n"),
        Err(Error::Empty)
    ));
}

#[test]
fn format_value_is_one_line_per_path() {
    assert_eq!(
        lines(ADT, &["PID-3(2).4.2", "PID-11", "PID-30", "OBX(4)-5.2"]),
        ["2.16", "\"\"", "", "comp|2"]
    );
}

#[test]
fn escaped_line_breaks_keep_one_line_per_path() {
    let input = b"MSH|^~\\&|A|B|C|D|2024||ORU^R01|M1|P|2.5\rOBX|1|TX|x||line1\\X0D\\\\X0A\\line2\\.br\\line3|u\\X41\\\r";
    let m = Message::parse(input).unwrap();
    assert!(
        m.get("OBX-5").unwrap().contains("line1\r\nline2"),
        "the library decodes it"
    );
    assert_eq!(
        q(input, &["OBX-5", "OBX-6"], false).unwrap(),
        "line1\\X0D\\\\X0A\\line2\\.br\\line3\nuA\n"
    );
}

#[test]
fn captured_mllp_file_reads_every_message() {
    let data = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/mllp_capture_oru.hl7"
    ))
    .unwrap();
    assert_eq!(
        q(&data, &["MSH-10", "PID-5.1", "OBX-5", "OBX-6"], true).unwrap(),
        "CAP0001\nROE\n13.5\ng/dL\nCAP0002\nPOE\n14.1\ng/dL\n"
    );
}

#[test]
fn fallback_charset_without_lossy() {
    use ehrkit_hl7v2::{Charset, ParseOptions};
    let opts = ParseOptions::default().fallback_charset(Some(Charset::LATIN1));
    let undeclared = b"MSH|^~\\&|A|B|C|D|2024||ADT^A01|M1|P|2.5\rPID|1||1||M\xfcller\r";
    let m = Message::parse_with(undeclared, opts).unwrap();
    assert_eq!(m.charset(), Charset::LATIN1);
    assert_eq!(m.get("PID-5").as_deref(), Some("M\u{fc}ller"));
    assert_eq!(
        ehrkit_hl7v2::OwnedMessage::from_message(&m).to_bytes(),
        undeclared
    );
    let declared =
        b"MSH|^~\\&|A|B|C|D|2024||ADT^A01|M1|P|2.5||||||UNICODE UTF-8\rPID|1||1||M\xfcller\r";
    assert!(matches!(
        Message::parse_with(declared, opts),
        Err(Error::Encoding { .. })
    ));
    // Valid UTF-8 stays UTF-8.
    let utf8 = "MSH|^~\\&|A|B|C|D|2024||ADT^A01|M1|P|2.5\rPID|1||1||Müller\r";
    let m = Message::parse_with(utf8.as_bytes(), opts).unwrap();
    assert!(m.charset().is_utf8());
    assert_eq!(m.get("PID-5").as_deref(), Some("Müller"));
}
