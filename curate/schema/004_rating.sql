-- People, settings, append-only ratings, leases and reviews.
CREATE SEQUENCE seq_users START 1;
CREATE TABLE users (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_users'),
    name VARCHAR NOT NULL UNIQUE,
    role VARCHAR NOT NULL,          -- annotator | reviewer | admin
    password_hash VARCHAR,          -- argon2; NULL for accounts that sign in through OIDC
    email VARCHAR,
    active BOOLEAN NOT NULL DEFAULT true,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE TABLE settings (
    key VARCHAR PRIMARY KEY,        -- rating_schema, approval_rule, …
    value JSON NOT NULL,
    updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE SEQUENCE seq_ratings START 1;
CREATE SEQUENCE seq_submissions START 1;
CREATE TABLE ratings (               -- append-only; the latest row per (pair, annotator, question) wins
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_ratings'),
    submission_id BIGINT NOT NULL,  -- the answers given at once
    pair_id BIGINT NOT NULL,
    annotator_id BIGINT NOT NULL,
    question VARCHAR NOT NULL,
    value VARCHAR,                  -- NULL: retracted (undo)
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE INDEX idx_ratings_pair ON ratings(pair_id);
CREATE TABLE leases (
    pair_id BIGINT NOT NULL,
    annotator_id BIGINT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE SEQUENCE seq_reviews START 1;
CREATE TABLE reviews (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_reviews'),
    pair_id BIGINT NOT NULL,
    reviewer_id BIGINT NOT NULL,
    decision VARCHAR NOT NULL,      -- approve | reject
    note VARCHAR,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE VIEW current_ratings AS      -- each annotator's latest answer to each question
SELECT id, submission_id, pair_id, annotator_id, question, value, created_at FROM (
    SELECT *, row_number() OVER (PARTITION BY pair_id, annotator_id, question ORDER BY id DESC) AS k
    FROM ratings) WHERE k = 1 AND value IS NOT NULL;
