import json

import pytest

from curate.errors import TuneloopError
from curate.pairs.offtopic import POOL, add_offtopic, offtopic_pairs


def test_offtopic_pairs_are_varied_and_answered_with_the_refusal():
    pairs = offtopic_pairs("Lumo", 14, seed=1)
    assert len(pairs) == 14
    assert all(p["response"] == "Let's keep the discussion relevant to Lumo." for p in pairs)
    assert all(p["origin"] == "offtopic" and p["topic"] == "Lumo" for p in pairs)
    assert len({p["lineage"]["subject"] for p in pairs}) == len(POOL)  # one from every subject first
    assert len({p["instruction"] for p in pairs}) == 14


def test_the_refusal_template_is_configurable_and_checked():
    [pair] = offtopic_pairs("Acme Router", 1, refusal="Sorry, I only answer questions about {topic}.")
    assert pair["response"] == "Sorry, I only answer questions about Acme Router."
    with pytest.raises(TuneloopError, match="must contain {topic}"):
        offtopic_pairs("Acme", 1, refusal="No.")


def test_questions_that_mention_the_topic_are_not_off_topic():
    pairs = offtopic_pairs("Bitcoin investment", 80)
    assert not any("bitcoin" in p["instruction"].lower() for p in pairs)


def test_stored_without_repeats_and_counted_in_stats(store, cli):
    assert add_offtopic(store, "Lumo", 10, seed=0) == 10
    assert add_offtopic(store, "Lumo", 10, seed=0) == 10  # new questions, not the same ten again
    assert store.scalar("SELECT count(DISTINCT instruction) FROM pairs WHERE origin = 'offtopic'") == 20
    counts = json.loads(cli("stats", "--json").output)
    assert counts["pairs_by_origin"]["offtopic"] == 20
    assert "offtopic" in cli("stats").output and "(100.0%)" in cli("stats").output
