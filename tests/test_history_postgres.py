"""The history on PostgreSQL, on a real server (``postgres_server.py``): the same rows, flags and
exports as the SQLite file; two gunicorn servers with two workers each writing at once; a
database that goes away while visitors keep getting answers; old history files migrated."""

import base64
import io
import json
import socket
import sqlite3
import threading
import time

import pytest
import requests
from postgres_server import PostgresServer
from test_history import SENTENCES, exports_round_trip
from test_wsgi import start_gunicorn, stop

from demo_app import History, create_app, serve
from demo_app.history import dump
from demo_app.history.migrations import SCHEMA_VERSION

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def postgres():
    server = PostgresServer()
    yield server
    server.close()


@pytest.fixture
def database(postgres, request):
    return postgres.create_database(request.node.name.lower()[:60].replace("[", "_").replace("]", ""))


def test_the_same_history_on_postgresql(demo_classifier, database, tmp_path):
    """The SQLite tests' exports and corrections, run against PostgreSQL."""
    exports_round_trip(History(database, model="m.ckpt", model_hash="0" * 64), demo_classifier)
    history = History(database)
    assert history.count() == 4
    assert history.tasks() == ["classification"]
    assert history.path is None
    assert "not-a-secret" not in history.location
    assert "***" in history.location


def test_two_demos_sharing_one_database_each_view_their_own_rows(demo_classifier, database):
    """Two demos (two models) write to one database: each owner's view lists and counts its own
    model's rows, and says how many of others it leaves out; the export has them all."""
    password = "teacher:a-long-s3cret-pass"
    auth = {"Authorization": "Basic " + base64.b64encode(password.encode()).decode()}
    demos = {name: create_app(demo_classifier, auth=password,
                              history=History(database, model=f"{name}.ckpt", model_hash=name * 64))
             for name in ("a", "b")}
    asked = {"a": 3, "b": 1}
    for name, count in asked.items():
        client = demos[name].test_client()
        for i in range(count):
            assert client.post("/predict", json={"sentence": f"{name} 재밌어요 {i}"}, headers=auth).status_code == 200
    for name, count in asked.items():
        view = demos[name].test_client().get("/history", headers=auth).get_data(as_text=True)
        assert f"the newest {count} of {count};" in view
        assert f"{4 - count} rows of other models" in view
        assert all(f"{other} 재밌어요" not in view for other in asked if other != name)
    assert History(database).count() == 4


def test_a_job_whose_replica_on_another_machine_went_silent_is_failed_with_its_reason(demo_classifier, database):
    """A job row in the shared database whose owner runs on another machine: running while its
    heartbeat is fresh, failed with the reason once it has been silent for ORPHANED_AFTER_S (the
    database's clock), and DELETE on it answers. The rows are written here as that replica would."""
    from demo_app.files.job_board import ORPHANED_AFTER_S
    from demo_app.history.migrations import DATABASE_NOW, JOBS

    history = History(database)
    answer = {"job": "Abcdefghijklmnop", "file": "big.csv", "status": "running",
              "progress": {"done": 64, "total": 5000, "rows_per_s": 80.0, "eta_s": 61.7}}
    with history.writing() as connection:
        for job_id, heard in (("Abcdefghijklmnop", DATABASE_NOW),
                              ("Silentjobfromfar", DATABASE_NOW - ORPHANED_AFTER_S - 1)):
            connection.execute(JOBS.insert().values(id=job_id, name="big.csv", status="running",
                                                    answer=json.dumps({**answer, "job": job_id}),
                                                    owner=json.dumps({"host": "another-machine", "pid": 7}),
                                                    heard=heard))
    client = create_app(demo_classifier, history=database).test_client()
    assert client.get("/jobs/Abcdefghijklmnop").get_json()["status"] == "running"
    silent = client.get("/jobs/Silentjobfromfar").get_json()
    assert silent["status"] == "failed"
    assert "stopped before it was done" in silent["error"]
    assert client.delete("/jobs/Silentjobfromfar").get_json()["status"] == "failed"


