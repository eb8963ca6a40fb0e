"""How well the detector finds personal data: real support text with values planted in it.

`plant` takes real texts (tweets, tickets), keeps some as they are and adds one made-up value to
the others — an e-mail address, a valid phone number, a card number that passes the Luhn check, an
IBAN with correct check digits, an IP address, a URL — at a known place, in a sentence a customer
would write. Links already in the text are labeled URL too (they are real). `score` runs a
detector over them and counts a finding as right when it overlaps a labeled span of the same
entity: precision and recall per entity and overall.
"""
from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass

_LINK = re.compile(r"https?://\S+")
_FIRST = ("maria", "john", "aisha", "wei", "lucas", "fatima", "noah", "olga", "kenji", "sara")
_LAST = ("garcia", "smith", "khan", "chen", "silva", "haddad", "miller", "ivanova", "sato", "rossi")
_SENTENCES = {
    "EMAIL_ADDRESS": ("You can reach me at {}.", "My email is {} if you need it.", "Please reply to {} instead."),
    "PHONE_NUMBER": ("Call me on {} please.", "My number is {}.", "Text {} when it ships."),
    "CREDIT_CARD": ("I paid with card {}.", "The charge is on {} twice.", "Card number {} was declined."),
    "IBAN_CODE": ("Refund to IBAN {} please.", "My account is {}.", "Send it to {}."),
    "IP_ADDRESS": ("My router shows {} as the address.", "It fails from {} every time.", "Login blocked for IP {}."),
    "URL": ("The order page is {} and it is blank.", "See {} for the screenshot.", "This link {} is broken."),
}


@dataclass
class Example:
    text: str
    spans: list[tuple[str, int, int]]   # (entity, start, end)


def _luhn_digit(digits: str) -> str:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return str((10 - total % 10) % 10)


def _iban(rng: random.Random) -> str:
    country, length = rng.choice((("DE", 18), ("GB", 18), ("FR", 23), ("NL", 14)))
    if country == "GB":
        bban = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4)) + "".join(
            rng.choice("0123456789") for _ in range(14))
    elif country == "NL":
        bban = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4)) + "".join(
            rng.choice("0123456789") for _ in range(10))
    else:
        bban = "".join(rng.choice("0123456789") for _ in range(length))
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    iban = f"{country}{check:02d}{bban}"
    return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4)) if rng.random() < 0.5 else iban


def _phone(rng: random.Random) -> str:
    import phonenumbers

    while True:
        region, prefix = rng.choice((("US", "+1"), ("GB", "+44"), ("DE", "+49")))
        digits = "".join(rng.choice("0123456789") for _ in range(10))
        number = phonenumbers.parse(prefix + digits, region)
        if phonenumbers.is_valid_number(number):
            style = rng.choice((phonenumbers.PhoneNumberFormat.INTERNATIONAL, phonenumbers.PhoneNumberFormat.NATIONAL))
            return phonenumbers.format_number(number, style)


def make_value(entity: str, rng: random.Random) -> str:
    if entity == "EMAIL_ADDRESS":
        domain = rng.choice(("example.com", "mail.example.org", "example.net"))
        return f"{rng.choice(_FIRST)}.{rng.choice(_LAST)}{rng.randint(1, 99)}@{domain}"
    if entity == "PHONE_NUMBER":
        return _phone(rng)
    if entity == "CREDIT_CARD":
        prefix = rng.choice(("4", "51", "52", "53", "54", "55"))   # Visa, Mastercard
        body = prefix + "".join(rng.choice("0123456789") for _ in range(15 - len(prefix)))
        card = body + _luhn_digit(body)
        sep = rng.choice((" ", "-", ""))
        return sep.join(card[i:i + 4] for i in range(0, 16, 4))
    if entity == "IBAN_CODE":
        return _iban(rng)
    if entity == "IP_ADDRESS":
        return ".".join(str(rng.randint(1, 254)) for _ in range(4))
    if entity == "URL":
        host, page = rng.choice(("shop", "help", "orders")), rng.choice(("order", "ticket", "account"))
        return f"https://{host}.example.com/{page}/{rng.randint(1000, 99999)}"
    raise ValueError(entity)


def plant(texts: list[str], per_entity: int = 50, clean: int = 100, seed: int = 0) -> list[Example]:
    """Examples from real texts: `per_entity` with one planted value of each entity, `clean` left as
    they are. Links already in a text are labeled URL."""
    rng = random.Random(seed)
    pool = [t.strip() for t in texts if t and t.strip()]
    rng.shuffle(pool)
    out, i = [], 0
    for entity in [e for e in _SENTENCES for _ in range(per_entity)] + [None] * clean:
        base = pool[i % len(pool)]
        i += 1
        spans = [("URL", m.start(), m.end()) for m in _LINK.finditer(base)]
        if entity is None:
            out.append(Example(base, spans))
            continue
        value = make_value(entity, rng)
        sentence = rng.choice(_SENTENCES[entity])
        text = base + " " + sentence.format(value)
        start = len(base) + 1 + sentence.index("{}")
        out.append(Example(text, spans + [(entity, start, start + len(value))]))
    return out


def score(find, examples: list[Example]) -> dict:
    """Precision and recall of `find(text) -> spans with .entity/.start/.end` on labeled examples,
    per entity and overall (a finding is right when it overlaps a labeled span of its entity)."""
    tp, fp, fn = Counter(), Counter(), Counter()
    for ex in examples:
        found = find(ex.text)
        for s in found:
            hit = any(e == s.entity and s.start < end and start < s.end for e, start, end in ex.spans)
            (tp if hit else fp)[s.entity] += 1
        for e, start, end in ex.spans:
            if not any(s.entity == e and s.start < end and start < s.end for s in found):
                fn[e] += 1
    out = {}
    for entity in sorted(set(tp) | set(fp) | set(fn)):
        out[entity] = _pr(tp[entity], fp[entity], fn[entity])
    out["all"] = _pr(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    return out


def _pr(tp: int, fp: int, fn: int) -> dict:
    return {"precision": tp / (tp + fp) if tp + fp else 1.0, "recall": tp / (tp + fn) if tp + fn else 1.0,
            "found": tp + fp, "labeled": tp + fn}
