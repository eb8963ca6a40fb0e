"""The app in a real browser: headless Chromium (Debian's package) driven by Playwright.
Screenshots of each page go to test-artifacts/ for a person to look at."""
import json
import os
import re
import time
from pathlib import Path

import pytest

from curate.store import Store

from browser import CHROMIUM, browser_page, running_app
from conftest import ARTIFACTS, shared

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: `make test` installs Debian's chromium before the tests")
    pytest.skip("Chromium is not installed (make test installs it)", allow_module_level=True)

pytestmark = pytest.mark.browser
XSS = ("<script>window.__xss = 1</script><img src=x onerror=\"window.__xss = 2\">"
       " [click](javascript:window.__xss=3) **bold** <b>html</b>")


def shot(page, name: str) -> None:
    """A screenshot for a person, after checking what every table on the page shows: the grid's
    accessible cells (the grid itself is drawn on a canvas) hold no "None" or "nan", and its
    headers are labels, not field names."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(500)
    cells = page.locator("[role=gridcell]").all_inner_texts()
    assert not [c for c in cells if c.strip() in ("None", "nan", "NaN", "NaT")], f"{name}: an empty cell says so"
    headers = page.locator("[role=columnheader]").all_inner_texts()
    assert not [h for h in headers if "_" in h], f"{name}: field names as headers: {headers}"
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def wait_idle(page) -> None:
    """Until Streamlit has finished running the script."""
    page.wait_for_timeout(300)
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)


def eventually(check, seconds: float = 60) -> bool:
    """Whether check() becomes true within the time: a click's rerun may start after the page looks idle."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)
    return True


def rate_with_keys(page, score: int) -> None:
    """Press the score's digit, see it selected, press A (approve, which saves), see the next pair."""
    caption = page.get_by_text("· extracted ·").first.inner_text()
    page.keyboard.press(str(score))
    page.locator("[data-testid='stBaseButton-primary']", has_text=str(score)).first.wait_for(timeout=60_000)
    wait_idle(page)
    page.keyboard.press("a")
    page.wait_for_function(f"!document.body.innerText.includes({json.dumps(caption)})", timeout=60_000)
    wait_idle(page)


def ratings(db) -> list[dict]:
    return Store(db).rows("SELECT pair_id, question, value FROM current_ratings ORDER BY pair_id, question")


@pytest.fixture
def app_url(tmp_path):
    db = tmp_path / "browser.duckdb"
    with running_app(db) as url:
        yield url, db


def test_keyboard_shortcuts_rate_in_a_real_browser(app_url, tmp_path):
    url, db = app_url
    with browser_page(tmp_path) as page:
        page.goto(url + "/rate")
        page.get_by_role("button", name="approve").wait_for(timeout=90_000)
        shot(page, "rate")
        for n in range(5):
            rate_with_keys(page, 1 + n)
        stored = ratings(db)
        assert len({r["pair_id"] for r in stored}) == 5
        assert [r["value"] for r in stored if r["question"] == "quality"] == ["1", "2", "3", "4", "5"]
        assert all(r["value"] == "approve" for r in stored if r["question"] == "verdict")
        # each verdict took effect at once (k = 1): approved where quality met the rule's 4
        assert Store(db).scalar("SELECT list(status ORDER BY id) FROM pairs WHERE id IN"
                                " (SELECT pair_id FROM current_ratings)") == ["new", "new", "new", "approved", "approved"]
        page.keyboard.press("u")  # undo the last one
        page.wait_for_function("document.body.innerText.includes('Took back your rating')", timeout=60_000)
        assert len({r["pair_id"] for r in ratings(db)}) == 4
        shot(page, "rate-after-undo")


