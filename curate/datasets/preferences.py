"""Preference pairs: the signal people already give, kept as training data.

An annotator's edit says the edited answer is better than the one they edited (chosen = edited,
rejected = original); a reviewer who approves one version of a pair and rejects the other says
which is better, and overrides the edit's direction; a blind A/B vote says which model's answer
is better (those records come from evals.ab.preference_records, which owns the votes). Edits
that were withdrawn or rejected, unchanged edits, A/B ties and A/B questions whose voters did not
agree enough are left out and counted.

`build_preferences` freezes the records as a named preference version (split into train and test
by question, so no question is on both sides) and writes it as JSON lines in TRL's form: the
standard `prompt`/`chosen`/`rejected` strings, or the conversational form whose prompt is a list
of messages. `tuneloop train --method dpo --dataset NAME` trains on a version.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from curate.datasets.build import _NAME, split_pairs
from curate.errors import TuneloopError, not_found
from curate.pairs.status import REJECTED
from curate.store import Store

FORMATS = ("prompt", "messages")


@dataclass
class Preference:
    source: str                 # ab | edit | review
    ref: str
    pair_id: int
    prompt: str
    chosen: str
    rejected: str
    context: list | None = None
    system: str | None = None
    agreement: float | None = None


def question(instruction: str, input: str | None) -> str:
    return instruction + (f"\n\n{input}" if input else "")


def from_edits(store: Store) -> tuple[list[Preference], Counter]:
    """Edited pairs against the pairs they were edited from, with reviewers' decisions between the two."""
    rows = store.rows(
        "SELECT e.id AS edited_id, e.response AS edited, e.status AS edited_status, o.id AS original_id,"
        " o.instruction, o.input, o.context, o.system, o.response AS original,"
        " (SELECT decision FROM reviews r WHERE r.pair_id = e.id ORDER BY r.id DESC LIMIT 1) AS edited_review,"
        " (SELECT decision FROM reviews r WHERE r.pair_id = o.id ORDER BY r.id DESC LIMIT 1) AS original_review"
        " FROM pairs e JOIN pairs o ON o.id = e.parent_id WHERE e.origin = 'edited' ORDER BY e.id")
    out, left_out = [], Counter()
    for r in rows:
        if r["edited"].strip() == r["original"].strip():
            left_out["edit left the answer as it was"] += 1
            continue
        common = {"pair_id": r["original_id"], "ref": f"pairs {r['original_id']}→{r['edited_id']}",
                  "prompt": question(r["instruction"], r["input"]),
                  "context": json.loads(r["context"]) if r["context"] else None, "system": r["system"]}
        if r["edited_review"] == "reject" and r["original_review"] == "approve":
            out.append(Preference("review", chosen=r["original"], rejected=r["edited"], **common))
        elif r["edited_review"] == "approve" and r["original_review"] == "reject":
            out.append(Preference("review", chosen=r["edited"], rejected=r["original"], **common))
        elif r["edited_status"] == REJECTED:
            left_out["edit withdrawn or rejected"] += 1
        else:
            out.append(Preference("edit", chosen=r["edited"], rejected=r["original"], **common))
    return out, left_out


def _messages(p: Preference) -> list[dict]:
    return ([{"role": "system", "content": p.system}] if p.system else []) + list(p.context or []) + [
        {"role": "user", "content": p.prompt}]


def as_record(p: Preference, fmt: str) -> dict:
    """One JSON line in TRL's preference form: standard (strings) or conversational (messages)."""
    if fmt == "messages":
        return {"prompt": _messages(p), "chosen": [{"role": "assistant", "content": p.chosen}],
                "rejected": [{"role": "assistant", "content": p.rejected}]}
    earlier = "".join(f"{m['role']}: {m['content']}\n" for m in _messages(p)[:-1])
    return {"prompt": earlier + p.prompt if earlier else p.prompt, "chosen": p.chosen, "rejected": p.rejected}


