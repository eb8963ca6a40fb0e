"""What annotators answer (the rating schema, data in the store) and when a pair is approved
(the approval rule)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from curate.errors import TuneloopError
from curate.store import Store
from curate.store.settings import get_setting, set_setting

QUESTION_TYPES = ("rating", "label", "text_edit", "text")
DEFAULT_SCHEMA = {
    "questions": [
        {"name": "quality", "title": "Quality", "type": "rating", "values": [1, 2, 3, 4, 5], "required": True,
         "help": "1: wrong or harmful · 3: right but could be better · 5: exactly what we want"},
        {"name": "verdict", "title": "Verdict", "type": "label", "values": ["approve", "reject", "needs-edit"],
         "required": True},
        {"name": "response", "title": "Edited response", "type": "text_edit", "required": False},
        {"name": "note", "title": "Note", "type": "text", "required": False},
    ],
    "guidelines": (
        "### How to rate\n"
        "- **Quality** is about the answer: correct, complete, on topic, and in our voice.\n"
        "- **Approve** pairs you would be happy for the model to learn from as they are.\n"
        "- **Reject** wrong, harmful, duplicated or meaningless pairs.\n"
        "- **Needs edit**: fix the answer in the box; your version is stored as a new pair.\n"
        "- Off-topic questions answered with the refusal are good pairs: approve them.\n"
    ),
}


@dataclass
class ApprovalRule:
    min_ratings: int = 1        # k: ratings a pair needs (1 for a solo user)
    min_quality: float = 4.0    # mean quality needed
    # and no annotator said reject; a reviewer's decision overrides the rule


def get_schema(store: Store) -> dict:
    return get_setting(store, "rating_schema", DEFAULT_SCHEMA)


def set_schema(store: Store, schema: dict) -> None:
    """Replace the rating schema, after checking it (raises TuneloopError naming the problem)."""
    names = set()
    if not isinstance(schema.get("questions"), list) or not all(isinstance(q, dict) for q in schema["questions"]):
        raise TuneloopError("the rating schema's questions are a list of objects with name, title and type")
    for q in schema["questions"]:
        if q.get("type") not in QUESTION_TYPES:
            raise TuneloopError(f"question {q.get('name')!r}: type must be one of {', '.join(QUESTION_TYPES)}")
        if not q.get("name") or q["name"].startswith("_") or q["name"] in names:
            raise TuneloopError(f"question names must be unique and not start with '_': {q.get('name')!r}")
        if q["type"] in ("rating", "label") and not q.get("values"):
            raise TuneloopError(f"question {q['name']!r} needs values")
        names.add(q["name"])
    if not names:
        raise TuneloopError("a rating schema needs at least one question")
    set_setting(store, "rating_schema", schema)


def schema_text(store: Store) -> str:
    """The rating schema as JSON a person edits (on the Team page)."""
    return json.dumps(get_schema(store), indent=2, ensure_ascii=False)


def set_schema_text(store: Store, text: str) -> None:
    """Replace the rating schema from edited JSON; raises TuneloopError naming what is wrong."""
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TuneloopError(f"the rating schema is not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if not isinstance(schema, dict):
        raise TuneloopError('the rating schema is a JSON object: {"questions": [...], "guidelines": "..."}')
    set_schema(store, schema)


def schema_rows(schema: dict) -> list[dict]:
    """The schema's questions as rows of a form (values as comma-separated text)."""
    return [{"name": q.get("name", ""), "title": q.get("title", ""), "type": q.get("type", "rating"),
             "values": ", ".join(str(v) for v in q.get("values") or []), "required": bool(q.get("required")),
             "help": q.get("help") or ""} for q in schema.get("questions", [])]


def _values(text: str, kind: str, name: str) -> list:
    values = [v.strip() for v in (text or "").split(",") if v.strip()]
    if kind != "rating":
        return values
    try:
        return [int(v) if float(v).is_integer() else float(v) for v in values]
    except ValueError:
        raise TuneloopError(f"question {name!r}: a rating's values are numbers, e.g. 1, 2, 3, 4, 5") from None


def schema_from_rows(rows: list[dict], guidelines: str) -> dict:
    """A schema from the form's rows (empty rows left out), checked by set_schema when saved."""
    questions = []
    for row in rows:
        name = str(row.get("name") or "").strip()
        if not name and not str(row.get("title") or "").strip():
            continue   # an empty row the editor added
        kind = row.get("type") or "rating"
        question = {"name": name, "title": str(row.get("title") or name).strip(), "type": kind,
                    "required": bool(row.get("required"))}
        if kind in ("rating", "label"):
            question["values"] = _values(row.get("values"), kind, name)
        if str(row.get("help") or "").strip():
            question["help"] = str(row["help"]).strip()
        questions.append(question)
    return {"questions": questions, "guidelines": guidelines}


def get_rule(store: Store) -> ApprovalRule:
    return ApprovalRule(**get_setting(store, "approval_rule", {}))


def update_rule(store: Store, min_ratings: int | None = None, min_quality: float | None = None) -> ApprovalRule:
    """The team's rule with the values given changed (and saved); the others as they were."""
    rule = get_rule(store)
    if min_ratings is None and min_quality is None:
        return rule
    rule.min_ratings = min_ratings if min_ratings is not None else rule.min_ratings
    rule.min_quality = min_quality if min_quality is not None else rule.min_quality
    set_rule(store, rule)
    return rule


def set_rule(store: Store, rule: ApprovalRule) -> None:
    if rule.min_ratings < 1:
        raise TuneloopError("a pair needs at least one rating")
    set_setting(store, "approval_rule", asdict(rule))