def test_every_page_works_and_untrusted_text_stays_text(app_url, tmp_path):
    url, db = app_url
    upload = tmp_path / "upload.jsonl"
    upload.write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in [
        ("Does the lamp have a night mode?", "Yes: Evening mode dims it to a warm 2700 K."),
        ("does the lamp have a night mode", "Yes: Evening mode dims it to a warm 2700 K!"),
        ("What about " + XSS, "Answer with " + XSS)]))
    dialogs = []
    with browser_page(tmp_path) as page:
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(url)
        page.get_by_text("Recent jobs").wait_for(timeout=90_000)
        shot(page, "overview")

        page.goto(url + "/ingest")
        bad = tmp_path / "export.csv"   # a binary file under a .csv name, uploaded with the good ones
        bad.write_bytes(bytes(range(256)) * 40)
        real = shared("lamini_docs", "lamini_docs.jsonl")   # a real public export, read where it lies
        rows = sum(1 for line in real.read_text(encoding="utf-8").splitlines() if line.strip())
        page.locator("input[type=file]").set_input_files([str(upload), str(real), str(bad)])
        page.get_by_text("upload.jsonl").first.wait_for()
        page.get_by_role("button", name="Import").click()
        page.get_by_text("upload.jsonl: imported (jsonl, utf-8) read 3, stored 3").wait_for(timeout=60_000)
        page.get_by_text(re.compile(f"lamini_docs.jsonl: imported .*read {rows},")).wait_for(timeout=60_000)
        page.get_by_text("export.csv: not imported").wait_for(timeout=60_000)   # said, not silent
        assert Store(db).scalar("SELECT status FROM sources WHERE name = 'export.csv'") != "importing"
        page.get_by_role("button", name="Extract pairs").click()
        page.get_by_text(re.compile(r"source\(s\): \d+ new pair")).first.wait_for(timeout=60_000)
        stored = Store(db).one("SELECT id, rows_stored FROM sources WHERE name = 'lamini_docs.jsonl'")
        assert stored["rows_stored"] > 900 and Store(db).scalar(   # every record stored became a pair
            "SELECT count(*) FROM pairs WHERE source_id = ?", [stored["id"]]) == stored["rows_stored"]
        shot(page, "ingest")

        page.goto(url + "/pairs")
        page.get_by_label("Search instruction and response").fill("night mode")
        page.keyboard.press("Enter")
        page.get_by_text("2 pairs match ·").wait_for(timeout=30_000)
        wait_idle(page)
        shot(page, "pairs")
        # open a pair, edit it; then reject every pair the search matches, and undo that
        store = Store(db)
        page.get_by_label("Search instruction and response").fill("warranty")
        page.keyboard.press("Enter")
        wait_idle(page)
        pair_id = store.scalar("SELECT min(id) FROM pairs WHERE contains(lower(instruction), 'warranty')")
        page.get_by_role("spinbutton", name="Open pair number").fill(str(pair_id))
        page.keyboard.press("Enter")
        page.get_by_text(f"Pair {pair_id} · new").wait_for(timeout=30_000)
        wait_idle(page)
        page.get_by_label("Response", exact=True).fill("Two years, parts and labour, from the day it arrives.")
        page.get_by_role("button", name="Save the edit").click()
        page.get_by_text("saved as pair").wait_for(timeout=30_000)
        wait_idle(page)
        shot(page, "pairs-detail")
        matching = store.rows("SELECT id, status FROM pairs WHERE contains(lower(instruction || response), 'warranty')")
        page.get_by_text("Yes, make").click()
        wait_idle(page)
        page.get_by_role("button", name=re.compile("^Change ")).click()
        page.get_by_text("changed (change").wait_for(timeout=30_000)
        assert {r["status"] for r in store.rows("SELECT status FROM pairs WHERE list_contains(?, id)",
                                                 [[r["id"] for r in matching]])} == {"rejected"}
        wait_idle(page)
        page.get_by_role("button", name=re.compile("^Undo change")).click()
        page.get_by_text("undone:").wait_for(timeout=30_000)
        shot(page, "pairs-bulk-undone")
        assert store.rows("SELECT id, status FROM pairs WHERE list_contains(?, id) ORDER BY id",
                          [[r["id"] for r in matching]]) == sorted(matching, key=lambda r: r["id"])

        page.goto(url + "/dedupe")
        page.get_by_text("Find duplicates").first.wait_for(timeout=60_000)
        wait_idle(page)  # a click while the page's script still runs can be lost in its rerun
        page.get_by_text("Find duplicates").first.click()
        page.get_by_role("button", name="Find duplicates").click()
        page.get_by_text("minhash:").wait_for(timeout=120_000)
        wait_idle(page)
        shot(page, "dedupe")
        first, second = [r["id"] for r in Store(db).rows(
            "SELECT id FROM dup_clusters WHERE state = 'proposed' ORDER BY size DESC, id LIMIT 2")]
        page.get_by_text(f"Cluster #{first}:").wait_for(timeout=30_000)
        page.get_by_role("button", name="Keep the chosen pair, mark the rest duplicate").click()
        assert eventually(lambda: Store(db).scalar("SELECT count(*) FROM dup_clusters WHERE state = 'resolved'") == 1)
        page.get_by_text(f"Cluster #{second}:").wait_for(timeout=30_000)   # on to the next cluster
        wait_idle(page)
        keep = page.get_by_role("button", name="Keep the chosen pair, mark the rest duplicate").bounding_box()
        assert keep["y"] + keep["height"] <= 1000, "the decision is below the fold of a 1400×1000 window"

        page.goto(url + "/rate")
        page.get_by_role("button", name="approve").wait_for(timeout=60_000)
        wait_idle(page)
        verdict = page.get_by_role("button", name="approve").bounding_box()
        assert verdict["y"] < page.get_by_label("Edited response").bounding_box()["y"]   # verdicts above the text boxes
        # an edited answer approved is the version that is approved and built
        page.get_by_label("Edited response").fill("An answer a person corrected in the browser.")
        page.keyboard.press("Control+Enter")
        wait_idle(page)
        page.get_by_role("heading", name="Rate").click()   # out of the text box: keys are shortcuts again
        page.keyboard.press("5")
        page.locator("[data-testid='stBaseButton-primary']", has_text="5").first.wait_for(timeout=60_000)
        wait_idle(page)
        page.keyboard.press("a")
        page.get_by_text("approved as edited").wait_for(timeout=60_000)
        wait_idle(page)
        for _ in range(4):
            rate_with_keys(page, 5)
        shot(page, "rate")
        store = Store(db)
        assert store.scalar("SELECT count(*) FROM pairs WHERE status = 'approved'") == 5   # at once, no rule to save
        assert store.scalar("SELECT count(*) FROM pairs WHERE status = 'superseded'") == 2   # this edit, the Pairs page's

        page.goto(url + "/review")
        page.get_by_role("button", name="Save rule and approve").click()
        page.get_by_text("approved 0 pairs").wait_for(timeout=30_000)
        shot(page, "review")

        page.goto(url + "/datasets")
        page.get_by_role("textbox", name="Version name").fill("v1")
        page.get_by_role("button", name="Build version").click()
        page.get_by_text("v1: 5 examples exported to").wait_for(timeout=120_000)
        wait_idle(page)
        shot(page, "datasets")
        assert Store(db).scalar("SELECT count(*) FROM dataset_items") == 5
        assert Store(db).scalar("SELECT count(*) FROM dataset_items WHERE origin = 'edited' AND response ="
                                " 'An answer a person corrected in the browser.'") == 1

        for name in ("generate", "diversity", "team", "train", "evaluate"):
            page.goto(f"{url}/{name}")
            page.get_by_role("heading", name=name.capitalize()).wait_for(timeout=60_000)
            wait_idle(page)
            assert not page.locator("[data-testid='stException']").count()
            assert "Deploy" not in page.inner_text("body")   # client.toolbarMode minimal
            shot(page, name)

        # the injected text is on the Pairs page as text, and nothing in it ran
        page.goto(url + "/pairs")
        page.get_by_label("Search instruction and response").fill("What about")
        page.keyboard.press("Enter")
        page.get_by_text("1 pair matches ·").wait_for(timeout=30_000)
        page.wait_for_timeout(1000)
        shot(page, "pairs-untrusted-text")
        assert page.evaluate("window.__xss") is None
        assert dialogs == []


