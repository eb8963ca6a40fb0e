"""Identifiers are not personal data: an order, ticket or tracking number is what a support answer
is about, and redacting it as a phone or card number ("check order <CARD_1> status") spoils the
pair. Context decides, as Presidio's context words allow:

- a digit run introduced by an identifier word (order, purchase, invoice, ticket, case, tracking,
  reference, … with "number", "no.", "#", "with the number" between) is an identifier;
- so is whatever matches a pattern the team declares (`ORD-\\d{8}`), kept in the store's settings;
- a card number must pass Luhn (Presidio checks) *and* look like a card: written in groups, with a
  card word nearby, or with a known issuer's prefix and length.

Identifiers are left as they are (`keep`, the default) or masked as their own entity `ORDER_ID`
(`mask`), per the team's choice; either way the scan counts them apart from personal data.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from curate.errors import TuneloopError

IDENTIFIER = "ORDER_ID"
ACTIONS = ("keep", "mask")
SETTING = "pii_identifiers"
_WORDS = (r"orders?|purchases?|invoices?|tickets?|cases?|tracking|trackings|reference|ref|confirmation|bookings?"
          r"|shipments?|parcels?|packages?|returns?|rma|po|transactions?|receipts?|claims?|refunds?|subscriptions?")
_FILLER = r"(?:with|the|number|numbers|no|nr|num|nos|id|code|is|#)"
CONTEXT = re.compile(rf"\b(?:{_WORDS})\b(?:[\s.:#-]+{_FILLER}\b)*[\s.:#-]*(?P<id>[A-Za-z]{{0,4}}-?\d[\w-]{{3,}})", re.I)
_CARD_WORDS = re.compile(r"\b(card|cards|visa|mastercard|master card|amex|american express|discover|diners|jcb|credit"
                         r"|debit|cc|cvv|expir\w*)\b", re.I)
# Issuers' first digits and the lengths their numbers have.
_ISSUERS = ((r"4", (13, 16, 19)), (r"5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)", (16,)), (r"3[47]", (15,)),
            (r"6(?:011|5|4[4-9])", (16, 19)), (r"3(?:0[0-5]|[68])", (14,)), (r"35", (16,)))


@dataclass
class Rules:
    patterns: list[str] = field(default_factory=list)   # the team's own identifier patterns
    action: str = "keep"                                  # keep | mask

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise TuneloopError(f"identifiers are kept or masked ({', '.join(ACTIONS)}), not {self.action!r}")
        for pattern in self.patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise TuneloopError(f"identifier pattern {pattern!r} is not a regular expression: {exc}") from None


def identifier_spans(text: str, rules: Rules) -> list[tuple[int, int]]:
    """Where identifiers stand in the text (by context word, or the team's patterns)."""
    spans = [(m.start("id"), m.end("id")) for m in CONTEXT.finditer(text)]
    for pattern in rules.patterns:
        spans += [(m.start(), m.end()) for m in re.finditer(pattern, text) if m.end() > m.start()]
    return sorted(set(spans))


def looks_like_a_card(text: str, start: int, end: int) -> bool:
    """A number that passed Luhn is a card only if it is written in groups, a card word stands
    within 40 characters, or its prefix and length are an issuer's."""
    value = text[start:end]
    digits = re.sub(r"\D", "", value)
    if re.search(r"\d{4}[ -]\d{4}[ -]\d{4}", value) or re.search(r"\d{4}[ -]\d{6}[ -]\d{5}", value):
        return True
    if _CARD_WORDS.search(text[max(0, start - 40):min(len(text), end + 40)]):
        return True
    return any(re.match(prefix, digits) and len(digits) in lengths for prefix, lengths in _ISSUERS)
