-- A run's lifecycle (state, heartbeat, process, error) is its job's, as for all long work; a
-- finished run's model is registered by name.
ALTER TABLE runs ADD COLUMN job_id BIGINT;
INSERT INTO jobs (kind, args, state, pid, host, started_at, heartbeat_at, finished_at, error, result)
SELECT 'train', json_object('run', id), state, pid, host, started_at, heartbeat_at, finished_at, error, metrics
FROM runs ORDER BY id;
UPDATE runs SET job_id = j.id FROM jobs j WHERE j.kind = 'train' AND j.args->>'run' = runs.id::VARCHAR;
INSERT INTO models (name, path, base_model, job_id)
SELECT 'run:' || id, output_dir, base_model, job_id FROM runs WHERE state = 'succeeded' AND output_dir IS NOT NULL;
ALTER TABLE runs DROP COLUMN state;
ALTER TABLE runs DROP COLUMN pid;
ALTER TABLE runs DROP COLUMN host;
ALTER TABLE runs DROP COLUMN started_at;
ALTER TABLE runs DROP COLUMN heartbeat_at;
ALTER TABLE runs DROP COLUMN finished_at;
ALTER TABLE runs DROP COLUMN error;
