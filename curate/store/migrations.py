"""The schema: an ordered registry of migrations that each package declares for its own tables.

A package that owns tables keeps their DDL beside its code as `<package>/schema/NNN_name.sql` and
lists them in `<package>/schema/__init__.py` as `MIGRATIONS = [(version, what it does, (files…)),
…]`; it registers that module under the `tuneloop.schema` entry point group (pyproject.toml), the
way sqlite-utils' and llm's plugins register theirs, so the store names no package above it.
Versions are one sequence across packages; a version's files run package by package in layer
order (curate, then training, then evals), in one transaction, and the version is recorded in
`schema_migrations`. Opening a store applies the versions it has not seen.

The same modules may declare `PURGE`: how a personal-data purge rewrites their tables
(curate.privacy.redact calls them).
"""
from __future__ import annotations

import importlib
import importlib.resources
from importlib.metadata import entry_points
from types import ModuleType

GROUP = "tuneloop.schema"
OWN = "curate.schema"   # the store's own package's tables: always there, installed or not


def schema_modules() -> list[ModuleType]:
    """The registered schema modules, lowest layer first (each declares LAYER; curate's is 0)."""
    names = {OWN} | {ep.value for ep in entry_points(group=GROUP)}
    modules = [importlib.import_module(name) for name in names]
    return sorted(modules, key=lambda m: (getattr(m, "LAYER", 99), m.__name__))


def registered() -> list[tuple[int, str, tuple[str, ...]]]:
    """(version, what it does, its DDL files as `package/NNN_name.sql`) in version order, the
    packages' declarations of one version joined."""
    by_version: dict[int, tuple[list[str], list[str]]] = {}
    for module in schema_modules():
        package = module.__name__.split(".")[0]
        for version, name, files in module.MIGRATIONS:
            names, refs = by_version.setdefault(version, ([], []))
            names.append(name)
            refs += [f"{package}/{f}" for f in files]
    return [(v, "; ".join(names), tuple(refs)) for v, (names, refs) in sorted(by_version.items())]


def ddl(ref: str) -> str:
    """The SQL of one schema file, `package/NNN_name.sql` (read as package data, not imported)."""
    package, name = ref.split("/", 1)
    return importlib.resources.files(f"{package}.schema").joinpath(name).read_text(encoding="utf-8")


def purge_statements() -> tuple:
    """What every package's tables need rewritten in a personal-data purge: (table, (select by
    pair_id, update by rowid)) pairs, from the schema modules' PURGE."""
    return tuple(hook for module in schema_modules() for hook in getattr(module, "PURGE", ()))
