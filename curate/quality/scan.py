"""The quality scan: every pair in play checked for what spoils a fine-tune, each finding stored
with its kind, a score, the evidence a person can verify, the check and the model that made it.

Kinds found here: misaligned, non_answer, truncated, garbled, conflict, placeholder, ungrounded
(curate/quality/checks/); gathered from what the store already knows: duplicate (dedupe clusters),
pii (the latest personal-data scan), contaminated (decontamination). A finding is evidence, not a
verdict: nothing here changes a pair's status (curate.quality.findings acts, on a person's say).
The question and answer vectors are the store's embeddings, computed once per text and shared
with dedupe, diversity and leakage checks.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from curate.errors import TuneloopError
from curate.quality.checks import Finding, conflict, garbled, misaligned, non_answer, placeholder, truncated, ungrounded
from curate.store import Store

TEXT_CHECKS = {"placeholder": placeholder.check, "garbled": garbled.check, "non_answer": non_answer.check,
               "ungrounded": ungrounded.check}
GATHERED = ("duplicate", "pii", "contaminated")
KINDS = ("misaligned", "non_answer", "truncated", "garbled", "conflict", "placeholder", "ungrounded", *GATHERED)
NEEDS_EMBEDDINGS = ("conflict", "misaligned")


@dataclass
class ScanReport:
    scan_id: int
    pairs: int
    counts: dict = field(default_factory=dict)
    flagged_pairs: int = 0
    notes: list = field(default_factory=list)

    def summary(self) -> str:
        found = ", ".join(f"{k} {n}" for k, n in self.counts.items()) or "nothing"
        share = 100 * self.flagged_pairs / max(self.pairs, 1)
        lines = [f"quality scan {self.scan_id}: {self.pairs} pairs, {self.flagged_pairs} with findings ({share:.1f}%)"
                 f" — {found}"] + [f"  {n}" for n in self.notes]
        return "\n".join(lines)


def scan(store: Store, kinds: list[str] | None = None, show_progress: bool = False, engine=None) -> ScanReport:
    """Check every pair in play (see the module docstring); the findings are stored as scan N."""
    from curate.pairs.status import active

    kinds = list(kinds or KINDS)
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise TuneloopError(f"unknown kind {', '.join(unknown)}; choose from {', '.join(KINDS)}")
    pairs = store.rows(f"SELECT id, instruction, response, origin, source_id, lineage FROM pairs p WHERE {active()}"
                       " ORDER BY id")
    for p in pairs:
        p["lineage"] = json.loads(p["lineage"]) if p["lineage"] else None
    with store.job("quality.scan", {"kinds": kinds}) as job:
        findings, thresholds, notes = [], {}, []
        for kind, fn in TEXT_CHECKS.items():
            if kind in kinds:
                findings += [f for p in tqdm(pairs, desc=kind, disable=not show_progress) if (f := fn(p))]
        if "truncated" in kinds:
            findings += truncated.check_all(pairs, {f.pair_id for f in findings})
        if set(kinds) & set(NEEDS_EMBEDDINGS) and pairs:
            from curate.lm.embeddings import model_name, vectors_for

            job.heartbeat(0.3, "embeddings")
            questions = vectors_for(store, [p["instruction"] for p in pairs], show_progress=show_progress,
                                    engine=engine, job=job)
            answers = vectors_for(store, [p["response"] for p in pairs], show_progress=show_progress,
                                  engine=engine, job=job)
            name = model_name()
            known = {f.pair_id for f in findings if f.kind in ("placeholder", "non_answer", "garbled", "truncated")}
            if "misaligned" in kinds:
                found, how = misaligned.check_all(pairs, questions, answers, name, known=known)
                findings += found
                thresholds["misaligned"] = how
                if not how["trained"]:
                    notes.append(f"misaligned: not checked ({how['why']})")
                known |= {f.pair_id for f in found}
            if "conflict" in kinds:
                findings += conflict.check_all(pairs, questions, answers, name, known)
        findings += _gathered(store, [k for k in kinds if k in GATHERED], {p["id"] for p in pairs})
        thresholds.update({k: m.THRESHOLD for k, m in (("placeholder", placeholder), ("garbled", garbled),
                                                       ("non_answer", non_answer), ("truncated", truncated),
                                                       ("conflict", conflict), ("ungrounded", ungrounded))})
        counts = dict(Counter(f.kind for f in findings).most_common())
        with store.transaction() as con:
            scan_id = con.execute(
                "INSERT INTO quality_scans (kinds, thresholds, pairs_scanned, counts, job_id) VALUES (?, ?, ?, ?, ?)"
                " RETURNING id", [json.dumps(kinds), json.dumps(thresholds), len(pairs), json.dumps(counts),
                                  job.id]).fetchone()[0]
            if findings:
                con.executemany("INSERT INTO quality_findings VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                [(scan_id, f.pair_id, f.kind, f.score, f.detail, json.dumps(f.related) if f.related
                                  else None, f.check, f.model) for f in findings])
        report = ScanReport(scan_id, len(pairs), counts, len({f.pair_id for f in findings}), notes)
        job.result = {"scan": scan_id, "counts": counts, "flagged_pairs": report.flagged_pairs}
    return report


def _gathered(store: Store, kinds: list[str], in_play: set[int]) -> list[Finding]:
    """Findings other steps made already: duplicates, personal data, benchmark overlaps."""
    out = []
    if "duplicate" in kinds:
        for r in store.rows("SELECT m.pair_id, max(m.similarity) AS similarity, any_value(c.keeper_id) AS keeper,"
                            " any_value(c.method) AS method FROM dup_members m JOIN dup_clusters c ON c.id = m.cluster_id"
                            " WHERE c.state <> 'dismissed' AND m.pair_id <> c.keeper_id"
                            " AND coalesce(m.decision, '') <> 'distinct' GROUP BY m.pair_id"):
            out.append(Finding(r["pair_id"], "duplicate", round(min(1.0, r["similarity"] or 1.0), 3),
                               f"a {r['method']} duplicate of pair {r['keeper']}", "dedupe", [r["keeper"]]))
    if "pii" in kinds:
        for r in store.rows("SELECT pair_id, max(score) AS score, string_agg(DISTINCT entity, ', ') AS entities"
                            " FROM pii_findings WHERE scan_id = (SELECT max(id) FROM pii_scans)"
                            " AND entity <> 'ORDER_ID' GROUP BY pair_id"):
            out.append(Finding(r["pair_id"], "pii", round(r["score"], 3), f"personal data: {r['entities']}", "pii"))
    if "contaminated" in kinds:
        for r in store.rows("SELECT pair_id, any_value(benchmark) AS benchmark, any_value(ngram) AS ngram"
                            " FROM contamination GROUP BY pair_id"):
            out.append(Finding(r["pair_id"], "contaminated", 1.0,
                               f"shares \"{r['ngram']}\" with {r['benchmark']}", "decontaminate"))
    return [f for f in out if f.pair_id in in_play]
