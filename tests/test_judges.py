"""Model judges: declared as data, read strictly, cached, asked in both orders, calibrated against
the raters, shown as suggestions, ordering the queue; and selection by score."""
import hashlib
import json

import pytest

from curate import rating
from curate.errors import TuneloopError
from curate.pairs.rows import insert_pairs, make_pair
from curate.quality.scores import record_scores, set_queue_order, suggestion, trust
from curate.rating.calibration import compare, consensus
from curate.rating.users import add_user
from evals import ab
from evals.judge_calibration import calibrate
from evals.judges import combine, get_judge, in_ab_terms, judge_ab, judge_outputs, judge_pairs, length_controlled

from conftest import eval_run, shared


def stub_backend():
    from curate.lm.backends import OpenAIBackend

    return OpenAIBackend.from_env()


def add_pairs(store, answers: list[str]) -> list[int]:
    insert_pairs(store, [make_pair(f"How do I reset device {i}?", a, origin="extracted") for i, a in enumerate(answers)])
    return [r["id"] for r in store.rows("SELECT id FROM pairs ORDER BY id")]


def test_judges_are_data_and_replies_are_read_strictly_never_guessed(tmp_path):
    rubric = get_judge("rubric")
    assert rubric.kind == "score" and rubric.scale == (1, 2, 3, 4, 5) and rubric.middle == 3
    assert rubric.read("Score: 4\nReason: clear and right.") == {"score": 4.0, "reason": "clear and right.", "parsed": True}
    assert rubric.read("**Score:** 2\nreason = vague")["score"] == 2.0
    for unreadable in ("Score: 7\nReason: off the scale", "I think it is fairly good.", "", "Score: four"):
        assert rubric.read(unreadable)["parsed"] is False and rubric.read(unreadable)["score"] is None
    pairwise = get_judge("pairwise", "pairwise")
    assert pairwise.read("Winner: TIE\nReason: same")["choice"] == "tie"
    assert pairwise.read("Winner: 3")["parsed"] is False
    with pytest.raises(TuneloopError, match="rubric is a score judge"):
        get_judge("rubric", "pairwise")
    with pytest.raises(TuneloopError, match="no judge 'nonsense'"):
        get_judge("nonsense")
    own = tmp_path / "strict.yaml"
    own.write_text("name: strict\nkind: score\nfields: [instruction, response]\nscale: [0, 1]\n"
                   "template: 'Q {instruction} A {response} Verdict: 0 or 1'\nparse: {score: 'verdict: ([01])'}\n")
    assert get_judge(str(own)).read("verdict: 1")["score"] == 1.0
    own.write_text("name: broken\nkind: score\nfields: [instruction]\ntemplate: x\nparse: {}\n")
    with pytest.raises(TuneloopError, match="strict.yaml: a score judge needs parse.score"):
        get_judge(str(own))
    own.write_text("name: braces\nkind: score\nfields: [instruction]\nscale: [1, 2]\n"
                   "template: 'Q {instruction} as JSON {\"score\": 1}'\nparse: {score: '([12])'}\n")
    with pytest.raises(TuneloopError, match="strict.yaml: the template uses .*write a literal brace as"):
        get_judge(str(own))
    own.write_text("name: badre\nkind: score\nfields: [instruction]\nscale: [1, 2]\ntemplate: 'Q {instruction}'\n"
                   "parse: {score: 'score: ([12]'}\n")
    with pytest.raises(TuneloopError, match="strict.yaml: a parse pattern is not a regular expression"):
        get_judge(str(own))


def test_pairs_are_judged_stored_with_prompt_and_raw_output_and_cached(store, openai_stub):
    ids = add_pairs(store, ["Hold it.", "Hold the power button for ten seconds until the light blinks twice, then"
                            " release it and wait for the chime.", "UNREADABLE reply please"])
    first = judge_pairs(store, get_judge("rubric"), stub_backend())
    assert first["scored"] == 3 and first["asked"] == 3 and first["unparsed"] == 1
    rows = {r["pair_id"]: r for r in store.rows("SELECT * FROM pair_scores ORDER BY pair_id")}
    assert rows[ids[0]]["score"] == 1.0 and rows[ids[1]]["score"] == 3.0 and rows[ids[1]]["reason"] == "the answer has 20 words."
    assert rows[ids[2]]["score"] is None and rows[ids[2]]["parsed"] is False and "hard to judge" in rows[ids[2]]["raw_output"]
    assert "How do I reset device 1?" in json.loads(rows[ids[1]]["prompt"])[-1]["content"]
    asked = len(openai_stub.requests)
    again = judge_pairs(store, get_judge("rubric"), stub_backend())
    assert again["asked"] == 0 and again["cached"] == 3 and len(openai_stub.requests) == asked   # nothing asked again
    assert store.scalar("SELECT count(*) FROM ratings") == 0    # a judge never rates
    with pytest.raises(TuneloopError, match="compares with a reference answer"):
        judge_pairs(store, get_judge("reference"), stub_backend())


