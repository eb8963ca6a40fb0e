-- Whole conversations as one example: which assistant turns carry the loss.
ALTER TABLE dataset_items ADD COLUMN loss_turns JSON;  -- indices into the item's chat messages; NULL: the completion only
