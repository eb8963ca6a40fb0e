-- A model judge's verdicts on model outputs (rubric or reference-guided scores) and on blind A/B
-- items (pairwise, asked in both orders; orders that disagree are a tie). Cached by prompt.
CREATE TABLE output_judgements (
    output_id BIGINT NOT NULL,      -- model_outputs.id
    judge VARCHAR NOT NULL, model VARCHAR NOT NULL,
    score DOUBLE, reason VARCHAR,
    prompt VARCHAR, raw_output VARCHAR, parsed BOOLEAN NOT NULL,
    prompt_hash VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (output_id, judge, model, prompt_hash)
);
CREATE TABLE ab_judgements (
    study_id BIGINT NOT NULL, pair_id BIGINT NOT NULL,
    judge VARCHAR NOT NULL, model VARCHAR NOT NULL,
    choice VARCHAR,                 -- a | b | tie; NULL when either order could not be parsed
    choice_a_first VARCHAR, choice_b_first VARCHAR,   -- each order's verdict, in A/B terms
    reason VARCHAR,
    prompts JSON, raw_outputs JSON, parsed BOOLEAN NOT NULL,
    prompt_hash VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (study_id, pair_id, judge, model, prompt_hash)
);
