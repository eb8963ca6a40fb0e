"""Blind A/B rating: two evaluation runs' answers side by side, sides randomized, win rate with a CI."""
import math

import pytest

from curate.errors import TuneloopError
from curate.pairs.rows import insert_pairs, make_pair
from curate.rating.users import add_user
from evals import ab

from conftest import eval_run


@pytest.fixture
def study(store):
    insert_pairs(store, [make_pair(f"How do I reset lamp {i}?", f"Hold the button {i} seconds.", origin="extracted")
                         for i in range(12)])
    ids = [r["id"] for r in store.rows("SELECT id FROM pairs ORDER BY id")]
    base = eval_run(store, "base", {i: f"base answer {i}" for i in ids})
    tuned = eval_run(store, "run:1", {i: f"tuned answer {i}" for i in ids[:10]})  # answered 10 of the 12
    return ab.create_study(store, base, tuned), ids


def test_a_study_holds_the_questions_both_runs_answered(store, study):
    study_id, ids = study
    [s] = ab.studies(store)
    assert s["id"] == study_id and s["items"] == 10 and s["model_a"] == "base" and s["model_b"] == "run:1"


def test_bad_studies_are_refused_with_the_reason(store, study):
    _, ids = study
    with pytest.raises(TuneloopError, match="no domain evaluation run 99"):
        ab.create_study(store, 1, 99)
    with pytest.raises(TuneloopError, match="two different"):
        ab.create_study(store, 1, 1)
    other = eval_run(store, "other", {})
    with pytest.raises(TuneloopError, match="no question in common"):
        ab.create_study(store, 1, other)
    assert store.scalar("SELECT count(*) FROM ab_studies") == 1  # the refused ones left nothing behind


def test_sides_are_randomized_and_votes_are_stored_as_models(store, study):
    study_id, _ = study
    annotators = [{"id": add_user(store, f"ann{k}")} for k in range(3)]
    sides = []
    for user in annotators:
        while (item := ab.next_item(store, study_id, user["id"])) is not None:
            sides.append(item["a_on_left"])
            assert {item["left"], item["right"]} == {f"base answer {item['pair_id']}", f"tuned answer {item['pair_id']}"}
            # this annotator always prefers the fine-tuned answer, wherever it is shown
            ab.vote(store, study_id, item["pair_id"], user["id"], "left" if item["left"].startswith("tuned") else "right")
    assert len(sides) == 30 and 5 < sum(sides) < 25  # both sides used
    stored = store.rows("SELECT a_on_left, choice FROM ab_votes")
    assert len(stored) == 30 and {r["choice"] for r in stored} == {"b"}
    assert {r["a_on_left"] for r in stored} == {True, False}
    assert ab.win_rate(store, study_id)["win_rate"] == 1.0


def test_win_rate_is_wilson_interval_over_decisive_votes(store, study):
    study_id, ids = study
    choices = ["b"] * 7 + ["a"] * 3
    users = [{"id": add_user(store, f"u{k}")} for k in range(2)]
    for pair_id, choice in zip(ids, choices):
        left_is_a = ab.a_on_left(study_id, pair_id, users[0]["id"])
        ab.vote(store, study_id, pair_id, users[0]["id"], "left" if (choice == "a") == left_is_a else "right")
    ab.vote(store, study_id, ids[0], users[1]["id"], "tie")
    ab.vote(store, study_id, ids[1], users[1]["id"], "tie")
    r = ab.win_rate(store, study_id)
    assert (r["votes"], r["b_wins"], r["a_wins"], r["ties"]) == (12, 7, 3, 2)
    n, p, z = 10, 0.7, 1.959963984540054
    centre, half = (p + z * z / (2 * n)), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert r["win_rate"] == pytest.approx(0.7)
    assert r["ci_low"] == pytest.approx((centre - half) / (1 + z * z / n), abs=1e-9)
    assert r["ci_high"] == pytest.approx((centre + half) / (1 + z * z / n), abs=1e-9)


def test_voting_again_replaces_and_everything_judged_ends_the_queue(store, study):
    study_id, ids = study
    user = {"id": add_user(store, "solo")}
    ab.vote(store, study_id, ids[0], user["id"], "left")
    ab.vote(store, study_id, ids[0], user["id"], "tie")
    assert store.rows("SELECT choice FROM ab_votes") == [{"choice": "tie"}]
    with pytest.raises(TuneloopError, match="not in A/B study"):
        ab.vote(store, study_id, ids[11], user["id"], "left")  # only one model answered it
    with pytest.raises(TuneloopError, match="one of left, tie, right"):
        ab.vote(store, study_id, ids[1], user["id"], "both")
    for pair_id in ids[1:10]:
        ab.vote(store, study_id, pair_id, user["id"], "tie")
    assert ab.next_item(store, study_id, user["id"]) is None


def test_questions_the_fine_tuned_model_lost_go_back_to_the_queue(store, study, cli):
    study_id, ids = study
    user = {"id": add_user(store, "judge")}
    for pair_id in ids[:3]:  # A preferred on the first three
        left_is_a = ab.a_on_left(study_id, pair_id, user["id"])
        ab.vote(store, study_id, pair_id, user["id"], "left" if left_is_a else "right")
    ab.vote(store, study_id, ids[3], user["id"], "tie")
    result = cli("eval", "ab", "results", "--send-losses")
    assert result.exit_code == 0, result.output
    assert "B won 0, A won 3, ties 1" in result.output and "3 questions B lost" in result.output
    flagged = [r["id"] for r in store.rows("SELECT id FROM pairs WHERE status = 'flagged' ORDER BY id")]
    assert flagged == ids[:3]


def test_cli_starts_a_study_and_names_bad_runs(store, cli):
    insert_pairs(store, [make_pair("Q?", "A.", origin="extracted")])
    a, b = eval_run(store, "base", {1: "x"}), eval_run(store, "run:1", {1: "y"})
    result = cli("eval", "ab", "start", "--a", str(a), "--b", str(b))
    assert result.exit_code == 0 and "1 questions" in result.output
    result = cli("eval", "ab", "start", "--a", str(a), "--b", "42")
    assert result.exit_code != 0 and "no domain evaluation run 42" in result.output
