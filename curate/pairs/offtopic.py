"""Off-topic guardrail pairs: questions unrelated to the domain, answered with a refusal.

A fine-tuned support model should decline what is not its business. These pairs teach that:
varied questions from many subjects (a built-in pool, optionally extended by the model), each
answered with the refusal template, origin=offtopic.
"""
from __future__ import annotations

import random
import re

from curate.errors import TuneloopError
from curate.lm.backends import Backend
from curate.pairs.prompts import parse_questions, text_key
from curate.pairs.rows import insert_pairs, make_pair
from curate.store import Store

DEFAULT_REFUSAL = "Let's keep the discussion relevant to {topic}."
# Refusals in other words that count as well, from models and imported logs.
_OTHER_REFUSALS = (r"i can only (help|answer)", r"i only answer")

# Questions people ask a support bot that are none of its business, across many subjects.
POOL: dict[str, list[str]] = {
    "geography": ["What is the capital of Australia?", "Which is the longest river in Africa?",
                  "How many countries are there in South America?", "What is the highest mountain in Europe?",
                  "Which ocean is the deepest?", "Where is the Atacama Desert?"],
    "history": ["Who was the first emperor of Rome?", "When did the Berlin Wall fall?",
                "Why did the Titanic sink?", "Who invented the printing press?",
                "What started the First World War?", "When were the pyramids of Giza built?"],
    "science": ["Why is the sky blue?", "How far is the moon from the earth?", "What is a black hole?",
                "How do vaccines work?", "What is the speed of light?", "Why do leaves change colour in autumn?"],
    "maths": ["Can you help me with my maths homework?", "What is the square root of 144?",
              "How do I solve a quadratic equation?", "What is the derivative of x squared?",
              "Is zero an even number?", "What is the formula for the area of a circle?"],
    "cooking": ["What's a good recipe for banana bread?", "How long should I boil an egg?",
                "How do I make fresh pasta?", "What can I cook with chickpeas?",
                "How do I keep avocados from going brown?", "What wine goes with fish?"],
    "sports": ["Who won the football world cup in 2014?", "How many players are on a basketball team?",
               "What are the rules of cricket?", "Who holds the marathon world record?",
               "How do I improve my tennis serve?", "When are the next Olympic Games?"],
    "entertainment": ["Can you recommend a good film?", "Who wrote Pride and Prejudice?",
                      "What's the best TV series of all time?", "Tell me a joke about cats.",
                      "Who painted the Mona Lisa?", "What music should I listen to while studying?"],
    "finance": ["Which stocks should I buy this year?", "Is bitcoin a good investment?",
                "How do I file my tax return?", "What is compound interest?",
                "Should I pay off my mortgage early?", "How does inflation work?"],
    "health": ["How many calories are in an apple?", "What should I do about a headache?",
               "How much water should I drink a day?", "Is coffee bad for you?",
               "How can I sleep better?", "What are the symptoms of the flu?"],
    "travel": ["What should I see in Lisbon?", "Do I need a visa for Japan?",
               "What is the cheapest way to travel across Europe?", "When is the best time to visit Iceland?",
               "What should I pack for a hiking trip?", "How do I get over jet lag?"],
    "language": ["Translate 'good morning' into Japanese.", "What is the plural of cactus?",
                 "How do I learn Spanish quickly?", "What does 'carpe diem' mean?",
                 "Can you correct the grammar in my essay?", "Where does the word 'robot' come from?"],
    "technology": ["What is the best programming language?", "How do I build a website?",
                   "What is quantum computing?", "Which phone should I buy?",
                   "How does the internet work?", "Can you write a Python script to sort a list?"],
    "everyday life": ["How do I fix a flat bicycle tyre?", "How do I make my plants grow faster?",
                      "What's the weather like tomorrow?", "How do I get a red wine stain out of a carpet?",
                      "What should I get my mother for her birthday?", "How do I train my dog to sit?"],
    "philosophy": ["What is the meaning of life?", "Do we have free will?", "Can you write me a poem about the sea?",
                   "What happens after we die?", "Is it ever right to lie?", "What is consciousness?"],
}


def pool() -> list[str]:
    return [q for questions in POOL.values() for q in questions]


def refusal_text(topic: str, template: str = DEFAULT_REFUSAL) -> str:
    if "{topic}" not in template:
        raise TuneloopError("the refusal template must contain {topic}, e.g. " + DEFAULT_REFUSAL)
    return template.format(topic=topic)


