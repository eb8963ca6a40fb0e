-- Domain evaluations on an evaluation set; an item from a file has no pair.
ALTER TABLE eval_runs ADD COLUMN eval_set_id BIGINT;
ALTER TABLE model_outputs ADD COLUMN eval_item_id BIGINT;
ALTER TABLE model_outputs ALTER pair_id DROP NOT NULL;
