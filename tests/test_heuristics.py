import pytest

from evals.heuristics import Context, learn_allowlist, run_all


@pytest.mark.parametrize("output,ctx,expected", [
    ("The lamp recieves updates at nigth.", Context(), {"misspelling"}),
    ("The lamp receives updates at night.", Context(), set()),
    ("Lumo lamps take Lumo firmware updates.", Context(allowlist={"lumo"}), set()),
    (" ".join(["word"] * 250) + ".", Context(), {"too_long", "repetition"}),
    (" ".join(f"word{i}" for i in range(40)) + ".", Context(reference="Short answer."), {"too_long"}),
    ("Hold the strip. Hold the strip for ten seconds. Hold the strip for ten seconds.", Context(), {"repetition"}),
    ("", Context(), {"empty"}),
    ("To reset it you hold the strip and then", Context(max_new_tokens=10, tokens=10), {"cut_off"}),
    ("Paris is the capital of France.", Context(should_refuse=True), {"wrong_refusal"}),
    ("Let's keep the discussion relevant to Lumo.", Context(should_refuse=True), set()),
    ("Let's keep the discussion relevant to Lumo.", Context(should_refuse=False), {"wrong_refusal"}),
])
def test_each_heuristic(output, ctx, expected):
    assert set(run_all(output, ctx)) == expected


def test_the_allowlist_comes_from_the_training_data():
    allow = learn_allowlist(["Pair the Lumo with the Lumo app.", "Lumo Glow is bright."])
    assert "lumo" in allow and "glow" not in allow  # once is not enough
    flags = run_all("The Lumo glows brightly.", Context(allowlist=allow))
    assert "misspelling" not in flags


def test_a_reference_that_refuses_makes_the_question_off_topic():
    from curate.pairs.offtopic import should_refuse as should_refuse_item

    assert should_refuse_item({"origin": "offtopic", "response": "Paris."})
    assert should_refuse_item({"origin": "extracted", "response": "Let's keep the discussion relevant to Lamini."})
    assert should_refuse_item({"origin": "extracted", "response": "Let’s keep the discussion relevant to Lamini."})
    assert not should_refuse_item({"origin": "extracted", "response": "Hold the button for five seconds."})


def test_a_custom_refusal_is_recognised():
    from curate.pairs.offtopic import refusal_pattern
    from evals.heuristics import Context, run_all

    custom = refusal_pattern(["Sorry, I only talk about {topic}."])
    assert custom.search("Sorry, I only talk about Lumo!") and custom.search("sorry,  i only talk about lamps")
    assert custom.search("Let’s keep the discussion relevant to Lumo.")  # the default still counts
    assert not refusal_pattern().search("Sorry, I only talk about Lumo.")
    assert "wrong_refusal" not in run_all("Sorry, I only talk about Lumo.", Context(should_refuse=True, refusal=custom))
    assert "wrong_refusal" in run_all("Sorry, I only talk about Lumo.", Context(should_refuse=True))
