"""Redacting pairs into new versions, and purging the original text wherever the store keeps it
(a right-to-erasure request)."""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass

from tqdm.auto import tqdm

from curate.errors import TuneloopError
from curate.privacy.detect import Detector
from curate.privacy.placeholders import Placeholders, redact_payload, redacted_pair, replace_values
from curate.privacy.scan import detector_for, findings, latest_scan
from curate.store import Store


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
           show_progress: bool = False) -> RedactReport:
    """A new version of every pair the scan found personal data in, with lineage; the original is
    retired (status redacted) and its new version takes its status. With purge, the original text
    is then rewritten everywhere the store keeps it (see _purge), the tables of every package
    included (each package's schema module declares its PURGE: curate.store.migrations)."""
    from curate.pairs.rows import conversation_key, version_of
    from curate.pairs.status import REDACTED, set_status

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
        versions.append((pair, version_of(pair, origin="redacted", lineage=lineage,
                                          **{k: new[k] for k in ("instruction", "response", "input", "context", "system")})))
    raw_logs = _redacted_raw_logs(store, detector_for(store, json.loads(scan_row["entities"]), scan_row["threshold"]),
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
            report.purge = _purge(con, scan_id, pairs, redacted_text, raw_logs, note)
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
           note: str | None) -> dict:
    """Inside the caller's transaction: the originals' text replaced by their redacted text, every
    raw log with personal data rewritten, and the found values replaced in every table a package
    declares in its schema module's PURGE (frozen dataset items, model outputs) by the pairs' ids.
    Returns what was rewritten; recorded in pii_purges."""
    from curate.pairs.rows import pair_hash
    from curate.store.migrations import purge_statements

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
        for name, statements in purge_statements():
            counts[name] += replace_in_rows(con, statements, pair["id"], scope.replaced)
    out = {k: counts.get(k, 0) for k in ("pairs", "raw_logs", "dataset_items", "model_outputs")}
    con.execute("INSERT INTO pii_purges (scan_id, pairs, raw_logs, dataset_items, model_outputs, note)"
                " VALUES (?, ?, ?, ?, ?, ?)", [scan_id, *out.values(), note])
    return out