def test_blind_ab_by_keyboard_in_a_real_browser(tmp_path):
    """Two models' answers side by side without their names; keys 1 and 3 pick a side."""
    from curate.demo import load_demo_data
    from evals.ab import create_study

    db = tmp_path / "ab.duckdb"
    store = Store(db)
    load_demo_data(store)
    pair_ids = [r["id"] for r in store.rows("SELECT id FROM pairs ORDER BY id LIMIT 2")]
    runs = []
    for model, text in (("model-alpha", "first answer"), ("model-beta", "second answer " + XSS)):
        runs.append(store.scalar("INSERT INTO eval_runs (kind, model, metrics) VALUES ('domain', ?, '{}') RETURNING id",
                                 [model]))
        for pair_id in pair_ids:
            store.execute("INSERT INTO model_outputs (eval_run_id, pair_id, prompt, output) VALUES (?, ?, 'p', ?)",
                          [runs[-1], pair_id, text])
    study_id = create_study(store, *runs)
    with running_app(db) as url, browser_page(tmp_path) as page:
        page.goto(url + "/rate")
        page.get_by_text("Blind A/B", exact=True).click(timeout=90_000)
        page.get_by_text("Left is better").wait_for(timeout=90_000)
        wait_idle(page)
        body = page.inner_text("body")
        assert "first answer" in body and "second answer" in body
        assert "model-alpha" not in body and "model-beta" not in body
        assert page.evaluate("window.__xss") is None  # the answer's markup stayed text
        shot(page, "rate-blind-ab")
        page.keyboard.press("1")
        page.wait_for_function("document.body.innerText.includes('Saved your choice')", timeout=60_000)
        wait_idle(page)
        page.keyboard.press("3")
        page.get_by_text("You have judged every question").wait_for(timeout=60_000)
    votes = Store(db).rows("SELECT a_on_left, choice FROM ab_votes WHERE study_id = ? ORDER BY created_at", [study_id])
    assert len(votes) == 2
    assert votes[0]["choice"] == ("a" if votes[0]["a_on_left"] else "b")  # 1: the left answer
    assert votes[1]["choice"] == ("b" if votes[1]["a_on_left"] else "a")  # 3: the right answer


