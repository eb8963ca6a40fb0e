"""Answers cut off by a field-length limit: the text stops mid-sentence — no closing punctuation,
a dangling word ("and", "the", "to"), an open bracket or quote — and, most tellingly, many answers
stop at exactly the same length (a column of 255 or 500 characters fills to the brim)."""
from __future__ import annotations

import re
from collections import Counter

from curate.quality.checks import Finding

KIND = "truncated"
THRESHOLD = 0.6
USUALLY_FINISHED = 0.9    # where this share of answers ends with punctuation, one that does not is likely cut
LIMITS = (100, 128, 140, 150, 200, 250, 255, 256, 280, 300, 500, 512, 1000, 1024, 2000, 2048, 4000, 4096)
_END = re.compile(r"""([.!?…)\]}"'”’:;]|\.\.\.|[\U0001F300-\U0001FAFF\u2600-\u27BF]|https?://\S+|[\^~*/-]\s?\w{1,12}|:\))\s*$""")
_DANGLING = re.compile(r"\b(and|or|but|the|a|an|to|of|in|on|for|with|your|our|my|is|are|be|if|that|this|by|at|from"
                       r"|as|so|then|can|will|you|we|it)\s*$", re.I)


def check_all(pairs: list[dict], known: set[int] = frozenset()) -> list[Finding]:
    """Every pair's answer, with the lengths of all answers: a length many answers share at the top
    of the distribution is a field limit. Pairs other checks found wrong (`known`: a placeholder is
    short and unpunctuated, not cut) are passed over."""
    lengths = Counter(len(p["response"] or "") for p in pairs)
    longest = max(lengths, default=0)
    common_cap = {n for n, c in lengths.items() if c >= 3 and n >= 0.9 * longest and n >= 40}
    answers = [(p["response"] or "").rstrip() for p in pairs if len((p["response"] or "").split()) >= 3]
    finished = sum(bool(_END.search(a)) for a in answers) / max(len(answers), 1)
    out = []
    for p in pairs:
        if p["id"] in known:
            continue
        score, why = truncation_score(p["response"] or "", common_cap, finished)
        if score >= THRESHOLD:
            out.append(Finding(p["id"], KIND, score, why, "truncated"))
    return out


def truncation_score(answer: str, caps: set[int] = frozenset(), finished: float = 0.0) -> tuple[float, str]:
    """(0–1, the evidence). `finished`: the share of the store's answers that end with closing
    punctuation — where nearly all do, one that does not stands out more."""
    text = answer.rstrip()
    if len(text.split()) < 3:
        return 0.0, ""
    score, reasons = 0.0, []
    if not _END.search(text):
        score += 0.45 + (0.2 if finished >= USUALLY_FINISHED else 0.0)
        reasons.append(f"stops without closing punctuation: …{text[-30:]!r}"
                       + (f" ({100 * finished:.0f}% of the answers end with it)" if finished >= USUALLY_FINISHED else ""))
        if _DANGLING.search(text):
            score += 0.35
            reasons.append("ends on a word that needs more after it")
        elif re.search(r"\w$", text) and not re.search(r"\b\w{2,}\w$", text[-4:]):
            score += 0.1
    if text.count("(") > text.count(")") or text.count("[") > text.count("]") or text.count('"') % 2 \
            or text.count("```") % 2:
        score += 0.2
        reasons.append("an open bracket, quote or code block")
    length = len(answer)
    if length in caps:
        score += 0.45
        reasons.append(f"{length} characters, the length several answers stop at (a field limit?)")
    elif length in LIMITS and score:
        score += 0.25
        reasons.append(f"exactly {length} characters, a common field limit")
    if not score:
        return 0.0, ""
    return round(min(1.0, score), 3), "; ".join(reasons)
