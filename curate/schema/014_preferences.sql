-- Preference versions: chosen and rejected answers to the same prompt, frozen like dataset versions.
CREATE SEQUENCE seq_preference_versions START 1;
CREATE TABLE preference_versions (  -- immutable once built
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_preference_versions'),
    name VARCHAR NOT NULL UNIQUE,
    test_size DOUBLE NOT NULL,
    seed INTEGER NOT NULL,
    report JSON,                    -- how many from each source, and what was left out and why
    export_path VARCHAR,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE TABLE preference_items (
    version_id BIGINT NOT NULL,
    source VARCHAR NOT NULL,        -- ab | edit | review
    ref VARCHAR NOT NULL,           -- where it came from: study:pair, or the two pair versions
    pair_id BIGINT NOT NULL,        -- the pair whose question this is (the split keeps its versions together)
    split VARCHAR NOT NULL,         -- train | test
    prompt VARCHAR NOT NULL, context JSON, system VARCHAR,
    chosen VARCHAR NOT NULL, rejected VARCHAR NOT NULL,
    agreement DOUBLE                -- the share of votes for the chosen answer (A/B), NULL otherwise
);