def test_a_whole_conversation_is_rated_in_a_real_browser(app_url, tmp_path):
    """Every turn shown, a score under each answer, one verdict that saves them all."""
    from curate.rating.conversations import conversation

    url, db = app_url
    with browser_page(tmp_path) as page:
        page.goto(url + "/rate")
        page.get_by_text("Conversations", exact=True).click(timeout=90_000)
        page.get_by_text("conversation(s) left for you").wait_for(timeout=90_000)
        wait_idle(page)
        answers = page.locator("[class*='st-key-turn-'][class*='-4'] button")
        n = answers.count()
        assert n >= 2
        for i in range(n):
            answers.nth(i).click()
            page.locator("[data-testid='stBaseButton-primary']", has_text="4").nth(i).wait_for(timeout=60_000)
            wait_idle(page)
        shot(page, "rate-conversation")
        page.keyboard.press("a")   # the verdict's key: approve
        page.wait_for_function("document.body.innerText.includes('Saved your rating of the whole conversation')",
                               timeout=60_000)
    store = Store(db)
    marks = store.rows("SELECT pair_id, value FROM current_ratings WHERE question = '_conversation' ORDER BY pair_id")
    assert len(marks) == n and len({m["value"] for m in marks}) == 1   # one conversation, every answer in it
    # k = 1: the verdict took effect at once, and the conversation is no longer to rate
    assert conversation(store, marks[0]["value"])["pair_ids"] == []
    assert {r["status"] for r in store.rows("SELECT status FROM pairs WHERE list_contains(?, id)",
                                            [[m["pair_id"] for m in marks]])} == {"approved"}
    by_pair = {}
    for r in ratings(db):
        by_pair.setdefault(r["pair_id"], {})[r["question"]] = r["value"]
    assert all(by_pair[m["pair_id"]]["quality"] == "4" and by_pair[m["pair_id"]]["verdict"] == "approve" for m in marks)


