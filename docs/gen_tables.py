"""Writes reference/tables.md at build time: every table of a fresh store, the package that owns
it, its columns with their types, and the comments its schema file gives them."""
import re
import tempfile
from pathlib import Path

import mkdocs_gen_files

from curate.store import Store
from curate.store.migrations import ddl, registered

comments: dict[tuple[str, str], str] = {}
owners: dict[str, str] = {}
table_notes: dict[str, str] = {}
for _, _, refs in registered():
    for ref in refs:
        package, sql = ref.split("/")[0], ddl(ref)
        for match in re.finditer(r"((?:--[^\n]*\n)*)CREATE TABLE (\w+) \((.*?)\n\);", sql, re.S):
            notes, table, body = match.groups()
            owners[table] = package
            table_notes[table] = " ".join(line.lstrip("- ").strip() for line in notes.splitlines())
            for column, comment in re.findall(r"^\s*(\w+)\s[^\n]*?--\s*(.+)$", body, re.M):
                comments[(table, column)] = comment.strip()
        for table, column, comment in re.findall(r"ALTER TABLE (\w+) ADD COLUMN (\w+)[^\n;]*;[ \t]*--\s*(.+)", sql):
            comments[(table, column)] = comment.strip()

with tempfile.TemporaryDirectory() as folder:
    store = Store(Path(folder) / "tables.duckdb")
    columns = store.rows("SELECT table_name, column_name, data_type FROM information_schema.columns"
                         " WHERE table_schema = 'main' ORDER BY table_name, ordinal_position")
    views = {r["table_name"] for r in store.rows("SELECT table_name FROM information_schema.tables"
                                                   " WHERE table_type = 'VIEW'")}

by_table: dict[str, list[dict]] = {}
for row in columns:
    by_table.setdefault(row["table_name"], []).append(row)
lines = ["# Tables", "",
         "Generated from the schema when the docs are built: every table of a fresh store, grouped by the"
         " package whose `schema/` folder creates it (`curate.store.migrations`).", ""]
for package in ("curate", "training", "evals", "views and bookkeeping"):
    names = [t for t in by_table if owners.get(t, "views and bookkeeping") == package]
    if not names:
        continue
    lines += [f"## {package}", ""]
    for table in sorted(names):
        lines += [f"### `{table}`" + (" (view)" if table in views else ""), ""]
        if table_notes.get(table):
            lines += [table_notes[table], ""]
        lines += ["| column | type | what it holds |", "|---|---|---|"]
        for row in by_table[table]:
            note = comments.get((table, row["column_name"]), "").replace("|", "\\|")
            lines.append(f"| `{row['column_name']}` | {row['data_type']} | {note} |")
        lines.append("")
with mkdocs_gen_files.open("reference/tables.md", "w") as fh:
    fh.write("\n".join(lines))
