"""Model judges: a model asked to grade an answer (rubric, reference-guided) or to pick the better
of two (pairwise), declared as data in evals/judge_specs/*.yaml like lm-eval's tasks: the
prompt template, the scale or choices, and how to read the reply.

A reply the parse patterns cannot read is stored as unparsed with its raw text — never guessed.
Pairwise questions are asked twice, the answers in both orders; when the two verdicts disagree
the item is a tie (position bias). Every judgement is stored with its prompt and raw output and
reused when the same prompt is asked of the same model again.

Where judgements go: pairs' scores to curate's pair_scores (the rating queue and dataset
selection read them), verdicts on model outputs and A/B items to output_judgements and
ab_judgements.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from curate.errors import TuneloopError, not_found
from curate.pairs.status import active
from curate.quality.scores import prompt_hash, record_scores, scored_keys
from curate.store import Store

SPECS = Path(__file__).parent / "judge_specs"
ASK_BATCH = 16   # prompts per backend call; results are stored after each, so a stopped run resumes


@dataclass(frozen=True)
class Judge:
    name: str
    kind: str                     # score | pairwise
    description: str
    fields: tuple[str, ...]       # what the template needs
    template: str
    system: str | None
    parse: dict                   # score|choice and reason: a regex each, the first group is the value
    max_new_tokens: int = 160
    scale: tuple[int, ...] = ()   # score judges
    choices: tuple[str, ...] = ()  # pairwise judges: first answer, second answer, tie

    @classmethod
    def from_file(cls, path: Path) -> Judge:
        import yaml

        try:
            spec = yaml.safe_load(path.read_text(encoding="utf-8"))
            judge = cls(spec["name"], spec["kind"], spec.get("description", ""), tuple(spec["fields"]),
                        spec["template"], spec.get("system"), dict(spec["parse"]), int(spec.get("max_new_tokens", 160)),
                        tuple(int(v) for v in spec.get("scale", ())), tuple(str(c) for c in spec.get("choices", ())))
        except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
            raise TuneloopError(f"{path}: not a judge spec ({type(exc).__name__}: {exc})") from None
        if judge.kind not in ("score", "pairwise"):
            raise TuneloopError(f"{path}: kind is score or pairwise, not {judge.kind!r}")
        value = "score" if judge.kind == "score" else "choice"
        try:   # the template names only its fields; the patterns compile and capture a value
            judge.template.format(**{f: "" for f in judge.fields})
            patterns = {k: re.compile(v, re.IGNORECASE) for k, v in judge.parse.items()}
        except (KeyError, IndexError, ValueError) as exc:
            raise TuneloopError(f"{path}: the template uses {exc} which is not in its fields {list(judge.fields)}"
                                " (write a literal brace as {{ or }})") from None
        except re.error as exc:
            raise TuneloopError(f"{path}: a parse pattern is not a regular expression: {exc}") from None
        if any(p.groups < 1 for p in patterns.values()):
            raise TuneloopError(f"{path}: each parse pattern needs a group ( … ) around the value it reads")
        if value not in judge.parse or (judge.kind == "score" and not judge.scale) or \
                (judge.kind == "pairwise" and len(judge.choices) != 3):
            raise TuneloopError(f"{path}: a {judge.kind} judge needs parse.{value} and "
                                + ("a scale" if judge.kind == "score" else "three choices (first, second, tie)"))
        return judge

    @property
    def middle(self) -> float | None:
        return (min(self.scale) + max(self.scale)) / 2 if self.scale else None

    def conversation(self, values: dict) -> list[dict]:
        missing = [f for f in self.fields if values.get(f) in (None, "")]
        if missing:
            raise TuneloopError(f"judge {self.name} needs {', '.join(missing)}")
        user = self.template.format(**{f: values[f] for f in self.fields})
        return ([{"role": "system", "content": self.system}] if self.system else []) + [{"role": "user", "content": user}]

    def key(self, conversation: list[dict]) -> str:
        return prompt_hash({"conversation": conversation, "max_new_tokens": self.max_new_tokens})

    def read(self, text: str) -> dict:
        """The verdict in a reply: {score | choice, reason, parsed}. Unreadable: parsed False."""
        value_key = "score" if self.kind == "score" else "choice"
        found = re.search(self.parse[value_key], text or "", re.IGNORECASE)
        reason = re.search(self.parse["reason"], text or "", re.IGNORECASE) if "reason" in self.parse else None
        out = {value_key: None, "reason": reason.group(1).strip() if reason else None, "parsed": False}
        if found:
            raw = found.group(1).strip().lower()
            if self.kind == "score" and int(raw) in self.scale:
                out.update(score=float(raw), parsed=True)
            elif self.kind == "pairwise" and raw in [c.lower() for c in self.choices]:
                out.update(choice=raw, parsed=True)
        return out


def registered() -> dict[str, Judge]:
    """The judges shipped in evals/judge_specs, by name."""
    return {j.name: j for j in (Judge.from_file(p) for p in sorted(SPECS.glob("*.yaml")))}


def get_judge(name: str, kind: str | None = None) -> Judge:
    """A registered judge by name, or a judge spec file (.yaml) of the team's own."""
    judge = Judge.from_file(Path(name)) if name.endswith((".yaml", ".yml")) else registered().get(name)
    if judge is None:
        raise not_found("judge", name, list(registered()), "or give the path of a judge spec (.yaml)")
    if kind and judge.kind != kind:
        raise TuneloopError(f"judge {judge.name} is a {judge.kind} judge; this needs a {kind} judge")
    return judge