def build_preferences(store: Store, name: str, records: list[Preference], left_out: Counter, *,
                      test_size: float = 0.2, seed: int = 0, out: str | Path | None = None,
                      fmt: str = "messages") -> dict:
    """Freeze preference records as version `name` (test split by question) and write them as JSON
    lines to `out`. Returns the version's report."""
    if not _NAME.match(name or ""):
        raise TuneloopError("a version name is letters, digits, '.', '_' or '-' (up to 64), e.g. prefs1")
    if fmt not in FORMATS:
        raise TuneloopError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not 0 <= test_size < 1:
        raise TuneloopError("--test-size is a share between 0 and 1")
    if store.scalar("SELECT count(*) FROM preference_versions WHERE name = ?", [name]) or store.scalar(
            "SELECT count(*) FROM dataset_versions WHERE name = ?", [name]):
        raise TuneloopError(f"a version named {name!r} exists; versions are immutable, choose a new name")
    if not records:
        raise TuneloopError("no preferences yet: they come from A/B votes, edits on the Rate page and reviewers'"
                            " decisions between a pair's versions" + (f" ({_left_out_text(left_out)})" if left_out
                                                                        else ""))
    questions = sorted({r.pair_id for r in records})
    splits = split_pairs([{"id": q, "topic": "", "origin": "preference"} for q in questions], test_size, seed)
    path = Path(out) if out else None
    report = {"items": len(records), "by_source": dict(Counter(r.source for r in records)),
              "train": sum(splits[r.pair_id] == "train" for r in records),
              "test": sum(splits[r.pair_id] == "test" for r in records), "left_out": dict(left_out), "format": fmt}
    with store.transaction() as con:
        version_id = con.execute(
            "INSERT INTO preference_versions (name, test_size, seed, report, export_path) VALUES (?, ?, ?, ?, ?)"
            " RETURNING id", [name, test_size, seed, json.dumps(report), str(path) if path else None]).fetchone()[0]
        con.executemany(
            "INSERT INTO preference_items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(version_id, r.source, r.ref, r.pair_id, splits[r.pair_id], r.prompt,
              json.dumps(r.context) if r.context else None, r.system, r.chosen, r.rejected, r.agreement)
             for r in records])
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            for r in records:
                fh.write(json.dumps({**as_record(r, fmt), "split": splits[r.pair_id], "source": r.source},
                                    ensure_ascii=False) + "\n")
    return {"version_id": version_id, "name": name, "path": str(path) if path else None, **report}


def _left_out_text(left_out: Counter) -> str:
    return "left out: " + ", ".join(f"{n} {why}" for why, n in left_out.most_common())


def summary(report: dict) -> str:
    text = (f"preference version {report['name']}: {report['items']} pair(s) ("
            + ", ".join(f"{n} from {s}" for s, n in report["by_source"].items())
            + f"), train {report['train']} / test {report['test']}")
    if report["left_out"]:
        text += "; " + _left_out_text(Counter(report["left_out"]))
    return text + (f"\nwritten to {report['path']}" if report.get("path") else "")


def preference_versions_frame(store: Store):
    return store.frame("SELECT id, name, report->>'items' AS items, report->>'train' AS train, report->>'test' AS test,"
                       " report->'by_source' AS by_source, export_path, created_at FROM preference_versions ORDER BY id DESC")


def get_preference_version(store: Store, name: str) -> dict | None:
    row = store.one("SELECT * FROM preference_versions WHERE name = ?", [name])
    if row is not None:
        row["report"] = json.loads(row["report"]) if row["report"] else {}
    return row


def require_preference_version(store: Store, name: str) -> dict:
    row = get_preference_version(store, name)
    if row is None:
        raise not_found("preference version", name,
                        [r["name"] for r in store.rows("SELECT name FROM preference_versions ORDER BY id")],
                        "make one with `tuneloop preferences export`")
    return row


def preference_items(store: Store, version_id: int, split: str | None = None) -> list[Preference]:
    rows = store.rows("SELECT * FROM preference_items WHERE version_id = ?" + (" AND split = ?" if split else "")
                      + " ORDER BY pair_id, ref", [version_id] + ([split] if split else []))
    return [Preference(r["source"], r["ref"], r["pair_id"], r["prompt"], r["chosen"], r["rejected"],
                       json.loads(r["context"]) if r["context"] else None, r["system"], r["agreement"]) for r in rows]

