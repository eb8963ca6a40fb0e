"""An AppTest per page, driven as a user would."""
import json
import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

from curate import rating
from curate.store import Store

from conftest import ROOT

APP = str(ROOT / "streamlit_app" / "app.py")


@pytest.fixture
def app(db_path, monkeypatch):
    monkeypatch.setenv("TUNELOOP_DB", str(db_path))
    from streamlit_app.common import _open
    _open.clear()
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    return at


def test_overview_seeds_an_empty_store_and_shows_counts(app, db_path):
    metrics = {m.label: m.value for m in app.metric}
    store = Store(db_path)
    assert metrics["pairs"] == f"{store.scalar('SELECT count(*) FROM pairs'):,}"
    assert int(metrics["sources"]) == 3  # the sample data: FAQ, chats, manual
    assert any("lumo_support_faq.jsonl" in str(df.value["name"].tolist()) for df in app.dataframe)


def test_overview_counts_personal_data_and_the_team_page_sets_how_pairs_are_shown(app, db_path):
    from curate import privacy as pii

    assert any("No personal-data scan yet" in i.value for i in app.info)
    store = Store(db_path)
    store.execute("UPDATE pairs SET response = response || ' Mail ann.lee@example.com.' WHERE id = (SELECT min(id) FROM pairs)")
    pii.scan(store, ["EMAIL_ADDRESS"])
    app.run()
    assert not app.exception and any("Findings of the latest scan" in c.value for c in app.caption)
    app.switch_page("views/team.py").run()
    [shown] = [t for t in app.toggle if "placeholders" in t.label]
    assert shown.value is True
    shown.set_value(False).run()
    assert not app.exception and not pii.display_redacted(store)


def test_ingest_page_imports_an_upload_and_extracts_pairs(app, db_path, tmp_path):
    app.switch_page("views/ingest.py").run()
    rows = [json.dumps({"question": f"Uploaded question {i}?", "answer": f"Answer {i}."}) for i in range(3)]
    app.file_uploader[0].upload("../../../etc/upload.jsonl", ("\n".join(rows) + "\n{broken\n").encode(),
                                "application/json")
    app.run()
    [import_button] = [b for b in app.button if b.label == "Import"]
    import_button.click().run()
    assert not app.exception
    assert "upload.jsonl: imported (jsonl, utf-8) read 4, stored 3" in app.success[0].value.replace("\\", "")  # escaped
    assert "invalid JSON" in app.warning[0].value
    store = Store(db_path)
    assert store.scalar("SELECT name FROM sources ORDER BY id DESC LIMIT 1") == "upload.jsonl"
    assert not (tmp_path.parent / "etc").exists()
    [extract_button] = [b for b in app.button if b.label == "Extract pairs"]
    extract_button.click().run()
    assert "3 new pair" in app.success[-1].value
    assert store.scalar("SELECT count(*) FROM pairs WHERE instruction LIKE 'Uploaded question%'") == 3


def test_ingest_page_refuses_an_upload_over_the_limit(app, monkeypatch):
    import curate.ingest.importer
    monkeypatch.setattr(curate.ingest.importer, "MAX_UPLOAD_BYTES", 10)
    app.switch_page("views/ingest.py").run()
    app.file_uploader[0].upload("big.jsonl", b'{"question": "q", "answer": "a"}\n', "application/json").run()
    [b for b in app.button if b.label == "Import"][0].click().run()
    assert "over the upload limit" in app.error[0].value


def test_pairs_page_searches_and_filters(app):
    app.switch_page("views/pairs.py").run()
    assert not app.exception
    everything = int(app.caption[0].value.split()[0].replace(",", ""))
    app.text_input[0].set_value("warranty").run()
    found = int(app.caption[0].value.split()[0].replace(",", ""))
    assert 0 < found < everything
    assert all("warranty" in (q + r).lower() for q, r in zip(app.dataframe[0].value["instruction"],
                                                             app.dataframe[0].value["response"]))
    app.selectbox[1].set_value("approved").run()  # status filter: nothing is approved yet
    assert app.caption[0].value.startswith("0 pairs")


