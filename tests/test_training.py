import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from curate.store import Store
from training.config import TrainConfig, help_text
from training.runs import curve, flag_hardest, get_run, hardest
from training.saving import last_checkpoint
from training.train import resume, train


def config(tiny_model_dir, tmp_path, **overrides):
    base = dict(dataset="v1", model=str(tiny_model_dir), max_steps=30, lr=2e-3, logging_steps=5, eval_steps=10,
                save_steps=10, batch_size=8, output_root=str(tmp_path / "runs"))
    return TrainConfig(**{**base, **overrides})


def weights(path):
    from transformers import AutoModelForCausalLM

    return {k: v.clone() for k, v in AutoModelForCausalLM.from_pretrained(path).state_dict().items()}


def test_full_fine_tune_changes_the_weights_and_lowers_the_loss(dataset, tiny_model_dir, tmp_path):
    run_id = train(dataset, config(tiny_model_dir, tmp_path))
    run = get_run(dataset, run_id)
    assert run["state"] == "succeeded"
    assert run["config"]["max_steps"] == 30 and run["config"]["lr"] == 2e-3  # the resolved config is stored
    before, after = weights(tiny_model_dir), weights(run["output_dir"])
    assert any(not torch.equal(before[k], after[k]) for k in before)
    points = curve(dataset, run_id)
    losses = points["loss"].dropna().tolist()
    evals = points["eval_loss"].dropna().tolist()
    assert losses[-1] < losses[0] and evals[-1] < evals[0]
    assert points["step"].iloc[0] == 0 and not points["eval_loss"].isna().iloc[0]  # held-out loss before training
    assert points.dropna(subset=["eval_loss"])["step"].tolist() == [0, 10, 20, 30]   # the last one once
    folder = Path(run["output_dir"]).parent
    assert sorted(p.name for p in folder.glob("checkpoint-*")) == ["checkpoint-10", "checkpoint-20"]  # none when done
    metrics = run["metrics"]
    assert metrics["steps"] == 30 and metrics["tokens_per_s"] > 0 and metrics["trained_tokens"] > 0
    n = dataset.scalar("SELECT count(*) FROM dataset_items")
    assert dataset.scalar("SELECT count(*) FROM example_losses WHERE run_id = ?", [run_id]) == n
    worst = hardest(dataset, run_id, 3)
    assert list(worst["loss"]) == sorted(worst["loss"], reverse=True)
    assert flag_hardest(dataset, run_id, 5) == 5
    assert dataset.scalar("SELECT count(*) FROM pairs WHERE status = 'flagged'") == 5


def test_lora_trains_adapters_and_saves_a_merged_model(dataset, tiny_model_dir, tmp_path):
    run_id = train(dataset, config(tiny_model_dir, tmp_path, lora=True, lora_r=4, lora_alpha=8, max_steps=15))
    run = get_run(dataset, run_id)
    assert run["state"] == "succeeded" and run["config"]["lr"] == 2e-3
    before, after = weights(tiny_model_dir), weights(run["output_dir"])
    assert set(before) == set(after)  # merged: a plain model, no adapter weights left
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed and all("proj" in k for k in changed)  # only the adapted projections moved
    from curate.lm.resolve import resolve_causal_lm
    assert resolve_causal_lm(f"run:{run_id}", dataset).kind == "run"


def test_kill_9_then_resume_continues_from_the_checkpoint(dataset, tiny_model_dir, tmp_path, db_path):
    command = [sys.executable, "-m", "tuneloop.cli", "--db", str(db_path), "train", "--dataset", "v1",
               "--model", str(tiny_model_dir), "--max-steps", "60", "--lr", "2e-3", "--save-steps", "10",
               "--eval-steps", "20", "--logging-steps", "5", "--out", str(tmp_path / "runs")]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and not list((tmp_path / "runs").glob("run-*/checkpoint-20")):
        time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = Store(db_path)  # start-up marks the run interrupted
    run = get_run(store, store.scalar("SELECT max(id) FROM runs"))
    assert run["state"] == "interrupted"
    result = subprocess.run([sys.executable, "-m", "tuneloop.cli", "--db", str(db_path), "train", "--resume",
                             str(run["id"])], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"run {run['id']} succeeded: 60 steps" in result.stdout
    steps = curve(store, run["id"])["step"].tolist()
    assert steps[-1] == 60 and min(s for s in steps if s > 20) <= 30  # it went on from the checkpoint


def test_config_fields_carry_help():
    helps = help_text()
    assert set(helps) >= {"dataset", "lora", "lr", "batch_size", "max_steps", "group_by_length"}
    assert all(len(text) > 10 for text in helps.values())


def test_resume_refuses_a_finished_run(dataset, tiny_model_dir, tmp_path):
    from curate.errors import TuneloopError

    run_id = train(dataset, config(tiny_model_dir, tmp_path, max_steps=3))
    with pytest.raises(TuneloopError, match="already finished"):
        resume(dataset, run_id)


def test_resume_passes_over_a_checkpoint_cut_off_while_saving(tmp_path):
    for step, complete in ((10, True), (20, True), (30, False)):  # killed while writing checkpoint-30
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"")
        if complete:
            (folder / "trainer_state.json").write_text("{}")
    assert last_checkpoint(tmp_path) == tmp_path / "checkpoint-20"
    assert last_checkpoint(tmp_path / "nothing-here") is None


