-- Quality scores of pairs: a model judge's rubric score with its reason, or a score computed
-- without a judge (instruction-following difficulty, answer perplexity). One row per
-- (pair, scorer, model, prompt): the same question asked again is answered from here.
CREATE TABLE pair_scores (
    pair_id BIGINT NOT NULL,
    scorer VARCHAR NOT NULL,        -- a judge's name (rubric, reference, …) or ifd | perplexity
    model VARCHAR NOT NULL,         -- the model that judged or scored
    score DOUBLE,                   -- NULL: the judge's output could not be parsed (never guessed)
    reason VARCHAR,
    detail JSON,                    -- features beside the score (losses, lengths)
    prompt VARCHAR,                 -- what the judge was asked
    raw_output VARCHAR,             -- what it answered, as it answered
    parsed BOOLEAN NOT NULL DEFAULT true,
    prompt_hash VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (pair_id, scorer, model, prompt_hash)
);
-- A judge compared with the team's raters on the items both rated.
CREATE SEQUENCE seq_judge_calibrations START 1;
CREATE TABLE judge_calibrations (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_judge_calibrations'),
    scorer VARCHAR NOT NULL, model VARCHAR NOT NULL,
    items INTEGER NOT NULL,
    kappa DOUBLE,                   -- Cohen's kappa (linear weights) against the raters' consensus
    alpha DOUBLE,                   -- Krippendorff's alpha with the judge as one more rater
    agreement DOUBLE,               -- share within one point of the consensus
    detail JSON,                    -- confusion matrix, A/B agreement
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
