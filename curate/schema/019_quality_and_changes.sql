-- Bulk status changes people make (a quality action, a filtered set on the Pairs page, accepting
-- every dedupe proposal), each undoable as one action: what changed and what it was before.
CREATE SEQUENCE seq_status_changes START 1;
CREATE TABLE status_changes (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_status_changes'),
    reason VARCHAR NOT NULL,        -- what the change was, in words ("quality: non_answer ≥ 0.8 → rejected")
    actor VARCHAR,                  -- who made it
    status VARCHAR NOT NULL,        -- the status the pairs were given
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    undone_at TIMESTAMP             -- set when it was undone
);
CREATE TABLE status_change_items (
    change_id BIGINT NOT NULL,
    pair_id BIGINT NOT NULL,
    previous VARCHAR NOT NULL       -- the pair's status before the change
);
-- The quality scan: what is wrong with a pair, as evidence a person can verify.
CREATE SEQUENCE seq_quality_scans START 1;
CREATE TABLE quality_scans (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_quality_scans'),
    kinds JSON NOT NULL,            -- the kinds checked
    thresholds JSON,                -- the score each kind's findings are reported from, and how it was set
    pairs_scanned BIGINT NOT NULL,
    counts JSON,                    -- findings by kind
    job_id BIGINT,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE TABLE quality_findings (
    scan_id BIGINT NOT NULL,
    pair_id BIGINT NOT NULL,
    kind VARCHAR NOT NULL,          -- misaligned | non_answer | truncated | garbled | conflict | placeholder | ungrounded | duplicate | pii | contaminated
    score DOUBLE NOT NULL,          -- how sure the check is, 0–1
    detail VARCHAR NOT NULL,        -- the evidence, in words
    related JSON,                   -- pairs it concerns too (a conflict's other answers, a duplicate's keeper)
    check_name VARCHAR NOT NULL,    -- the check that found it
    model VARCHAR                   -- the model it used, if any
);