def backend_model(backend) -> str:
    return str(backend.description.get("model") or backend.description.get("backend"))


def _ask(backend, judge: Judge, conversations: list[list[dict]]) -> list[str]:
    return backend.chat(conversations, max_new_tokens=judge.max_new_tokens, temperature=0.0, seed=0)


def _ask_in_chunks(job, backend, judge: Judge, todo: list[tuple], size: int, store_chunk, show_progress: bool) -> None:
    """Ask the judge about `todo` (items whose last element is their list of conversations) `size`
    items at a time, storing each chunk's replies (store_chunk(chunk, replies)) before the next:
    an interrupted run keeps what was answered and a rerun asks only the rest."""
    for start in tqdm(range(0, len(todo), size), desc=f"judge {judge.name}", unit="batch", disable=not show_progress):
        chunk = todo[start:start + size]
        store_chunk(chunk, _ask(backend, judge, [c for item in chunk for c in item[-1]]))
        job.heartbeat((start + len(chunk)) / len(todo))


def _question(row: dict) -> str:
    return row["instruction"] + (f"\n\n{row['input']}" if row.get("input") else "")


# --------------------------------------------------------------------------- pairs (curation)
def judge_pairs(store: Store, judge: Judge, backend, *, limit: int | None = None, show_progress: bool = False) -> dict:
    """Score the pairs in play with a score judge; stored in pair_scores (scorer = the judge's name)."""
    if "reference" in judge.fields:
        raise TuneloopError(f"judge {judge.name} compares with a reference answer: use it on model outputs"
                            " (`tuneloop judge outputs --eval-run N`)")
    if judge.kind != "score":
        raise TuneloopError(f"judge {judge.name} compares two answers: use it on an A/B study (`--ab STUDY`)")
    model = backend_model(backend)
    pairs = store.rows(f"SELECT id, instruction, input, response FROM pairs p WHERE {active()} ORDER BY id LIMIT ?",
                       [limit])
    done = scored_keys(store, judge.name, model)
    todo = []
    for pair in pairs:
        conversation = judge.conversation({"instruction": _question(pair), "response": pair["response"]})
        if (pair["id"], judge.key(conversation)) not in done:
            todo.append((pair["id"], judge.key(conversation), [conversation]))

    def store_chunk(chunk, replies):
        record_scores(store, [{"pair_id": pair_id, "scorer": judge.name, "model": model, **judge.read(reply),
                               "prompt": json.dumps(conversation, ensure_ascii=False), "raw_output": reply,
                               "prompt_hash": key} for (pair_id, key, [conversation]), reply in zip(chunk, replies)])

    with store.job("judge.pairs", {"judge": judge.name, "model": model, "pairs": len(pairs)}) as job:
        _ask_in_chunks(job, backend, judge, todo, ASK_BATCH, store_chunk, show_progress)
        summary = store.one("SELECT count(*) AS scored, count(*) FILTER (WHERE NOT parsed) AS unparsed,"
                            " round(avg(score), 3) AS mean FROM pair_scores WHERE scorer = ? AND model = ?"
                            " AND list_contains(?, pair_id)", [judge.name, model, [p["id"] for p in pairs]])
        job.result = {**summary, "asked": len(todo), "cached": len(pairs) - len(todo), "model": model}
    return job.result


