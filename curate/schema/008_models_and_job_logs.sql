-- Trained models the store knows by name (run:N), so every step can load one without reading
-- training's tables; and the log file of work started in the background.
ALTER TABLE jobs ADD COLUMN log_path VARCHAR;
CREATE TABLE models (
    name VARCHAR PRIMARY KEY,       -- the spec that loads it: run:N
    path VARCHAR NOT NULL,          -- a folder that from_pretrained loads
    base_model VARCHAR,             -- what it was trained from
    job_id BIGINT,                  -- the job that made it
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