def test_pairs_page_opens_edits_and_bulk_rejects_a_filtered_set_then_undoes_it(app, db_path):
    store = Store(db_path)
    app.switch_page("views/pairs.py").run()
    app.text_input[0].set_value("warranty").run()
    found = store.rows("SELECT id, status FROM pairs WHERE contains(lower(instruction || response), 'warranty')")
    pair_id = found[0]["id"]
    [n for n in app.number_input if n.label == "Open pair number"][0].set_value(pair_id).run()
    assert not app.exception and app.subheader[0].value == f"Pair {pair_id} · new"
    assert any(":orange-background[" in m.value for m in app.markdown)   # the search term highlighted
    [t for t in app.text_area if t.label == "Response"][0].set_value("Two years, parts and labour.")
    [b for b in app.button if b.label == "Save the edit"][0].click().run()
    new_id = store.scalar("SELECT id FROM pairs WHERE parent_id = ? AND origin = 'edited'", [pair_id])
    assert f"saved as pair {new_id}" in app.success[0].value
    assert store.scalar("SELECT status FROM pairs WHERE id = ?", [pair_id]) == "superseded"

    [r for r in app.radio if r.label == "Which pairs"][0].set_value("matching").run()
    [s for s in app.selectbox if s.label == "New status"][0].set_value("rejected").run()
    button = [b for b in app.button if b.label.startswith("Change ")][0]
    assert button.disabled   # not before the confirmation
    [c for c in app.checkbox if c.label.startswith("Yes, make")][0].check().run()
    [b for b in app.button if b.label.startswith("Change ")][0].click().run()
    matching = store.scalar("SELECT count(*) FROM pairs WHERE contains(lower(instruction || response), 'warranty')")
    assert store.scalar("SELECT count(*) FROM pairs WHERE contains(lower(instruction || response), 'warranty')"
                        " AND status = 'rejected'") == matching
    [b for b in app.button if b.label.startswith("Undo change")][0].click().run()
    assert not app.exception and "undone" in app.success[-1].value
    assert store.rows("SELECT id, status FROM pairs WHERE list_contains(?, id) ORDER BY id",
                      [[r["id"] for r in found]]) == sorted(
        [{"id": r["id"], "status": "superseded" if r["id"] == pair_id else r["status"]} for r in found],
        key=lambda r: r["id"])


