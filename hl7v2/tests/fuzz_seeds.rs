//! Runs every seed of the `hl7v2_parse` fuzz target (`fuzz/seeds/hl7v2_parse/`) and every message file
//! under `tests/data/` through the fuzz property (parse, walk every path, write back, compare), so the
//! seeds are exercised without cargo-fuzz.

use std::path::PathBuf;

#[path = "../../fuzz/props/hl7v2.rs"]
mod props;

use props::check_roundtrip;

fn files_in(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

#[test]
fn fuzz_seeds_hold_the_property() {
    let seeds = files_in(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/seeds/hl7v2_parse"
    ));
    assert!(seeds.len() >= 5, "expected the seed corpus");
    let mut messages = 0;
    for s in &seeds {
        let data = std::fs::read(s).unwrap();
        messages += check_roundtrip(&data);
    }
    assert!(messages >= 5, "most seeds are valid messages ({messages})");
}

#[test]
fn authored_test_messages_hold_the_property() {
    let mut messages = 0;
    for f in files_in(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data")) {
        if f.extension().is_some_and(|e| e == "hl7") {
            let data = std::fs::read(&f).unwrap();
            let n = check_roundtrip(&data);
            assert!(n >= 1, "{}: no message checked", f.display());
            messages += n;
        }
    }
    assert!(messages >= 3);
}

#[test]
fn garbage_never_panics() {
    let cases: [&[u8]; 12] = [
        b"",
        b"MSH",
        b"MSH|",
        b"MSH|^~\\&",
        b"MSH|^~\\&|\r\r\r",
        b"MSH|||||",
        b"MSH|^~\\&|A\rBTS|x\rFTS",
        b"FHS|^~\\&\rBHS|^~\\&\rMSH|^~\\&\rBTS\rFTS\r",
        b"MSH|^~\\&|\\X\\|\\XG0\\|\\\\|\\",
        b"\xEF\xBB\xBF\n\n",
        b"MSH|^~\\&|A\rPID|1|\xff\xfe\r",
        b"MSH^~|\\&^A^^B~C|D|E\r",
    ];
    for c in cases {
        check_roundtrip(c);
    }
}
