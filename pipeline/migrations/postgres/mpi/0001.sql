-- ehrkit-pipeline shared MPI on PostgreSQL (PgMpiResolver), schema version 1.
-- Applied by PgMpiResolver::connect in one transaction under pg_advisory_xact_lock (so several
-- processes starting together apply it once); independent of the store's own migrations.

-- Versions of this schema applied.
CREATE TABLE IF NOT EXISTS mpi_log_schema (
    version    INTEGER PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The matching model every process scores with (one row, written by the first process).
-- Replaying the log gives the same enterprise ids only with the same model.
CREATE TABLE IF NOT EXISTS mpi_log_model (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    model TEXT NOT NULL                  -- ehrkit_identity::FsModel as JSON
);

-- Every identity decision, in the order it was taken (seq order = commit order, since each
-- decision is taken and committed under one global advisory lock).
CREATE TABLE IF NOT EXISTS mpi_log (
    seq           BIGSERIAL PRIMARY KEY,
    op            TEXT   NOT NULL CHECK (op IN ('upsert', 'merge', 'unlink')),
    body          TEXT   NOT NULL,       -- upsert: the PatientRecord (JSON); merge, unlink: {"a","b"} source keys
    enterprise_id BIGINT NOT NULL,       -- upsert: the record's enterprise id after it; else 0
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

INSERT INTO mpi_log_schema (version) VALUES (1) ON CONFLICT (version) DO NOTHING;
