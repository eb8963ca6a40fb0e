-- Each benchmark item as a model answered it (from lm-eval's logged samples): what was asked, the
-- choices, the right one, the model's log-likelihood of each, and the item's score per metric.
-- Two models' items on the same task and document show what flipped after fine-tuning.
CREATE TABLE benchmark_items (
    job_id BIGINT NOT NULL,         -- the eval.bench job; its results are in benchmark_results
    model VARCHAR NOT NULL, fingerprint VARCHAR NOT NULL, config_hash VARCHAR NOT NULL,
    task VARCHAR NOT NULL,          -- as in benchmark_results (mmlu_anatomy, arc_easy, …)
    doc_id VARCHAR NOT NULL,
    question VARCHAR NOT NULL,
    choices JSON NOT NULL,          -- the answers offered, as shown
    target INTEGER,                 -- the right choice's index (none where a task has several)
    loglikelihoods JSON NOT NULL,   -- per choice
    picks JSON NOT NULL,            -- metric → the choice the model picked (acc: most likely; acc_norm: per character)
    scores JSON NOT NULL            -- metric → the item's value (1/0 for accuracies)
);
