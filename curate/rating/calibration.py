"""A model judge against the team's raters: on the pairs both rated, how often the judge's score
matches the people's consensus (their median quality, rounded half up).

Reported: Cohen's kappa with linear weights (the judge against the consensus), Krippendorff's
alpha (ordinal, the judge added as one more rater beside the people), the share within one point,
the exact share, and the confusion matrix (rows: the people; columns: the judge).
"""
from __future__ import annotations

import math

import numpy as np

from curate.store import Store


def consensus(store: Store, question: str = "quality") -> dict[int, dict]:
    """Per pair the people rated on `question`: each person's value and the rounded median."""
    by_pair: dict[int, dict] = {}
    for r in store.rows("SELECT pair_id, annotator_id, TRY_CAST(value AS DOUBLE) AS v FROM current_ratings"
                        " WHERE question = ? AND TRY_CAST(value AS DOUBLE) IS NOT NULL", [question]):
        by_pair.setdefault(r["pair_id"], {})[r["annotator_id"]] = r["v"]
    return {pair: {"people": people, "consensus": math.floor(float(np.median(list(people.values()))) + 0.5)}
            for pair, people in by_pair.items()}


def compare(judge: dict[int, float], people: dict[int, dict], scale: list[int]) -> dict:
    """The calibration figures of judge scores (pair → score) against consensus(…) on `scale`."""
    import krippendorff
    from sklearn.metrics import cohen_kappa_score, confusion_matrix

    shared = sorted(set(judge) & set(people))
    result = {"items": len(shared), "scale": scale, "kappa": None, "alpha": None, "agreement": None,
              "exact": None, "confusion": None}
    if not shared:
        return result
    human = [people[p]["consensus"] for p in shared]
    model = [int(round(judge[p])) for p in shared]
    result["agreement"] = round(float(np.mean([abs(h - m) <= 1 for h, m in zip(human, model)])), 4)
    result["exact"] = round(float(np.mean([h == m for h, m in zip(human, model)])), 4)
    result["confusion"] = confusion_matrix(human, model, labels=scale).tolist()
    if len(set(human) | set(model)) > 1:
        kappa = cohen_kappa_score(human, model, labels=scale, weights="linear")
        result["kappa"] = None if np.isnan(kappa) else round(float(kappa), 4)
    raters = sorted({a for p in shared for a in people[p]["people"]})
    data = np.full((len(raters) + 1, len(shared)), np.nan)
    for j, p in enumerate(shared):
        for a, v in people[p]["people"].items():
            data[raters.index(a), j] = v
        data[-1, j] = model[j]
    if len(set(data[~np.isnan(data)].tolist())) > 1:
        with np.errstate(invalid="ignore", divide="ignore"):
            alpha = krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal", value_domain=scale)
        result["alpha"] = None if np.isnan(alpha) else round(float(alpha), 4)
    return result


def judge_rows(store: Store, scale: list[int], question: str = "quality") -> list[dict]:
    """Each model judge of pairs as a row beside the annotators of the Review page's agreement
    table: how many pairs it scored and its agreement with the consensus, marked as a model."""
    from curate.quality.scores import COMPUTED, trust

    people = consensus(store, question)
    rows = store.rows("SELECT scorer, model, pair_id, avg(score) AS score FROM pair_scores WHERE score IS NOT NULL"
                      f" AND scorer NOT IN ({', '.join('?' * len(COMPUTED))}) GROUP BY 1, 2, 3", list(COMPUTED))
    judges: dict[tuple, dict[int, float]] = {}
    for r in rows:
        judges.setdefault((r["scorer"], r["model"]), {})[r["pair_id"]] = r["score"]
    out = []
    for (scorer, model), scores in sorted(judges.items()):
        figures = compare(scores, people, scale)
        verdict = trust(store, scorer, model)
        out.append({"annotator": f"model judge: {scorer} ({model.split('/')[-1]})", "role": "model (not a person)",
                    "submissions": len(scores), "median_seconds_per_pair": None,
                    "agreement_with_consensus": figures["agreement"], "kappa_with_consensus": figures["kappa"],
                    "trusted": {None: "not calibrated", True: "yes", False: "no"}[verdict["trusted"]]})
    return out
