"""The design's rules for the code: imports go one way, and curate starts without torch."""
import ast
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
            " curate.generate, curate.diversity, tuneloop.cli; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
