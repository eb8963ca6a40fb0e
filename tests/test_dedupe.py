import json

import pytest

from curate.dedupe.decide import (
    accept_all,
    cluster_members,
    clusters_frame,
    diff_segments,
    dismiss,
    proposed_ids,
    reopen,
    reopen_all,
    resolve,
)
from curate.dedupe.find import DedupeConfig, dedupe
from curate.errors import TuneloopError
from curate.ingest.importer import ingest
from curate.pairs.extract import extract

from conftest import shared

ROWS = [
    ("How do I reset my lamp?", "Hold the touch strip for twenty seconds until it blinks red."),
    ("how do I reset my lamp", "Hold the touch strip for twenty seconds until it blinks red!"),  # exact (normalized)
    ("How do I reset my lmap?", "Hold the touch strip for twenty seconds until it blinks red three times."),  # near
    ("What payment methods do you accept?", "Visa, Mastercard, PayPal and bank transfer."),
    ("Which ways can I pay?", "We take Visa, Mastercard, PayPal and bank transfer."),                      # semantic
    ("What is the capital of France?", "Let's keep the discussion relevant to Lumo."),
]


@pytest.fixture
def pairs_store(store, write):
    lines = [json.dumps({"question": q, "answer": a}) for q, a in ROWS]
    ingest(store, [write("faq.jsonl", "\n".join(lines) + "\n")])
    extract(store)
    return store


def ids_of(store, *questions):
    return {store.scalar("SELECT id FROM pairs WHERE instruction = ?", [q]) for q in questions}


def members(store, method):
    return [{m["pair_id"] for m in cluster_members(store, c)}
            for c in clusters_frame(store, method, None)[0]["id"]]


def test_exact_finds_case_and_punctuation_variants(pairs_store):
    report = dedupe(pairs_store, DedupeConfig(method="exact"))
    assert report.clusters == 1
    assert members(pairs_store, "exact") == [ids_of(pairs_store, ROWS[0][0], ROWS[1][0])]


def test_minhash_finds_the_typo_variant_too(pairs_store):
    dedupe(pairs_store, DedupeConfig(method="minhash"))
    assert members(pairs_store, "minhash") == [ids_of(pairs_store, *(r[0] for r in ROWS[:3]))]


@pytest.mark.embeddings
def test_semantic_finds_paraphrases(pairs_store):
    dedupe(pairs_store, DedupeConfig(method="semantic", threshold=0.8))
    found = members(pairs_store, "semantic")
    assert ids_of(pairs_store, ROWS[3][0], ROWS[4][0]) in found
    assert not any(ids_of(pairs_store, ROWS[5][0]) <= group for group in found)


def test_keeper_is_the_longest_answer_by_default(pairs_store):
    dedupe(pairs_store, DedupeConfig(method="minhash"))
    [cluster] = clusters_frame(pairs_store, "minhash")[0].to_dict("records")
    assert cluster["keeper_id"] == ids_of(pairs_store, ROWS[2][0]).pop()  # "…three times." is longest
    dedupe(pairs_store, DedupeConfig(method="minhash", keeper="earliest"))
    [cluster] = clusters_frame(pairs_store, "minhash")[0].to_dict("records")
    assert cluster["keeper_id"] == min(ids_of(pairs_store, *(r[0] for r in ROWS[:3])))


def test_resolve_marks_duplicates_and_undo_restores_them(pairs_store):
    dedupe(pairs_store, DedupeConfig(method="minhash"))
    [cluster_id] = clusters_frame(pairs_store, "minhash")[0]["id"]
    first, second, typo = (ids_of(pairs_store, r[0]).pop() for r in ROWS[:3])
    pairs_store.execute("UPDATE pairs SET status = 'approved' WHERE id = ?", [second])
    resolve(pairs_store, cluster_id, keeper_id=first, distinct=[typo])
    status = {r["id"]: r["status"] for r in pairs_store.rows("SELECT id, status FROM pairs")}
    assert (status[first], status[second], status[typo]) == ("new", "duplicate", "new")
    reopen(pairs_store, cluster_id)
    status = {r["id"]: r["status"] for r in pairs_store.rows("SELECT id, status FROM pairs")}
    assert (status[first], status[second], status[typo]) == ("new", "approved", "new")  # the earlier status is back
    assert pairs_store.scalar("SELECT count(*) FROM pairs") == len(ROWS)  # nothing deleted
    with pytest.raises(TuneloopError, match="not in cluster"):
        resolve(pairs_store, cluster_id, keeper_id=999)


def test_dismiss_and_accept_all(pairs_store):
    dedupe(pairs_store, DedupeConfig(method="exact"))
    dedupe(pairs_store, DedupeConfig(method="minhash"))
    [exact_id] = clusters_frame(pairs_store, "exact")[0]["id"]
    dismiss(pairs_store, exact_id)
    assert clusters_frame(pairs_store, "exact", "dismissed")[1] == 1
    proposed = proposed_ids(pairs_store)
    assert accept_all(pairs_store, ids=proposed) == 1
    assert pairs_store.scalar("SELECT count(*) FROM pairs WHERE status = 'duplicate'") == 2
    assert reopen_all(pairs_store, proposed) == 1   # the accept-all undone as one action
    assert pairs_store.scalar("SELECT count(*) FROM pairs WHERE status = 'duplicate'") == 0
    assert proposed_ids(pairs_store) == proposed


