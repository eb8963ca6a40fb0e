"""Placeholder answers: rows exported before anyone wrote the answer ("N/A", "TBD", "see above",
"-", "answer here", a template field left unfilled)."""
from __future__ import annotations

import re

from curate.quality.checks import Finding

KIND = "placeholder"
THRESHOLD = 0.8
# Whole answers that say nothing (case, punctuation and spaces aside).
_WHOLE = re.compile(r"^\W*(n\W*a|na|none|null|nil|nan|undefined|tbd|tba|tbc|todo|to do|to be (added|written|confirmed|done)"
                    r"|fixme|xxx+|\?+|-+|\.+|_+|n/?a|pending|placeholder|lorem ipsum.*|answer( here)?|insert answer( here)?"
                    r"|your answer( here)?|see (above|below|previous|prev|earlier|attached|ticket|notes?)"
                    r"|same as (above|before|previous)|ditto|as above|test|testing|asdf\w*|no answer( yet)?|tk|wip"
                    r"|coming soon|blank|empty|\(blank\)|\(empty\)|<answer>|\[answer\]|\{answer\})\W*$", re.I)
_TEMPLATE = re.compile(r"^\W*(\{\{[^{}]{1,60}\}\}|\[[A-Z_ ]{2,40}\]|<[A-Z_ ]{2,40}>|%[A-Z_]+%|\$\{[^}]{1,40}\})\W*$")


def check(pair: dict) -> Finding | None:
    answer = (pair["response"] or "").strip()
    if _WHOLE.match(answer):
        return Finding(pair["id"], KIND, 1.0, f"the answer is a placeholder: {answer[:40]!r}", "placeholder")
    if _TEMPLATE.match(answer):
        return Finding(pair["id"], KIND, 0.9, f"the answer is an unfilled template field: {answer[:60]!r}",
                       "placeholder")
    return None
