import pytest

from curate.errors import TuneloopError
from curate.lm.templates import TEMPLATES, render_example, render_prompt

PAIR = {"instruction": "How do I reset the lamp?", "response": "Hold the strip for twenty seconds."}


def test_course_style_question_answer():
    assert render_prompt("qa", PAIR) == "### Question:\nHow do I reset the lamp?\n\n### Answer:"
    prompt, completion = render_example("qa", PAIR)
    assert completion == " Hold the strip for twenty seconds."


def test_alpaca_with_and_without_input():
    without = render_prompt("alpaca", PAIR)
    assert "### Instruction:\nHow do I reset the lamp?\n\n### Response:\n" in without and "### Input" not in without
    with_input = render_prompt("alpaca", {**PAIR, "input": "Model: Lumo 2"})
    assert "### Input:\nModel: Lumo 2\n\n### Response:\n" in with_input
    assert "paired with an input" in with_input


def test_chat_template_uses_the_tokenizer_with_system_and_context(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    pair = {**PAIR, "system": "You support Lumo.", "context": [{"role": "user", "content": "Hi"},
                                                                {"role": "assistant", "content": "Hello!"}]}
    prompt = render_prompt("chat", pair, tokenizer)
    assert prompt.index("You support Lumo.") < prompt.index("Hi") < prompt.index("Hello!") < prompt.index("reset")
    assert prompt.endswith("<|im_start|>assistant\n")
    _, completion = render_example("chat", pair, tokenizer)
    assert completion.endswith("<|im_end|>")


def test_unknown_template_and_chat_without_tokenizer_are_clear_errors():
    with pytest.raises(TuneloopError, match="choose one of qa, alpaca, chat"):
        render_prompt("nope", PAIR)
    with pytest.raises(TuneloopError, match="needs a tokenizer"):
        render_prompt("chat", PAIR)
    assert set(TEMPLATES) == {"qa", "alpaca", "chat"}
