-- Imported files, their raw records and rejects; pairs; long work (jobs).
CREATE SEQUENCE seq_sources START 1;
CREATE TABLE sources (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_sources'),
    name VARCHAR NOT NULL,          -- file name as the user knows it (never used as a path)
    sha256 VARCHAR NOT NULL UNIQUE, -- re-importing the same bytes is a no-op
    format VARCHAR NOT NULL,
    encoding VARCHAR,
    topic VARCHAR,
    options JSON,                   -- --map, --format and friends, resolved
    status VARCHAR NOT NULL,        -- importing | complete | failed | refused | superseded
    rows_read BIGINT NOT NULL DEFAULT 0,
    rows_stored BIGINT NOT NULL DEFAULT 0,
    rows_duplicate BIGINT NOT NULL DEFAULT 0,
    rows_rejected BIGINT NOT NULL DEFAULT 0,
    error VARCHAR,
    imported_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    completed_at TIMESTAMP,
    extracted_at TIMESTAMP          -- when `pairs extract` last turned it into pairs
);
CREATE SEQUENCE seq_raw_logs START 1;
CREATE TABLE raw_logs (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_raw_logs'),
    source_id BIGINT NOT NULL,
    line BIGINT NOT NULL,           -- first line (text files) or row number (tables)
    kind VARCHAR NOT NULL,          -- qa | conversation | message | document
    payload JSON NOT NULL,          -- the record in tuneloop's normal form, extras kept
    content_hash VARCHAR NOT NULL UNIQUE
);
CREATE SEQUENCE seq_rejects START 1;
CREATE TABLE rejects (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_rejects'),
    source_id BIGINT,
    file VARCHAR NOT NULL,
    line BIGINT,                    -- NULL when the whole file was refused
    reason VARCHAR NOT NULL,
    excerpt VARCHAR,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE SEQUENCE seq_pairs START 1;
CREATE TABLE pairs (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_pairs'),
    instruction VARCHAR NOT NULL,
    input VARCHAR,                  -- Alpaca-style input, if any
    response VARCHAR NOT NULL,
    context JSON,                   -- earlier turns [{role, content}], if any
    system VARCHAR,
    topic VARCHAR,
    origin VARCHAR NOT NULL,        -- extracted | generated | offtopic | edited
    source_id BIGINT,
    raw_log_id BIGINT,              -- lineage: the raw log this pair came from
    parent_id BIGINT,               -- lineage: the pair this one was edited from
    lineage JSON,                   -- anything else: question raw log, model, template, chunk
    content_hash VARCHAR NOT NULL,
    status VARCHAR NOT NULL DEFAULT 'new',
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE INDEX idx_pairs_hash ON pairs(content_hash);
CREATE SEQUENCE seq_jobs START 1;
CREATE TABLE jobs (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_jobs'),
    kind VARCHAR NOT NULL,
    args JSON,
    state VARCHAR NOT NULL,         -- running | succeeded | failed | interrupted
    progress DOUBLE NOT NULL DEFAULT 0,
    message VARCHAR,
    pid INTEGER,
    host VARCHAR,
    started_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    heartbeat_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    finished_at TIMESTAMP,
    error VARCHAR,
    result JSON
);
