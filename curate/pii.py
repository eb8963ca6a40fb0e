"""Personal data in support logs: find it, replace it with placeholders, and erase it on request.

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
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from curate.errors import TuneloopError
from curate.settings import get_setting, set_setting
from curate.store import Store

# Presidio's entity name → our placeholder's name. The first six need no model.
PLACEHOLDER = {"EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE", "CREDIT_CARD": "CARD", "IBAN_CODE": "IBAN",
               "IP_ADDRESS": "IP", "URL": "URL", "PERSON": "PERSON", "LOCATION": "LOCATION"}
PATTERN_ENTITIES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "URL")
NER_ENTITIES = ("PERSON", "LOCATION")
DEFAULT_THRESHOLD = 0.4
NER_MODELS = ("en_core_web_lg", "en_core_web_md", "en_core_web_sm")   # tried in this order
PAIR_FIELDS = ("system", "context", "instruction", "input", "response")   # the order placeholders are numbered in
DISPLAY_SETTING = "pii_display"   # "redacted" (default once a scan ran) or "original"


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

    def __init__(self, entities: list[str] | None = None, threshold: float = DEFAULT_THRESHOLD):
        unknown = sorted(set(entities or ()) - set(PLACEHOLDER))
        if unknown:
            raise TuneloopError(f"unknown entity {', '.join(unknown)}; choose from {', '.join(PLACEHOLDER)}")
        self.model = ner_model()
        asked = list(entities or (*PATTERN_ENTITIES, *NER_ENTITIES))
        self.active = [e for e in asked if e in PATTERN_ENTITIES or self.model]
        self.inactive = [e for e in asked if e not in self.active]
        self.threshold = threshold
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
        kept: list[Span] = []
        for r in sorted(found, key=lambda r: (-r.score, -(r.end - r.start), r.start)):
            if all(r.end <= k.start or r.start >= k.end for k in kept):
                kept.append(Span(r.entity_type, r.start, r.end, round(float(r.score), 3)))
        return sorted(kept, key=lambda s: s.start)


@dataclass
class Placeholders:
    """Numbers found values within one conversation: the same e-mail is <EMAIL_1> throughout."""
    numbers: dict = field(default_factory=dict)
    replaced: dict = field(default_factory=dict)   # original value → placeholder (what a purge rewrites)

    def __call__(self, entity: str, value: str) -> str:
        label = PLACEHOLDER.get(entity, entity)
        key = (label, value.strip().lower())
        if key not in self.numbers:
            self.numbers[key] = sum(1 for k in self.numbers if k[0] == label) + 1
        placeholder = f"<{label}_{self.numbers[key]}>"
        self.replaced[value] = placeholder
        return placeholder


def redact_text(text: str, spans: list[Span], placeholders: Placeholders) -> str:
    out, at = [], 0
    for s in spans:
        out += [text[at:s.start], placeholders(s.entity, text[s.start:s.end])]
        at = s.end
    return "".join(out) + text[at:]


def redact_payload(value, detector: Detector, placeholders: Placeholders | None = None):
    """A raw record (dict, list or text) with every piece of text redacted; keys, numbers and the
    short labels (role, ids) kept. One Placeholders for the whole record: a conversation."""
    placeholders = placeholders if placeholders is not None else Placeholders()
    if isinstance(value, str):
        return redact_text(value, detector.find(value), placeholders)
    if isinstance(value, list):
        return [redact_payload(v, detector, placeholders) for v in value]
    if isinstance(value, dict):
        return {k: v if k in ("role", "message_id", "parent_id", "kind") else redact_payload(v, detector, placeholders)
                for k, v in value.items()}
    return value


def replace_values(text: str | None, replaced: dict[str, str]) -> str | None:
    """Every occurrence of a found value replaced by its placeholder (longest first)."""
    if not text:
        return text
    for value in sorted(replaced, key=len, reverse=True):
        text = text.replace(value, replaced[value])
    return text


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


# --------------------------------------------------------------------------- store: scan
@dataclass
class ScanReport:
    scan_id: int
    pairs_scanned: int
    pairs_with_pii: int
    counts: dict
    detector: str

    def summary(self) -> str:
        found = ", ".join(f"{PLACEHOLDER.get(e, e)} {n}" for e, n in self.counts.items()) or "nothing"
        return (f"scan {self.scan_id}: {self.pairs_scanned} pair(s) scanned, {self.pairs_with_pii} with personal data"
                f" — {found}\n{self.detector}")




def scan(store: Store, entities: list[str] | None = None, threshold: float = DEFAULT_THRESHOLD,
         show_progress: bool = False) -> ScanReport:
    """Look for personal data in every pair in play; the findings are stored as scan N."""
    from curate.pairs import active

    detector = Detector(entities, threshold)
    pairs = store.rows(f"SELECT id, instruction, input, response, context, system FROM pairs p WHERE {active()} ORDER BY id")
    with store.job("pii.scan", {"entities": detector.active, "threshold": threshold}) as job:
        rows = []
        for i, pair in enumerate(tqdm(pairs, desc="pii scan", unit="pair", disable=not show_progress)):
            for name, text in pair_texts(pair):
                rows += [(pair["id"], name, s.entity, s.start, s.end, s.score) for s in detector.find(text)]
            if i % 500 == 499:
                job.heartbeat((i + 1) / len(pairs), f"{i + 1} of {len(pairs)} pairs")
        with store.transaction() as con:
            scan_id = con.execute(
                "INSERT INTO pii_scans (entities, ner_model, threshold, pairs_scanned, job_id) VALUES (?, ?, ?, ?, ?)"
                " RETURNING id", [json.dumps(detector.active), detector.model, threshold, len(pairs), job.id]).fetchone()[0]
            if rows:
                con.executemany("INSERT INTO pii_findings VALUES (?, ?, ?, ?, ?, ?, ?)", [(scan_id, *r) for r in rows])
        report = ScanReport(scan_id, len(pairs), len({r[0] for r in rows}),
                            dict(Counter(r[2] for r in rows).most_common()), detector.describe())
        job.result = {"scan": scan_id, "pairs": report.pairs_scanned, "with_pii": report.pairs_with_pii,
                      "counts": report.counts}
    return report


def latest_scan(store: Store) -> dict | None:
    return store.one("SELECT * FROM pii_scans ORDER BY id DESC LIMIT 1")


def counts_by_entity(store: Store, scan_id: int | None = None) -> dict[str, int]:
    """Findings of a scan (the latest by default) by entity, for the Overview."""
    scan_row = latest_scan(store) if scan_id is None else {"id": scan_id}
    if scan_row is None:
        return {}
    return {r["entity"]: r["n"] for r in store.rows(
        "SELECT entity, count(*) AS n FROM pii_findings WHERE scan_id = ? GROUP BY 1 ORDER BY 2 DESC",
        [scan_row["id"]])}


def findings(store: Store, pair_ids: list[int], scan_id: int) -> dict[int, dict[str, list[Span]]]:
    out: dict[int, dict[str, list[Span]]] = defaultdict(lambda: defaultdict(list))
    for r in store.rows("SELECT pair_id, field, entity, char_start, char_end, score FROM pii_findings"
                        " WHERE scan_id = ? AND list_contains(?, pair_id) ORDER BY pair_id, field, char_start",
                        [scan_id, pair_ids]):
        out[r["pair_id"]][r["field"]].append(Span(r["entity"], r["char_start"], r["char_end"], r["score"]))
    return out


def redacted_pair(pair: dict, spans: dict[str, list[Span]], placeholders: Placeholders) -> dict:
    """The pair's text fields with the findings replaced (a copy; context as a list of turns)."""
    out = dict(pair)
    context = pair.get("context") or []
    context = json.loads(context) if isinstance(context, str) else context
    out["context"] = [dict(turn) for turn in context] or None
    for name, text in pair_texts(pair):
        new = redact_text(text, spans.get(name, []), placeholders)
        if name.startswith("context."):
            out["context"][int(name.split(".")[1])]["content"] = new
        else:
            out[name] = new
    return out