def test_every_config_field_is_a_train_option_and_resume_refuses_other_flags(cli):
    from curate.options import options

    helped = cli("train", "--help").output
    for o in options(TrainConfig):
        assert o.flag in helped, o.flag
    result = cli("train", "--resume", "1", "--lr", "1e-3", "--max-steps", "5")
    assert result.exit_code != 0 and "--max-steps, --lr cannot change it" in result.output


def test_the_lora_learning_rate_default_lives_in_the_library():
    from training.config import FULL_LR, LORA_LR

    assert TrainConfig(lora=True).resolved().lr == LORA_LR and TrainConfig().resolved().lr == FULL_LR
    assert TrainConfig(lora=True, lr=1e-3).resolved().lr == 1e-3


def test_a_background_run_writes_a_log_its_job_keeps(dataset, tmp_path):
    from curate.lm.resolve import ModelNotFound
    from training.background import launch, log_tail

    with pytest.raises(ModelNotFound, match="no-such-model"):   # a model that cannot be found: said at once
        launch(dataset, TrainConfig(dataset="v1", model=str(tmp_path / "no-such-model")))
    broken = tmp_path / "broken-model"   # found, but it does not load: the run's own process fails
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    started = launch(dataset, TrainConfig(dataset="v1", model=str(broken)))
    assert dataset.scalar("SELECT count(*) FROM runs") == 1   # listed at once, before its process starts
    import os
    for _ in range(600):
        try:
            os.waitpid(started["pid"], 0)
            break
        except ChildProcessError:
            break
    text = log_tail(started["log"])
    job = dataset.one("SELECT state, error, log_path FROM jobs WHERE kind = 'train' ORDER BY id DESC LIMIT 1")
    assert job["state"] == "failed" and job["log_path"] == started["log"]
    assert job["error"].split(":")[0] in text   # the log ends with the error the job records


@pytest.mark.parametrize("lora", [False, True])
def test_the_answer_only_loss_equals_the_models_own_loss_and_gradients(tiny_model_dir, lora, monkeypatch):
    """The trainer's loss runs the output layer at answer positions only; loss and gradients are the
    model's own (prompt and padding positions carry no loss either way), with and without LoRA, for
    a per-batch mean and for a count of answer tokens across an accumulated batch; so are each
    row's mean losses, and the full-logits path kept for models without `logits_to_keep`."""
    from transformers import AutoModelForCausalLM

    from curate.lm import losses
    from training.sft import Collator

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    if lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                 task_type="CAUSAL_LM"))
    assert losses.supports_answer_positions(model)
    rows = [{"input_ids": ids, "attention_mask": [1] * len(ids), "labels": [-100] * prompt + ids[prompt:]}
            for ids, prompt in ((list(range(5, 17)), 4), (list(range(30, 37)), 5), (list(range(50, 70)), 12))]
    batch = Collator(0)(rows)
    answers = int((batch["labels"][:, 1:] != -100).sum())

    def grads(loss):
        model.zero_grad()
        loss.backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}

    for count in (None, torch.tensor(answers * 2)):
        own = model(**batch).loss if count is None else model(**batch, num_items_in_batch=count).loss
        ours = losses.answer_loss(model, batch["input_ids"], batch["attention_mask"], batch["labels"], count)
        assert torch.allclose(ours, own, atol=1e-5)
        expected, got = grads(own), grads(ours)
        assert expected and all(torch.allclose(got[n], expected[n], atol=1e-5) for n in expected)
    each = [float(model(**{k: v[i:i + 1, :len(r["input_ids"])] for k, v in batch.items()}).loss) for i, r in enumerate(rows)]
    assert losses.mean_losses_per_row(model, **batch) == pytest.approx(each, abs=1e-5)
    monkeypatch.setattr(losses, "supports_answer_positions", lambda model: False)   # full logits
    assert losses.mean_losses_per_row(model, **batch) == pytest.approx(each, abs=1e-5)


def test_a_cpu_run_trains_short_examples_with_plain_attention(dataset, tiny_model_dir, tmp_path):
    """On a CPU, examples of up to 256 tokens train with eager attention (measured faster there than
    SDPA); the run records which attention it used."""
    from curate.lm.device import Placement, training_attention

    assert training_attention(Placement("cpu", "bf16"), 256) == "eager"
    assert training_attention(Placement("cpu", "fp32"), 512) is None
    assert training_attention(Placement("cuda", "bf16"), 128) is None
    run_id = train(dataset, config(tiny_model_dir, tmp_path, max_steps=2, device="cpu", precision="fp32"))
    assert get_run(dataset, run_id)["metrics"]["attention"] == "eager"
