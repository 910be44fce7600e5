//! Fuzz the profile and routing-table readers of ehrkit-mapping (vendor profiles, site
//! overlays, routing tables as TOML): never a panic, every error located, every profile that
//! loads round-trips and converts (see `check_profile` in `fuzz/props/mapping.rs`).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../props/mapping.rs"]
mod props;

fuzz_target!(|data: &[u8]| {
    props::check_profile(data);
});
