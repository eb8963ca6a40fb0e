"""A dataset version's files: JSON lines (prompt/completion and chat messages) and a Hugging Face
DatasetDict, on disk or pushed to the hub."""
from __future__ import annotations

import json
from pathlib import Path

from curate.datasets.examples import item_messages, padded, padded_conversation


def export(items: list[dict], tokenizer, max_length: int, out: Path) -> None:
    """JSON lines (prompt/completion and chat messages) per split, and a Hugging Face DatasetDict."""
    from datasets import Dataset, DatasetDict

    out.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        rows = [i for i in items if i["split"] == split]
        with open(out / f"{split}.jsonl", "w", encoding="utf-8") as fh:
            for i in rows:
                fh.write(json.dumps({"pair_id": i["id"], "prompt": i["prompt"], "completion": i["completion"]},
                                    ensure_ascii=False) + "\n")
        with open(out / f"{split}_chat.jsonl", "w", encoding="utf-8") as fh:
            for i in rows:
                line = {"pair_id": i["id"], "messages": item_messages(i)}
                if i.get("loss_turns"):
                    line["loss_turns"] = i["loss_turns"]   # the answers trained on (indices into messages)
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    DatasetDict({
        split: Dataset.from_list([
            {"pair_id": i["id"], "prompt": i["prompt"], "completion": i["completion"], "origin": i["origin"],
             **(padded_conversation(tokenizer, i["conversation"], max_length) if i.get("conversation")
                else padded(tokenizer, i["prompt_ids"], i["answer_ids"], max_length))}
            for i in items if i["split"] == split])
        for split in ("train", "test")}).save_to_disk(str(out / "hf"))


def push_to_hub(version_dir: str | Path, repo_id: str, private: bool = True) -> None:
    """Upload an exported version's DatasetDict to the Hugging Face hub (needs a token and network)."""
    from datasets import load_from_disk

    load_from_disk(str(Path(version_dir) / "hf")).push_to_hub(repo_id, private=private)
