//! Fuzz the HL7 v2-to-FHIR maps of ehrkit-mapping: every PID goes through `PID[Patient]` and every
//! field repetition of any message the parser accepts goes through every datatype map (CX, XPN, XAD, XTN, CWE, EI, HD, CQ, NM, SN, DTM/DT). Never
//! panics except on a violated property (see `fuzz/props/mapping.rs`).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../props/mapping.rs"]
mod props;

fuzz_target!(|data: &[u8]| {
    props::check_datatypes(data);
});
