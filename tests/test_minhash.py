import json
import random

import numpy as np

from curate.dedupe.jaccard import jaccard_pairs
from curate.dedupe.minhash import MinHashConfig, band, band_keys, near_duplicates, normalize_text, optimal_bands, shingle, sign
from curate.demo import sample_files


def test_normalization_ignores_case_punctuation_and_spacing():
    assert normalize_text("  How do I RESET it?!  ") == "how do i reset it"
    a, oa = shingle(["How do I RESET it?!"])
    b, ob = shingle(["how do i reset it"])
    assert np.array_equal(a, b) and np.array_equal(oa, ob)


def test_short_and_empty_texts_are_one_shingle_each():
    hashes, offsets = shingle(["ab", "", "abcdefgh"], 5)
    assert np.diff(offsets).tolist() == [1, 1, 6]  # " ab " / " " / " abcdefgh " (10 bytes → 6 windows)
    assert len(hashes) == 8 and hashes[0] != hashes[1]


def test_exact_jaccard_matches_python_sets():
    rng = np.random.default_rng(0)
    values = rng.integers(0, 50, size=300).astype(np.uint32)
    offsets = np.array([0, 40, 100, 160, 300])
    left, right = np.array([0, 1, 2, 0]), np.array([1, 2, 3, 3])
    expected = []
    for a, b in zip(left, right):
        sa, sb = set(values[offsets[a]:offsets[a + 1]]), set(values[offsets[b]:offsets[b + 1]])
        expected.append(len(sa & sb) / len(sa | sb))
    assert np.allclose(jaccard_pairs(values.copy(), offsets, left, right), expected)


def test_bands_are_chosen_for_the_threshold():
    assert optimal_bands(0.7, 128) == (16, 8)
    assert optimal_bands(0.9, 128)[0] < optimal_bands(0.5, 128)[0]


def test_identical_signatures_become_candidates():
    hashes, offsets = shingle(["the lamp blinks orange", "the lamp blinks orange", "a different text entirely"])
    keys = band_keys(sign(hashes, offsets, 128, 1), 16, 8, 1)
    assert band(keys).tolist() == [[0, 1]]


def test_planted_near_duplicates_in_the_sample_data_are_found():
    rows = [json.loads(line) for line in next(f for f in sample_files() if f.name == "lumo_support_faq.jsonl").open()]
    result = near_duplicates([r["question"] + " " + r["answer"] for r in rows])
    planted = [i for i, r in enumerate(rows) if r["note"].startswith("planted near-duplicate of base")]
    assert len(planted) == 40
    for i in planted:  # each planted copy is clustered with its base row
        base = next(j for j, r in enumerate(rows) if r["note"] == "base " + rows[i]["note"].rsplit(" ", 1)[1])
        assert result.labels[i] >= 0 and result.labels[i] == result.labels[base]
    offtopic = [i for i, r in enumerate(rows) if r["note"] == "off-topic"]
    assert all(result.labels[i] == -1 for i in offtopic)  # same refusal, different questions
    assert (result.similarity >= 0.7).all()
    assert set(result.timings) == {"shingle", "sign", "band", "verify", "cluster"}


def test_edited_copies_are_found_and_unrelated_texts_are_not():
    rng = random.Random(1)
    words = "lamp light schedule reset firmware app wifi touch strip bright warm colour order refund".split()
    originals = [" ".join(rng.choice(words) for _ in range(30)) + f" item {i}" for i in range(200)]
    copies = [o.replace(" ", "  ", 2).upper() + "!" for o in originals[:100]]
    result = near_duplicates(originals + copies, MinHashConfig(threshold=0.8))
    pairs = {tuple(e) for e in result.edges.tolist()}
    assert all((i, 200 + i) in pairs for i in range(100))
    assert all(j >= 200 or i >= 200 for i, j in pairs) or len(pairs) >= 100
