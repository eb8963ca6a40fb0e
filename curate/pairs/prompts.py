"""The prompts pair generation sends and how their replies are read: documents cut into chunks
and passages, questions parsed out of a reply, answers cleaned, and the reasons a generated text
is not kept (curate.pairs.generate runs them)."""
from __future__ import annotations

import re

MIN_WORDS = 3


# --------------------------------------------------------------------------- text helpers
def text_key(text: str) -> str:
    """The text as compared for repeats: lower case, runs of punctuation and spaces as one space."""
    return re.sub(r"[\W_]+", " ", text.lower()).strip()


def chunk_text(text: str, max_words: int = 150) -> list[str]:
    """Paragraphs packed into chunks of at most max_words (a longer paragraph is cut at sentences)."""
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        if len(paragraph.split()) <= max_words:
            pieces.append(paragraph)
        else:
            pieces += re.split(r"(?<=[.!?])\s+", paragraph)
    chunks, current = [], []
    for piece in pieces:
        if current and len(" ".join(current + [piece]).split()) > max_words:
            chunks.append("\n\n".join(current))
            current = []
        current.append(piece)
    if current:
        chunks.append("\n\n".join(current))
    return [c for c in chunks if len(c.split()) >= 8]


def passages(chunk: str, max_words: int = 60) -> list[str]:
    """Answer passages of a chunk: runs of whole sentences within a paragraph, at most max_words
    (a longer sentence stands alone), each of at least 8 words."""
    found = []
    for paragraph in re.split(r"\n\s*\n", chunk):
        current: list[str] = []
        for sentence in re.split(r"(?<=[.!?])\s+", " ".join(paragraph.split())):
            if current and len(" ".join(current + [sentence]).split()) > max_words:
                found.append(" ".join(current))
                current = []
            if sentence:
                current.append(sentence)
        if current:
            found.append(" ".join(current))
    return [p for p in found if len(p.split()) >= 8]


_ENUM = re.compile(r"^\s*(?:#+\s*|[-*•]\s*|\(?\d+[.):]\s*|(?:q|question)\s*#?\d*\s*[.:]\s*)+", re.I)
# "For example: "How do I…?"", "A customer might ask "…?"": keep what stands inside the quotes
_LEAD_IN = re.compile(r"^[^\"“]{0,60}[:]?\s*[\"“]")
# "A customer might ask: …?", "One question: …?", "Example: …?"
_LABEL = re.compile(r"^(?:\w+\W+){0,5}?(?:ask|asks|question|example)\s*:\s*", re.I)


def parse_questions(text: str) -> list[str]:
    """Questions out of a reply: one a line, numbered or bulleted, several on a line split at '?'."""
    found = []
    for line in text.splitlines():
        for part in re.findall(r"[^?]*\?", line):
            part = _ENUM.sub("", part.strip())
            lead_in = _LEAD_IN.match(part) if ('"' in part or "“" in part) else None
            if lead_in and not re.search(r"[\"”]", part[lead_in.end():].rstrip(' "”?')):
                part = part[lead_in.end():]   # not when a quote closes inside: 'What does "X" mean?'
            part = _LABEL.sub("", _ENUM.sub("", part)).strip(" \"“”'*")
            if part:
                found.append(part)
    return found


def clean_answer(text: str) -> str:
    """The reply without a leading 'Answer:' and without a last sentence cut off mid-way."""
    text = re.sub(r"^\s*(?:a|answer)\s*:\s*", "", text.strip(), flags=re.I).strip()
    if text and text[-1] not in ".!?)\"'" and re.search(r"[.!?]\s", text):
        text = text[: max(text.rfind(". "), text.rfind("! "), text.rfind("? ")) + 1]
    return text.strip()


# An assistant's small talk instead of content: "How can I help you today?", "Please go ahead and ask".
_SMALL_TALK = re.compile(r"\b(go ahead and ask|how can i (help|assist)|ready to (help|assist)|happy to (help|assist)"
                         r"|what can i do for you|ask your question)\b", re.I)


