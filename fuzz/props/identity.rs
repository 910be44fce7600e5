//! The property behind the `mpi_input` fuzz target, shared by path with
//! `identity/tests/fuzz_seeds.rs` so the seeds run the exact same check without cargo-fuzz.
//! Uses `ehrkit-identity` through its public API only. Panics when the property is violated;
//! must never panic otherwise.

use ehrkit_identity::{csv, pid, FsModel, MatchConfig, PatientRecord};

/// Feeds `data` to every input path of the MPI (HL7 v2 PID, FEBRL-style CSV) and checks what
/// comes out: building never panics, and every record that was built scores as a finite,
/// symmetric weight against itself and against a fixed reference patient.
pub fn check_mpi_input(data: &[u8]) {
    let model = FsModel::untrained(MatchConfig::default());
    let reference = PatientRecord::builder("REF|1")
        .name("Smith", "Robert")
        .birth_date_str("1970-03-14")
        .ssn("123-45-6789")
        .identifier("EPIC", "MR", "1001")
        .build();

    let mut built = Vec::new();
    if let Ok(r) = pid::record_from_hl7(data) {
        built.push(r);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(records) = csv::read_records(text) {
            built.extend(records.into_iter().take(16));
        }
    }
    for record in built {
        let store = model.features(&[record, reference.clone()]);
        let self_weight = model.weight(&store, 0, &store, 0);
        let ab = model.weight(&store, 0, &store, 1);
        let ba = model.weight(&store, 1, &store, 0);
        assert!(
            self_weight.is_finite(),
            "self weight not finite: {self_weight}"
        );
        assert!(
            ab.is_finite() && ba.is_finite(),
            "pair weight not finite: {ab} {ba}"
        );
        assert!(
            (ab - ba).abs() <= 1e-3 * (1.0 + ab.abs()),
            "weight not symmetric: {ab} vs {ba}"
        );
        let score = model.score(&store, 0, &store, 1);
        assert!(
            (0.0..=1.0).contains(&score.probability),
            "probability out of range"
        );
    }
}
