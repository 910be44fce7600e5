-- ehrkit-pipeline PostgreSQL store, schema version 1 (mirrors migrations/sqlite/0001_init.sql).
-- Applied by PgStore::connect in one transaction under pg_advisory_xact_lock; the table
-- ehrkit_schema records the versions applied. Columns named key_id hold the id of the
-- encryption key of the row's BYTEA (NULL = plain). Text keys use the "C" collation so that
-- ORDER BY gives the same (byte) order as SQLite whatever the database's locale.

-- The durable inbox: every distinct message kept, with its idempotency key and content hash.
CREATE TABLE inbox (
    id                BIGSERIAL PRIMARY KEY,
    idem_key          TEXT COLLATE "C" NOT NULL,   -- IdempotencyKey::canonical()
    content_hash      TEXT COLLATE "C" NOT NULL,   -- SHA-256 of the payload, hex
    kind              TEXT    NOT NULL,            -- 'hl7v2' | 'fhir-json'
    source            TEXT    NOT NULL,
    message_type      TEXT,
    peer              TEXT,
    received_at       BIGINT  NOT NULL,            -- ms since the epoch
    state             TEXT    NOT NULL DEFAULT 'pending', -- 'pending' | 'processed' | 'dead'
    control_id_reused BOOLEAN NOT NULL DEFAULT FALSE,
    processed_at      BIGINT,
    key_id            BIGINT,
    payload           BYTEA   NOT NULL,
    UNIQUE (idem_key, content_hash)
);
CREATE INDEX inbox_pending ON inbox (id) WHERE state = 'pending';

-- Resends recognized as duplicates of a kept message.
CREATE TABLE duplicates (
    id          BIGSERIAL PRIMARY KEY,
    message_id  BIGINT NOT NULL REFERENCES inbox (id),
    received_at BIGINT NOT NULL,
    peer        TEXT
);
CREATE INDEX duplicates_message ON duplicates (message_id);

-- Every version of every canonical resource, with its lineage.
CREATE TABLE resource_versions (
    resource_type     TEXT COLLATE "C" NOT NULL,
    id                TEXT COLLATE "C" NOT NULL,
    version           BIGINT  NOT NULL,
    content_hash      TEXT    NOT NULL,
    patient_key       TEXT COLLATE "C",
    stored_at         BIGINT  NOT NULL,
    message_id        BIGINT  NOT NULL,
    source            TEXT    NOT NULL,
    profile_name      TEXT,
    profile_version   TEXT,
    converter_version TEXT    NOT NULL,
    key_id            BIGINT,
    body              BYTEA   NOT NULL,
    PRIMARY KEY (resource_type, id, version)
);

-- The current version of each resource (queries read the body from resource_versions).
-- The row is also the lock that serializes concurrent writers of one resource.
CREATE TABLE resources (
    resource_type TEXT COLLATE "C" NOT NULL,
    id            TEXT COLLATE "C" NOT NULL,
    version       BIGINT NOT NULL,
    content_hash  TEXT   NOT NULL,
    patient_key   TEXT COLLATE "C",
    stored_at     BIGINT NOT NULL,
    PRIMARY KEY (resource_type, id)
);
CREATE INDEX resources_type_time ON resources (resource_type, stored_at, id);
CREATE INDEX resources_patient ON resources (patient_key) WHERE patient_key IS NOT NULL;

-- Each application of a message to a resource (also when the content did not change).
CREATE TABLE lineage (
    seq               BIGSERIAL PRIMARY KEY,
    message_id        BIGINT  NOT NULL,
    resource_type     TEXT    NOT NULL,
    resource_id       TEXT    NOT NULL,
    version           BIGINT  NOT NULL,
    changed           BOOLEAN NOT NULL,
    source            TEXT    NOT NULL,
    profile_name      TEXT,
    profile_version   TEXT,
    converter_version TEXT    NOT NULL,
    applied_at        BIGINT  NOT NULL
);
CREATE INDEX lineage_message ON lineage (message_id);

-- The MPI: source patient records and their enterprise ids. `blocking_keys` holds the
-- record's blocking keys (opaque strings, e.g. keyed hashes; never the plain values) for a
-- shared MPI to find candidates with an index instead of loading every record; PgStore
-- itself writes none.
CREATE TABLE source_patients (
    row_id        BIGSERIAL UNIQUE,
    key           TEXT COLLATE "C" PRIMARY KEY,
    source        TEXT    NOT NULL,
    enterprise_id BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    blocking_keys TEXT[]  NOT NULL DEFAULT '{}',
    key_id        BIGINT,
    record        BYTEA   NOT NULL               -- PatientRecord JSON (sealed when encrypted)
);
CREATE INDEX source_patients_eid ON source_patients (enterprise_id);
CREATE INDEX source_patients_blocks ON source_patients USING GIN (blocking_keys);

-- ... and the rest of the index state (model, id counter, retired ids, merges) as JSON.
CREATE TABLE mpi_state (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    state      TEXT    NOT NULL,
    updated_at BIGINT  NOT NULL
);

-- Possible matches waiting for review.
CREATE TABLE possible_matches (
    id                      BIGSERIAL PRIMARY KEY,
    source_key              TEXT COLLATE "C" NOT NULL,
    enterprise_id           BIGINT NOT NULL,
    candidate_key           TEXT COLLATE "C" NOT NULL,
    candidate_enterprise_id BIGINT NOT NULL,
    weight                  DOUBLE PRECISION NOT NULL,
    status                  TEXT   NOT NULL DEFAULT 'open',
    resolved_by             TEXT,
    created_at              BIGINT NOT NULL,
    resolved_at             BIGINT,
    UNIQUE (source_key, candidate_key)
);

-- Dead letters: no PHI in any column.
CREATE TABLE dead_letters (
    id         BIGSERIAL PRIMARY KEY,
    message_id BIGINT UNIQUE,
    stage      TEXT   NOT NULL,
    error_kind TEXT   NOT NULL,
    location   TEXT,
    attempts   BIGINT NOT NULL,
    reason     TEXT   NOT NULL,
    status     TEXT   NOT NULL DEFAULT 'open',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX dead_letters_open ON dead_letters (id) WHERE status = 'open';

-- Versioned profiles (opaque bodies) and the active version of each name.
CREATE TABLE profiles (
    seq      BIGSERIAL PRIMARY KEY,
    name     TEXT COLLATE "C" NOT NULL,
    version  TEXT COLLATE "C" NOT NULL,
    body     TEXT   NOT NULL,
    saved_at BIGINT NOT NULL,
    UNIQUE (name, version)
);
CREATE TABLE profile_active (
    name    TEXT COLLATE "C" PRIMARY KEY,
    version TEXT COLLATE "C" NOT NULL
);

-- The audit trail: append-only (trigger), hash-chained (see store/audit.rs).
CREATE TABLE audit_log (
    seq         BIGINT PRIMARY KEY,
    recorded_at BIGINT NOT NULL,
    kind        TEXT   NOT NULL,
    actor       TEXT   NOT NULL,
    source      TEXT,
    message_id  BIGINT,
    entity      TEXT,
    detail      TEXT,
    prev_hash   TEXT   NOT NULL,
    hash        TEXT   NOT NULL
);
CREATE FUNCTION ehrkit_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION ehrkit_audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION ehrkit_audit_append_only();

-- The chain head: one row, read FOR UPDATE by every appender, so concurrent transactions
-- (of this and other processes) append one linear chain in commit order.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT   NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