def display_redacted(store: Store) -> bool:
    """Whether pages show pairs with their personal data replaced: yes unless someone chose
    otherwise (without a scan there is nothing to replace, so this is "on once a scan ran")."""
    return get_setting(store, DISPLAY_SETTING, "redacted") == "redacted"


def set_display(store: Store, redacted: bool) -> None:
    set_setting(store, DISPLAY_SETTING, "redacted" if redacted else "original")


def as_displayed(store: Store, pair: dict, placeholders: Placeholders | None = None) -> dict:
    """The pair as a page should show it: redacted by the latest scan when the setting says so
    (pass one Placeholders for the pairs of one conversation shown together)."""
    with store.connect():   # one turn at the file for the three reads
        scan_row = latest_scan(store) if display_redacted(store) else None
        if scan_row is None:
            return pair
        spans = findings(store, [pair["id"]], scan_row["id"]).get(pair["id"])
    return redacted_pair(pair, spans, placeholders if placeholders is not None else Placeholders()) if spans else pair


# --------------------------------------------------------------------------- store: redact and purge
@dataclass
class RedactReport:
    scan_id: int
    redacted: int = 0
    already: int = 0
    purge: dict | None = None

    def summary(self) -> str:
        text = (f"scan {self.scan_id}: {self.redacted} pair(s) redacted into new versions (origin redacted),"
                f" {self.already} already redacted")
        if self.purge:
            text += ("\npurged the original text from " + ", ".join(f"{n} {k.replace('_', ' ')}"
                                                                     for k, n in self.purge.items()))
        return text


