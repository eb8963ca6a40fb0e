-- Duplicate proposals and decisions; sentence embeddings stored once per text and model.
CREATE SEQUENCE seq_dedupe_runs START 1;
CREATE TABLE dedupe_runs (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_dedupe_runs'),
    method VARCHAR NOT NULL,        -- exact | minhash | semantic
    params JSON,
    pairs_scanned BIGINT,
    clusters BIGINT,
    members BIGINT,
    timings JSON,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE SEQUENCE seq_dup_clusters START 1;
CREATE TABLE dup_clusters (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_dup_clusters'),
    run_id BIGINT NOT NULL,
    method VARCHAR NOT NULL,
    keeper_id BIGINT NOT NULL,      -- the proposed (or chosen) pair to keep
    size INTEGER NOT NULL,
    min_similarity DOUBLE,
    state VARCHAR NOT NULL DEFAULT 'proposed',   -- proposed | resolved | dismissed
    resolved_at TIMESTAMP
);
CREATE TABLE dup_members (
    cluster_id BIGINT NOT NULL,
    pair_id BIGINT NOT NULL,
    similarity DOUBLE,              -- to the keeper (1 for the keeper)
    decision VARCHAR,               -- NULL (undecided) | keep | duplicate | distinct
    prev_status VARCHAR             -- the pair's status before it was marked duplicate
);
CREATE TABLE embeddings (
    text_hash VARCHAR NOT NULL,     -- sha256 of the embedded text: one vector a text and model
    model VARCHAR NOT NULL,
    vector FLOAT[] NOT NULL
);
CREATE INDEX idx_embeddings ON embeddings(text_hash, model);