def drop_reason(text: str, prompt_phrases: tuple[str, ...] = ()) -> str | None:
    """Why a generated question or answer is not kept, or None."""
    if not text.strip():
        return "empty"
    if len(text.split()) < MIN_WORDS:
        return "too_short"
    lowered = text.lower()
    if any(p.lower() in lowered for p in prompt_phrases):
        return "copied_prompt"
    if _SMALL_TALK.search(text):
        return "small_talk"
    return None


# --------------------------------------------------------------------------- prompts
def _topic(topic: str | None) -> str:
    return topic or "the product"


QUESTION_ASK = "Write {k} different questions that a customer could ask and that this text answers."
PASSAGE_ASK = "Write the question a customer would ask that this text answers. Write only the question."
ANSWER_ASK = "Answer the customer's question using only the text."
REWRITE_ASK = "Rewrite this support exchange as one clear customer question and a helpful answer."
SELF_INSTRUCT_ASK = "Write {k} new questions about {topic}, different from these. One question per line."


def question_messages(chunk: str, topic: str | None, k: int) -> list[dict]:
    return [{"role": "system", "content": f"You write questions that customers ask about {_topic(topic)}."},
            {"role": "user", "content": f"Text:\n{chunk}\n\n{QUESTION_ASK.format(k=k)} Write one question per line."}]


# One worked example before the passage: with it SmolLM2-135M wrote a usable question for 77 of 100
# lamini_docs passages (37 without), question–passage cosine 0.49 (0.43), in the same time.
PASSAGE_EXAMPLE = ("Hold the power button for ten seconds to reset the lamp. The light blinks twice when the reset is"
                   " done.", "How do I reset the lamp?")


def passage_messages(passage: str, topic: str | None) -> list[dict]:
    example, question = PASSAGE_EXAMPLE
    return [{"role": "system", "content": f"You write questions that customers ask about {_topic(topic)}."},
            {"role": "user", "content": f"Text:\n{example}\n\n{PASSAGE_ASK}"},
            {"role": "assistant", "content": question},
            {"role": "user", "content": f"Text:\n{passage}\n\n{PASSAGE_ASK}"}]


def answer_messages(chunk: str | None, question: str, topic: str | None) -> list[dict]:
    system = f"You are a helpful support agent for {_topic(topic)}. Answer briefly and accurately."
    if chunk:
        return [{"role": "system", "content": system},
                {"role": "user", "content": f"Text:\n{chunk}\n\n{ANSWER_ASK}\n\nQuestion: {question}"}]
    return [{"role": "system", "content": system}, {"role": "user", "content": question}]


def rewrite_messages(exchange: str, topic: str | None) -> list[dict]:
    return [{"role": "system", "content": f"You edit support logs about {_topic(topic)}."},
            {"role": "user", "content": f"{exchange}\n\n{REWRITE_ASK} Use this format:\nQuestion: …\nAnswer: …"}]


def self_instruct_messages(examples: list[str], topic: str | None, k: int) -> list[dict]:
    shown = "\n".join(f"- {q}" for q in examples)
    return [{"role": "system", "content": f"You write questions that customers ask about {_topic(topic)}."},
            {"role": "user", "content": f"Questions customers asked:\n{shown}\n\n"
                                        + SELF_INSTRUCT_ASK.format(k=k, topic=_topic(topic))}]


PROMPT_PHRASES = ("Write one question per line", "using only the text", "Use this format", "different from these",
                   "Write only the question")


def parse_rewrite(text: str) -> tuple[str, str] | None:
    match = re.search(r"question\s*:\s*(.+?)\s*answer\s*:\s*(.+)", text, flags=re.I | re.S)
    if not match:
        return None
    return match.group(1).strip(), clean_answer(match.group(2))
