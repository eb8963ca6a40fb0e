"""Personal data in support logs: find it (this module), replace it with placeholders
(curate.privacy.placeholders), scan the store for it (curate.privacy.scan), and erase it on request
(curate.privacy.redact).

Detection is Presidio's analyzer (pattern recognizers with checksums and context: e-mail,
phone numbers through `phonenumbers`, credit cards with the Luhn check, IBAN, IP addresses, URLs),
plus people's names and places when a spaCy model with named entities is installed (it is not
by default: then those two are reported as inactive, never silently missed). A found value becomes
a placeholder such as `<EMAIL_1>`; the same value gets the same number throughout one
conversation, so "write to <EMAIL_1>" still matches "<EMAIL_1> is my address" two turns later.

Over the store: `scan` records what it found in each pair (by field and character span), `redact`
makes a new version of every pair with findings (origin `redacted`, lineage to the original, which
is retired as `redacted`), and `purge` rewrites the original text wherever the store keeps it —
raw logs, pairs, frozen dataset items and model outputs — for a right-to-erasure request, and
records that it did. `redact_payload` is what `tuneloop ingest --redact` applies before storing.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

from curate.errors import TuneloopError
from curate.privacy.identifiers import IDENTIFIER, Rules, identifier_spans, looks_like_a_card

PLACEHOLDER = {"EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE", "CREDIT_CARD": "CARD", "IBAN_CODE": "IBAN",
               "IP_ADDRESS": "IP", "URL": "URL", "PERSON": "PERSON", "LOCATION": "LOCATION", IDENTIFIER: IDENTIFIER}
PATTERN_ENTITIES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "URL")
NER_ENTITIES = ("PERSON", "LOCATION")
DEFAULT_THRESHOLD = 0.4
NER_MODELS = ("en_core_web_lg", "en_core_web_md", "en_core_web_sm")   # tried in this order
PAIR_FIELDS = ("system", "context", "instruction", "input", "response")   # the order placeholders are numbered in


@dataclass(frozen=True)
class Span:
    entity: str
    start: int
    end: int
    score: float


def ner_model() -> str | None:
    """The installed spaCy model that finds names and places ($TUNELOOP_PII_MODEL or the
    largest English one), or None."""
    import spacy

    wanted = os.environ.get("TUNELOOP_PII_MODEL")
    for name in ([wanted] if wanted else NER_MODELS):
        if spacy.util.is_package(name) or os.path.isdir(name):
            return name
    if wanted:
        raise TuneloopError(f"$TUNELOOP_PII_MODEL={wanted}: no such spaCy package or folder")
    return None


class Detector:
    """Presidio's analyzer set up to run offline: a spaCy pipeline for tokens (blank English
    unless an NER model is installed) and the public-suffix list Presidio's e-mail check uses
    taken from the snapshot its library ships instead of the network."""

    def __init__(self, entities: list[str] | None = None, threshold: float = DEFAULT_THRESHOLD,
                 identifiers: Rules | None = None):
        unknown = sorted(set(entities or ()) - set(PLACEHOLDER) | (set(entities or ()) & {IDENTIFIER}))
        if unknown:
            raise TuneloopError(f"unknown entity {', '.join(unknown)}; choose from {', '.join(PLACEHOLDER)}")
        self.model = ner_model()
        asked = list(entities or (*PATTERN_ENTITIES, *NER_ENTITIES))
        self.active = [e for e in asked if e in PATTERN_ENTITIES or self.model]
        self.inactive = [e for e in asked if e not in self.active]
        self.threshold = threshold
        self.identifiers = identifiers or Rules()   # order, ticket, tracking numbers: not personal data
        self._analyzer = None
        self._seen: dict[str, list[Span]] = {}   # a conversation's turns come back in every later pair
    def describe(self) -> str:
        text = "looking for " + ", ".join(self.active)
        if self.inactive:
            text += f" (not {', '.join(self.inactive)}: no spaCy model with names and places is installed)"
        return text

    def _engine(self):
        if self._analyzer is None:
            import logging

            import spacy
            import tldextract
            from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
            from presidio_analyzer.nlp_engine import SpacyNlpEngine

            logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)   # other languages' recognizers skipped
            tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
            nlp = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": self.model or "blank"}])
            nlp.nlp = {"en": spacy.load(self.model) if self.model else spacy.blank("en")}
            registry = RecognizerRegistry(supported_languages=["en"])
            registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp)
            self._analyzer = AnalyzerEngine(nlp_engine=nlp, registry=registry, supported_languages=["en"])
        return self._analyzer

    def find(self, text: str) -> list[Span]:
        """Non-overlapping findings in text, in order. Where two overlap the surer (then longer) wins:
        the address inside a URL is not also a phone number."""
        if not text or not text.strip() or not self.active:
            return []
        if text not in self._seen:
            if len(self._seen) > 50_000:
                self._seen.clear()
            self._seen[text] = self._find(text)
        return self._seen[text]

    def _find(self, text: str) -> list[Span]:
        found = self._engine().analyze(text, language="en", entities=self.active, score_threshold=self.threshold)
        ids = identifier_spans(text, self.identifiers)
        found = [r for r in found if not _an_identifier(r, ids, text)]
        if self.identifiers.action == "mask":
            found += [_Result(IDENTIFIER, start, end, 1.0) for start, end in ids]
        kept: list[Span] = []
        for r in sorted(found, key=lambda r: (-r.score, -(r.end - r.start), r.start)):
            if all(r.end <= k.start or r.start >= k.end for k in kept):
                kept.append(Span(r.entity_type, r.start, r.end, round(float(r.score), 3)))
        return sorted(kept, key=lambda s: s.start)


@dataclass
class _Result:   # an identifier found by curate.privacy.identifiers, shaped like Presidio's results
    entity_type: str
    start: int
    end: int
    score: float


def _an_identifier(result, ids: list[tuple[int, int]], text: str) -> bool:
    """Whether a phone or card finding is an order/ticket number (or a card number that does not
    look like a card): those are not personal data."""
    if result.entity_type not in ("PHONE_NUMBER", "CREDIT_CARD"):
        return False
    if any(result.start < end and start < result.end for start, end in ids):
        return True
    return result.entity_type == "CREDIT_CARD" and not looks_like_a_card(text, result.start, result.end)


def pair_texts(pair: dict) -> list[tuple[str, str]]:
    """(field, text) of a pair, in the order placeholders are numbered; context turns one by one."""
    out = []
    for name in PAIR_FIELDS:
        if name == "context":
            context = pair.get("context") or []
            context = json.loads(context) if isinstance(context, str) else context
            out += [(f"context.{i}", turn["content"]) for i, turn in enumerate(context)]
        elif pair.get(name):
            out.append((name, pair[name]))
    return out