def test_a_shared_request_refused_for_everyone_costs_the_visitor_nothing(database):
    """The same rule when the buckets are rows of the shared database."""
    from demo_app.history.migrations import RATE_BUCKETS
    from demo_app.web.rate_limits import TokenBucket

    history = History(database)

    def take():
        return history.take_tokens("198.51.100.7", TokenBucket(3, 60.0, 0.0), TokenBucket(2, 60.0, 0.0)) == 0

    assert [take() for _ in range(3)] == [True, True, False]
    with history.writing() as connection:  # everyone's bucket refilled
        connection.execute(RATE_BUCKETS.update().where(RATE_BUCKETS.c.key.like("%everyone")).values(tokens=2.0))
    assert [take() for _ in range(2)] == [True, False]


@pytest.mark.logic
def test_the_budget_holds_on_postgresql_as_on_sqlite(database):
    """The SQLite budget test's visitor flagging every one of 600 long predictions: the oldest
    rows go, flagged ones too, every row is kept or counted, and what is kept stays within the
    budget (counted in its rows' bytes, which PostgreSQL's own table size is not until vacuumed)."""
    from test_history import ANSWER

    from demo_app import get_task

    budget = 300_000
    history = History(database, max_bytes=budget)
    task = get_task("classification")
    for i in range(600):
        [(row_id, token)] = history.record(task, [f"{i} " + "재밌어요 " * 150], [ANSWER], source="api", visitor="one")
        assert history.flag(row_id, token, "부정 (negative)")
    assert history.used_bytes() <= budget
    assert history.flagged_rolled_off() > 0
    assert history.count() + history.rolled_off() == 600
    stored = sum(len(json.dumps(row["inputs"], ensure_ascii=False).encode()) for row in history.rows())
    assert stored <= history.used_bytes()  # the count follows the rows (outputs are counted too)
    assert History(database, max_bytes=budget).used_bytes() == history.used_bytes()  # kept, not recounted


