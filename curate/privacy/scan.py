"""Scanning the store's pairs for personal data: findings by pair, field and span; how pages show
pairs (redacted by the latest scan unless the team chose otherwise)."""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass

from tqdm.auto import tqdm

from curate.privacy.detect import DEFAULT_THRESHOLD, PLACEHOLDER, Detector, Span, pair_texts
from curate.privacy.identifiers import IDENTIFIER, SETTING, Rules, identifier_spans
from curate.privacy.placeholders import Placeholders, redacted_pair
from curate.store import Store
from curate.store.settings import get_setting, set_setting

DISPLAY_SETTING = "pii_display"   # "redacted" (default once a scan ran) or "original"


@dataclass
class ScanReport:
    scan_id: int
    pairs_scanned: int
    pairs_with_pii: int
    counts: dict
    detector: str
    identifiers: int = 0      # order, ticket, tracking numbers found: not personal data
    identifier_action: str = "keep"

    def summary(self) -> str:
        personal = {e: n for e, n in self.counts.items() if e != IDENTIFIER}
        found = ", ".join(f"{PLACEHOLDER.get(e, e)} {n}" for e, n in personal.items()) or "nothing"
        ids = (f"\n{self.identifiers} order/ticket/tracking number(s) found, not personal data:"
               f" {'left as they are' if self.identifier_action == 'keep' else 'masked as ORDER_ID'}"
               if self.identifiers else "")
        return (f"scan {self.scan_id}: {self.pairs_scanned} pair(s) scanned, {self.pairs_with_pii} with personal data"
                f" — {found}{ids}\n{self.detector}")


def identifier_rules(store: Store) -> Rules:
    """The team's rules for identifiers (curate.privacy.identifiers), from the store's settings."""
    return Rules(**get_setting(store, SETTING, {}))


def set_identifier_rules(store: Store, patterns: list[str] | None = None, action: str | None = None) -> Rules:
    """Change the identifier patterns and/or what is done with identifiers; returns the rules now."""
    rules = identifier_rules(store)
    rules = Rules(rules.patterns if patterns is None else list(patterns), action or rules.action)   # checked here
    set_setting(store, SETTING, {"patterns": rules.patterns, "action": rules.action})
    return rules


def detector_for(store: Store, entities: list[str] | None = None, threshold: float = DEFAULT_THRESHOLD) -> Detector:
    """A detector that follows the team's identifier rules."""
    return Detector(entities, threshold, identifier_rules(store))


def scan(store: Store, entities: list[str] | None = None, threshold: float = DEFAULT_THRESHOLD,
         show_progress: bool = False) -> ScanReport:
    """Look for personal data in every pair in play; the findings are stored as scan N."""
    from curate.pairs.status import active

    detector = detector_for(store, entities, threshold)
    pairs = store.rows(f"SELECT id, instruction, input, response, context, system FROM pairs p WHERE {active()} ORDER BY id")
    with store.job("pii.scan", {"entities": detector.active, "threshold": threshold}) as job:
        rows, identifiers = [], 0
        for i, pair in enumerate(tqdm(pairs, desc="pii scan", unit="pair", disable=not show_progress)):
            for name, text in pair_texts(pair):
                rows += [(pair["id"], name, s.entity, s.start, s.end, s.score) for s in detector.find(text)]
                identifiers += len(identifier_spans(text, detector.identifiers))
            if i % 500 == 499:
                job.heartbeat((i + 1) / len(pairs), f"{i + 1} of {len(pairs)} pairs")
        with store.transaction() as con:
            scan_id = con.execute(
                "INSERT INTO pii_scans (entities, ner_model, threshold, pairs_scanned, job_id) VALUES (?, ?, ?, ?, ?)"
                " RETURNING id", [json.dumps(detector.active), detector.model, threshold, len(pairs), job.id]).fetchone()[0]
            if rows:
                con.executemany("INSERT INTO pii_findings VALUES (?, ?, ?, ?, ?, ?, ?)", [(scan_id, *r) for r in rows])
        report = ScanReport(scan_id, len(pairs), len({r[0] for r in rows if r[2] != IDENTIFIER}),
                            dict(Counter(r[2] for r in rows).most_common()), detector.describe(), identifiers,
                            detector.identifiers.action)
        job.result = {"scan": scan_id, "pairs": report.pairs_scanned, "with_pii": report.pairs_with_pii,
                      "counts": report.counts, "identifiers": identifiers}
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
