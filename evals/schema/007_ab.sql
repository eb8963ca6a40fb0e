-- Blind A/B studies, their items and votes.
CREATE SEQUENCE seq_ab_studies START 1;
CREATE TABLE ab_studies (           -- blind A/B: two domain evaluation runs over the same questions
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_ab_studies'),
    eval_run_a BIGINT NOT NULL,     -- usually the base model
    eval_run_b BIGINT NOT NULL,     -- usually the fine-tuned one
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE TABLE ab_items (
    study_id BIGINT NOT NULL, pair_id BIGINT NOT NULL,
    output_a BIGINT NOT NULL, output_b BIGINT NOT NULL,   -- model_outputs ids
    PRIMARY KEY (study_id, pair_id)
);
CREATE TABLE ab_votes (
    study_id BIGINT NOT NULL, pair_id BIGINT NOT NULL, annotator_id BIGINT NOT NULL,
    a_on_left BOOLEAN NOT NULL,     -- where the annotator saw A
    choice VARCHAR NOT NULL,        -- a | b | tie
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (study_id, pair_id, annotator_id)
);
