#![no_main]
use libfuzzer_sys::fuzz_target;

// Placeholder: being written.
fuzz_target!(|data: &[u8]| {
    let _ = data;
});
