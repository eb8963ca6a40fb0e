-- How many of a source's stored raw logs `pairs extract` has turned into pairs: a source is
-- extracted again whenever it stored more, whatever its state (a failed or interrupted import
-- keeps its rows, and they become pairs too).
ALTER TABLE sources ADD COLUMN extracted_rows BIGINT DEFAULT 0;
UPDATE sources SET extracted_rows = rows_stored WHERE extracted_at IS NOT NULL AND extracted_at >= completed_at;
