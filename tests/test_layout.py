"""The design's rules for the code: imports go one way, and curate starts without torch."""
import ast
import re
import subprocess
import sys

from conftest import ROOT

ALLOWED = {  # a package may import these of ours
    "curate": {"curate"},
    "training": {"curate", "training"},
    "evals": {"curate", "evals", "training"},
    "streamlit_app": {"curate", "training", "evals", "streamlit_app"},
    "tuneloop": {"curate", "training", "evals", "streamlit_app", "tuneloop"},
}


def test_imports_go_one_way():
    ours = set(ALLOWED)
    for package, allowed in ALLOWED.items():
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                for name in names:
                    top = name.split(".")[0]
                    assert top not in ours or top in allowed, f"{path.relative_to(ROOT)} imports {name}"


def test_curate_and_the_cli_start_without_torch():
    code = ("import sys, curate.store, curate.ingest, curate.pairs, curate.dedupe, curate.rating, curate.dataset,"
            " curate.generate, curate.diversity, curate.lm.resolve, curate.lm.load, curate.lm.backends,"
            " curate.lm.embeddings, tuneloop.cli; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _sources(packages=tuple(ALLOWED)):
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield package, path, path.read_text()


def _strings(tree):
    """Every string literal, f-strings joined with {} where their values go."""
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            yield "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value


STATUS_LITERAL = re.compile(r"\bstatus\b[^'\"]{0,24}'(new|flagged|approved|rejected|duplicate|redacted)'", re.I)


def test_pair_statuses_are_written_in_sql_only_by_the_pairs_module():
    from curate import pairs

    assert set(pairs.RETIRED) | set(pairs.SETTLED) <= set(pairs.STATUSES)
    for _, path, text in _sources((*ALLOWED, "benchmarks")):
        if path == ROOT / "curate" / "pairs.py":
            continue
        for string in _strings(ast.parse(text)):
            assert not STATUS_LITERAL.search(string), f"{path.relative_to(ROOT)}: a pair status in SQL: {string!r}"


def test_no_table_name_comes_from_an_f_string():
    for _, path, text in _sources():
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.JoinedStr):
                continue
            for before, value in zip(node.values, node.values[1:]):
                if isinstance(before, ast.Constant) and isinstance(value, ast.FormattedValue):
                    assert not re.search(r"\b(FROM|INTO|UPDATE|JOIN|TABLE)\s+$", str(before.value)), \
                        f"{path.relative_to(ROOT)}:{node.lineno}: a table name from an f-string"


def _owners() -> dict[str, str]:
    """Each table and the package whose schema/ folder creates it."""
    owners = {}
    for package in ALLOWED:
        for sql in (ROOT / package / "schema").glob("*.sql"):
            for table in re.findall(r"CREATE TABLE (\w+)", sql.read_text()):
                owners[table] = package
    return owners


def test_each_package_owns_its_tables_and_reads_only_what_it_may_import():
    from curate.store import MIGRATIONS

    owners = _owners()
    assert {"pairs", "jobs", "models", "dataset_versions"} <= {t for t, p in owners.items() if p == "curate"}
    assert {"runs", "run_metrics", "example_losses"} <= {t for t, p in owners.items() if p == "training"}
    listed = {ref for _, _, files in MIGRATIONS for ref in files}
    on_disk = {f"{p}/{sql.name}" for p in ALLOWED for sql in (ROOT / p / "schema").glob("*.sql")}
    assert listed == on_disk  # every schema file is a migration, and every migration's files exist
    versions = [v for v, _, _ in MIGRATIONS]
    assert versions == sorted(versions) == list(range(1, len(versions) + 1))
    for package, path, text in _sources():
        assert not re.search(r"CREATE\s+TABLE\s+(?!IF NOT EXISTS schema_migrations)", text), \
            f"{path.relative_to(ROOT)}: DDL belongs in {package}/schema/"
        for string in _strings(ast.parse(text)):
            for table in re.findall(r"\b(?:FROM|JOIN|INTO|UPDATE)\s+(\w+)", string):
                owner = owners.get(table)
                assert owner is None or owner in ALLOWED[package], \
                    f"{path.relative_to(ROOT)} reads {owner}'s table {table}"


def test_models_are_loaded_in_one_place():
    for _, path, text in _sources():
        if path.is_relative_to(ROOT / "curate" / "lm"):
            continue
        assert "from_pretrained(" not in text and "SentenceTransformer(" not in text, \
            f"{path.relative_to(ROOT)} loads a model: use curate.lm.load / curate.lm.embeddings"
