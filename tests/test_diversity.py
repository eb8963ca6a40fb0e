
import numpy as np
import pytest

from curate.errors import TuneloopError
from curate.quality.diversity import (
    DiversityConfig,
    analyze,
    choose_k,
    distinct_n,
    diversity,
    latest_run,
    length_histogram,
    map_points,
    nearest_similarity,
    shares,
)


def test_distinct_n_by_hand():
    # "a b a b" has bigrams ab, ba, ab: 2 distinct of 3; unigrams a, b, a, b: 2 of 4
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    assert distinct_n(["a b a b"], 1) == pytest.approx(0.5)
    assert distinct_n([], 1) == 0.0


def test_nearest_similarity_of_unit_vectors():
    vectors = np.array([[1, 0], [0.6, 0.8], [0, 1]], dtype=np.float32)
    assert np.allclose(nearest_similarity(vectors), [0.6, 0.8, 0.8])


def test_analyze_separates_two_topics_and_flags_the_thin_one():
    rng = np.random.default_rng(0)
    a = rng.normal([5, 0, 0], 0.1, size=(40, 3))
    b = rng.normal([0, 5, 0], 0.1, size=(2, 3))
    vectors = np.vstack([a, b]).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    texts = ["refund order payment"] * 40 + ["lamp firmware update"] * 2
    result = analyze(texts, texts, vectors, DiversityConfig(k=2, thin_share=0.1))
    assert len(set(result["labels"][:40])) == 1 and result["labels"][40] != result["labels"][0]
    clusters = {frozenset(c["label"].split(" · ")): c for c in result["summary"]["clusters"]}
    assert clusters[frozenset({"lamp", "firmware", "update"})]["thin"]
    assert not clusters[frozenset({"refund", "payment", "order"})]["thin"]
    assert result["xy"].shape == (42, 2)
    assert choose_k(42) == 5


@pytest.mark.embeddings
def test_diversity_run_is_stored_and_read_back_with_sql(cli, store):
    cli("demo-data")
    summary = diversity(store, DiversityConfig(k=6))
    run = latest_run(store)
    assert run["id"] == summary["run_id"] and run["summary"]["k"] == 6
    assert store.scalar("SELECT count(*) FROM pair_clusters WHERE run_id = ?", [run["id"]]) == summary["pairs"]
    assert len(map_points(store, run["id"], sample=50)) == 50
    assert length_histogram(store, "response")["pairs"].sum() == summary["pairs"]
    assert shares(store, "origin")["share"].sum() == pytest.approx(1.0)
    assert 0 < summary["distinct_2_instructions"] <= 1
    with pytest.raises(TuneloopError):
        shares(store, "colour")


@pytest.mark.embeddings
def test_cli_prints_clusters(cli):
    cli("demo-data")
    result = cli("diversity", "--k", "4")
    assert result.exit_code == 0 and "in 4 clusters" in result.output and "distinct 2 instructions" in result.output
