"""The opt-in history: every prediction recorded once, visitors' corrections, exports in the
book's formats, several writers, a killed server, and nothing at all when it is off."""

import base64
import csv
import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
import requests
from helpers import XSS_PAYLOADS, free_port, run_cli, wait_until_serving
from test_wsgi import start_gunicorn, stop

from demo_app import DeployArguments, History, create_app, load_predictor, serve
from demo_app.history import dump
from demo_app.history.dumps import CorrectionsReport

ROOT = Path(__file__).resolve().parent.parent
SENTENCES = ["이 영화 정말 재밌어요", "시간이 아까웠습니다", "배우들 연기가 정말 좋았어요", "스토리가 너무 지루했어요"]


@pytest.fixture
def history_server(demo_classifier, tmp_path):
    path = tmp_path / "drive" / "demo.sqlite"
    handle = serve(create_app(demo_classifier, history=str(path)), port=0, quiet=True)
    yield handle, path
    handle.stop()


def stored(path):
    with sqlite3.connect(path) as connection:
        connection.row_factory = sqlite3.Row
        return [dict(row) for row in connection.execute("SELECT * FROM predictions ORDER BY id")]


def test_concurrent_requests_are_each_recorded_exactly_once(history_server):
    handle, path = history_server
    answers = []

    def visitor(n):
        with requests.Session() as session:
            for i in range(10):
                sentence = f"{SENTENCES[(n + i) % 4]} {n}-{i}"
                answer = session.post(handle.url + "/predict", json={"sentence": sentence}, timeout=30).json()
                answers.append((sentence, answer))

    threads = [threading.Thread(target=visitor, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = stored(path)
    assert len(rows) == 80
    assert len(answers) == 80
    by_id = {row["id"]: row for row in rows}
    for sentence, answer in answers:  # each answer's handle points at its own row
        row = by_id[answer["history"]["id"]]
        assert json.loads(row["inputs"]) == {"sentence": sentence}
        assert row["prediction"] == answer["prediction"]
        assert row["source"] == "api"
        assert json.loads(row["outputs"])["probabilities"] == answer["probabilities"]
    row = rows[0]
    assert row["task"] == "classification"
    assert row["model"].endswith(".ckpt")
    assert len(row["model_hash"]) == 64
    assert row["visitor"]
    assert "127.0.0.1" not in row["visitor"]
    assert row["latency_ms"] > 0


def test_two_gunicorn_workers_share_one_history_file(tmp_path):
    path = tmp_path / "shared.sqlite"
    process, url = start_gunicorn({"DEMO_APP_HISTORY": str(path)}, workers=2)
    try:
        errors = []

        def post(n):
            try:
                for i in range(10):
                    response = requests.post(url + "/api", json=f"{SENTENCES[i % 4]} {n}/{i}", timeout=60)
                    response.raise_for_status()
            except Exception as error:  # noqa: BLE001
                errors.append(error)

        threads = [threading.Thread(target=post, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        rows = stored(path)
        assert len(rows) == 60
        assert sorted(json.loads(r["inputs"])["sentence"] for r in rows) == \
            sorted(f"{SENTENCES[i % 4]} {n}/{i}" for n in range(6) for i in range(10))
        with sqlite3.connect(path) as connection:
            assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        stop(process)


def test_flags_are_stored_with_the_right_label(history_server):
    handle, path = history_server
    answer = requests.post(handle.url + "/predict", json={"sentence": "이 영화 정말 재밌어요"},
                           headers={"X-Demo-Source": "page"}, timeout=30).json()
    handle_ = answer["history"]
    flag = {"id": handle_["id"], "flag_token": handle_["flag_token"], "correction": "부정 (negative)"}
    bad_label = requests.post(handle.url + "/flag", json={**flag, "correction": "maybe"}, timeout=10)
    assert bad_label.status_code == 400
    assert "one of the labels" in bad_label.json()["error"]
    forged = requests.post(handle.url + "/flag", json={**flag, "id": handle_["id"] + 1}, timeout=10)
    assert forged.status_code == 404  # another visitor's row: the token does not match
    assert requests.post(handle.url + "/flag", json=flag, timeout=10).json()["flagged"] is True
    [row] = stored(path)
    assert row["flagged"] == 1
    assert row["correction"] == "부정 (negative)"
    assert row["source"] == "page"


def test_exports_round_trip_and_corrections_become_nsmc_training_data(demo_classifier, tmp_path):
    exports_round_trip(History(tmp_path / "h.sqlite", model="m.ckpt", model_hash="0" * 64), demo_classifier)


def exports_round_trip(history, demo_classifier):
    """Four predictions, two corrections, every export format read back (also on PostgreSQL)."""
    task = demo_classifier.task
    results = [task.pipeline.to_dict(p) for p in demo_classifier.predict(SENTENCES)]
    handles = history.record(task, SENTENCES, results, source="api", visitor="203.0.113.9", latency_ms=8)
    assert history.flag(*handles[0], "부정 (negative)")
    assert history.flag(*handles[3], "긍정 (positive)")
    rows = list(history.rows())
    for format, delimiter in (("csv", ","), ("tsv", "\t")):
        out = io.StringIO()
        assert dump(history, out, format) == 4
        parsed = list(csv.DictReader(io.StringIO(out.getvalue()), delimiter=delimiter))
        assert [json.loads(p["inputs"]) for p in parsed] == [r["inputs"] for r in rows]
        assert [json.loads(p["outputs"]) for p in parsed] == [r["outputs"] for r in rows]
        assert [p["correction"] for p in parsed] == ["부정 (negative)", "", "", "긍정 (positive)"]
    out = io.StringIO()
    dump(history, out, "jsonl", flagged_only=True)
    assert [json.loads(line)["id"] for line in out.getvalue().splitlines()] == [handles[0][0], handles[3][0]]
    # NSMC's ratings_train.txt, read the way ratsnlp's NsmcCorpus reads it
    out = io.StringIO()
    assert dump(history, out, "nsmc") == 2
    lines = list(csv.reader(io.StringIO(out.getvalue()), delimiter="\t", quotechar='"'))
    assert lines[0] == ["id", "document", "label"]
    assert [(line[1], line[2]) for line in lines[1:]] == [(SENTENCES[0], "0"), (SENTENCES[3], "1")]


def test_pair_ner_and_qa_corrections_in_the_books_formats(tmp_path):
    from demo_app.tasks import TASKS

    history = History(tmp_path / "h.sqlite")
    pair = TASKS["pair-classification"]
    [(pair_id, pair_token)] = history.record(pair, [("나는 밥을 먹었다", "나는 굶었다")], [{
        "prediction": "참 (entailment)",
        "probabilities": [{"label": "참 (entailment)", "probability": 1.0, "width": "100.00%"}]}], source="page")
    history.flag(pair_id, pair_token, "거짓 (contradiction)")
    ner = TASKS["ner"]
    [(ner_id, ner_token)] = history.record(ner, ["이순신은 무신이다"],
                                           [{"sentence": "이순신은 무신이다", "entities": []}],
                                           source="page")
    history.flag(ner_id, ner_token, "<이순신:PER>은 무신이다")
    qa = TASKS["qa"]
    [(qa_id, qa_token)] = history.record(qa, [("본사는?", "본사는 목포에 있다")], [{"answer": "", "start": None,
        "end": None, "probability": 0.01}], source="page")
    history.flag(qa_id, qa_token, "목포")
    out = io.StringIO()
    dump(history, out, "klue-nli")
    assert json.loads(out.getvalue())[0] | {} == {"guid": f"demo-history-{pair_id}", "genre": "demo",
        "premise": "나는 밥을 먹었다", "hypothesis": "나는 굶었다", "gold_label": "contradiction"}
    out = io.StringIO()
    dump(history, out, "ner")
    assert out.getvalue() == "이순신은 무신이다\u241e<이순신:PER>은 무신이다\n"
    out = io.StringIO()
    dump(history, out, "korquad")
    qas = json.loads(out.getvalue())["data"][0]["paragraphs"][0]["qas"][0]
    assert qas["answers"] == [{"text": "목포", "answer_start": 4}]


def test_an_export_says_what_it_skipped_and_what_the_books_reader_will_leave_out(tmp_path):
    """KorQuAD: an answer not in its context is skipped, one at the context's first character is
    written but counted (ratsnlp 1.0.53's KorQuADV1Corpus leaves it out); NER: a sentence holding
    <text:TAG> itself is skipped. The CLI says so, where it said "3 corrections written"."""
    from demo_app.tasks import TASKS

    history = History(tmp_path / "qa.sqlite")
    qa = TASKS["qa"]
    answer = {"answer": "", "start": None, "end": None, "probability": 0.01}
    flagged = [("본사는 목포에 있다", "목포"), ("목포에 본사가 있다", "목포"), ("본사는 목포에 있다", "부산")]
    for context, correction in flagged:
        [(row_id, token)] = history.record(qa, [("본사는?", context)], [answer], source="page")
        history.flag(row_id, token, correction)  # as an older demo_app stored them, unchecked
    report = CorrectionsReport()
    out = io.StringIO()
    assert dump(history, out, "korquad", report=report) == 2
    assert len(json.loads(out.getvalue())["data"]) == 2
    assert report.skipped == {"the answer is not in its context": 1}
    assert report.reader_drops == {"ratsnlp 1.0.53's KorQuADV1Corpus leaves out an answer that starts the context": 1}
    said = run_cli("history", str(tmp_path / "qa.sqlite"), "--format", "korquad", "--output", str(tmp_path / "q.json"))
    assert said.returncode == 0, said.stderr
    last_line = said.stderr.strip().splitlines()[-1]  # the oldest transformers warns on stderr first
    assert last_line == (f"2 corrections written to {tmp_path / 'q.json'}; 1 skipped: the answer is not "
                         "in its context; 1 of those written will not be read: ratsnlp 1.0.53's "
                         "KorQuADV1Corpus leaves out an answer that starts the context")
    ner_history = History(tmp_path / "ner.sqlite")
    [(row_id, token)] = ner_history.record(TASKS["ner"], ["<세종:PER>은 글자다"], [{"sentence": "<세종:PER>은 글자다",
                                                                                   "entities": []}], source="page")
    ner_history.flag(row_id, token, "<<세종:PER>:PER>은 글자다")
    report = CorrectionsReport()
    assert dump(ner_history, io.StringIO(), "ner", report=report) == 0
    assert list(report.skipped) == ["the sentence itself holds <text:TAG>, which ratsnlp's NER reader takes for "
                                    "an entity"]


def test_a_killed_server_keeps_every_answered_request(tmp_path):
    path = tmp_path / "demo.sqlite"
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "demo_app", "serve", "--port", str(port),
                                "--history", str(path)], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, process)
        for i in range(30):
            assert requests.post(url + "/api", json=f"재밌어요 {i}", timeout=30).status_code == 200
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert len(stored(path)) == 30


def test_history_off_writes_nothing_anywhere(demo_classifier, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = set(Path(tempfile.gettempdir()).iterdir())
    handle = serve(create_app(demo_classifier), port=0, quiet=True)
    try:
        page = requests.get(handle.url + "/", timeout=10).text
        assert "history-note" not in page
        assert 'data-history="off"' in page
        answer = requests.post(handle.url + "/predict", json={"sentence": "재밌어요"}, timeout=10).json()
        assert "history" not in answer
        assert requests.post(handle.url + "/flag", json={}, timeout=10).status_code == 404
        assert requests.get(handle.url + "/history", timeout=10).status_code == 404
    finally:
        handle.stop()
    assert list(tmp_path.iterdir()) == []
    new = [p for p in set(Path(tempfile.gettempdir()).iterdir()) - before if p.suffix in (".sqlite", ".db")]
    assert new == []


def test_the_page_says_when_history_is_on_and_the_owner_view_needs_a_password(demo_classifier, tmp_path):
    path = tmp_path / "h.sqlite"
    open_app = create_app(demo_classifier, history=str(path)).test_client()
    assert "입력한 글과 결과를 기록합니다" in open_app.get("/").get_data(as_text=True)
    assert open_app.get("/history").status_code == 404  # no password: no view
    app = create_app(demo_classifier, history=str(path), auth="teacher:s3cret").test_client()
    auth = {"Authorization": "Basic " + base64.b64encode(b"teacher:s3cret").decode()}
    for payload in XSS_PAYLOADS:
        app.post("/predict", json={"sentence": payload}, headers=auth)
    assert app.get("/history").status_code == 401
    view = app.get("/history", headers=auth).get_data(as_text=True)
    assert "<script>window" not in view
    assert "<img src=x" not in view
    assert "&lt;" in view
    assert view.count("<tr") == len(XSS_PAYLOADS) + 1


def test_odd_flag_tokens_are_404_and_exports_do_not_run_in_a_spreadsheet(demo_classifier, tmp_path):
    from demo_app.tasks import TASKS

    client = create_app(demo_classifier, history=str(tmp_path / "h.sqlite")).test_client()
    answer = client.post("/predict", json={"sentence": "재밌어요"}).json
    response = client.post("/flag", json={"id": answer["history"]["id"], "flag_token": "가",
                                          "correction": "부정 (negative)"})
    assert response.status_code == 404
    history = History(tmp_path / "qa.sqlite")
    [(row_id, token)] = history.record(TASKS["qa"], [("본사는?", "=HYPERLINK(\"http://evil\") 목포")],
                                       [{"answer": "=HYPERLINK(\"http://evil\")", "start": 0, "end": 23,
                                         "probability": 0.9}], source="page")
    history.flag(row_id, token, "@SUM(A1:A9)")
    out = io.StringIO()
    dump(history, out, "csv")
    row = next(csv.DictReader(io.StringIO(out.getvalue())))
    assert row["prediction"].startswith("'=")
    assert row["correction"] == "'@SUM(A1:A9)"


def test_a_ratsnlp_inference_fn_is_recorded_too(tmp_path):
    """create_app also serves a bare ratsnlp-style inference_fn, whose dict has only the book's keys."""
    def inference_fn(sentence):
        return {"sentence": sentence, "prediction": "긍정 (positive)", "positive_data": "긍정 0.9",
                "negative_data": "부정 0.1", "positive_width": "90%", "negative_width": "10%"}

    client = create_app(inference_fn, history=str(tmp_path / "h.sqlite")).test_client()
    response = client.post("/api", json="좋아요")
    assert response.status_code == 200
    assert response.json["history"]["id"] == 1
    [row] = stored(tmp_path / "h.sqlite")
    assert row["prediction"] == "긍정 (positive)"
    assert row["model"] == "inference_fn"


# -- flags and the budget (a hostile-visitor trial: flags grew a 2 MB history to 22 MB) ----------

ANSWER = {"prediction": "긍정 (positive)", "probabilities": []}


def test_flags_cannot_grow_the_history_past_its_budget(tmp_path):
    """One visitor flags every one of their own predictions: the oldest rows still go, flagged
    ones too once they alone fill the file; ids only grow, and the owner is told how many flagged
    rows went."""
    from demo_app import get_task

    budget = 300_000
    history = History(tmp_path / "h.sqlite", max_bytes=budget)
    task = get_task("classification")
    ids = []
    for i in range(600):
        [(row_id, token)] = history.record(task, [f"{i} " + "재밌어요 " * 150], [ANSWER], source="api", visitor="one")
        assert history.flag(row_id, token, "부정 (negative)")
        ids.append(row_id)
    assert ids == sorted(set(ids))  # never a removed row's id again
    assert history.used_bytes() <= budget * 1.1
    assert history.flagged_rolled_off() > 0
    assert history.rolled_off() >= history.flagged_rolled_off()
    assert history.count() + history.rolled_off() == 600  # every row kept or counted


def test_a_flag_token_never_flags_a_row_that_took_a_removed_rows_id(tmp_path):
    from demo_app import get_task

    path = tmp_path / "h.sqlite"
    history = History(path)
    task = get_task("classification")
    [(first_id, first_token)] = history.record(task, ["첫 방문자의 문장"], [ANSWER], source="api", visitor="a")
    with sqlite3.connect(path) as connection:  # gone (by hand: demo_app keeps the newest row)
        connection.execute("DELETE FROM predictions WHERE id = ?", (first_id,))
    [(second_id, second_token)] = history.record(task, ["다른 방문자의 문장"], [ANSWER], source="api", visitor="b")
    assert second_id == first_id  # SQLite gave the next row the removed row's id
    assert not history.flag(second_id, first_token, "부정 (negative)")
    assert history.flag(second_id, second_token, "부정 (negative)")


@pytest.mark.parametrize(("task", "body", "right", "wrong"), [
    ("ner", {"sentence": "박보검은 서울에 산다"}, "<박보검:PER>은 <서울:LOC>에 산다",
     {"<박보검:XYZ>은 서울에 산다": "XYZ is not a tag of this model",
      "<이순신:PER>은 무신이다": "must be the sentence itself"}),
    ("ner", {"sentence": "3<5 이고 서울에 산다"}, "3<5 이고 서울에 산다",  # no entity: nothing to misread
     {"3<5 이고 <서울:LOC>에 산다": "has a \"<\" of its own before it"}),
    ("qa", {"question": "본사는 어디에 있나?", "context": "누리식품의 본사는 목포에 있다."}, "목포",
     {"부산": "copied from the context exactly"}),
])
def test_a_correction_must_fit_the_result_it_corrects(tmp_path, task, body, right, wrong):
    """A NER correction's tags are the served model's, and its text the predicted sentence; a QA
    answer lies in its context: what ratsnlp's readers need. Others are a 400 saying why, and
    nothing is stored; the right one is."""
    predictor = load_predictor(DeployArguments(task=task), verbose=False)
    app = create_app(predictor, history=str(tmp_path / f"{task}.sqlite"))
    client = app.test_client()
    page = client.get("/").get_data(as_text=True)  # the correction box takes what /flag takes
    assert re.search(r'id="flag-correction" type="text" maxlength="2000"', page), "maxlength of #flag-correction"
    handle = client.post("/predict", json=body).get_json()["history"]
    for correction, words in wrong.items():
        refused = client.post("/flag", json={**handle, "correction": correction})
        assert refused.status_code == 400
        assert words in refused.get_json()["error"]
    history = app.extensions["demo_app"].history
    assert list(history.rows(flagged_only=True)) == []
    assert client.post("/flag", json={**handle, "correction": right}).get_json()["flagged"] is True
    assert [row["correction"] for row in history.rows(flagged_only=True)] == [right]
