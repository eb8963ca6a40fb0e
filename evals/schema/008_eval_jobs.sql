-- Evaluations name the job that made them.
ALTER TABLE eval_runs ADD COLUMN job_id BIGINT;
ALTER TABLE benchmark_results ADD COLUMN job_id BIGINT;