def test_outputs_are_graded_against_their_reference(store, openai_stub):
    ids = add_pairs(store, ["Hold the button.", "Unplug it."])
    run = eval_run(store, "run:1", {ids[0]: "Hold the button.", ids[1]: "Buy a new one."})
    store.execute("UPDATE model_outputs o SET reference = p.response FROM pairs p WHERE p.id = o.pair_id")
    r = judge_outputs(store, run, get_judge("reference"), stub_backend())
    assert r["judged"] == 2 and r["mean"] == 3.5
    assert [x["score"] for x in store.rows("SELECT score FROM output_judgements ORDER BY output_id")] == [5.0, 2.0]


def test_pairwise_is_asked_in_both_orders_and_disagreement_is_a_tie(store, openai_stub):
    pairwise = get_judge("pairwise")
    assert in_ab_terms(pairwise, "1", a_first=True) == "a" and in_ab_terms(pairwise, "1", a_first=False) == "b"
    assert combine("b", "b") == "b" and combine("a", "b") == "tie" and combine("a", None) is None
    ids = add_pairs(store, [f"answer {i}" for i in range(4)])
    base = eval_run(store, "base", {ids[0]: "Short.", ids[1]: "A much longer and more complete answer.",
                                    ids[2]: "FIRST one", ids[3]: "Same length"})
    tuned = eval_run(store, "tuned", {ids[0]: "A longer answer from the tuned model.", ids[1]: "Short.",
                                      ids[2]: "FIRST two", ids[3]: "Same size"})
    study = ab.create_study(store, base, tuned)
    r = judge_ab(store, study, pairwise, stub_backend())
    got = {x["pair_id"]: x for x in store.rows("SELECT * FROM ab_judgements")}
    assert got[ids[0]]["choice"] == "b" and got[ids[1]]["choice"] == "a" and got[ids[3]]["choice"] == "tie"
    assert (got[ids[2]]["choice_a_first"], got[ids[2]]["choice_b_first"], got[ids[2]]["choice"]) == ("a", "b", "tie")
    assert r["order_disagreements"] == 1 and r["b_wins"] == 1 and r["a_wins"] == 1 and r["ties"] == 2
    assert r["win_rate"] == 0.5 and len(json.loads(got[ids[0]]["raw_outputs"])) == 2
    assert len(openai_stub.requests) == 8   # four items, two orders each


def test_length_controlled_win_rate_discounts_wins_that_come_with_length():
    # B wins exactly where its answer is longer; at equal length B would win about half the time
    wins = [1, 1, 1, 1, 0, 0, 1, 0]
    longer = [40, 30, 35, 20, -20, -35, 5, -5]
    raw = sum(wins) / len(wins)
    assert length_controlled(wins, longer) < raw
    assert length_controlled([1, 0, 1, 0], [0, 0, 0, 0]) == pytest.approx(0.5, abs=1e-3)   # no length effect
    assert length_controlled([1, 1], [3, -3]) == 1.0


