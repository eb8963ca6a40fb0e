"""Quality scores of pairs, kept in one table: a model judge's score with its reason and raw
output, or a score computed without a judge (curate.quality: IFD, perplexity). Also where a
judge's calibration against the team's raters is kept, and whether it can be trusted.

A score is a suggestion, never a rating: the rating tables are written by people only.
"""
from __future__ import annotations

import hashlib
import json

import pyarrow as pa

from curate.errors import TuneloopError
from curate.store import Store
from curate.store.settings import get_setting, set_setting

COMPUTED = ("ifd", "perplexity")    # scores without a judge; every other scorer is a model judge
TRUST_SETTING, DEFAULT_MIN_KAPPA = "judge_min_kappa", 0.4   # "moderate" agreement (Landis & Koch)
ORDER_SETTING, ORDERS = "queue_order", ("default", "low-score", "uncertainty")


def prompt_hash(prompt) -> str:
    """What makes a judgement reusable: the exact prompt (and its settings) asked."""
    return hashlib.sha256(json.dumps(prompt, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:32]


def scored_keys(store: Store, scorer: str, model: str) -> set[tuple[int, str]]:
    """(pair_id, prompt_hash) already scored by this scorer and model: the cache."""
    return {(r["pair_id"], r["prompt_hash"]) for r in store.rows(
        "SELECT pair_id, prompt_hash FROM pair_scores WHERE scorer = ? AND model = ?", [scorer, model])}


def record_scores(store: Store, rows: list[dict]) -> int:
    """Store scores (pair_id, scorer, model, score, reason, detail, prompt, raw_output, parsed,
    prompt_hash); a row asked again replaces the earlier one."""
    if not rows:
        return 0
    table = pa.table({
        "pair_id": pa.array([r["pair_id"] for r in rows], pa.int64()),
        "scorer": [r["scorer"] for r in rows], "model": [r["model"] for r in rows],
        "score": pa.array([r.get("score") for r in rows], pa.float64()),
        "reason": pa.array([r.get("reason") for r in rows], pa.string()),
        "detail": pa.array([json.dumps(r["detail"]) if r.get("detail") else None for r in rows], pa.string()),
        "prompt": pa.array([r.get("prompt") for r in rows], pa.string()),
        "raw_output": pa.array([r.get("raw_output") for r in rows], pa.string()),
        "parsed": pa.array([bool(r.get("parsed", True)) for r in rows], pa.bool_()),
        "prompt_hash": [r["prompt_hash"] for r in rows]})
    with store.transaction() as con:
        con.register("_scores", table)
        con.execute("INSERT OR REPLACE INTO pair_scores (pair_id, scorer, model, score, reason, detail, prompt,"
                    " raw_output, parsed, prompt_hash) SELECT pair_id, scorer, model, score, reason, detail::JSON,"
                    " prompt, raw_output, parsed, prompt_hash FROM _scores")
        con.unregister("_scores")
    return len(rows)


def scorers(store: Store) -> list[dict]:
    """Each (scorer, model) with how many pairs it scored and how many outputs it could not parse."""
    return store.rows("SELECT scorer, model, count(DISTINCT pair_id) AS pairs, count(*) FILTER (WHERE NOT parsed)"
                      " AS unparsed, max(created_at) AS latest FROM pair_scores GROUP BY 1, 2 ORDER BY latest DESC")


def resolve_scorer(store: Store, scorer: str | None) -> str:
    """A scorer that has scores: the one named, or the newest."""
    known = [s["scorer"] for s in scorers(store)]
    if not known:
        raise TuneloopError("no pair has a score yet: run `tuneloop judge pairs` or `tuneloop score`")
    if scorer is None:
        return known[0]
    if scorer not in known:
        raise TuneloopError(f"no scores from {scorer!r}; scored by: {', '.join(dict.fromkeys(known))}")
    return scorer


def pair_score_map(store: Store, scorer: str) -> dict[int, float]:
    """Each pair's score from this scorer (the mean over models and prompts, parsed scores only)."""
    return {r["pair_id"]: r["score"] for r in store.rows(
        "SELECT pair_id, avg(score) AS score FROM pair_scores WHERE scorer = ? AND score IS NOT NULL GROUP BY 1",
        [scorer])}


# --------------------------------------------------------------------------- calibration and trust
def record_calibration(store: Store, scorer: str, model: str, result: dict) -> int:
    return store.scalar(
        "INSERT INTO judge_calibrations (scorer, model, items, kappa, alpha, agreement, detail)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [scorer, model, result["items"], result.get("kappa"), result.get("alpha"), result.get("agreement"),
         json.dumps({k: v for k, v in result.items() if k not in ("items", "kappa", "alpha", "agreement")})])


def min_kappa(store: Store) -> float:
    return float(get_setting(store, TRUST_SETTING, DEFAULT_MIN_KAPPA))


def set_min_kappa(store: Store, value: float) -> None:
    if not -1 <= value <= 1:
        raise TuneloopError("the agreement a judge needs is a Cohen's kappa between -1 and 1")
    set_setting(store, TRUST_SETTING, value)


def trust(store: Store, scorer: str, model: str) -> dict:
    """The judge's latest calibration and whether it clears the team's bar: trusted is None when
    it was never calibrated (or had nothing to compare), else True/False."""
    row = store.one("SELECT items, kappa, alpha, agreement, created_at FROM judge_calibrations WHERE scorer = ?"
                    " AND model = ? ORDER BY id DESC LIMIT 1", [scorer, model])
    bar = min_kappa(store)
    if row is None or row["kappa"] is None:
        return {"calibrated": row is not None, "trusted": None, "kappa": None, "min_kappa": bar,
                "items": row["items"] if row else 0}
    return {"calibrated": True, "trusted": row["kappa"] >= bar, "kappa": row["kappa"], "min_kappa": bar,
            "items": row["items"], "agreement": row["agreement"]}


def suggestion(store: Store, pair_id: int) -> dict | None:
    """The newest model judge's verdict on a pair, with its trust, for showing beside the pair."""
    row = store.one("SELECT scorer, model, score, reason, parsed FROM pair_scores WHERE pair_id = ? AND scorer NOT IN"
                    f" ({', '.join('?' * len(COMPUTED))}) ORDER BY created_at DESC LIMIT 1", [pair_id, *COMPUTED])
    return {**row, **trust(store, row["scorer"], row["model"])} if row else None


# --------------------------------------------------------------------------- the queue's order
def queue_order(store: Store) -> dict:
    return get_setting(store, ORDER_SETTING, {"by": "default", "scorer": None, "middle": None})


def set_queue_order(store: Store, by: str, scorer: str | None = None, middle: float | None = None) -> dict:
    """Order each tier of the rating queue by a score: low-score (the lowest first: "look here
    first") or uncertainty (a judge's score nearest the middle of its scale first, and outputs
    it could not parse before all); default: oldest first."""
    if by not in ORDERS:
        raise TuneloopError(f"the queue is ordered by one of {', '.join(ORDERS)}")
    if by != "default":
        scorer = resolve_scorer(store, scorer)
        if by == "uncertainty" and (scorer in COMPUTED or middle is None):
            raise TuneloopError("uncertainty orders by a judge's distance from the middle of its scale: name a judge")
    order = {"by": by, "scorer": scorer if by != "default" else None, "middle": middle if by == "uncertainty" else None}
    set_setting(store, ORDER_SETTING, order)
    return order
