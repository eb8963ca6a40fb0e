"""Does the quality scan earn its place? The same fine-tune on noisy data, on the data the scan
cleaned, and on the clean originals — scored on one frozen evaluation set of clean questions.

The noisy set is benchmarks/quality.py's: lamini_docs pairs with misaligned answers, deflections,
cut answers, mojibake, conflicts and placeholders injected (5% of the pairs each). Eighty clean
pairs are held out first as the evaluation set (every build leaves them and their near-duplicates
out). Then, with the same budget of LoRA steps each:

- (b) noisy: every pair as imported;
- (c) scanned: `quality scan`, and every finding rejected automatically (no person looked: this is
  the scan alone, at its recorded thresholds);
- (o) oracle: the clean originals of the same pairs.

It prints token F1, ROUGE-L and embedding similarity for each, the paired differences (mean,
bootstrap 95% interval, Wilcoxon p) and the share of the noisy→oracle gap that the scan recovers.
With --on twcs it trains on the raw twcs threads (../shared/data/twcs_customer_support) instead, as
extracted and after the scan, scored on a held-out set of their own threads (--on both: the two).

    .venv/bin/python benchmarks/outcome_noisy.py              # about 75 minutes on a 2-core machine
    .venv/bin/python benchmarks/outcome_noisy.py --on twcs    # about 25 minutes
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from outcome import SHARED, approve_in_play, build, print_compared, say, train_version  # noqa: E402

METRICS = ("token_f1", "rouge_l", "similarity")
QUALITY_KINDS = ["misaligned", "non_answer", "truncated", "garbled", "conflict", "placeholder"]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps({"question": r["question"], "answer": r["answer"]}) + "\n" for r in rows))
    return path


def reset(store) -> None:
    """Every pair back to new: the next arm decides again."""
    from curate.pairs.status import NEW, set_status

    with store.transaction() as con:
        set_status(con, [r[0] for r in con.execute("SELECT id FROM pairs").fetchall()], NEW)


def arm(store, name: str, evalset: str, args, workdir: Path) -> str:
    """Approve what is in play, build a version, fine-tune, and answer the evaluation set; the model spec."""
    from evals.domain import evaluate_domain

    approve_in_play(store)
    build(store, name, workdir, test_size=0.0)
    spec = f"run:{train_version(store, name, args.steps, workdir)}"
    evaluate_domain(store, spec, evalset=evalset, max_new_tokens=args.max_new_tokens, flag=False)
    return spec


def raw_and_scanned(store, prefix: str, evalset: str, args, workdir: Path) -> tuple[dict, dict]:
    """The same pairs trained on as they are, and after the scan (every finding rejected, no
    person looking: the scan alone at its recorded thresholds). ({label: spec}, counts by kind)."""
    from curate.quality.findings import act
    from curate.quality.scan import scan

    models = {f"{prefix}-raw": arm(store, f"{prefix}-raw", evalset, args, workdir)}
    reset(store)
    report = scan(store, QUALITY_KINDS)
    say(report.summary())
    for kind in report.counts:
        act(store, kind, 0.0, "reject", apply=True, actor="outcome benchmark")
    models[f"{prefix}-scanned"] = arm(store, f"{prefix}-scanned", evalset, args, workdir)
    return models, report.counts


def lamini(args, workdir: Path) -> dict:
    import quality as noise

    from curate.datasets.evalsets import create_evalset
    from curate.ingest.importer import ingest
    from curate.pairs.extract import extract
    from curate.pairs.status import APPROVED, REJECTED, active, set_status, status_in
    from curate.store import Store

    rows = noise.noisy_set(args.rate, args.seed)
    clean = [r for r in rows if r["label"] is None]
    held = random.Random(args.seed).sample(clean, args.evalset_size)
    held_q = {r["question"] for r in held}
    train_rows = [r for r in rows if r["question"] not in held_q]
    store = Store(workdir / "lamini.duckdb")
    frozen = create_evalset(store, "clean-questions", from_file=write_jsonl(workdir / "held.jsonl", held))
    ingest(store, [write_jsonl(workdir / "noisy.jsonl", train_rows)], topic="Lamini")
    extract(store)
    say(f"{store.scalar('SELECT count(*) FROM pairs')} noisy pairs; {frozen['items']} clean questions frozen")
    models, counts = raw_and_scanned(store, "lamini", "clean-questions", args, workdir)
    labels = {(r["question"], r["answer"]): r["label"] for r in train_rows}
    rejected = store.rows(f"SELECT instruction, response FROM pairs p WHERE {status_in((REJECTED,))}")
    caught = sum(1 for r in rejected if labels.get((r["instruction"], r["response"])))
    injected = sum(1 for v in labels.values() if v)
    say(f"the scan rejected {len(rejected)} pairs, {caught} of them injected defects ({injected} injected)")

    # (o) the oracle: the clean originals of the same training questions, and nothing else
    reset(store)
    originals = {(r["question"], r["answer"]) for r in noise.clean_pairs() if r["question"] not in held_q}
    ingest(store, [write_jsonl(workdir / "originals.jsonl", [{"question": q, "answer": a} for q, a in originals])],
           topic="Lamini")
    extract(store)
    with store.transaction() as con:
        in_play = con.execute(f"SELECT id, instruction, response FROM pairs p WHERE {active()}").fetchall()
        set_status(con, [i for i, q, a in in_play if (q, a) not in originals], REJECTED)
        set_status(con, [i for i, q, a in in_play if (q, a) in originals], APPROVED)
    models["lamini-oracle"] = arm(store, "lamini-oracle", "clean-questions", args, workdir)
    return {"store": store, "models": models, "scan": counts, "rejected": len(rejected), "caught": caught,
            "injected": injected}


def twcs(args, workdir: Path) -> dict:
    from curate.datasets.evalsets import create_evalset
    from curate.ingest.importer import ingest
    from curate.pairs.extract import extract
    from curate.store import Store

    store = Store(workdir / "twcs.duckdb")
    ingest(store, [SHARED / "twcs_customer_support"], topic="customer support")
    extract(store)
    create_evalset(store, "twcs-held", from_status="new", size=args.evalset_size, seed=args.seed)
    say(f"twcs: {store.scalar('SELECT count(*) FROM pairs')} pairs from the threads")
    models, counts = raw_and_scanned(store, "twcs", "twcs-held", args, workdir)
    return {"store": store, "models": models, "scan": counts}


def deflecting(store, evalset: str, models: dict[str, str]) -> dict[str, float]:
    """Per model, the share of its answers to the evaluation set that the non-answer check calls a
    deflection ("please DM us") — what training on support replies as they are teaches."""
    from curate.datasets.evalsets import get_evalset
    from curate.quality.checks.non_answer import THRESHOLD, deflection_score
    from evals.compare import latest_outputs

    set_id = get_evalset(store, evalset)["id"]
    out = {}
    for label, spec in models.items():
        outputs = list(latest_outputs(store, set_id, spec)[1].values())
        out[label] = sum(deflection_score(o["output"])[0] >= THRESHOLD for o in outputs) / max(len(outputs), 1)
    return out


def by_reference(store, evalset: str, raw: str, scanned: str) -> dict:
    """Token F1 of scanned − raw, apart for the questions whose reference reply is itself a deflection
    (where imitating deflections scores) and for those whose reference answers."""
    import numpy as np

    from curate.datasets.evalsets import get_evalset
    from curate.quality.checks.non_answer import THRESHOLD, deflection_score
    from evals.compare import latest_outputs, paired

    set_id = get_evalset(store, evalset)["id"]
    a, b = latest_outputs(store, set_id, raw)[1], latest_outputs(store, set_id, scanned)[1]
    common = sorted(set(a) & set(b))
    deflects = {i: deflection_score(a[i]["reference"])[0] >= THRESHOLD for i in common}
    out = {}
    for part, chosen in (("deflecting references", [i for i in common if deflects[i]]),
                         ("answering references", [i for i in common if not deflects[i]])):
        if chosen:
            out[part] = {"questions": len(chosen), **paired(np.array([a[i]["token_f1"] for i in chosen]),
                                                            np.array([b[i]["token_f1"] for i in chosen]))}
    return out


def gap_recovered(result: dict, noisy: str, scanned: str, oracle: str) -> dict:
    """For each metric: the means, and the share of the noisy → oracle gap the scan closes."""
    means = result["models"]
    out = {}
    for metric in METRICS:
        b, c, o = (means[x][metric] for x in (noisy, scanned, oracle))
        out[metric] = {"noisy": b, "scanned": c, "oracle": o, "recovered": (c - b) / (o - b) if o != b else None}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100, help="LoRA steps per fine-tune (the same for each)")
    parser.add_argument("--rate", type=float, default=0.05, help="share of the pairs given each kind of defect")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--evalset-size", type=int, default=80)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--on", choices=("lamini", "twcs", "both"), default="lamini",
                        help="lamini: the noisy set with its oracle; twcs: the raw twcs threads, raw and scanned")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--out", default=None, help="write the figures here as JSON")
    args = parser.parse_args()

    from evals.compare import compare

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="tuneloop-outcome-noisy-"))
    workdir.mkdir(parents=True, exist_ok=True)
    out = {"steps": args.steps}
    if args.on in ("lamini", "both"):
        done = lamini(args, workdir)
        specs = [done["models"][k] for k in ("lamini-raw", "lamini-scanned", "lamini-oracle")]
        result = compare(done["store"], "clean-questions", specs, args.seed)
        out["lamini"] = {"compare": result, "gap": gap_recovered(result, *specs),
                         **{k: done[k] for k in ("scan", "rejected", "caught", "injected")}}
        out["lamini"]["deflecting"] = deflecting(done["store"], "clean-questions", done["models"])
        print_compared(result, done["models"])
        print("answers that deflect:", {k: round(v, 3) for k, v in out["lamini"]["deflecting"].items()})
        for metric, g in out["lamini"]["gap"].items():
            print(f"{metric}: noisy {g['noisy']:.4f}, scanned {g['scanned']:.4f}, oracle {g['oracle']:.4f};"
                  f" gap recovered {g['recovered']:.2f}" if g["recovered"] is not None else f"{metric}: no gap")
    if args.on in ("twcs", "both"):
        t = twcs(args, workdir)
        out["twcs"] = {"compare": compare(t["store"], "twcs-held", list(t["models"].values()), args.seed),
                       "scan": t["scan"], "deflecting": deflecting(t["store"], "twcs-held", t["models"]),
                       "by_reference": by_reference(t["store"], "twcs-held", t["models"]["twcs-raw"],
                                                    t["models"]["twcs-scanned"])}
        print_compared(out["twcs"]["compare"], t["models"])
        print("answers that deflect:", {k: round(v, 3) for k, v in out["twcs"]["deflecting"].items()})
        for part, d in out["twcs"]["by_reference"].items():
            print(f"token F1, scanned − raw, {part} ({d['questions']}): {d['difference']:+.4f}"
                  f" [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}] p={d['p_value']:.3g}")
    say(f"done; stores and runs in {workdir}")
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
