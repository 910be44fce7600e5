//! Same-output check for speed work (issue 12, *Speed*): converts every message under
//! `mapping/tests/data`, `hl7v2/tests/data`, `benches/data` and the shared v2-to-FHIR corpora
//! (`../shared/corpus/v2-to-fhir/*/input`, `raw-er7-stu3`; skipped when absent) with several
//! option sets (each Bundle type, vendor profiles, a source time zone, a resource base, the kept
//! original) and writes, per message and option set, the Bundle JSON, the report text and the
//! report as an OperationOutcome into the folder named by `GOLDEN_DIR`.
//!
//! Ignored: it is a tool, not a check. Run it before and after a change and compare:
//!
//! ```text
//! GOLDEN_DIR=/tmp/golden_before cargo test -p ehrkit-mapping --all-features --test golden_dump -- --ignored
//! GOLDEN_DIR=/tmp/golden_after  cargo test -p ehrkit-mapping --all-features --test golden_dump -- --ignored
//! diff -r /tmp/golden_before /tmp/golden_after
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ehrkit_hl7v2::Message;
use ehrkit_mapping::v2_to_fhir::{BundleKind, Converter, Options};
use ehrkit_mapping::Profile;

/// The option sets: (name, converter).
fn converters() -> Vec<(&'static str, Converter)> {
    let denver: chrono_tz::Tz = "America/Denver".parse().expect("IANA zone");
    let berlin: chrono_tz::Tz = "Europe/Berlin".parse().expect("IANA zone");
    vec![
        (
            "generic-transaction",
            Converter::new(Profile::generic(), Options::default()),
        ),
        (
            "generic-message-original",
            Converter::new(
                Profile::generic(),
                Options::default()
                    .bundle_kind(BundleKind::Message)
                    .keep_original(true),
            ),
        ),
        (
            "epic-denver-batch",
            Converter::new(
                Profile::epic().time_zone(denver),
                Options::default().bundle_kind(BundleKind::Batch),
            ),
        ),
        (
            "oracle-base-collection",
            Converter::new(
                Profile::oracle_health().resource_base("https://fhir.example.org/r4/"),
                Options::default().bundle_kind(BundleKind::Collection),
            ),
        ),
        (
            "generic-berlin-base-transaction-original",
            Converter::new(
                Profile::generic()
                    .time_zone(berlin)
                    .resource_base("https://fhir.example.org/r4")
                    .unknown_system_base("https://terms.example.org/sid/"),
                Options::default().keep_original(true),
            ),
        ),
    ]
}

/// Every `.hl7`/`.txt` file of the inputs, with a name unique across them.
fn inputs() -> Vec<(String, PathBuf)> {
    let root = ehrkit_testkit::shared::workspace_root();
    let mut dirs: Vec<(String, PathBuf)> =
        ["mapping/tests/data", "hl7v2/tests/data", "benches/data"]
            .iter()
            .map(|d| (d.to_string(), root.join(d)))
            .collect();
    match ehrkit_testkit::shared::path("corpus/v2-to-fhir") {
        Some(corpus) => dirs.push(("shared".to_owned(), corpus)),
        None => eprintln!("NOTICE: ../shared/corpus/v2-to-fhir absent, skipping the corpora"),
    }
    let mut out = Vec::new();
    for (label, dir) in dirs {
        for file in ehrkit_testkit::shared::files(&dir, &["hl7", "txt", "er7"]) {
            let rel = file.strip_prefix(&dir).unwrap_or(&file);
            out.push((format!("{label}/{}", rel.display()), file));
        }
    }
    out
}

/// `name` as one file name.
fn flat(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[test]
#[ignore = "a tool: writes the converter's output into $GOLDEN_DIR for before/after diffs"]
fn dump_every_conversion() {
    let Some(dir) = std::env::var_os("GOLDEN_DIR") else {
        eprintln!("NOTICE: GOLDEN_DIR not set, nothing written");
        return;
    };
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).expect("GOLDEN_DIR is writable");
    let converters = converters();
    let mut written = 0usize;
    for (name, path) in inputs() {
        let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for (n, msg) in Message::parse_all(&raw).enumerate() {
            let stem = format!("{}#{}", flat(&name), n + 1);
            let msg = match msg {
                Ok(m) => m,
                Err(e) => {
                    std::fs::write(dir.join(format!("{stem}.parse-error.txt")), e.to_string())
                        .expect("write");
                    continue;
                }
            };
            for (set, converter) in &converters {
                let file = |ext: &str| dir.join(format!("{stem}.{set}.{ext}"));
                match converter.convert(&msg) {
                    Ok(c) => {
                        let mut report = String::new();
                        for e in c.report.entries() {
                            let _ = writeln!(report, "{e} | {:?}", e.kind);
                        }
                        std::fs::write(file("json"), ehrkit_fhir_model::to_vec(&c.bundle))
                            .expect("write");
                        std::fs::write(file("report.txt"), report).expect("write");
                        std::fs::write(
                            file("outcome.json"),
                            ehrkit_fhir_model::to_vec(&c.report.to_operation_outcome()),
                        )
                        .expect("write");
                    }
                    Err(e) => {
                        std::fs::write(file("error.txt"), format!("{e:?}\n{e}")).expect("write")
                    }
                }
                written += 1;
            }
        }
    }
    println!("{written} conversions written to {}", dir.display());
    assert!(written > 0);
}
