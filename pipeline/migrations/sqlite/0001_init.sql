-- ehrkit-pipeline SQLite store, schema version 1.
-- Applied by SqliteStore::open in one transaction; PRAGMA user_version records the version.
-- Columns named key_id hold the id of the encryption key of the row's BLOB (NULL = plain).

-- The durable inbox: every distinct message kept, with its idempotency key and content hash.
CREATE TABLE inbox (
    id                INTEGER PRIMARY KEY,
    idem_key          TEXT    NOT NULL,          -- IdempotencyKey::canonical()
    content_hash      TEXT    NOT NULL,          -- SHA-256 of the payload, hex
    kind              TEXT    NOT NULL,          -- 'hl7v2' | 'fhir-json'
    source            TEXT    NOT NULL,
    message_type      TEXT,
    peer              TEXT,
    received_at       INTEGER NOT NULL,          -- ms since the epoch
    state             TEXT    NOT NULL DEFAULT 'pending', -- 'pending' | 'processed' | 'dead'
    control_id_reused INTEGER NOT NULL DEFAULT 0,
    processed_at      INTEGER,
    key_id            INTEGER,
    payload           BLOB    NOT NULL,
    UNIQUE (idem_key, content_hash)
);
CREATE INDEX inbox_pending ON inbox (id) WHERE state = 'pending';

-- Resends recognized as duplicates of a kept message.
CREATE TABLE duplicates (
    id          INTEGER PRIMARY KEY,
    message_id  INTEGER NOT NULL REFERENCES inbox (id),
    received_at INTEGER NOT NULL,
    peer        TEXT
);
CREATE INDEX duplicates_message ON duplicates (message_id);

-- Every version of every canonical resource, with its lineage.
CREATE TABLE resource_versions (
    resource_type     TEXT    NOT NULL,
    id                TEXT    NOT NULL,
    version           INTEGER NOT NULL,
    content_hash      TEXT    NOT NULL,
    patient_key       TEXT,
    stored_at         INTEGER NOT NULL,
    message_id        INTEGER NOT NULL,
    source            TEXT    NOT NULL,
    profile_name      TEXT,
    profile_version   TEXT,
    converter_version TEXT    NOT NULL,
    key_id            INTEGER,
    body              BLOB    NOT NULL,
    PRIMARY KEY (resource_type, id, version)
);

-- The current version of each resource (queries read the body from resource_versions).
CREATE TABLE resources (
    resource_type TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    content_hash  TEXT    NOT NULL,
    patient_key   TEXT,
    stored_at     INTEGER NOT NULL,
    PRIMARY KEY (resource_type, id)
) WITHOUT ROWID;
CREATE INDEX resources_type_time ON resources (resource_type, stored_at);
CREATE INDEX resources_patient ON resources (patient_key) WHERE patient_key IS NOT NULL;

-- Each application of a message to a resource (also when the content did not change).
CREATE TABLE lineage (
    seq               INTEGER PRIMARY KEY,
    message_id        INTEGER NOT NULL,
    resource_type     TEXT    NOT NULL,
    resource_id       TEXT    NOT NULL,
    version           INTEGER NOT NULL,
    changed           INTEGER NOT NULL,
    source            TEXT    NOT NULL,
    profile_name      TEXT,
    profile_version   TEXT,
    converter_version TEXT    NOT NULL,
    applied_at        INTEGER NOT NULL
);
CREATE INDEX lineage_message ON lineage (message_id);

-- The MPI snapshot: source patient records and their enterprise ids ...
CREATE TABLE source_patients (
    key           TEXT    PRIMARY KEY,
    source        TEXT    NOT NULL,
    enterprise_id INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    key_id        INTEGER,
    record        BLOB    NOT NULL               -- PatientRecord JSON
);
CREATE INDEX source_patients_eid ON source_patients (enterprise_id);

-- ... and the rest of the index state (model, id counter, retired ids, merges) as JSON.
CREATE TABLE mpi_state (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    state      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Possible matches waiting for review.
CREATE TABLE possible_matches (
    id                      INTEGER PRIMARY KEY,
    source_key              TEXT    NOT NULL,
    enterprise_id           INTEGER NOT NULL,
    candidate_key           TEXT    NOT NULL,
    candidate_enterprise_id INTEGER NOT NULL,
    weight                  REAL    NOT NULL,
    status                  TEXT    NOT NULL DEFAULT 'open',
    resolved_by             TEXT,
    created_at              INTEGER NOT NULL,
    resolved_at             INTEGER,
    UNIQUE (source_key, candidate_key)
);

-- Dead letters: no PHI in any column.
CREATE TABLE dead_letters (
    id         INTEGER PRIMARY KEY,
    message_id INTEGER UNIQUE,
    stage      TEXT    NOT NULL,
    error_kind TEXT    NOT NULL,
    location   TEXT,
    attempts   INTEGER NOT NULL,
    reason     TEXT    NOT NULL,
    status     TEXT    NOT NULL DEFAULT 'open',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX dead_letters_open ON dead_letters (id) WHERE status = 'open';

-- Versioned profiles (opaque bodies) and the active version of each name.
CREATE TABLE profiles (
    seq      INTEGER PRIMARY KEY,
    name     TEXT    NOT NULL,
    version  TEXT    NOT NULL,
    body     TEXT    NOT NULL,
    saved_at INTEGER NOT NULL,
    UNIQUE (name, version)
);
CREATE TABLE profile_active (
    name    TEXT PRIMARY KEY,
    version TEXT NOT NULL
);

-- The audit trail: append-only (triggers), hash-chained (see store/audit.rs).
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY,
    recorded_at INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    source      TEXT,
    message_id  INTEGER,
    entity      TEXT,
    detail      TEXT,
    prev_hash   TEXT    NOT NULL,
    hash        TEXT    NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