def redact(store: Store, scan_id: int | None = None, purge: bool = False, note: str | None = None,
           show_progress: bool = False, purge_more: tuple = ()) -> RedactReport:
    """A new version of every pair the scan found personal data in, with lineage; the original is
    retired (status redacted) and its new version takes its status. With purge, the original text
    is then rewritten everywhere the store keeps it (see _purge); `purge_more` names other packages'
    tables as (name, (select by pair_id, update by rowid)) — evals.results.PURGE, model outputs."""
    from curate.pairs import REDACTED, conversation_key, make_pair, set_status

    scan_row = latest_scan(store) if scan_id is None else store.one("SELECT * FROM pii_scans WHERE id = ?", [scan_id])
    if scan_row is None:
        raise TuneloopError("no personal-data scan yet: run `tuneloop pii scan` first" if scan_id is None
                            else f"no personal-data scan {scan_id}")
    scan_id = scan_row["id"]
    pairs = store.rows("SELECT p.* FROM pairs p WHERE p.id IN (SELECT pair_id FROM pii_findings WHERE scan_id = ?)"
                       " ORDER BY p.id", [scan_id])
    spans = findings(store, [p["id"] for p in pairs], scan_id)
    report = RedactReport(scan_id)
    scopes: dict[str, Placeholders] = defaultdict(Placeholders)
    versions, redacted_text = [], {}
    for pair in pairs:
        scope = scopes[conversation_key(pair)]
        new = redacted_pair(pair, spans[pair["id"]], scope)
        redacted_text[pair["id"]] = (new, scope)
        if pair["status"] == REDACTED:
            report.already += 1
            continue
        lineage = {"redacted_from": pair["id"], "scan": scan_id,
                   "entities": dict(Counter(s.entity for field_spans in spans[pair["id"]].values() for s in field_spans))}
        versions.append((pair, make_pair(new["instruction"], new["response"], origin="redacted", input=new["input"],
                                         context=new["context"], system=new["system"], topic=pair["topic"],
                                         source_id=pair["source_id"], raw_log_id=pair["raw_log_id"],
                                         parent_id=pair["id"], lineage=lineage)))
    raw_logs = _redacted_raw_logs(store, Detector(json.loads(scan_row["entities"]), scan_row["threshold"]),
                                  show_progress) if purge else []
    with store.transaction() as con:
        for old, new in versions:
            con.execute(
                "INSERT INTO pairs (instruction, input, response, context, system, topic, origin, source_id, raw_log_id,"
                " parent_id, lineage, content_hash, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [new["instruction"], new["input"], new["response"], json.dumps(new["context"]) if new["context"] else None,
                 new["system"], new["topic"], new["origin"], new["source_id"], new["raw_log_id"], new["parent_id"],
                 json.dumps(new["lineage"]), new["content_hash"], old["status"]])
        set_status(con, [o["id"] for o, _ in versions], REDACTED)
        report.redacted = len(versions)
        if purge:
            report.purge = _purge(con, scan_id, pairs, redacted_text, raw_logs, note, purge_more)
    return report