def _phrase(text: str) -> str:
    """A refusal text (or template) as a pattern: up to its {topic}, any apostrophe, any spacing,
    without the closing punctuation."""
    text = text.split("{topic}")[0] if "{topic}" in text and text.split("{topic}")[0].strip() else text
    words = [re.sub("['’]", "['’]?", re.escape(w)) for w in text.strip(" .!?").split()]
    return r"\s+".join(words).replace(r"\{topic\}", ".+?")


def refusal_pattern(refusals=()) -> re.Pattern:
    """What counts as a refusal: the default refusal, refusals in other common words, and every
    refusal text or template given (a custom --refusal, as off-topic pairs store it)."""
    phrases = [_phrase(DEFAULT_REFUSAL), *_OTHER_REFUSALS, *(_phrase(r) for r in refusals if r and r.strip())]
    return re.compile("|".join(dict.fromkeys(phrases)), re.I)


def should_refuse(item: dict, refusal: re.Pattern | None = None) -> bool:
    """Whether a question must be refused: an off-topic pair, or an imported one whose reference
    answer is itself the refusal."""
    return item["origin"] == "offtopic" or bool((refusal or refusal_pattern()).search(item["response"]))


def offtopic_pairs(topic: str, n: int, seed: int = 0, refusal: str = DEFAULT_REFUSAL,
                   extra_questions: list[str] = (), exclude: set[str] = frozenset()) -> list[dict]:
    """n off-topic pairs, drawn round-robin across subjects so they stay varied."""
    if not topic or not topic.strip():
        raise TuneloopError("off-topic pairs need the topic to keep to (--topic)")
    if n < 1:
        raise TuneloopError("--n must be at least 1")
    rng = random.Random(seed)
    subjects = {s: rng.sample(qs, len(qs)) for s, qs in POOL.items()}
    if extra_questions:
        subjects["from the model"] = list(extra_questions)
    order, names = [], list(subjects)
    rng.shuffle(names)
    while any(subjects.values()):
        for name in names:
            if subjects[name]:
                order.append((name, subjects[name].pop()))
    topic_words = {w for w in text_key(topic).split() if len(w) > 2}
    answer = refusal_text(topic, refusal)
    pairs, seen = [], set(exclude)
    for subject, question in order:
        key = text_key(question)
        if key in seen or topic_words & set(key.split()):
            continue  # already there, or mentions the topic: not off-topic
        seen.add(key)
        pairs.append(make_pair(question, answer, origin="offtopic", topic=topic,
                               lineage={"subject": subject, "seed": seed, "refusal": refusal}))
        if len(pairs) == n:
            break
    return pairs


def model_questions(backend: Backend, topic: str, count: int, seed: int = 0) -> list[str]:
    """Extra off-topic questions from the model: about random subjects, never the topic."""
    rng = random.Random(seed)
    subjects = rng.sample(list(POOL), min(len(POOL), max(1, count // 3 + 1)))
    prompts = [[{"role": "user", "content": f"Write 3 short questions someone might ask about {s}. One per line."}]
               for s in subjects]
    replies = backend.chat(prompts, max_new_tokens=80, temperature=0.8, seed=seed)
    return [q for reply in replies for q in parse_questions(reply)
            if 3 <= len(q.split()) <= 25 and not re.search(re.escape(topic), q, re.I)]


def add_offtopic(store: Store, topic: str, n: int = 20, seed: int = 0, refusal: str = DEFAULT_REFUSAL,
                 backend: Backend | None = None) -> int:
    """Store n off-topic pairs (new ones only); returns how many were added."""
    existing = {text_key(r["instruction"]) for r in store.rows("SELECT instruction FROM pairs")}
    with store.job("pairs.offtopic", {"topic": topic, "n": n, "seed": seed, "refusal": refusal,
                                      "model": backend.description if backend else None}):
        extra = model_questions(backend, topic, n, seed) if backend else []
        pairs = offtopic_pairs(topic, n, seed, refusal, extra, exclude=existing)
        return insert_pairs(store, pairs)


def offtopic_share(store: Store) -> float:
    """Off-topic pairs' share of all pairs."""
    return store.scalar("SELECT coalesce(avg((origin = 'offtopic')::INT), 0) FROM pairs")
