"""Trainer callbacks: a run's figures into the store as it trains, and no checkpoint or evaluation
at the last step (the caller saves and evaluates right after)."""
from __future__ import annotations

import time

from curate.store import Store

# run_metrics column ← the Trainer's log key (SFT and DPO runs log different things)
LOGGED = {"loss": "loss", "learning_rate": "learning_rate", "eval_loss": "eval_loss",
          "reward_margin": "rewards/margins", "eval_reward_margin": "eval_rewards/margins",
          "eval_accuracy": "eval_rewards/accuracies"}


def store_metrics(store: Store, job, run_id: int, on_log=None, tokens=lambda: None):
    """A Trainer callback: each logged step's figures into run_metrics, and a heartbeat on the run's
    job (at least every 15 s). `tokens` says how many tokens were trained so far."""
    from transformers import TrainerCallback

    last_beat = [0.0]

    def beat(state) -> None:
        job.heartbeat(state.global_step / max(state.max_steps, 1), f"step {state.global_step}/{state.max_steps}")
        last_beat[0] = time.perf_counter()

    class StoreMetrics(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.is_world_process_zero and time.perf_counter() - last_beat[0] > 15:
                beat(state)

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            if not state.is_world_process_zero or not any(k in logs for k in ("loss", "eval_loss")):
                return
            store.execute(f"INSERT INTO run_metrics (run_id, step, epoch, tokens, {', '.join(LOGGED)})"
                          f" VALUES (?, ?, ?, ?{', ?' * len(LOGGED)})",
                          [run_id, state.global_step, logs.get("epoch"), tokens(), *(logs.get(k) for k in LOGGED.values())])
            beat(state)
            if on_log:
                on_log(state.global_step, state.max_steps, logs)

    return StoreMetrics()


def last_step_left_to_caller():
    """A Trainer callback: no checkpoint and no evaluation at the last step, because the caller saves
    the model and evaluates it right after training. A checkpoint of a finished run (weights and
    optimizer state, ~1.6 GB for 135M parameters) is never resumed — finished runs are refused —
    and the evaluation would run twice; both were ~8% of a short run's training time here."""
    from transformers import TrainerCallback

    class LastStep(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step >= state.max_steps:
                control.should_save = control.should_evaluate = False

    return LastStep()