def test_calibration_math_matches_a_hand_computed_example(store):
    # people's consensus 1, 2, 3, 3 (the last a median of 2 and 3, rounded half up); judge 1, 3, 3, 2 on scale 1–3.
    # Linear weights 1, .5, 0: observed .75; expected .5625 from the margins; kappa (.75 - .5625) / (1 - .5625) = 3/7.
    ids = add_pairs(store, ["a", "b", "c", "d"])
    people = [add_user(store, name) for name in ("ann", "bob")]
    for pair, values in zip(ids, [(1, 1), (2, 2), (3, 3), (2, 3)]):
        for person, value in zip(people, values):
            rating.submit(store, person, pair, {"quality": value, "verdict": "approve"})
    found = consensus(store)
    assert [found[p]["consensus"] for p in ids] == [1, 2, 3, 3]
    result = compare(dict(zip(ids, [1.0, 3.0, 3.0, 2.0])), found, [1, 2, 3])
    assert result["kappa"] == pytest.approx(3 / 7, abs=1e-4)
    assert result["agreement"] == 1.0 and result["exact"] == 0.5 and result["items"] == 4
    assert result["confusion"] == [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    assert -1 <= result["alpha"] <= 1


def test_ab_calibration_compares_the_judge_with_the_voters_majority(store, openai_stub):
    ids = add_pairs(store, [f"answer {i}" for i in range(3)])
    base = eval_run(store, "base", {ids[0]: "Short.", ids[1]: "A much longer and more complete answer.", ids[2]: "x y"})
    tuned = eval_run(store, "tuned", {ids[0]: "A longer answer from the tuned model.", ids[1]: "Short.", ids[2]: "x z"})
    study = ab.create_study(store, base, tuned)
    judge_ab(store, study, get_judge("pairwise"), stub_backend())   # judge: b, a, tie
    voters = [add_user(store, name) for name in ("v1", "v2", "v3")]
    for item, choices in zip(ids, [("b", "b", "a"), ("b", "b", "b"), ("tie", "a", "b")]):   # majority: b, b, tie
        for voter, choice in zip(voters, choices):
            left_is_a = ab.a_on_left(study, item, voter)
            ab.vote(store, study, item, voter, "tie" if choice == "tie" else "left" if (choice == "a") == left_is_a else "right")
    [result] = calibrate(store, "pairwise")
    assert result["on"] == "A/B votes" and result["items"] == 3 and result["agreement"] == pytest.approx(2 / 3, abs=1e-4)
    assert result["confusion"] == [[0, 0, 0], [1, 1, 0], [0, 0, 1]]   # rows: people a, b, tie; columns: the judge


def test_judge_calibrate_on_lamini_docs_prints_agreement_with_scripted_annotators(cli, store, openai_stub):
    """Three scripted annotators grade quality by the answer's length, each with a small private
    wobble; the scripted judge grades by length too, so it should agree with their consensus."""
    assert cli("ingest", str(shared("lamini_docs")), "--topic", "Lamini").exit_code == 0
    cli("pairs", "extract")
    out = cli("judge", "pairs", "--backend", "openai", "--limit", "60")
    assert out.exit_code == 0 and "60 pairs scored" in out.output and "not calibrated yet" in out.output
    pairs = store.rows("SELECT id, response FROM pairs ORDER BY id LIMIT 60")
    for name in ("ann", "bob", "cy"):
        person = add_user(store, name)
        for pair in pairs:
            wobble = hashlib.sha256(f"{name}:{pair['id']}".encode()).digest()[0] % 5 - 2   # -2 … 2
            grade = min(5, 1 + len(pair["response"].split()) // 8) + (wobble if abs(wobble) == 1 else 0)
            rating.submit(store, person, pair["id"], {"quality": max(1, min(5, grade)), "verdict": "approve"})
    out = cli("judge", "calibrate")
    assert out.exit_code == 0, out.output
    assert "rubric by stub-model on pair ratings (quality): 60 items rated by both" in out.output
    assert "Cohen's kappa" in out.output and "people \\ judge" in out.output
    [result] = json.loads(cli("judge", "calibrate", "--json").output)
    assert result["kappa"] > 0.6 and result["trust"]["trusted"] is True
    assert cli("judge", "calibrate", "--min-kappa", "0.99").output.count("NOT trustworthy") == 1
    table = rating.agreement(store)["judges"]
    assert table[0]["annotator"] == "model judge: rubric (stub-model)" and table[0]["role"] == "model (not a person)"


def test_a_suggestion_carries_the_judges_trust(store):
    ids = add_pairs(store, ["a", "b"])
    record_scores(store, [{"pair_id": ids[0], "scorer": "rubric", "model": "m", "score": 2.0, "reason": "thin",
                           "prompt_hash": "h"}])
    assert suggestion(store, ids[1]) is None
    hint = suggestion(store, ids[0])
    assert hint["score"] == 2.0 and hint["reason"] == "thin" and hint["trusted"] is None and not hint["calibrated"]
    store.execute("INSERT INTO judge_calibrations (scorer, model, items, kappa) VALUES ('rubric', 'm', 30, 0.1)")
    assert trust(store, "rubric", "m")["trusted"] is False and suggestion(store, ids[0])["trusted"] is False


def test_the_queue_can_put_low_scores_or_the_judges_doubts_first(store):
    ids = add_pairs(store, [f"answer {i}" for i in range(5)])
    person = add_user(store, "ann")
    record_scores(store, [{"pair_id": p, "scorer": "rubric", "model": "m", "score": s, "prompt_hash": "h",
                           "parsed": s is not None} for p, s in zip(ids, [5.0, 1.0, 4.0, None, 3.0])])
    assert rating.next_pair(store, person)["id"] == ids[0]      # default: oldest first
    store.execute("DELETE FROM leases")
    set_queue_order(store, "low-score", "rubric")
    assert rating.next_pair(store, person)["id"] == ids[1]      # the lowest score
    store.execute("DELETE FROM leases")
    set_queue_order(store, "uncertainty", "rubric", middle=3.0)
    assert rating.next_pair(store, person)["id"] == ids[3]      # the unreadable verdict, then the middle (3.0)
    store.execute("DELETE FROM leases")
    rating.skip(store, person, ids[3])
    assert rating.next_pair(store, person)["id"] == ids[4]
    with pytest.raises(TuneloopError, match="name a judge"):
        set_queue_order(store, "uncertainty", "rubric")
    with pytest.raises(TuneloopError, match="no scores from 'ifd'"):
        set_queue_order(store, "low-score", "ifd")


def test_ifd_is_the_answers_loss_with_the_question_over_without_it(store, tiny_model_dir):
    import math

    import pyarrow as pa
    import torch

    from curate.quality.ifd import QualityScorer, score_pairs

    scorer = QualityScorer(str(tiny_model_dir))
    tok = scorer.tokenizer
    prompt, answer = "Question: how do I reset it?\nAnswer:", " Hold the button for ten seconds."
    out = scorer(pa.table({"prompt": [prompt, "Q?"], "answer": [answer, " Yes."]})).to_pylist()[0]
    p_ids, a_ids = tok(prompt, add_special_tokens=False)["input_ids"], tok(answer, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([p_ids + a_ids])
    labels = torch.tensor([[-100] * len(p_ids) + a_ids])
    with torch.no_grad():
        expected = scorer.model(input_ids=ids, labels=labels).loss.item()   # transformers' own mean loss
    assert out["loss_given_question"] == pytest.approx(expected, rel=1e-4) and out["answer_tokens"] == len(a_ids)
    add_pairs(store, ["Hold the button.", "Unplug it and plug it back in."])
    r = score_pairs(store, str(tiny_model_dir))
    assert r["scored"] == 2
    rows = store.rows("SELECT scorer, score, detail FROM pair_scores ORDER BY pair_id, scorer")
    ifd, perplexity = rows[0], rows[1]
    detail = json.loads(ifd["detail"])
    assert ifd["score"] == pytest.approx(detail["loss_given_question"] / detail["loss_alone"], rel=1e-3)
    assert perplexity["score"] == pytest.approx(math.exp(detail["loss_given_question"]), rel=1e-3)
    assert score_pairs(store, str(tiny_model_dir))["cached"] == 2


@pytest.mark.embeddings
def test_a_build_with_a_budget_chooses_the_best_scored_diverse_pairs(cli, store, tiny_model_dir):
    texts = ["Hold the power button for ten seconds.", "Hold the power button for ten seconds.",
             "Open the settings page and choose Reset.", "Call support at the number on the box.",
             "Unplug the router, wait a minute, plug it back in.", "Update the app from the store."]
    insert_pairs(store, [make_pair(f"Question {i} about resetting?", t, origin="extracted") for i, t in enumerate(texts)])
    store.execute("UPDATE pairs SET instruction = 'How do I reset it?' WHERE id IN (1, 2)")   # 1 and 2: the same pair twice
    store.execute("UPDATE pairs SET status = 'approved'")
    record_scores(store, [{"pair_id": i, "scorer": "rubric", "model": "m", "score": s, "prompt_hash": "h"}
                          for i, s in zip(range(1, 7), [5, 5, 4, 1, 3, 2])])
    out = cli("dataset", "build", "--select-budget", "3", "--name", "best3", "--model", str(tiny_model_dir),
              "--test-size", "0")
    assert out.exit_code == 0, out.output
    assert "how it chose: approved pairs ranked by rubric (highest first)" in out.output
    assert "3 chosen of 6 candidates; 1 skipped as too alike" in out.output
    chosen = [r["pair_id"] for r in store.rows("SELECT pair_id FROM dataset_items ORDER BY pair_id")]
    assert chosen == [1, 3, 5]   # 5, (5 again: too alike), 4, 3 — the low scores left out
    refused = cli("dataset", "build", "--select-budget", "0", "--name", "none", "--model", str(tiny_model_dir))
    assert refused.exit_code == 1 and "--select-budget is a number of pairs, at least 1" in refused.output
    report = json.loads(store.scalar("SELECT report FROM dataset_versions WHERE name = 'best3'"))
    assert report["selection"]["budget"] == 3 and report["selection"]["score_range"] == [3.0, 5.0]
