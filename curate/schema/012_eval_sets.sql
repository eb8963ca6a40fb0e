-- Evaluation sets: frozen, named questions with reference answers (and the off-topic ones that
-- must be refused), scored by every model and kept out of every later dataset build.
CREATE SEQUENCE seq_eval_sets START 1;
CREATE TABLE eval_sets (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_eval_sets'),
    name VARCHAR NOT NULL UNIQUE,
    lineage JSON,                   -- where the items came from: a dataset version, a status, a file; size, seed
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE SEQUENCE seq_eval_set_items START 1;
CREATE TABLE eval_set_items (         -- the text at creation time, frozen
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_eval_set_items'),
    set_id BIGINT NOT NULL,
    pair_id BIGINT,                 -- the pair it was taken from (NULL for items from a file)
    instruction VARCHAR NOT NULL, input VARCHAR, response VARCHAR NOT NULL,
    context JSON, system VARCHAR, topic VARCHAR, origin VARCHAR NOT NULL,
    should_refuse BOOLEAN NOT NULL  -- off-topic: the answer must be the refusal
);
