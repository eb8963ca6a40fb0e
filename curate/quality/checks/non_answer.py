"""Non-answers: an agent's deflection instead of an answer ("Please DM us so we can look into
this", "Write to us here: https://…"), or a reply that only asks back or only sympathises. About a
third of the outbound replies in real support threads are like this; trained on, they teach a model
to send every customer elsewhere. Scored from the reply's own words: deflection phrases weigh most,
asking back less, sympathy and a closing question add a little, and whatever else the reply says —
its sentences that neither deflect, ask nor sympathise — divides the score down."""
from __future__ import annotations

import re

from curate.quality.checks import Finding

KIND = "non_answer"
THRESHOLD = 0.6
# Handles at the start, and the agent's signature at the end (^JS, -Becky, *MikeVance, /KB).
_HANDLES = re.compile(r"^(?:@\w+\s+)+")
_SIGNATURE = re.compile(r"\s*(?:[\^*/~]\s?\w{1,12}|-\s?[A-Z]\w{0,12}|-\w{1,3})\s*(https?://\S+\s*)?$")
_LINK = re.compile(r"https?://\S+")
_DEFLECT = [   # (pattern, weight, what it is)
    (r"\b(dm|d\.m\.|pm)\b|\bdirect(ly)? messag|\bprivate (message|messag|link|chat)|\bsecure[d]? link|\bvia dm\b"
     r"|\bin a dm\b|\bcheck (your|our) (dms?|inbox|messages)\b|\bsend us a (message|note|dm)\b",
     0.7, "asks to move to a private message"),
    (r"\b(write|message|email|e-mail|call|phone|ring|text|chat with|reach out to|reach) (to )?us\b|\bcontact (us|our|the)\b"
     r"|\bget in touch\b|\breach out\b|\bgive us a (call|ring|shout)\b|\bfollow (us|and dm)\b",
     0.55, "sends the customer elsewhere"),
    (r"\b(we('| a)?re|we have|we've) (following up|reached out|sent you|responded)\b|\bbe on the look ?out\b", 0.55,
     "says the answer is elsewhere"),
]
_ASK = [
    (r"\b(can|could|would) you (please |kindly )?"
     r"(tell|share|send|provide|confirm|give|let|dm|check|clarify|describe|elaborate)"
     r"|\bplease (tell|share|send|provide|confirm|let) us\b|\blet us know\b|\btell us more\b|\bmore (details|information|info)\b"
     r"|\bwhat('s| is) your\b|\bdo you have\b|\bwhich (device|version|app|store|flight|location)\b",
     0.35, "asks back instead of answering"),
]
_SYMPATHY = (r"\b(sorry|apologi[sz]e|apologies|unfortunate|frustrat|inconvenien|concern(ed)? to hear|happy to help"
             r"|glad to help|here to help|we('d| would) (like|love) to help|look into (this|it)|assist you)\b")
# Words that carry no answer: greetings, thanks, pleasantries.
_PLEASANTRIES = set("""thanks thank you hello there hey dear welcome glad great good happy sure please pleasure
have nice day take care cheers regards sorry the and for with that this your our are was were will can""".split())
FREE_WORDS = 6     # a reply may say this much besides deflecting and still say nothing


def check(pair: dict) -> Finding | None:
    score, why = deflection_score(pair["response"] or "")
    return Finding(pair["id"], KIND, score, why, "non_answer") if score >= THRESHOLD else None


def deflection_score(reply: str) -> tuple[float, str]:
    """(0–1, the evidence) for one reply: what its deflecting sentences weigh, times how little
    else it says (a long answer that ends "reach out to us for more" is an answer)."""
    text = _SIGNATURE.sub("", _HANDLES.sub("", reply.strip()))
    plain = _LINK.sub(" ", text).lower()
    score, reasons = 0.0, []
    for pattern, weight, what in _DEFLECT + _ASK:
        match = re.search(pattern, plain)
        if match:
            score = max(score, weight) + (0.1 if score else 0.0)
            reasons.append(f"{what} (\"{match.group(0)}\")")
    if not reasons:
        return 0.0, ""
    if re.search(_SYMPATHY, plain):
        score += 0.15
    if plain.rstrip().endswith("?"):
        score += 0.15
        reasons.append("ends with a question")
    if _LINK.search(text) and len(plain.split()) <= 12:
        score += 0.2
        reasons.append("little more than a link")
    substance = _content_words(plain)
    if substance > FREE_WORDS:
        score /= 1 + (substance - FREE_WORDS) / 15
        reasons.append(f"beside {substance} words of content")
    return round(max(0.0, min(1.0, score)), 3), "; ".join(reasons)


def _content_words(plain: str) -> int:
    """Words of the sentences that neither deflect, ask back nor sympathise."""
    count = 0
    for sentence in re.split(r"(?<=[.!?])\s+", plain):
        if any(re.search(p, sentence) for p, _, _ in _DEFLECT + _ASK) or re.search(_SYMPATHY, sentence):
            continue
        count += sum(1 for w in re.findall(r"[a-z]{3,}", sentence) if w not in _PLEASANTRIES)
    return count