# --------------------------------------------------------------------------- model outputs (evaluation)
def judge_outputs(store: Store, eval_run_id: int, judge: Judge, backend, *, limit: int | None = None,
                  show_progress: bool = False) -> dict:
    """Grade a domain evaluation run's outputs with a score judge (rubric, or reference-guided
    against each question's reference answer); stored in output_judgements."""
    if judge.kind != "score":
        raise TuneloopError(f"judge {judge.name} compares two answers: use it on an A/B study (`--ab STUDY`)")
    if store.scalar("SELECT count(*) FROM eval_runs WHERE id = ?", [eval_run_id]) == 0:
        raise TuneloopError(f"no domain evaluation run {eval_run_id} (see `tuneloop eval domain`)")
    model = backend_model(backend)
    outputs = store.rows(
        "SELECT o.id, coalesce(p.instruction, e.instruction, o.prompt) AS instruction, coalesce(p.input, e.input) AS input,"
        " o.output, o.reference FROM model_outputs o LEFT JOIN pairs p ON p.id = o.pair_id"
        " LEFT JOIN eval_set_items e ON e.id = o.eval_item_id WHERE o.eval_run_id = ? ORDER BY o.id LIMIT ?",
        [eval_run_id, limit])
    done = {(r["output_id"], r["prompt_hash"]) for r in store.rows(
        "SELECT output_id, prompt_hash FROM output_judgements WHERE judge = ? AND model = ?", [judge.name, model])}
    todo = []
    for o in outputs:
        conversation = judge.conversation({"instruction": _question(o), "response": o["output"] or "(no answer)",
                                           "reference": o["reference"]})
        if (o["id"], judge.key(conversation)) not in done:
            todo.append((o["id"], judge.key(conversation), [conversation]))

    def store_chunk(chunk, replies):
        with store.transaction() as con:
            for (output_id, key, [conversation]), reply in zip(chunk, replies):
                verdict = judge.read(reply)
                con.execute("INSERT OR REPLACE INTO output_judgements (output_id, judge, model, score, reason,"
                            " prompt, raw_output, parsed, prompt_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            [output_id, judge.name, model, verdict["score"], verdict["reason"],
                             json.dumps(conversation, ensure_ascii=False), reply, verdict["parsed"], key])

    with store.job("judge.outputs", {"judge": judge.name, "model": model, "eval_run": eval_run_id}) as job:
        _ask_in_chunks(job, backend, judge, todo, ASK_BATCH, store_chunk, show_progress)
        job.result = {**store.one(
            "SELECT count(*) AS judged, count(*) FILTER (WHERE NOT j.parsed) AS unparsed, round(avg(j.score), 3) AS mean"
            " FROM output_judgements j JOIN model_outputs o ON o.id = j.output_id WHERE o.eval_run_id = ?"
            " AND j.judge = ? AND j.model = ?", [eval_run_id, judge.name, model]),
            "asked": len(todo), "cached": len(outputs) - len(todo), "model": model}
    return job.result


# --------------------------------------------------------------------------- A/B studies (pairwise)
def in_ab_terms(judge: Judge, choice: str | None, a_first: bool) -> str | None:
    """A pairwise verdict (first / second / tie as the judge saw them) as a, b or tie."""
    if choice is None:
        return None
    first, second, tie = (c.lower() for c in judge.choices)
    if choice == tie:
        return "tie"
    return ("a" if choice == first else "b") if a_first else ("b" if choice == first else "a")


def combine(a_first: str | None, b_first: str | None) -> str | None:
    """Both orders' verdicts as one: the same verdict stands, disagreement is a tie, an unparsed
    order leaves the item unjudged (None)."""
    if a_first is None or b_first is None:
        return None
    return a_first if a_first == b_first else "tie"


