-- Diversity runs and each pair's topic cluster and map position.
CREATE SEQUENCE seq_diversity_runs START 1;
CREATE TABLE diversity_runs (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_diversity_runs'),
    params JSON,
    summary JSON,                   -- n-gram ratios, redundancy, cluster labels and sizes
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE TABLE pair_clusters (
    run_id BIGINT NOT NULL,
    pair_id BIGINT NOT NULL,
    cluster INTEGER NOT NULL,
    x REAL, y REAL,                 -- 2-D map position (PCA of the embeddings)
    nn_similarity REAL              -- cosine similarity to the nearest other pair
);
