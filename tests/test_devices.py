"""Any device and precision: the choice, bf16 training on a CPU that has it, LoRA adapters,
bigger-model options, several processes, and the same commands on CUDA where there is one."""
import pytest
import torch

from curate.errors import TuneloopError
from curate.lm import device as devices
from training.config import TrainConfig
from training.runs import curve, get_run
from training.train import train

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="no CUDA device on this machine")
needs_bf16_cpu = pytest.mark.skipif(not devices.cpu_has_bf16(), reason="this CPU has neither AVX512-BF16 nor AMX")


def run_config(tiny_model_dir, tmp_path, **overrides):
    base = dict(dataset="v1", model=str(tiny_model_dir), max_steps=6, lr=2e-3, logging_steps=2, eval_steps=6,
                save_steps=6, batch_size=8, output_root=str(tmp_path / "runs"))
    return TrainConfig(**{**base, **overrides})


# ------------------------------------------------------------------------------ the choice
def test_auto_picks_cuda_when_present_and_the_cpu_otherwise():
    assert devices.resolve_device("auto") == ("cuda" if CUDA else "cpu")
    assert devices.resolve_device("cpu") == "cpu"
    with pytest.raises(TuneloopError, match="choose one of"):
        devices.resolve_device("tpu")


@pytest.mark.skipif(CUDA, reason="this machine has CUDA")
def test_cuda_is_refused_clearly_where_there_is_none():
    for name in ("cuda", "cuda:1"):
        with pytest.raises(TuneloopError, match="no CUDA device here"):
            devices.resolve_device(name)


def test_auto_precision_on_a_cpu_trains_in_bf16_where_it_can_and_infers_in_fp32(monkeypatch):
    if CUDA:
        pytest.skip("auto means the GPU here")
    assert devices.resolve(None, None).precision == "fp32"   # inference: same answers as before
    monkeypatch.setattr(devices, "cpu_flags", lambda: {"avx512f", "amx_bf16"})
    assert devices.resolve(None, None, training=True) == devices.Placement("cpu", "bf16")
    monkeypatch.setattr(devices, "cpu_flags", lambda: {"avx2"})
    assert devices.resolve(None, None, training=True) == devices.Placement("cpu", "fp32")
    with pytest.raises(TuneloopError, match="neither AVX512-BF16 nor AMX"):
        devices.resolve("cpu", "bf16")
    with pytest.raises(TuneloopError, match="fp16 needs a GPU"):
        devices.resolve("cpu", "fp16")


def test_the_environment_gives_the_default_choice(monkeypatch):
    monkeypatch.setenv(devices.DEVICE_ENV, "cpu")
    monkeypatch.setenv(devices.PRECISION_ENV, "fp32")
    assert devices.resolve() == devices.Placement("cpu", "fp32")


def test_every_model_command_takes_device_and_precision(cli):
    for command in (["train"], ["eval", "bench"], ["eval", "domain"], ["pairs", "generate"], ["dedupe"],
                    ["diversity"]):
        helped = cli(*command, "--help").output
        assert "--device" in helped and "--precision" in helped, command


def test_nothing_hard_codes_the_cpu_any_more():
    from conftest import ROOT

    for package in ("curate", "evals", "training"):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text()
            assert 'device="cpu"' not in text and "use_cpu=True" not in text, path


# ------------------------------------------------------------------------------ training
@needs_bf16_cpu
def test_bf16_training_on_this_cpu_is_recorded_with_the_run(cli, dataset, tiny_model_dir, tmp_path):
    result = cli("train", "--dataset", "v1", "--model", str(tiny_model_dir), "--max-steps", "6", "--lr", "2e-3",
                 "--logging-steps", "2", "--eval-steps", "6", "--save-steps", "6", "--precision", "bf16",
                 "--out", str(tmp_path / "runs"))
    assert result.exit_code == 0, result.output
    run = get_run(dataset, dataset.scalar("SELECT max(id) FROM runs"))
    assert run["config"]["precision"] == "bf16" and run["config"]["device"] == "cpu"
    assert run["metrics"]["precision"] == "bf16" and run["metrics"]["steps"] == 6
    losses = curve(dataset, run["id"])["loss"].dropna().tolist()
    assert losses[-1] < losses[0]