def test_the_rate_page_shows_a_judges_suggestion_collapsed_and_its_trust(tmp_path):
    """A model judge's score and reason sit under the pair, folded away; an uncalibrated-and-failed
    judge is marked as not trustworthy; looking at a suggestion rates nothing."""
    from curate.demo import load_demo_data
    from curate.quality.scores import record_scores

    db = tmp_path / "judged.duckdb"
    store = Store(db)
    load_demo_data(store)
    record_scores(store, [{"pair_id": r["id"], "scorer": "rubric", "model": "stub-judge", "score": 2.0,
                           "reason": f"scripted reason for pair {r['id']}", "prompt_hash": "h"}
                          for r in store.rows("SELECT id FROM pairs")])
    store.execute("INSERT INTO judge_calibrations (scorer, model, items, kappa) VALUES ('rubric', 'stub-judge', 40, 0.12)")
    with running_app(db) as url, browser_page(tmp_path) as page:
        page.goto(url + "/rate")
        summary = page.get_by_text("Model judge's suggestion · rubric · not trustworthy")
        summary.wait_for(timeout=90_000)
        wait_idle(page)
        caption = page.get_by_text("· extracted ·").first.inner_text()
        pair_id = int(caption.split("pair ")[1].split(" ")[0])
        assert not page.get_by_text(f"scripted reason for pair {pair_id}").is_visible()   # collapsed
        summary.click()
        page.get_by_text(f"scripted reason for pair {pair_id}").wait_for(timeout=30_000)
        assert page.get_by_text("below the 0.40 it needs").is_visible()
        shot(page, "rate-judge-suggestion")
    assert ratings(db) == []


@pytest.mark.slow
def test_start_a_run_see_it_live_then_evaluate_it_and_read_its_answers(tmp_path):
    """The end of the journey with the real packaged SmolLM2: a two-step LoRA run started on the
    Train page is followed there until it succeeds; a domain evaluation of it on the Evaluate page
    shows its scores and its answers beside the references."""
    from curate.datasets.build import DatasetConfig, build_dataset
    from curate.demo import load_demo_data
    from curate.pairs.status import APPROVED, set_status

    db = tmp_path / "journey.duckdb"
    store = Store(db)
    load_demo_data(store)
    with store.transaction() as con:
        set_status(con, [r["id"] for r in store.rows("SELECT id FROM pairs ORDER BY id LIMIT 24")], APPROVED)
    build_dataset(store, DatasetConfig("v1", test_size=0.2, semantic_threshold=None), export_root=tmp_path / "ds")
    with running_app(db) as url, browser_page(tmp_path) as page:
        page.goto(url + "/train")
        page.get_by_role("button", name="Start training").wait_for(timeout=90_000)
        wait_idle(page)
        steps = page.get_by_role("spinbutton", name="Max steps")
        steps.fill("2")
        steps.press("Tab")
        page.get_by_role("button", name="Start training").click()
        page.get_by_text("the run appears below in a moment").wait_for(timeout=60_000)
        # the page follows the run it started, without leaving it, until it succeeds
        page.get_by_text("Highest-loss examples").wait_for(timeout=420_000)
        shot(page, "train-live")
        assert not page.locator("[data-testid='stException']").count()
        run_id = Store(db).scalar("SELECT max(id) FROM runs")

        page.goto(url + "/evaluate")
        page.get_by_role("button", name="Evaluate").wait_for(timeout=60_000)
        wait_idle(page)
        page.locator("[data-testid='stSelectbox']").filter(has_text="Model").first.click()   # the form's picker
        page.get_by_role("option", name=f"run:{run_id}", exact=True).click()
        limit = page.get_by_role("spinbutton", name="Questions (0: all)")
        limit.fill("3")
        limit.press("Tab")
        page.get_by_role("button", name="Evaluate", exact=True).click()
        page.get_by_text("token F1").first.wait_for(timeout=300_000)
        wait_idle(page)
        page.get_by_text("The model's answers beside the references").wait_for(timeout=60_000)
        shot(page, "evaluate-answers")
        body = page.inner_text("body")
        assert "Traceback" not in body and "Deploy" not in body
    outputs = Store(db).rows("SELECT o.output, o.reference FROM model_outputs o JOIN eval_runs e ON e.id = o.eval_run_id"
                             " WHERE e.model = ?", [f"run:{run_id}"])
    assert len(outputs) == 3 and all(o["reference"] for o in outputs)
