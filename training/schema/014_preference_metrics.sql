-- A preference (DPO) run's curve: the margin between chosen and rejected rewards, and how often the
-- held-out chosen answer wins.
ALTER TABLE run_metrics ADD COLUMN reward_margin DOUBLE;
ALTER TABLE run_metrics ADD COLUMN eval_reward_margin DOUBLE;
ALTER TABLE run_metrics ADD COLUMN eval_accuracy DOUBLE;
