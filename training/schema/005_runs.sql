-- Training runs, their curves and every example's loss.
CREATE SEQUENCE seq_runs START 1;
CREATE TABLE runs (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_runs'),
    kind VARCHAR NOT NULL,          -- train
    dataset_version_id BIGINT,
    base_model VARCHAR,
    config JSON,                    -- fully resolved
    state VARCHAR NOT NULL,         -- running | succeeded | failed | interrupted
    output_dir VARCHAR,
    pid INTEGER, host VARCHAR,
    started_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    heartbeat_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    finished_at TIMESTAMP,
    error VARCHAR,
    metrics JSON                    -- wall time, tokens/s, final losses
);
CREATE TABLE run_metrics (
    run_id BIGINT NOT NULL, step INTEGER NOT NULL, epoch DOUBLE,
    loss DOUBLE, learning_rate DOUBLE, eval_loss DOUBLE, tokens BIGINT,
    logged_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE TABLE example_losses (
    run_id BIGINT NOT NULL, pair_id BIGINT NOT NULL, split VARCHAR NOT NULL, loss DOUBLE NOT NULL
);
