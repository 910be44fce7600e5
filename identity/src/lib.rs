//! Patient identity resolution (placeholder while the MPI moves here from `ehrkit-mapping`).
