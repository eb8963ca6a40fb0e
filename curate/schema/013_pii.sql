-- Personal data: scans that found it in pairs, and purges that erased the original text.
CREATE SEQUENCE seq_pii_scans START 1;
CREATE TABLE pii_scans (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_pii_scans'),
    entities JSON NOT NULL,         -- the entity types looked for (and found possible with this setup)
    ner_model VARCHAR,              -- the spaCy model that finds names and places; NULL: patterns only
    threshold DOUBLE NOT NULL,
    pairs_scanned BIGINT NOT NULL,
    job_id BIGINT,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE TABLE pii_findings (
    scan_id BIGINT NOT NULL, pair_id BIGINT NOT NULL,
    field VARCHAR NOT NULL,         -- instruction | input | response | system | context.N
    entity VARCHAR NOT NULL, char_start INTEGER NOT NULL, char_end INTEGER NOT NULL, score DOUBLE NOT NULL
);
CREATE INDEX idx_pii_findings_pair ON pii_findings(pair_id);
CREATE SEQUENCE seq_pii_purges START 1;
CREATE TABLE pii_purges (            -- a right-to-erasure request carried out: what was rewritten
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_pii_purges'),
    scan_id BIGINT NOT NULL,
    pairs BIGINT NOT NULL, raw_logs BIGINT NOT NULL, dataset_items BIGINT NOT NULL, model_outputs BIGINT NOT NULL,
    note VARCHAR,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
