#![no_main]
//! MLLP framer: arbitrary bytes in arbitrary splits never panic; in every mode the frames
//! are the same however the stream is split, and re-encoding them gives frames back.
use libfuzzer_sys::fuzz_target;

#[path = "../props/mllp.rs"]
mod props;

fuzz_target!(|input: &[u8]| {
    props::check_framer(input);
});
