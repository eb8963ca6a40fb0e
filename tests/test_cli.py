import json
import re

from tuneloop.cli import main

from conftest import ROOT, shared


def all_commands(group=main, prefix=()):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from all_commands(command, prefix + (name,))
        else:
            yield prefix + (name,)


def test_every_command_has_help_an_example_and_a_line_in_the_docs(cli):
    docs = "\n".join(path.read_text() for path in (ROOT / "docs").rglob("*.md"))
    for words in all_commands():
        result = cli(*words, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output
        example = re.search(r"Example:\n\s+(tuneloop .+)", result.output)
        assert example and " ".join(words) in example.group(1), f"`tuneloop {' '.join(words)} --help` has no example"
        assert re.search(r"tuneloop\s+(--db \S+\s+)?" + r"\s+".join(words) + r"\b", docs), \
            f"`tuneloop {' '.join(words)}` is not documented in docs/"


def test_init_is_idempotent(cli):
    assert "(applied 1, 2, 3, 4, 5, 6" in cli("init").output
    assert "up to date" in cli("init").output


def test_ingest_extract_stats_export(cli, tmp_path):
    result = cli("ingest", str(shared("lamini_docs")), "--topic", "Lamini")
    assert result.exit_code == 0 and "lamini_docs.jsonl: imported (jsonl, utf-8) read 933" in result.output
    assert "new pair" in cli("pairs", "extract").output
    counts = json.loads(cli("stats", "--json").output)
    assert counts["pairs_by_origin"]["extracted"] == counts["tables"]["pairs"] > 900
    assert "pairs by origin" in cli("stats").output
    out = tmp_path / "pairs.jsonl"
    result = cli("export", str(out), "--status", "new")
    assert result.exit_code == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == counts["tables"]["pairs"]
    assert lines[0]["topic"] == "Lamini" and lines[0]["instruction"]


def test_export_round_trips_exactly(cli, tmp_path, store):
    cli("demo-data")
    out = tmp_path / "pairs.jsonl"
    cli("export", str(out))
    exported = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    stored = store.rows("SELECT id, instruction, response, context FROM pairs ORDER BY id")
    assert [(e["id"], e["instruction"], e["response"]) for e in exported] == \
        [(s["id"], s["instruction"], s["response"]) for s in stored]
    assert [e["context"] for e in exported] == [json.loads(s["context"]) if s["context"] else None for s in stored]


def test_demo_data_loads_once(cli):
    first = cli("demo-data").output
    assert "lumo_support_faq.jsonl: imported" in first
    second = cli("demo-data").output
    assert "already imported" in second and "0 new pair" in second


def test_library_errors_are_one_line_and_non_zero(cli):
    result = cli("ingest", "/no/such/file.jsonl")
    assert result.exit_code == 1
    assert result.output.strip() == "Error: /no/such/file.jsonl: no such file or folder"
    result = cli("ingest", str(shared("lamini_docs")), "--map", "nonsense")
    assert result.exit_code == 1 and "expected FIELD=COLUMN" in result.output


def test_db_from_the_environment(tmp_path, monkeypatch):
    from click.testing import CliRunner

    db = tmp_path / "env.duckdb"
    monkeypatch.setenv("TUNELOOP_DB", str(db))
    result = CliRunner().invoke(main, ["init"])
    assert result.exit_code == 0 and db.exists()


def test_pairs_offtopic_reports_the_share(cli):
    cli("demo-data")
    result = cli("pairs", "offtopic", "--topic", "Lumo", "--n", "5")
    assert result.exit_code == 0
    assert re.match(r"added 5 off-topic pairs; off-topic pairs are \d+\.\d% of all pairs", result.output)


def test_pairs_generate_with_the_openai_backend(cli, openai_stub):
    cli("demo-data")
    result = cli("pairs", "generate", "--backend", "openai", "--topic", "Lumo", "--n", "4", "--dry-run",
                 "--answers", "model")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 5 and "4 pairs from" in lines[-1] and "kept pairs/min" in lines[-1]
    assert json.loads(lines[0])["response"].startswith("From the text:")   # grounded in its chunk: kept
    result = cli("pairs", "generate", "--backend", "openai", "--topic", "Lumo", "--n", "4", "--dry-run")
    pair = json.loads(result.output.splitlines()[0])   # passages: the document's words, the server's question
    assert pair["instruction"].startswith("What does the text say about") and "From the text" not in pair["response"]
    result = cli("pairs", "generate", "--backend", "openai", "--topic", "Lumo", "--n", "4")
    assert result.output.strip().endswith("stored")


def test_pairs_generate_without_an_endpoint_is_a_clear_error(cli, monkeypatch):
    monkeypatch.delenv("TUNELOOP_OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    cli("demo-data")
    result = cli("pairs", "generate", "--backend", "openai")
    assert result.exit_code == 1 and "TUNELOOP_OPENAI_BASE_URL" in result.output


def test_models_shows_where_models_come_from(cli, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    output = cli("models").output
    assert "causal LM: gguf:" in output and "SmolLM2-135M-Instruct" in output and "embeddings:" in output
