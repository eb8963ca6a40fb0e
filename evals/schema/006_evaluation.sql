-- Benchmark scores, domain evaluation runs, model outputs and their flags.
CREATE TABLE benchmark_results (
    model VARCHAR NOT NULL,         -- the spec asked for (run:N, a folder, …)
    fingerprint VARCHAR NOT NULL,   -- of the weights: a new checkpoint never reuses results
    task VARCHAR NOT NULL, metric VARCHAR NOT NULL, value DOUBLE NOT NULL, stderr DOUBLE,
    limit_n DOUBLE, num_fewshot INTEGER, lm_eval_version VARCHAR, config_hash VARCHAR, local BOOLEAN,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE SEQUENCE seq_eval_runs START 1;
CREATE TABLE eval_runs (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_eval_runs'),
    kind VARCHAR NOT NULL,          -- domain
    model VARCHAR NOT NULL,
    dataset_version_id BIGINT,
    config JSON, metrics JSON,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE SEQUENCE seq_model_outputs START 1;
CREATE TABLE model_outputs (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_model_outputs'),
    eval_run_id BIGINT NOT NULL, pair_id BIGINT NOT NULL,
    prompt VARCHAR NOT NULL, output VARCHAR NOT NULL, reference VARCHAR,
    tokens INTEGER, latency_ms DOUBLE,
    exact_match BOOLEAN, token_f1 DOUBLE, rouge_l DOUBLE, similarity DOUBLE,
    refused BOOLEAN, should_refuse BOOLEAN
);
CREATE TABLE output_flags (
    output_id BIGINT NOT NULL, heuristic VARCHAR NOT NULL, detail VARCHAR,
    nearest_pairs JSON              -- the training pairs closest to the question
);