@pytest.mark.logic  # the oldest versions' gunicorn and PostgreSQL serve replicas in the tests below
def test_two_gunicorn_servers_with_two_workers_each_share_one_database(database):
    servers = [start_gunicorn({"DEMO_APP_HISTORY": database}, workers=2) for _ in range(2)]
    answers, errors = [], []

    def visitor(n):
        url = servers[n % 2][1]
        try:
            with requests.Session() as session:
                for i in range(12):
                    sentence = f"{SENTENCES[i % 4]} {n}/{i}"
                    response = session.post(url + "/predict", json={"sentence": sentence}, timeout=60)
                    response.raise_for_status()
                    answers.append((sentence, response.json()))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    try:
        threads = [threading.Thread(target=visitor, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        assert not errors
        history = History(database)
        rows = list(history.rows())
        assert len(rows) == len(answers) == 96  # none lost, none twice
        assert sorted(row["inputs"]["sentence"] for row in rows) == sorted(sentence for sentence, _ in answers)
        assert len({row["id"] for row in rows}) == 96
        by_id = {row["id"]: row for row in rows}
        for sentence, answer in answers:
            assert by_id[answer["history"]["id"]]["inputs"] == {"sentence": sentence}
        # A result answered by one server is flagged through the other: they share the salt.
        sentence, answer = next((s, a) for s, a in answers if a["history"]["id"] % 2 == 0)
        flag = {**answer["history"], "correction": "부정 (negative)"}
        assert requests.post(servers[1][1] + "/flag", json=flag, timeout=30).json()["flagged"] is True
        assert requests.post(servers[0][1] + "/flag", json=flag, timeout=30).json()["flagged"] is True
        assert [row["id"] for row in history.rows(flagged_only=True)] == [answer["history"]["id"]]
    finally:
        for process, _ in servers:
            stop(process)


def test_a_database_that_goes_away_does_not_fail_predictions(demo_classifier, postgres):
    database = postgres.create_database("goes_away")
    app = create_app(demo_classifier, history=database, auth="teacher:a-long-s3cret-pass")
    auth = {"Authorization": "Basic " + base64.b64encode(b"teacher:a-long-s3cret-pass").decode()}
    handle = serve(app, port=0, quiet=True)
    try:
        first = requests.post(handle.url + "/predict", json={"sentence": "재밌어요"}, headers=auth, timeout=30)
        assert "history" in first.json()
        postgres.stop()
        try:
            answered = requests.post(handle.url + "/predict", json={"sentence": "시간이 아까웠습니다"},
                                     headers=auth, timeout=30)
            assert answered.status_code == 200
            assert answered.json()["prediction"] == "부정 (negative)"
            assert "history" not in answered.json()  # answered, not stored
            correction = {**first.json()["history"], "correction": "부정 (negative)"}
            flagged = requests.post(handle.url + "/flag", json=correction,
                                    headers=auth, timeout=30)
            assert flagged.status_code == 503
            assert "history" in flagged.json()["error"]
            assert requests.get(handle.url + "/healthz", headers=auth, timeout=30).json()["history"] == "down"
            view = requests.get(handle.url + "/history", headers=auth, timeout=30)
            assert view.status_code == 503
            assert "cannot be reached" in view.json()["error"]
        finally:
            postgres.start()
        wait_for_history(handle.url, "up", headers=auth)
        again = requests.post(handle.url + "/predict", json={"sentence": "최고예요"}, headers=auth, timeout=30)
        assert "history" in again.json()
        view = requests.get(handle.url + "/history", headers=auth, timeout=30).text
        assert 'id="missed"' in view
        assert "1 predictions" in view
        assert History(database).missed() == 1  # counted in the database once it answered again
    finally:
        handle.stop()


def wait_for_history(url, state, headers=None):
    """Until /healthz says the history is ``state`` (the reconnecting thread backs off 1, 2, 4 s ...)."""
    for _ in range(600):
        if requests.get(url + "/healthz", headers=headers, timeout=30).json()["history"] == state:
            return
        time.sleep(0.1)
    raise AssertionError(f"the history never became {state}")


@pytest.mark.logic
def test_a_replica_started_while_postgresql_is_down_serves_and_its_history_comes_back(postgres):
    """Down at start: gunicorn's worker boots and answers (no restart loop), /healthz says so;
    started again, the history is written. The URL comes from DATABASE_URL, in Heroku's scheme."""
    database = postgres.create_database("down_at_start")
    postgres.stop()
    running = False
    try:
        process, url = start_gunicorn({"DEMO_APP_HISTORY": "DATABASE_URL",
                                       "DATABASE_URL": database.replace("postgresql://", "postgres://", 1)})
        try:
            assert requests.get(url + "/healthz", timeout=30).json()["history"] == "down"
            answered = requests.post(url + "/predict", json={"sentence": "시간이 아까웠습니다"}, timeout=30)
            assert answered.status_code == 200
            assert "history" not in answered.json()
            postgres.start()
            running = True
            wait_for_history(url, "up")
            again = requests.post(url + "/predict", json={"sentence": "최고예요"}, timeout=30).json()
            assert "history" in again
            assert [row["inputs"] for row in History(database).rows()] == [{"sentence": "최고예요"}]
            assert History(database).missed() == 1
        finally:
            stop(process)
    finally:
        if not running:
            postgres.start()


@pytest.mark.logic
def test_an_unreachable_database_costs_predictions_one_timeout_not_one_each(demo_classifier):
    """A database whose packets go nowhere (here: a socket that accepts and never answers) is
    found unreachable once; predictions after that take their usual time, measured against the
    same app without a history, and the history view is a 503."""
    with socket.create_server(("127.0.0.1", 0), backlog=64) as black_hole:
        location = f"postgresql://student:pw@127.0.0.1:{black_hole.getsockname()[1]}/demo"
        owner = "teacher:a-long-s3cret-pass"
        apps = {"without": create_app(demo_classifier, auth=owner),
                "unreachable": create_app(demo_classifier, auth=owner, history=location)}
        handles = {name: serve(app, port=0, quiet=True) for name, app in apps.items()}
        auth = {"Authorization": "Basic " + base64.b64encode(owner.encode()).decode()}
        try:
            health = requests.get(handles["unreachable"].url + "/healthz", headers=auth, timeout=30).json()
            assert health["history"] == "down"
            took = {name: [] for name in handles}
            for sentence in SENTENCES * 2:
                for name, handle in handles.items():
                    started = time.monotonic()
                    response = requests.post(handle.url + "/predict", json={"sentence": sentence}, headers=auth,
                                             timeout=60)
                    took[name].append(time.monotonic() - started)
                    assert response.status_code == 200
            assert sorted(took["unreachable"])[4] < 3 * sorted(took["without"])[4], took
            assert requests.get(handles["unreachable"].url + "/history", headers=auth, timeout=30).status_code == 503
        finally:
            for handle in handles.values():
                handle.stop()


LEGACY_SCHEMA = """
CREATE TABLE predictions (id INTEGER PRIMARY KEY, time TEXT NOT NULL, task TEXT NOT NULL, model TEXT NOT NULL,
    model_hash TEXT NOT NULL, inputs TEXT NOT NULL, outputs TEXT NOT NULL, prediction TEXT, latency_ms REAL,
    source TEXT NOT NULL, visitor TEXT, flagged INTEGER NOT NULL DEFAULT 0, correction TEXT, flagged_at TEXT);
CREATE INDEX predictions_flagged ON predictions (flagged);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('salt', 'an-old-salt');
INSERT INTO predictions (time, task, model, model_hash, inputs, outputs, prediction, source)
    VALUES ('2026-11-01T00:00:00', 'classification', 'm.ckpt', '', '{"sentence": "옛날 기록"}',
            '{"prediction": "긍정 (positive)", "probabilities": [{"label": "부정 (negative)", "probability": 0.2,
              "width": "20.00%"}, {"label": "긍정 (positive)", "probability": 0.8, "width": "80.00%"}]}',
            '긍정 (positive)', 'api');
"""


def test_a_history_file_from_an_earlier_demo_app_is_migrated_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as connection:
        connection.executescript(LEGACY_SCHEMA)
    history = History(path)
    [row] = list(history.rows())
    assert row["inputs"] == {"sentence": "옛날 기록"}
    assert row["nonce"] is None  # written before rows had one: its token is the one issued then
    assert history.flag(row["id"], history.flag_token(row["id"], None), "부정 (negative)")
    with sqlite3.connect(path) as connection:
        version = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
        assert version == str(SCHEMA_VERSION)
        assert connection.execute("SELECT value FROM meta WHERE key = 'salt'").fetchone()[0] == "an-old-salt"
    out = io.StringIO()
    assert dump(history, out, "nsmc") == 1


def test_a_history_from_a_newer_demo_app_is_refused(tmp_path):
    path = tmp_path / "new.sqlite"
    History(path)
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(RuntimeError, match="newer demo_app"):
        History(path)


def test_the_cli_exports_a_postgresql_history_without_printing_its_password(database, tmp_path):
    import subprocess
    import sys

    from test_history import ROOT

    history = History(database)
    history.record(_classification(), ["좋아요"], [{"prediction": "긍정 (positive)", "probabilities": []}],
                   source="api")
    result = subprocess.run([sys.executable, "-m", "demo_app", "history", database, "--format", "jsonl"],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["inputs"] == {"sentence": "좋아요"}
    assert "not-a-secret" not in result.stderr


def _classification():
    from demo_app.tasks import TASKS

    return TASKS["classification"]