def test_app_and_cli_write_the_same_store_at_the_same_time(app, db_path, tmp_path):
    big = tmp_path / "big.jsonl"
    big.write_text("".join(json.dumps({"question": f"cli question {i}", "answer": f"a {i}"}) + "\n"
                           for i in range(30_000)))
    cli = subprocess.Popen([sys.executable, "-m", "tuneloop.cli", "--db", str(db_path), "ingest", str(big)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    app.switch_page("views/ingest.py").run()
    for n in range(3):  # the app imports while the CLI does
        app.file_uploader[0].clear().upload(f"app{n}.jsonl", json.dumps(
            {"question": f"app question {n}", "answer": "a"}).encode() + b"\n", "application/json").run()
        [b for b in app.button if b.label == "Import"][0].click().run()
        assert not app.exception and not app.error, [e.value for e in app.error]
    out, err = cli.communicate(timeout=300)
    assert cli.returncode == 0, err
    store = Store(db_path)
    assert store.scalar("SELECT count(*) FROM raw_logs WHERE payload->>'instruction' LIKE 'cli question%'") == 30_000
    assert store.scalar("SELECT count(*) FROM raw_logs WHERE payload->>'instruction' LIKE 'app question%'") == 3


def test_generate_page_previews_then_accepts(app, db_path, openai_stub):
    app.switch_page("views/generate.py").run()
    assert not app.exception
    [backend] = [r for r in app.radio if r.label == "Backend"]
    backend.set_value("openai")
    [model] = [t for t in app.text_input if t.label == "Model"]
    model.set_value("stub-model")
    [pairs] = [n for n in app.number_input if n.label == "Pairs"]
    pairs.set_value(3)
    [b for b in app.button if b.label == "Generate"][0].click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert "3 pairs from" in app.caption[0].value and "kept pairs/min" in app.caption[0].value
    store = Store(db_path)
    before = store.scalar("SELECT count(*) FROM pairs WHERE origin = 'generated'")
    assert before == 0  # a preview only
    [b for b in app.button if b.label == "Accept kept pairs"][0].click().run()
    assert "stored 3 new pairs" in app.success[0].value
    assert store.scalar("SELECT count(*) FROM pairs WHERE origin = 'generated'") == 3


def test_generate_page_adds_offtopic_pairs(app, db_path):
    app.switch_page("views/generate.py").run()
    [b for b in app.button if b.label == "Add off-topic pairs"][0].click().run()
    assert "off-topic pairs" in app.success[0].value
    assert Store(db_path).scalar("SELECT count(*) FROM pairs WHERE origin = 'offtopic'") > 0


def test_dedupe_page_resolves_a_cluster(app, db_path):
    from curate.dedupe.find import DedupeConfig, dedupe

    store = Store(db_path)
    dedupe(store, DedupeConfig(method="minhash"))
    app.switch_page("views/dedupe.py").run()
    assert not app.exception
    assert "proposed clusters" in app.caption[0].value
    duplicates = store.scalar("SELECT count(*) FROM pairs WHERE status = 'duplicate'")
    listed = [b for b in app.selectbox if b.label == "Cluster"][0].options
    second = listed[1]
    [b for b in app.button if b.label.startswith("Keep the chosen pair")][0].click().run()
    assert not app.exception
    assert store.scalar("SELECT count(*) FROM pairs WHERE status = 'duplicate'") > duplicates
    assert store.scalar("SELECT count(*) FROM dup_clusters WHERE state = 'resolved'") == 1
    shown = [b for b in app.selectbox if b.label == "Cluster"][0].value
    assert shown == int(second.split(":")[0].lstrip("#"))   # on to the next cluster, not back to the first
    proposed = store.scalar("SELECT count(*) FROM dup_clusters WHERE state = 'proposed'")
    [b for b in app.button if b.label == "Yes, accept them all"][0].click().run()   # inside the confirmation
    assert store.scalar("SELECT count(*) FROM dup_clusters WHERE state = 'proposed'") == 0
    assert f"accepted {proposed} clusters" in app.success[0].value
    [b for b in app.button if b.label.startswith("Undo accept all")][0].click().run()
    assert store.scalar("SELECT count(*) FROM dup_clusters WHERE state = 'proposed'") == proposed   # one action


def test_dedupe_page_shows_text_as_text(app, db_path):
    """Markdown and HTML in a pair are escaped, not rendered."""
    from curate.dedupe.find import DedupeConfig, dedupe
    from curate.pairs.rows import insert_pairs, make_pair

    store = Store(db_path)
    evil = "Click [here](javascript:alert(1)) <img src=x onerror=alert(1)> **bold**"
    insert_pairs(store, [make_pair(evil + "!" * i, f"answer {i}", origin="extracted") for i in range(4)])
    dedupe(store, DedupeConfig(method="exact", field="instruction"))
    evil_cluster = store.scalar("SELECT c.id FROM dup_clusters c JOIN pairs p ON p.id = c.keeper_id"
                                " WHERE p.instruction LIKE 'Click%'")
    app.switch_page("views/dedupe.py").run()
    [b for b in app.selectbox if b.label == "Cluster"][0].set_value(evil_cluster).run()
    rendered = " ".join(m.value for m in app.markdown)
    assert "\\[here\\]\\(javascript\\:alert" in rendered  # the link's brackets are escaped: shown, not linked
    assert "\\<img" in rendered and "\\*\\*bold" in rendered
    assert "<img" not in rendered.replace("\\<img", "")


@pytest.mark.embeddings
def test_diversity_page_analyzes_and_shows_the_map(app):
    app.switch_page("views/diversity.py").run()
    assert app.info  # nothing analyzed yet
    [b for b in app.button if b.label == "Analyze the pairs"][0].click().run()
    assert not app.exception
    assert "clusters" in app.caption[0].value
    assert len(app.metric) == 4


def signed_in(db_path, name, password):
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.text_input[0].set_value(name)
    at.text_input[1].set_value(password)
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    return at


def current_pair(at) -> int | None:
    for caption in at.caption:
        if caption.value.startswith("pair "):
            return int(caption.value.split()[1])
    return None


def test_two_sessions_rate_the_same_50_pairs_without_losing_or_repeating(db_path, monkeypatch, write):
    from curate.ingest.importer import ingest
    from curate.rating.users import add_user

    monkeypatch.setenv("TUNELOOP_DB", str(db_path))
    from streamlit_app.common import _open
    _open.clear()
    store = Store(db_path)
    ingest(store, [write("fifty.jsonl", "".join(json.dumps({"question": f"q{i}?", "answer": f"a{i}."}) + "\n"
                                                for i in range(50)))])
    from curate.pairs.extract import extract
    extract(store)
    add_user(store, "ann", "annotator", "password-ann")
    add_user(store, "ben", "annotator", "password-ben")
    sessions = {"ann": signed_in(db_path, "ann", "password-ann"), "ben": signed_in(db_path, "ben", "password-ben")}
    rated = {"ann": [], "ben": []}
    for at in sessions.values():
        at.switch_page("views/rate.py").run()
    while True:
        progressed = False
        for name, at in sessions.items():
            pair = current_pair(at)
            if pair is None:
                continue
            [b for b in at.button if b.label == "4"][0].click().run()
            [b for b in at.button if b.label.startswith("approve")][0].click().run()
            assert not at.exception and not at.error, [e.value for e in at.error]
            rated[name].append(pair)
            progressed = True
        if not progressed:
            break
    assert len(rated["ann"]) + len(rated["ben"]) == 50
    assert not set(rated["ann"]) & set(rated["ben"])  # k = 1: nobody got a pair the other had
    assert store.scalar("SELECT count(DISTINCT submission_id) FROM ratings") == 50
    assert store.scalar("SELECT count(*) FROM current_ratings WHERE question = 'quality' AND value = '4'") == 50
    assert all("Nothing left for you to rate" in " ".join(s.value for s in at.success) for at in sessions.values())


def test_an_anonymous_visitor_sees_only_the_sign_in(db_path, monkeypatch, app):
    from curate.rating.users import add_user

    add_user(Store(db_path), "ann", "annotator", "password-ann")
    fresh = AppTest.from_file(APP, default_timeout=60).run()
    assert [t.label for t in fresh.text_input] == ["Name", "Password"]
    assert not fresh.dataframe and not fresh.metric
    fresh.text_input[0].set_value("ann")
    fresh.text_input[1].set_value("nope")
    fresh.button[0].click().run()
    assert fresh.error[0].value == "Wrong name or password."


def test_an_annotator_cannot_review_or_manage_the_team(db_path, app):
    from curate.rating.users import add_user

    add_user(Store(db_path), "ann", "annotator", "password-ann")
    at = signed_in(db_path, "ann", "password-ann")
    at.switch_page("views/review.py").run()
    assert "can't review" in at.error[0].value
    at.switch_page("views/team.py").run()
    assert "can't manage users" in at.error[0].value
    for page in ("ingest", "generate", "dedupe", "datasets", "train", "evaluate"):
        at.switch_page(f"views/{page}.py").run()
        assert at.error and "can't" in at.error[0].value, page
    at.switch_page("views/rate.py").run()
    assert not at.error and any(b.label == "approve" for b in at.button)


def test_from_the_seeded_store_to_approved_pairs_in_the_app(app, db_path):
    """Solo: rate with the keyboard-first buttons; each verdict takes effect at once (k = 1)."""
    app.switch_page("views/rate.py").run()
    for _ in range(3):
        [b for b in app.button if b.label == "5"][0].click().run()
        [b for b in app.button if b.label.startswith("approve")][0].click().run()
        assert app.toast[0].value.endswith(": approved")
    [b for b in app.button if b.label == "3"][0].click().run()
    [b for b in app.button if b.label.startswith("needs-edit")][0].click().run()
    assert not app.exception
    [b for b in app.button if b.label == "Undo last rating"][0].click().run()
    assert Store(db_path).scalar("SELECT count(DISTINCT pair_id) FROM current_ratings") == 3
    assert Store(db_path).scalar("SELECT count(*) FROM pairs WHERE status = 'approved'") == 3
    app.switch_page("views/review.py").run()
    [b for b in app.button if b.label == "Save rule and approve"][0].click().run()
    assert "approved 0 pairs" in app.success[0].value   # nothing waited for the rule


def test_review_page_lists_a_model_judge_beside_the_annotators(app, db_path):
    from curate.quality.scores import record_scores

    store = Store(db_path)
    pair_ids = [r["id"] for r in store.rows("SELECT id FROM pairs ORDER BY id LIMIT 4")]
    for pair_id, quality in zip(pair_ids, (5, 4, 2, 1)):
        rating.submit(store, 1, pair_id, {"quality": quality, "verdict": "approve"})
    record_scores(store, [{"pair_id": p, "scorer": "rubric", "model": "org/judge-7b", "score": s, "prompt_hash": "h"}
                          for p, s in zip(pair_ids, (5, 4, 3, 1))])
    app.switch_page("views/review.py").run()
    assert not app.exception
    table = next(df.value for df in app.dataframe if "annotator" in df.value.columns)
    judge = table[table["annotator"] == "model judge: rubric (judge-7b)"].iloc[0]
    assert judge["role"] == "model (not a person)" and judge["agreement_with_consensus"] == 1.0
    assert judge["trusted"] == "not calibrated"


def test_team_page_edits_the_rating_schema(app, db_path):
    import json

    app.switch_page("views/team.py").run()
    editor = [t for t in app.text_area if t.label == "Rating schema (JSON)"][0]
    schema = json.loads(editor.value)
    editor.set_value("{not json")  # a form: the value goes with the submit
    [b for b in app.button if b.label == "Save JSON"][0].click().run()
    assert "not valid JSON: line 1" in app.error[0].value.replace("\\", "")
    schema["questions"] = [q for q in schema["questions"] if q["name"] != "note"]
    schema["questions"].append({"name": "tone", "title": "Tone", "type": "label", "values": ["friendly", "curt"]})
    [t for t in app.text_area if t.label == "Rating schema (JSON)"][0].set_value(json.dumps(schema))
    [b for b in app.button if b.label == "Save JSON"][0].click().run()
    assert "saved" in app.success[0].value
    names = [q["name"] for q in rating.get_schema(Store(db_path))["questions"]]
    assert "tone" in names and "note" not in names
    app.switch_page("views/rate.py").run()
    assert not app.exception and any("Tone" in m.value for m in app.markdown)


def test_team_page_sets_up_sign_in(app, db_path):
    app.switch_page("views/team.py").run()
    assert "working alone" in app.info[0].value
    app.text_input[0].set_value("boss")
    app.text_input[1].set_value("a long password")
    [b for b in app.button if b.label == "Add"][0].click().run()
    assert "added admin boss" in app.success[0].value
    assert app.session_state["user"]["name"] == "boss"  # the one who set it up stays signed in
    app.switch_page("views/overview.py").run()
    assert not app.exception and app.title[0].value == "Overview"
    fresh = AppTest.from_file(APP, default_timeout=60).run()
    assert [t.label for t in fresh.text_input] == ["Name", "Password"]  # everyone else signs in now


def test_datasets_and_train_pages(app, db_path, tiny_model_dir, tmp_path, monkeypatch):
    from curate.datasets.build import DatasetConfig, build_dataset
    from training.config import TrainConfig
    from training.train import train

    store = Store(db_path)
    app.switch_page("views/datasets.py").run()
    assert not app.exception and app.info[0].value == "No dataset version yet."
    budget = [n for n in app.number_input if n.label == "Choose at most (pairs)"][0]
    assert budget.value is None   # a number box, empty for "every approved pair": no free text to mistype
    app.text_input[0].set_value("v0")
    [b for b in app.button if b.label == "Build version"][0].click().run()  # nothing approved yet
    assert "no approved pairs" in app.error[0].value
    store.execute("UPDATE pairs SET status = 'approved'")
    build_dataset(store, DatasetConfig("v1", model=str(tiny_model_dir), max_length=64,
                                       semantic_threshold=None), export_root=tmp_path / "ds")
    app.switch_page("views/datasets.py").run()
    assert not app.exception and [m.label for m in app.metric][:2] == ["examples", "mean tokens"]
    assert any(b.label == "Download train.jsonl" for b in app.get("download_button"))
    run_id = train(store, TrainConfig(dataset="v1", model=str(tiny_model_dir), max_steps=4, logging_steps=1,
                                      eval_steps=2, save_steps=2, output_root=str(tmp_path / "runs")))
    app.switch_page("views/train.py").run()
    assert not app.exception
    assert run_id in list(app.dataframe[0].value["id"])
    [b for b in app.button if b.label.startswith("Send the 20 hardest")][0].click().run()
    assert store.scalar("SELECT count(*) FROM pairs WHERE status = 'flagged'") == 20


def test_evaluate_page(app, db_path):
    app.switch_page("views/evaluate.py").run()
    assert not app.exception and app.title[0].value == "Evaluate"
    assert [s.label for s in app.selectbox][:2] == ["Model", "Questions"]
    [b for b in app.button if b.label == "Run benchmarks"][0].click().run()   # nothing imported yet
    assert not app.exception and "Import the benchmarks first" in app.error[0].value


def test_evaluate_page_compares_models_on_an_evaluation_set(app, db_path):
    from curate.datasets.evalsets import create_evalset, evalset_items

    store = Store(db_path)
    s = create_evalset(store, "frozen", from_status="new", size=5)
    for model, good in (("base-model", False), ("run:7", True)):
        run_id = store.scalar("INSERT INTO eval_runs (kind, model, metrics, eval_set_id) VALUES ('domain', ?, '{}', ?)"
                              " RETURNING id", [model, s["id"]])
        for item in evalset_items(store, s["id"]):
            store.execute("INSERT INTO model_outputs (eval_run_id, pair_id, eval_item_id, prompt, output, reference,"
                          " exact_match, token_f1, rouge_l, similarity, refused, should_refuse)"
                          " VALUES (?, ?, ?, 'p', 'o', 'r', false, ?, ?, 0.5, false, false)",
                          [run_id, item["pair_id"], item["id"], 0.6 if good else 0.2, 0.5 if good else 0.1])
    app.switch_page("views/evaluate.py").run()
    assert not app.exception
    diffs = [d.value for d in app.dataframe if "ci_low" in d.value.columns][0]
    f1 = diffs.set_index("metric").loc["token_f1"]
    assert f1["model"] == "run:7" and f1["difference"] == pytest.approx(0.4) and f1["wins"] == 5


def test_blind_ab_from_the_evaluate_page_to_a_vote_on_the_rate_page(app, db_path):
    store = Store(db_path)
    pair_ids = [r["id"] for r in store.rows("SELECT id FROM pairs ORDER BY id LIMIT 3")]
    for model, text in (("base-model", "plain answer"), ("run:7", "tuned answer")):
        run_id = store.scalar("INSERT INTO eval_runs (kind, model, metrics) VALUES ('domain', ?, '{}') RETURNING id",
                              [model])
        for pair_id in pair_ids:
            store.execute("INSERT INTO model_outputs (eval_run_id, pair_id, prompt, output) VALUES (?, ?, 'p', ?)",
                          [run_id, pair_id, f"{text} {pair_id}"])
    app.switch_page("views/evaluate.py").run()
    a_box, b_box = [s for s in app.selectbox if s.label.startswith(("A (", "B ("))]
    a_box.set_value(1)
    b_box.set_value(2)
    [b for b in app.button if b.label.startswith("Start a blind A/B")][0].click().run()
    assert not app.exception and "Started A/B study 1" in app.success[0].value
    app.switch_page("views/rate.py").run()
    app.segmented_control[0].set_value("Blind A/B").run()
    assert not app.exception and app.title[0].value == "Blind A/B"
    page_text = " ".join(m.value for m in app.markdown)
    assert "base-model" not in page_text and "run:7" not in page_text  # blind: no model names
    shown = {m.value for m in app.markdown}
    [b for b in app.button if b.label == "Left is better"][0].click().run()
    vote = store.one("SELECT pair_id, a_on_left, choice FROM ab_votes")
    assert vote["choice"] == ("a" if vote["a_on_left"] else "b")
    left_text = ("plain answer" if vote["a_on_left"] else "tuned answer") + f" {vote['pair_id']}"
    assert left_text in shown
    app.switch_page("views/evaluate.py").run()
    studies = [d.value for d in app.dataframe if "B win rate" in d.value.columns][0]
    assert studies.loc[0, "votes"] == 1
    shown = [d.value for d in app.dataframe if "reference" in d.value.columns][0]   # answers beside references
    assert list(shown.columns) == ["question", "reference", "answer", "token F1", "flags"]
    assert shown["answer"].str.startswith("tuned answer").all()   # the newest run first


def test_rate_page_folds_earlier_turns_and_marks_the_answer_to_rate(app, db_path):
    from curate.pairs.changes import change_status

    store = Store(db_path)
    with_context = store.scalar("SELECT min(id) FROM pairs WHERE context IS NOT NULL AND json_array_length(context) >= 2")
    change_status(store, [r["id"] for r in store.rows("SELECT id FROM pairs WHERE id <> ?", [with_context])],
                  "approved", "test: only one pair left to rate")
    app.switch_page("views/rate.py").run()
    assert not app.exception
    earlier = [e for e in app.expander if e.label.startswith("Earlier in the conversation")]
    assert len(earlier) == 1 and "The answer to rate" in [c.value for c in app.caption]
