"""Options defined once: a config dataclass's fields carry their help text, choices and command-line
flag, and the CLI, the app's forms and background launches are made from them (as TRL's config
dataclasses feed its command line)."""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import MISSING, dataclass
from typing import Any


def option(default: Any, help: str, *, choices: tuple | None = None, flag: str | None = None, also: tuple = (),
           label: str | None = None):
    """A config field with its help text; `choices` limit its values, `flag` renames its option,
    `also` gives it other names (--base for --model) and `label` is what a form calls it (default:
    the field's name in words)."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices, "flag": flag, "also": also,
                                                        "label": label})


@dataclass(frozen=True)
class Option:
    name: str           # the field
    flag: str           # --max-steps
    type: type          # str, int, float or bool
    default: Any
    help: str
    choices: tuple | None
    also: tuple = ()
    label: str = ""     # what a form calls it


def options(cls) -> list[Option]:
    """The fields of a config dataclass as options, in order."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        kinds = [t for t in typing.get_args(hint) if t is not type(None)] or [hint]
        default = f.default if f.default is not MISSING else None
        out.append(Option(f.name, f.metadata.get("flag") or "--" + f.name.replace("_", "-"), kinds[0], default,
                          f.metadata.get("help", ""), f.metadata.get("choices"), f.metadata.get("also", ()),
                          f.metadata.get("label") or f.name.replace("_", " ").capitalize()))
    return out


def field_help(cls) -> dict[str, str]:
    return {o.name: o.help for o in options(cls)}
