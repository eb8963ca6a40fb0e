-- Pairs whose text shares a word n-gram with an imported benchmark item (decontamination).
CREATE TABLE contamination (
    pair_id BIGINT NOT NULL,
    benchmark VARCHAR NOT NULL,     -- the converted file: arc_easy_test, mmlu/anatomy_test, …
    item VARCHAR NOT NULL,          -- the item's id within it
    ngram VARCHAR NOT NULL,         -- the shared n-gram
    n INTEGER NOT NULL,
    found_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
