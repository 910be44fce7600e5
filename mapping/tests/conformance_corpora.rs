//! Issue 12 tests and proof: the IG's test messages (`hl7-v2-to-fhir-ig/input/`, the 7
//! `IG-test-*` messages and the `MDM_T02` sample), the LinuxForHealth inputs and the Microsoft
//! FHIR-Converter inputs (`../shared/corpus/v2-to-fhir/`, skipped with a notice when absent)
//! convert without error when their message type is supported; an unsupported type is the
//! clear `UnsupportedMessageType` error naming it (counted and printed); every Bundle produced,
//! in every Bundle type, round-trips through `ehrkit-fhir-model` JSON, passes its structural
//! validation, has unique ids and full URLs, and resolves every internal reference.

mod common;
use common::bundle_problems;

use std::collections::BTreeMap;
use std::path::Path;

use ehrkit_hl7v2::Message;
use ehrkit_mapping::v2_to_fhir::{BundleKind, ConvertError, Converter, Options};
use ehrkit_mapping::Profile;

/// What a corpus gave: converted messages, refusals by message type, failures.
#[derive(Default)]
struct Outcome {
    converted: usize,
    unsupported: BTreeMap<String, usize>,
    failures: Vec<String>,
}

const KINDS: [BundleKind; 4] = [
    BundleKind::Transaction,
    BundleKind::Batch,
    BundleKind::Collection,
    BundleKind::Message,
];

/// Converts every message of every file in `files` in every Bundle type.
fn run(files: &[std::path::PathBuf], outcome: &mut Outcome) {
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let raw = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for (n, msg) in Message::parse_all(&raw).enumerate() {
            let msg = match msg {
                Ok(m) => m,
                Err(e) => {
                    outcome
                        .failures
                        .push(format!("{name} #{}: does not parse: {e}", n + 1));
                    continue;
                }
            };
            let mut ok = true;
            for kind in KINDS {
                let converter = Converter::new(
                    Profile::generic(),
                    Options::default().bundle_kind(kind).keep_original(true),
                );
                match converter.convert(&msg) {
                    Ok(c) => {
                        if let Err(e) = bundle_problems(&c.bundle) {
                            ok = false;
                            outcome.failures.push(format!(
                                "{name} #{} ({}): {e}",
                                n + 1,
                                kind.code()
                            ));
                        }
                    }
                    Err(ConvertError::UnsupportedMessageType { message_type, .. }) => {
                        assert!(!message_type.is_empty(), "the error names the message type");
                        if kind == BundleKind::Transaction {
                            *outcome.unsupported.entry(message_type).or_default() += 1;
                        }
                        ok = false;
                    }
                    Err(e) => {
                        ok = false;
                        outcome
                            .failures
                            .push(format!("{name} #{} ({}): {e}", n + 1, kind.code()));
                    }
                }
            }
            if ok {
                outcome.converted += 1;
            }
        }
    }
}

fn report(what: &str, outcome: &Outcome) {
    println!(
        "{what}: {} converted in every Bundle type; unsupported: {:?}",
        outcome.converted, outcome.unsupported
    );
    assert!(
        outcome.failures.is_empty(),
        "{what}: {} failures:\n{}",
        outcome.failures.len(),
        outcome.failures.join("\n")
    );
}

fn files_in(dir: &Path) -> Vec<std::path::PathBuf> {
    ehrkit_testkit::shared::files(dir, &["hl7", "txt"])
}

#[test]
fn ig_test_messages_convert_and_round_trip() {
    let dir = ehrkit_testkit::shared_or_skip!(
        "corpus/v2-to-fhir/hl7-v2-to-fhir-ig/input",
        "the IG's test messages"
    );
    let files = files_in(&dir);
    assert_eq!(files.len(), 8, "7 IG-test messages and the MDM_T02 sample");
    let mut outcome = Outcome::default();
    run(&files, &mut outcome);
    report("IG test messages", &outcome);
    // ADT_A01 and ORU_R01 have been supported from the start: they must convert.
    assert!(outcome.converted >= 2);
}

#[test]
fn linuxforhealth_inputs_convert_and_round_trip() {
    let dir = ehrkit_testkit::shared_or_skip!(
        "corpus/v2-to-fhir/linuxforhealth/input",
        "the LinuxForHealth inputs"
    );
    let files = files_in(&dir);
    assert_eq!(files.len(), 4);
    let mut outcome = Outcome::default();
    run(&files, &mut outcome);
    report("LinuxForHealth inputs", &outcome);
    assert!(outcome.converted >= 1);
}

#[test]
fn microsoft_inputs_convert_and_round_trip() {
    let dir = ehrkit_testkit::shared_or_skip!(
        "corpus/v2-to-fhir/microsoft-fhir-converter/input",
        "the Microsoft FHIR-Converter inputs"
    );
    let files = files_in(&dir);
    assert_eq!(files.len(), 56);
    let mut outcome = Outcome::default();
    run(&files, &mut outcome);
    report("Microsoft FHIR-Converter inputs", &outcome);
    assert!(outcome.converted >= 13, "the ADT and ORU inputs convert");
}
