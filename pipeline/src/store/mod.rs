//! The unified store: canonical resources with versions, the inbox, dead letters, the MPI
//! snapshot and the audit log, behind the [`Store`] trait (SQLite by default).
