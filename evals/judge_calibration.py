"""Calibration: each model judge against the team's own raters, on the items both rated.

Score judges of pairs: Cohen's kappa and Krippendorff's alpha against the annotators' quality
consensus, and the confusion matrix (curate.rating.calibration). Pairwise judges of A/B studies:
agreement with the voters' majority (ties included) and Cohen's kappa over a / b / tie. Each
result is stored (judge_calibrations), so the judge's scores are shown as trustworthy or not
wherever they appear (curate.scores.trust).
"""
from __future__ import annotations

from curate.quality.scores import COMPUTED, record_calibration, trust
from curate.rating.calibration import compare, consensus
from curate.rating.schema import get_schema
from curate.store import Store
from evals.judges import get_judge, registered


def _scale(store: Store, scorer: str) -> list[int]:
    known = registered().get(scorer)
    if known and known.scale:
        return list(known.scale)
    quality = next((q for q in get_schema(store)["questions"] if q["name"] == "quality"), None)
    return [int(v) for v in quality["values"]] if quality else [1, 2, 3, 4, 5]


def calibrate(store: Store, judge: str | None = None, model: str | None = None) -> list[dict]:
    """Calibrate every judge that has judged something (or the one named, by name or spec file):
    one result per (judge, model), stored and returned with its trust."""
    name = get_judge(judge).name if judge else None
    where, args = " AND (? IS NULL OR scorer = ?) AND (? IS NULL OR model = ?)", [name, name, model, model]
    results = []
    people = consensus(store)
    for r in store.rows(f"SELECT DISTINCT scorer, model FROM pair_scores WHERE scorer NOT IN"
                        f" ({', '.join('?' * len(COMPUTED))}){where} ORDER BY 1, 2", [*COMPUTED, *args]):
        scores = {s["pair_id"]: s["score"] for s in store.rows(
            "SELECT pair_id, avg(score) AS score FROM pair_scores WHERE scorer = ? AND model = ? AND score IS NOT NULL"
            " GROUP BY 1", [r["scorer"], r["model"]])}
        result = {"judge": r["scorer"], "model": r["model"], "on": "pair ratings (quality)",
                  **compare(scores, people, _scale(store, r["scorer"]))}
        results.append(result)
    ab_where, ab_args = " AND (? IS NULL OR judge = ?) AND (? IS NULL OR model = ?)", [name, name, model, model]
    for r in store.rows(f"SELECT DISTINCT judge, model FROM ab_judgements WHERE true{ab_where} ORDER BY 1, 2", ab_args):
        results.append({"judge": r["judge"], "model": r["model"], "on": "A/B votes",
                        **ab_agreement(store, r["judge"], r["model"])})
    for result in results:
        record_calibration(store, result["judge"], result["model"], result)
        result["trust"] = trust(store, result["judge"], result["model"])
    return results


def ab_agreement(store: Store, judge: str, model: str) -> dict:
    """The judge's verdict against the voters' majority per A/B item (a tie when votes split evenly)."""
    from sklearn.metrics import cohen_kappa_score, confusion_matrix

    rows = store.rows(
        "WITH votes AS (SELECT study_id, pair_id, count(*) FILTER (choice = 'a') AS a,"
        " count(*) FILTER (choice = 'b') AS b FROM ab_votes GROUP BY 1, 2)"
        " SELECT j.choice, CASE WHEN v.a > v.b THEN 'a' WHEN v.b > v.a THEN 'b' ELSE 'tie' END AS people"
        " FROM ab_judgements j JOIN votes v ON v.study_id = j.study_id AND v.pair_id = j.pair_id"
        " WHERE j.judge = ? AND j.model = ? AND j.choice IS NOT NULL", [judge, model])
    labels = ["a", "b", "tie"]
    out = {"items": len(rows), "scale": labels, "kappa": None, "alpha": None, "agreement": None, "exact": None,
           "confusion": None}
    if rows:
        human, machine = [r["people"] for r in rows], [r["choice"] for r in rows]
        out["agreement"] = out["exact"] = round(sum(h == m for h, m in zip(human, machine)) / len(rows), 4)
        out["confusion"] = confusion_matrix(human, machine, labels=labels).tolist()
        if len(set(human) | set(machine)) > 1:
            kappa = float(cohen_kappa_score(human, machine, labels=labels))
            out["kappa"] = None if kappa != kappa else round(kappa, 4)   # NaN: undefined
    return out