def _redacted_raw_logs(store: Store, detector: Detector, show_progress: bool) -> list[tuple[int, str]]:
    """(id, new payload) of every raw log whose text has personal data (read in chunks; detection
    runs with the store let go)."""
    out, last = [], 0
    total = store.scalar("SELECT count(*) FROM raw_logs")
    with tqdm(total=total, desc="purge raw logs", unit="log", disable=not show_progress) as bar:
        while rows := store.rows("SELECT id, payload FROM raw_logs WHERE id > ? ORDER BY id LIMIT 5000", [last]):
            for row in rows:
                rewritten = json.dumps(redact_payload(json.loads(row["payload"]), detector), ensure_ascii=False)
                if rewritten != json.dumps(json.loads(row["payload"]), ensure_ascii=False):
                    out.append((row["id"], rewritten))
            last = rows[-1]["id"]
            bar.update(len(rows))
    return out


_DATASET_ITEMS = ("SELECT rowid, instruction, input, response, context, system, prompt, completion FROM dataset_items"
                  " WHERE pair_id = ?",
                  "UPDATE dataset_items SET instruction = ?, input = ?, response = ?, context = ?, system = ?, prompt = ?,"
                  " completion = ? WHERE rowid = ?")


def replace_in_rows(con, statements: tuple[str, str], pair_id: int, replaced: dict[str, str]) -> int:
    """The found values replaced in the rows a select reads; returns how many rows changed."""
    select, update = statements
    changed = 0
    for rowid, *values in con.execute(select, [pair_id]).fetchall():
        new_values = [replace_values(v, replaced) for v in values]
        if new_values != values:
            con.execute(update, [*new_values, rowid])
            changed += 1
    return changed


def _purge(con, scan_id: int, pairs: list[dict], redacted_text: dict, raw_logs: list[tuple[int, str]],
           note: str | None, purge_more: tuple) -> dict:
    """Inside the caller's transaction: the originals' text replaced by their redacted text, every
    raw log with personal data rewritten, and the found values replaced in the frozen dataset items
    (and purge_more's tables) made from the pairs. Returns what was rewritten; recorded in pii_purges."""
    from curate.pairs import pair_hash

    counts = Counter(raw_logs=len(raw_logs))
    if raw_logs:
        con.executemany("UPDATE raw_logs SET payload = ? WHERE id = ?", [(payload, i) for i, payload in raw_logs])
    for pair in pairs:
        new, scope = redacted_text[pair["id"]]
        context = json.dumps(new["context"]) if new["context"] else None
        con.execute("UPDATE pairs SET instruction = ?, input = ?, response = ?, context = ?, system = ?, content_hash = ?"
                    " WHERE id = ?", [new["instruction"], new["input"], new["response"], context, new["system"],
                                      pair_hash(new["instruction"], new["response"], new["input"], new["context"],
                                                new["system"]), pair["id"]])
        counts["pairs"] += 1
        counts["dataset_items"] += replace_in_rows(con, _DATASET_ITEMS, pair["id"], scope.replaced)
        for name, statements in purge_more:
            counts[name] += replace_in_rows(con, statements, pair["id"], scope.replaced)
    out = {k: counts.get(k, 0) for k in ("pairs", "raw_logs", "dataset_items", "model_outputs")}
    con.execute("INSERT INTO pii_purges (scan_id, pairs, raw_logs, dataset_items, model_outputs, note)"
                " VALUES (?, ?, ?, ?, ?, ?)", [scan_id, *out.values(), note])
    return out
