"""Agreement between annotators: Krippendorff's alpha per question, Cohen's kappa per pair of
annotators, and each annotator's count, pace and agreement with the consensus."""
from __future__ import annotations

import warnings
from itertools import combinations

import numpy as np

from curate.rating.calibration import judge_rows
from curate.rating.schema import get_schema
from curate.store import Store


def _matrix(store: Store, question: str) -> tuple[list[str], list[int], np.ndarray]:
    rows = store.rows("SELECT u.name, r.pair_id, r.value FROM current_ratings r JOIN users u ON u.id = r.annotator_id"
                      " WHERE r.question = ? ORDER BY u.name, r.pair_id", [question])
    names = sorted({r["name"] for r in rows})
    pairs = sorted({r["pair_id"] for r in rows})
    return names, pairs, rows


def agreement(store: Store) -> dict:
    """Krippendorff's alpha per question (ordinal for ratings, nominal for labels), Cohen's kappa
    per annotator pair, and each annotator's count, pace and agreement with the consensus."""
    import krippendorff
    from sklearn.metrics import cohen_kappa_score

    schema = get_schema(store)
    result = {"questions": {}, "kappa": [], "annotators": []}
    consensus: dict[str, dict[int, str]] = {}
    for q in schema["questions"]:
        if q["type"] not in ("rating", "label"):
            continue
        names, pairs, rows = _matrix(store, q["name"])
        values = [str(v) for v in q["values"]]
        code = {v: i for i, v in enumerate(values)}
        data = np.full((len(names), len(pairs)), np.nan)
        for r in rows:
            if r["value"] in code:
                data[names.index(r["name"]), pairs.index(r["pair_id"])] = code[r["value"]]
        level = "ordinal" if q["type"] == "rating" else "nominal"
        shared = int((np.sum(~np.isnan(data), axis=0) >= 2).sum()) if len(names) else 0
        alpha = None
        if shared >= 1 and len(names) >= 2:
            with np.errstate(invalid="ignore", divide="ignore"):
                try:
                    alpha = float(krippendorff.alpha(reliability_data=data, level_of_measurement=level,
                                                     value_domain=list(range(len(values)))))
                except ValueError:
                    alpha = None
            if alpha is not None and np.isnan(alpha):
                alpha = None  # everyone gave one and the same value: agreement is undefined
        result["questions"][q["name"]] = {"alpha": alpha, "level": level, "pairs_with_2_or_more": shared}
        for a, b in combinations(range(len(names)), 2):
            both = ~np.isnan(data[a]) & ~np.isnan(data[b])
            if both.sum() >= 2:
                with warnings.catch_warnings():  # two annotators who share one label: kappa is undefined
                    warnings.filterwarnings("ignore", message=".*only one label in common.*")
                    kappa = cohen_kappa_score(data[a, both], data[b, both], labels=list(range(len(values))),
                                              weights="linear" if level == "ordinal" else None,
                                              replace_undefined_by=np.nan)
                result["kappa"].append({"question": q["name"], "a": names[a], "b": names[b],
                                        "kappa": None if np.isnan(kappa) else float(kappa), "pairs": int(both.sum())})
        consensus[q["name"]] = {}
        for j, pair in enumerate(pairs):
            col = data[:, j][~np.isnan(data[:, j])]
            if len(col) >= 2:
                consensus[q["name"]][pair] = float(np.median(col)) if level == "ordinal" else \
                    float(np.bincount(col.astype(int)).argmax())
        result["questions"][q["name"]]["_data"] = (names, pairs, data, level)
    for user in store.rows("SELECT id, name, role FROM users ORDER BY name"):
        subs = store.rows("SELECT submission_id, min(created_at) AS at FROM current_ratings WHERE annotator_id = ?"
                          " AND question NOT LIKE '\\_%' ESCAPE '\\' GROUP BY 1 ORDER BY 2", [user["id"]])
        if not subs:
            continue
        gaps = np.diff([s["at"].timestamp() for s in subs])
        gaps = gaps[gaps < 1800]  # breaks of over half an hour are not rating time
        agree, total = 0, 0
        for qname, info in result["questions"].items():
            names, pairs, data, level = info["_data"]
            if user["name"] not in names:
                continue
            row = data[names.index(user["name"])]
            for j, pair in enumerate(pairs):
                if pair in consensus[qname] and not np.isnan(row[j]):
                    total += 1
                    agree += abs(row[j] - consensus[qname][pair]) <= (1 if level == "ordinal" else 0)
        result["annotators"].append({
            "annotator": user["name"], "role": user["role"], "submissions": len(subs),
            "median_seconds_per_pair": round(float(np.median(gaps)), 1) if len(gaps) else None,
            "agreement_with_consensus": round(float(agree) / total, 3) if total else None})
    for info in result["questions"].values():
        info.pop("_data")
    quality = next((q for q in schema["questions"] if q["name"] == "quality" and q["type"] == "rating"), None)
    result["judges"] = judge_rows(store, [int(v) for v in quality["values"]]) if quality else []
    return result