def judge_ab(store: Store, study_id: int, judge: Judge, backend, *, limit: int | None = None,
             show_progress: bool = False) -> dict:
    """Judge a blind A/B study's items with a pairwise judge, in both orders; stored in ab_judgements."""
    if judge.kind != "pairwise":
        raise TuneloopError(f"judge {judge.name} grades one answer; an A/B study needs a pairwise judge (pairwise)")
    if store.scalar("SELECT count(*) FROM ab_studies WHERE id = ?", [study_id]) == 0:
        raise TuneloopError(f"no A/B study {study_id} (see `tuneloop eval ab start`)")
    model = backend_model(backend)
    items = store.rows(
        "SELECT i.pair_id, p.instruction, p.input, oa.output AS output_a, ob.output AS output_b FROM ab_items i"
        " JOIN model_outputs oa ON oa.id = i.output_a JOIN model_outputs ob ON ob.id = i.output_b"
        " JOIN pairs p ON p.id = i.pair_id WHERE i.study_id = ? ORDER BY i.pair_id LIMIT ?", [study_id, limit])
    done = {(r["pair_id"], r["prompt_hash"]) for r in store.rows(
        "SELECT pair_id, prompt_hash FROM ab_judgements WHERE study_id = ? AND judge = ? AND model = ?",
        [study_id, judge.name, model])}
    todo = []
    for item in items:
        question = _question(item)
        orders = [judge.conversation({"instruction": question, "response_1": first or "(no answer)",
                                      "response_2": second or "(no answer)"})
                  for first, second in ((item["output_a"], item["output_b"]), (item["output_b"], item["output_a"]))]
        key = prompt_hash([judge.key(c) for c in orders])
        if (item["pair_id"], key) not in done:
            todo.append((item["pair_id"], key, orders))

    def store_chunk(chunk, replies):
        with store.transaction() as con:
            for k, (pair_id, key, orders) in enumerate(chunk):
                first, second = judge.read(replies[2 * k]), judge.read(replies[2 * k + 1])
                a_first, b_first = in_ab_terms(judge, first["choice"], True), in_ab_terms(judge, second["choice"], False)
                con.execute(
                    "INSERT OR REPLACE INTO ab_judgements (study_id, pair_id, judge, model, choice, choice_a_first,"
                    " choice_b_first, reason, prompts, raw_outputs, parsed, prompt_hash)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [study_id, pair_id, judge.name, model, combine(a_first, b_first), a_first, b_first,
                     first["reason"] or second["reason"], json.dumps(orders, ensure_ascii=False),
                     json.dumps(replies[2 * k:2 * k + 2], ensure_ascii=False), first["parsed"] and second["parsed"], key])

    with store.job("judge.ab", {"judge": judge.name, "model": model, "study": study_id}) as job:
        _ask_in_chunks(job, backend, judge, todo, ASK_BATCH // 2, store_chunk, show_progress)
        job.result = {**judge_win_rate(store, study_id, judge.name, model), "asked": len(todo),
                      "cached": len(items) - len(todo), "model": model}
    return job.result


def judge_win_rate(store: Store, study_id: int, judge: str, model: str) -> dict:
    """B's win rate by the judge (ties half), the orders' disagreements, and the length-controlled
    win rate: AlpacaEval's idea, a logistic regression of "B won" on the answers' normalized
    length difference, read at zero difference — what B's win rate would be at equal length."""
    import numpy as np

    rows = store.rows(
        "SELECT j.choice, j.choice_a_first, j.choice_b_first, length(oa.output) AS len_a, length(ob.output) AS len_b"
        " FROM ab_judgements j JOIN ab_items i ON i.study_id = j.study_id AND i.pair_id = j.pair_id"
        " JOIN model_outputs oa ON oa.id = i.output_a JOIN model_outputs ob ON ob.id = i.output_b"
        " WHERE j.study_id = ? AND j.judge = ? AND j.model = ?", [study_id, judge, model])
    judged = [r for r in rows if r["choice"] is not None]
    out = {"items": len(rows), "judged": len(judged), "unparsed": len(rows) - len(judged),
           "b_wins": sum(r["choice"] == "b" for r in judged), "a_wins": sum(r["choice"] == "a" for r in judged),
           "ties": sum(r["choice"] == "tie" for r in judged),
           "order_disagreements": sum(r["choice_a_first"] != r["choice_b_first"] for r in judged),
           "win_rate": None, "lc_win_rate": None}
    if not judged:
        return out
    y = np.array([{"b": 1.0, "a": 0.0, "tie": 0.5}[r["choice"]] for r in judged])
    out["win_rate"] = round(float(y.mean()), 4)
    out["lc_win_rate"] = round(length_controlled(y, np.array([r["len_b"] - r["len_a"] for r in judged], float)), 4)
    return out


def length_controlled(wins, length_difference) -> float:
    """B's win rate at zero length difference: a logistic regression of wins (1, 0, or 0.5 for a
    tie, entered as half a win and half a loss) on tanh(difference / its standard deviation)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    wins = np.asarray(wins, float)
    spread = float(np.std(length_difference)) or 1.0
    x = np.tanh(np.asarray(length_difference, float) / spread).reshape(-1, 1)
    X = np.vstack([x, x])
    y = np.concatenate([np.ones_like(wins), np.zeros_like(wins)])
    weight = np.concatenate([wins, 1 - wins])
    keep = weight > 0
    if len(set(y[keep].tolist())) < 2:
        return float(wins.mean())    # all wins or all losses: nothing to control for
    model = LogisticRegression(C=1e6).fit(X[keep], y[keep], sample_weight=weight[keep])
    return float(1 / (1 + np.exp(-model.intercept_[0])))


def order_queue(store: Store, by: str, scorer: str | None = None) -> dict:
    """Order the rating queue by a score (curate.scores.set_queue_order); for uncertainty, the
    middle of the judge's scale comes from its spec (3 for a judge not registered here)."""
    from curate.quality.scores import resolve_scorer, set_queue_order

    middle = None
    if by == "uncertainty":
        scorer = resolve_scorer(store, scorer)
        known = registered().get(scorer)
        middle = known.middle if known else 3.0
    return set_queue_order(store, by, scorer, middle)
