"""The design's rules for the code: stages as packages layered one way with no import cycle (imports
inside functions counted), small modules, pages that display and call, and curate starts without torch."""
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


# The stages inside curate, lowest first: a module imports only from its own stage or a lower one.
CURATE_LAYERS = {
    "errors": 0, "options": 0, "labels": 0, "schema": 0, "engine": 1, "store": 1, "lm": 2, "pairs": 3, "privacy": 4, "dedupe": 4,
    "quality": 5, "ingest": 5, "rating": 6, "datasets": 7, "demo": 8, "stats": 8,
}
MAX_MODULE_LINES = 500


def _modules() -> dict[str, object]:
    """Every module of ours by dotted name (a package by its own name) → its file."""
    found = {}
    for package in ALLOWED:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


def _imports(path, modules) -> set[str]:
    """The modules of ours a file imports, wherever the import stands (inside functions too), except
    under `if TYPE_CHECKING:` (never run). `from pkg import mod` counts as importing pkg.mod."""
    tree = ast.parse(path.read_text())
    typing_only = {id(x) for n in ast.walk(tree) if isinstance(n, ast.If) and ast.unparse(n.test).endswith("TYPE_CHECKING")
                   for b in n.body for x in ast.walk(b)}
    out = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                     for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                out.add(name)
    return out


def test_no_import_cycles_even_inside_functions():
    modules = _modules()
    graph = {name: _imports(path, modules) - {name} for name, path in modules.items()}
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):   # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_the_stages_of_curate_are_layered_one_way():
    modules = _modules()
    stage = {name: name.split(".")[1] for name in modules if name.startswith("curate.")}
    assert set(stage.values()) == set(CURATE_LAYERS), "every stage of curate has a layer (CURATE_LAYERS)"
    for name, own in stage.items():
        for imported in _imports(modules[name], modules):
            other = stage.get(imported)
            assert other is None or other == own or CURATE_LAYERS[other] < CURATE_LAYERS[own], \
                f"{name} ({own}) imports {imported} ({other}), a stage at its level or above"


def test_modules_are_small():
    for path in _modules().values():
        lines = len(path.read_text().splitlines())
        assert lines <= MAX_MODULE_LINES, f"{path.relative_to(ROOT)}: {lines} lines; split it by what the code does"


def test_pages_only_display_and_call():
    """No SQL and no store turns in the app's pages: they call library functions."""
    for path in (ROOT / "streamlit_app").rglob("*.py"):
        text = path.read_text()
        for string in _strings(ast.parse(text)):
            assert not re.search(r"\b(SELECT|INSERT|UPDATE|DELETE)\b.*\b(FROM|INTO|SET)\b", string), \
                f"{path.relative_to(ROOT)}: SQL in a page: {string[:60]!r}"
        assert ".connect()" not in text and ".transaction()" not in text and ".execute(" not in text, \
            f"{path.relative_to(ROOT)} manages the store itself; call a library function"


def test_curate_and_the_cli_start_without_torch():
    code = ("import sys, curate.store, curate.ingest, curate.pairs, curate.dedupe, curate.rating, curate.datasets,"
            " curate.pairs.generate, curate.quality.diversity, curate.lm.resolve, curate.lm.load, curate.lm.backends,"
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
    from curate.pairs import status as pairs

    assert set(pairs.RETIRED) | set(pairs.SETTLED) <= set(pairs.STATUSES)
    for _, path, text in _sources((*ALLOWED, "benchmarks")):
        if path == ROOT / "curate" / "pairs" / "status.py":
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
    from curate.store.migrations import registered

    MIGRATIONS = registered()

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
