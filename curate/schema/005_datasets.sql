-- Dataset versions and their frozen items.
CREATE SEQUENCE seq_dataset_versions START 1;
CREATE TABLE dataset_versions (     -- immutable once built
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_dataset_versions'),
    name VARCHAR NOT NULL UNIQUE,
    template VARCHAR NOT NULL,
    tokenizer VARCHAR NOT NULL,     -- the resolved model whose tokenizer counted the tokens
    max_length INTEGER NOT NULL,
    test_size DOUBLE NOT NULL,
    seed INTEGER NOT NULL,
    report JSON,
    export_dir VARCHAR,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE TABLE dataset_items (         -- the pairs' text at build time, frozen
    version_id BIGINT NOT NULL,
    pair_id BIGINT NOT NULL,
    split VARCHAR NOT NULL,         -- train | test
    instruction VARCHAR NOT NULL, input VARCHAR, response VARCHAR NOT NULL,
    context JSON, system VARCHAR, topic VARCHAR, origin VARCHAR NOT NULL,
    prompt VARCHAR NOT NULL, completion VARCHAR NOT NULL,
    prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
    truncated_prompt BOOLEAN NOT NULL, truncated_answer BOOLEAN NOT NULL
);