def test_bf16_is_refused_clearly_on_a_cpu_without_it(cli, dataset, tiny_model_dir, monkeypatch):
    monkeypatch.setattr(devices, "cpu_flags", lambda: {"avx2"})
    result = cli("train", "--dataset", "v1", "--model", str(tiny_model_dir), "--device", "cpu", "--precision", "bf16")
    assert result.exit_code != 0 and "neither AVX512-BF16 nor AMX" in result.output
    assert dataset.scalar("SELECT count(*) FROM runs") == 0


def test_qlora_is_refused_clearly_without_cuda(dataset, tiny_model_dir, tmp_path):
    with pytest.raises(TuneloopError, match="need a CUDA GPU"):
        train(dataset, run_config(tiny_model_dir, tmp_path, qlora=True, device="cpu"))


def test_a_lora_run_keeps_its_adapter_and_both_load(dataset, tiny_model_dir, tmp_path):
    from curate.lm.load import load_causal_lm

    run_id = train(dataset, run_config(tiny_model_dir, tmp_path, lora=True, lora_r=4, lora_alpha=8,
                                       gradient_checkpointing=True, grad_accum=2, precision="fp32"))
    run = get_run(dataset, run_id)
    assert run["config"]["gradient_checkpointing"] and run["config"]["grad_accum"] == 2
    merged, tokenizer, _ = load_causal_lm(f"run:{run_id}", dataset)
    adapted, _, resolved = load_causal_lm(f"run:{run_id}:adapter", dataset)
    assert resolved.kind == "adapter" and type(adapted).__name__.startswith("Peft")
    ids = tokenizer(["How do I reset my lamp?"], return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(merged(**ids).logits, adapted(**ids).logits, atol=1e-4)
    with pytest.raises(TuneloopError, match="no finished LoRA training run"):
        load_causal_lm(f"run:{run_id + 1}:adapter", dataset)


@pytest.mark.slow
def test_one_training_step_of_a_half_billion_parameter_shaped_model(dataset, tmp_path):
    """Qwen2.5-0.5B's shape (24 layers, hidden 896, 151,936-token vocabulary; 494M parameters),
    random weights and the SmolLM2 tokenizer: the same code paths as the default model."""
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from curate.lm.resolve import packaged_smollm2

    gguf = packaged_smollm2()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                         num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=2048,
                         tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    folder = tmp_path / "qwen-shaped"
    model = Qwen2ForCausalLM(config)
    assert 480e6 < sum(p.numel() for p in model.parameters()) < 510e6
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    del model
    # a version of six pairs: the held-out evaluations and every example's loss stay a few forward passes
    from curate.datasets.build import DatasetConfig, build_dataset
    from curate.pairs.status import NEW, set_status

    with dataset.transaction() as con:
        set_status(con, [r["id"] for r in dataset.rows("SELECT id FROM pairs ORDER BY id OFFSET 6")], NEW)
    build_dataset(dataset, DatasetConfig("six", model=str(folder), max_length=64, test_size=0.34,
                                         semantic_threshold=None), export_root=tmp_path / "ds")
    run_id = train(dataset, TrainConfig(dataset="six", model=str(folder), max_steps=1, batch_size=2, logging_steps=1,
                                        eval_steps=10, save_steps=10, gradient_checkpointing=True,
                                        output_root=str(tmp_path / "runs")))
    run = get_run(dataset, run_id)
    assert run["state"] == "succeeded" and run["metrics"]["steps"] == 1


def test_two_processes_train_one_run_with_one_curve(cli, dataset, tiny_model_dir, tmp_path):
    """`--num-processes 2` through `accelerate launch`: two gloo processes on the CPU; only the main
    one writes, so the store holds one run, one curve and one set of example losses."""
    result = cli("train", "--dataset", "v1", "--model", str(tiny_model_dir), "--max-steps", "6", "--lr", "2e-3",
                 "--logging-steps", "2", "--eval-steps", "6", "--save-steps", "3", "--num-processes", "2",
                 "--device", "cpu", "--precision", "fp32", "--out", str(tmp_path / "runs"))
    assert result.exit_code == 0, result.output
    assert dataset.scalar("SELECT count(*) FROM runs") == 1
    run = get_run(dataset, dataset.scalar("SELECT id FROM runs"))
    assert run["state"] == "succeeded" and run["metrics"]["processes"] == 2 and run["metrics"]["steps"] == 6
    steps = curve(dataset, run["id"])["step"].tolist()
    assert len(steps) == len(set(zip(steps, curve(dataset, run["id"])["eval_loss"].isna()))), "one curve, not two"
    n = dataset.scalar("SELECT count(*) FROM dataset_items")
    assert dataset.scalar("SELECT count(*) FROM example_losses WHERE run_id = ?", [run["id"]]) == n
    assert dataset.scalar("SELECT state FROM jobs WHERE kind = 'train'") == "succeeded"


# ------------------------------------------------------------------------------ on CUDA
@needs_cuda
def test_training_on_cuda(cli, dataset, tiny_model_dir, tmp_path):
    result = cli("train", "--dataset", "v1", "--model", str(tiny_model_dir), "--max-steps", "6",
                 "--device", "cuda", "--out", str(tmp_path / "runs"))
    assert result.exit_code == 0, result.output
    run = get_run(dataset, dataset.scalar("SELECT max(id) FROM runs"))
    assert run["metrics"]["device"].startswith("cuda") and run["metrics"]["precision"] in ("bf16", "fp16")


@needs_cuda
def test_domain_evaluation_on_cuda_records_where_it_ran(dataset, tiny_model_dir):
    from evals.domain import evaluate_domain

    metrics = evaluate_domain(dataset, str(tiny_model_dir), "v1", max_new_tokens=8, limit=4, device="cuda")
    config = dataset.one("SELECT config FROM eval_runs WHERE id = ?", [metrics["eval_run_id"]])["config"]
    assert '"device": "cuda"' in config


@needs_cuda
def test_qlora_on_cuda_saves_an_adapter(dataset, tiny_model_dir, tmp_path):
    pytest.importorskip("bitsandbytes")
    run_id = train(dataset, run_config(tiny_model_dir, tmp_path, qlora=True, lora_r=4, lora_alpha=8, device="cuda"))
    assert (tmp_path / "runs" / f"run-{run_id}" / "adapter" / "adapter_config.json").exists()


@pytest.mark.skipif(CUDA, reason="this machine has CUDA")
def test_the_gpu_benchmark_says_clearly_that_it_needs_cuda():
    import subprocess
    import sys

    from conftest import ROOT

    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and "needs a CUDA GPU" in done.stdout


# ------------------------------------------------------------------------------ vLLM
def test_the_inference_backend_is_vllm_only_where_it_can_run():
    from curate.lm.backends import choose_backend

    assert choose_backend("auto", "cpu") == "local" and choose_backend("local", "cpu") == "local"
    with pytest.raises(TuneloopError, match="CUDA GPUs only"):
        choose_backend("vllm", "cpu")


@pytest.mark.embeddings
def test_domain_evaluation_records_its_device_precision_and_backend(dataset, tiny_model_dir):
    import json

    from evals.domain import evaluate_domain

    metrics = evaluate_domain(dataset, str(tiny_model_dir), "v1", max_new_tokens=4, limit=3, flag=False)
    config = json.loads(dataset.scalar("SELECT config FROM eval_runs WHERE id = ?", [metrics["eval_run_id"]]))
    assert config["backend"] == ("vllm" if CUDA and __import__("importlib").util.find_spec("vllm") else "local")
    assert config["device"] == ("cuda" if CUDA else "cpu") and config["precision"] in ("fp32", "bf16", "fp16")


@needs_cuda
def test_vllm_and_transformers_answer_alike_greedily(dataset, tiny_model_dir):
    pytest.importorskip("vllm")
    from evals.domain import evaluate_domain

    runs = [evaluate_domain(dataset, str(tiny_model_dir), "v1", max_new_tokens=16, limit=8, flag=False,
                            device="cuda", precision="fp32", backend=b)["eval_run_id"] for b in ("local", "vllm")]
    outputs = [dataset.rows("SELECT output FROM model_outputs WHERE eval_run_id = ? ORDER BY pair_id", [r]) for r in runs]
    same = sum(a == b for a, b in zip(*outputs))
    assert same >= 0.75 * len(outputs[0])   # vLLM's kernels may part at near-ties (its documented tolerance)


def test_process_counts_that_cannot_work_are_refused(dataset, tiny_model_dir, tmp_path):
    with pytest.raises(TuneloopError, match="give 1 or more"):
        train(dataset, run_config(tiny_model_dir, tmp_path, num_processes=0))
    with pytest.raises(TuneloopError, match="--fsdp shards"):
        train(dataset, run_config(tiny_model_dir, tmp_path, fsdp=True))
    assert dataset.scalar("SELECT count(*) FROM runs") == 0


def test_a_cpu_training_process_keeps_the_memory_it_frees():
    """keep_freed_memory raises glibc's mmap and trim thresholds (fewer page faults a training step):
    a freed 64 MB tensor's memory is reused by the next one instead of being faulted in again."""
    import platform
    import resource

    import torch

    from curate.lm.device import keep_freed_memory

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc only")
    assert keep_freed_memory()
    for _ in range(10):   # allocated and freed until the heap has settled
        torch.ones(16 << 20)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        torch.ones(16 << 20)
    # without it, each of the five faults in all its 16,384 pages again
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before < (16 << 20) * 4 // 4096


def test_embeddings_default_to_bf16_on_a_cpu_that_has_it_and_say_so_in_the_stored_name(monkeypatch):
    from curate.errors import TuneloopError
    from curate.lm import embeddings

    if CUDA:
        pytest.skip("auto means the GPU here")
    monkeypatch.setattr(devices, "cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    assert embeddings.placement() == devices.Placement("cpu", "openvino-bf16")   # OpenVINO is a dependency
    assert embeddings.model_name().endswith("@openvino-bf16")
    monkeypatch.setattr(embeddings, "openvino_available", lambda: False)
    assert embeddings.placement() == devices.Placement("cpu", "bf16") and embeddings.model_name().endswith("@bf16")
    monkeypatch.setenv(embeddings.EMBED_PRECISION_ENV, "int4")
    with pytest.raises(TuneloopError, match="choose one of auto, fp32, bf16, fp16, openvino-bf16, int8"):
        embeddings.placement()
    monkeypatch.delenv(embeddings.EMBED_PRECISION_ENV)
    assert embeddings.placement(precision="fp32") == devices.Placement("cpu", "fp32")   # asked for: honoured
    monkeypatch.setenv(devices.PRECISION_ENV, "fp32")
    assert embeddings.placement().precision == "fp32"
    monkeypatch.delenv(devices.PRECISION_ENV)
    monkeypatch.setattr(devices, "cpu_flags", lambda: {"avx2"})
    assert embeddings.placement() == devices.Placement("cpu", "fp32") and "@" not in embeddings.model_name()
    with pytest.raises(TuneloopError, match="need a CPU with AVX512-BF16 or AMX"):
        embeddings.placement(precision="openvino-bf16")


@pytest.mark.embeddings
def test_bf16_vectors_are_within_a_stated_tolerance_of_fp32_on_real_text():
    """Real lamini_docs questions and answers: every bf16 vector within cosine 0.99 of its fp32 one
    (measured 0.996 at the least), unit length, and the same nearest neighbour for nearly all."""
    import json

    import numpy as np

    from curate.lm.embeddings import embed

    from conftest import shared

    if not devices.cpu_has_bf16() and not CUDA:
        pytest.skip("this CPU has neither AVX512-BF16 nor AMX")
    rows = [json.loads(line) for line in open(shared("lamini_docs", "lamini_docs.jsonl"), encoding="utf-8")][:150]
    texts = [t for r in rows for t in (r["question"], r["answer"])]
    fp32 = embed(texts, precision="fp32")
    bf16 = embed(texts, precision="bf16")
    assert bf16.dtype == np.float32 and np.allclose(np.linalg.norm(bf16, axis=1), 1.0, atol=1e-5)
    assert (fp32 * bf16).sum(axis=1).min() >= 0.99
    nearest = lambda v: np.argsort(-(v @ v.T), axis=1)[:, 1]  # noqa: E731
    assert (nearest(fp32) == nearest(bf16)).mean() >= 0.95


def _onnx_against_fp32(precision: str, cached: str, monkeypatch, tmp_path):
    """Real lamini_docs questions and answers embedded in fp32 and in `precision` (an ONNX engine,
    exported into a fresh cache: the file `cached` is there, nothing half-written), unit length;
    returns the texts, both matrices and the share of texts whose nearest neighbour is the same."""
    import json

    import numpy as np

    from curate.lm import embeddings, resolve

    from conftest import shared

    monkeypatch.setenv(resolve.CACHE_ENV, str(tmp_path / "cache"))
    rows = [json.loads(line) for line in open(shared("lamini_docs", "lamini_docs.jsonl"), encoding="utf-8")][:150]
    texts = [t for r in rows for t in (r["question"], r["answer"])]
    fp32 = embeddings.embed(texts, precision="fp32")
    ours = embeddings.embed(texts, precision=precision)
    assert list((tmp_path / "cache" / "onnx").rglob(cached)) and not list((tmp_path / "cache").rglob("*.tmp"))
    assert ours.dtype == np.float32 and np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    nearest = lambda v: np.argsort(-(v @ v.T), axis=1)[:, 1]  # noqa: E731
    return texts, fp32, ours, (nearest(fp32) == nearest(ours)).mean()


@pytest.mark.embeddings
def test_openvino_bf16_vectors_are_within_a_stated_tolerance_of_fp32_on_real_text(monkeypatch, tmp_path):
    """The default on a bf16 CPU: the ONNX export run in bf16 by OpenVINO. Every vector within
    cosine 0.999 of its fp32 one (measured 0.9999), nearly the same nearest neighbours, and the
    same vector batched or alone."""
    from curate.lm import embeddings

    if not devices.cpu_has_bf16():
        pytest.skip("this CPU has neither AVX512-BF16 nor AMX")
    texts, fp32, bf16, same = _onnx_against_fp32("openvino-bf16", "model-fp32.onnx", monkeypatch, tmp_path)
    assert (fp32 * bf16).sum(axis=1).min() >= 0.999
    assert same >= 0.95   # measured 0.977: near ties (PyTorch bf16: 0.95)
    alone = embeddings.embed(texts[:5], precision="openvino-bf16")
    assert (alone * bf16[:5]).sum(axis=1).min() >= 0.999


@pytest.mark.embeddings
def test_int8_onnx_vectors_are_within_a_stated_tolerance_of_fp32_on_real_text(monkeypatch, tmp_path):
    """The int8 ONNX encoder: every vector within cosine 0.97 of its fp32 one on real lamini_docs
    text (measured 0.98 at the least), nearly the same nearest neighbours, stored under its own
    name; asked for on a GPU, it says it runs on the CPU."""
    from curate.errors import TuneloopError
    from curate.lm import embeddings

    texts, fp32, int8, same = _onnx_against_fp32("int8", "model-int8.onnx", monkeypatch, tmp_path)
    assert (fp32 * int8).sum(axis=1).min() >= 0.97
    assert same >= 0.85  # measured 0.887 (bf16: 0.95 and more)
    assert embeddings.model_name(precision="int8").endswith("@int8")
    # activations are quantized per batch, so a vector moves a little with the texts batched beside it
    alone = embeddings.embed(texts[:5], precision="int8")
    assert (alone * int8[:5]).sum(axis=1).min() >= 0.98
    if not CUDA:
        monkeypatch.setattr(devices, "resolve", lambda *a, **k: devices.Placement("cuda", "fp32"))
    with pytest.raises(TuneloopError, match="int8 embeddings run on the CPU"):
        embeddings.placement("cuda", "int8")
