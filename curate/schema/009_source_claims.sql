-- The job importing a source: a second import of the same file at once leaves it alone.
ALTER TABLE sources ADD COLUMN job_id BIGINT;
