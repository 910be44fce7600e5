#![no_main]
//! MPI input paths (HL7 v2 PID and FEBRL-style CSV): never panic; built records score
//! finitely and symmetrically.
use libfuzzer_sys::fuzz_target;

#[path = "../props/identity.rs"]
mod props;

fuzz_target!(|data: &[u8]| {
    props::check_mpi_input(data);
});