def test_a_rerun_keeps_decisions_and_does_not_propose_distinct_pairs_again(pairs_store):
    dedupe(pairs_store, DedupeConfig(method="minhash"))
    [cluster_id] = clusters_frame(pairs_store, "minhash")[0]["id"]
    dismiss(pairs_store, cluster_id)
    report = dedupe(pairs_store, DedupeConfig(method="minhash"))
    assert report.clusters == 0
    assert clusters_frame(pairs_store, "minhash", "dismissed")[1] == 1


def test_word_diff():
    assert diff_segments("how do I reset", "how can I reset it") == [
        ("how", "same"), ("do", "removed"), ("can", "added"), ("I reset", "same"), ("it", "added")]


def test_unknown_method_is_a_clear_error(store):
    with pytest.raises(TuneloopError, match="unknown method"):
        dedupe(store, DedupeConfig(method="fuzzy"))


@pytest.mark.slow
@pytest.mark.embeddings
def test_all_methods_on_the_sample_lamini_and_bitext(cli, store):
    """Done-when: planted near-duplicates of the sample, and real ones in lamini_docs and bitext."""
    from curate.demo import load_demo_data

    load_demo_data(store)
    ingest(store, [shared("lamini_docs"), shared("bitext_customer_support")])
    extract(store)
    result = cli("dedupe", "--method", "all")
    assert result.exit_code == 0, result.output
    assert all(f"{m}: " in result.output for m in ("exact", "minhash", "semantic"))
    in_clusters = {r["pair_id"] for r in store.rows(
        "SELECT m.pair_id FROM dup_members m JOIN dup_clusters c ON c.id = m.cluster_id WHERE c.method = 'minhash'")}
    planted = store.rows("SELECT p.id FROM pairs p JOIN raw_logs r ON r.id = p.raw_log_id"
                         " WHERE r.payload->'extra'->>'note' LIKE 'planted near-duplicate%'")
    assert len(planted) == 40 and all(p["id"] in in_clusters for p in planted)
    by_source = {r["name"]: r["n"] for r in store.rows(
        "SELECT s.name, count(*) AS n FROM dup_members m JOIN dup_clusters c ON c.id = m.cluster_id"
        " JOIN pairs p ON p.id = m.pair_id JOIN sources s ON s.id = p.source_id WHERE c.method = 'minhash'"
        " GROUP BY 1")}
    assert by_source.get("lamini_docs.jsonl", 0) > 10
    assert by_source.get("Bitext_Sample_Customer_Support_Training_Dataset.csv", 0) > 10


def test_best_rated_keeper_follows_the_mean_quality(pairs_store):
    from curate import rating
    from curate.rating.users import add_user

    first, typo = (ids_of(pairs_store, ROWS[i][0]).pop() for i in (0, 2))
    annotator = add_user(pairs_store, "ann", "annotator", "password123")
    rating.submit(pairs_store, annotator, first, {"quality": 5, "verdict": "approve"})
    rating.submit(pairs_store, annotator, typo, {"quality": 2, "verdict": "approve"})
    dedupe(pairs_store, DedupeConfig(method="minhash", keeper="best_rated"))
    [cluster] = clusters_frame(pairs_store, "minhash")[0].to_dict("records")
    assert cluster["keeper_id"] == first  # not the longest answer (the typo row), the best rated


def test_the_same_pairs_found_by_two_methods_are_one_cluster_decided_once(store, write):
    lines = [json.dumps({"question": q, "answer": a}) for q, a in (ROWS[0], ROWS[1], ROWS[3])]
    ingest(store, [write("faq.jsonl", "\n".join(lines) + "\n")])
    extract(store)
    for method in ("exact", "minhash"):
        assert dedupe(store, DedupeConfig(method=method)).clusters == 1
    frame, total = clusters_frame(store, None, "proposed")
    assert total == 1 and frame.loc[0, "method"] == "exact, minhash"   # one card, both methods named
    assert clusters_frame(store, "minhash", "proposed")[1] == 1       # each method's own list still has it
    before = dict((r["id"], r["status"]) for r in store.rows("SELECT id, status FROM pairs"))
    lead = int(frame.loc[0, "id"])
    resolve(store, lead)
    assert [r["state"] for r in store.rows("SELECT state FROM dup_clusters")] == ["resolved", "resolved"]
    assert store.scalar("SELECT count(*) FROM pairs WHERE status = 'duplicate'") == 1
    assert clusters_frame(store, None, "proposed")[1] == 0 and clusters_frame(store, None, "resolved")[1] == 1
    reopen(store, lead)
    assert dict((r["id"], r["status"]) for r in store.rows("SELECT id, status FROM pairs")) == before
    assert proposed_ids(store) == [lead]
    assert accept_all(store) == 1 and store.scalar("SELECT count(*) FROM dup_clusters WHERE state = 'resolved'") == 2
    reopen_all(store, [lead])
    assert dict((r["id"], r["status"]) for r in store.rows("SELECT id, status FROM pairs")) == before
    dismiss(store, lead)
    assert store.scalar("SELECT count(*) FROM dup_clusters WHERE state = 'dismissed'") == 2
