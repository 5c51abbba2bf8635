"""gunicorn serving demo_app.wsgi:app as a real subprocess, the model chosen by environment."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from helpers import PRETRAINED_DIR, HostileSockets, free_port, tiny_model, wait_until_serving, write_lightning

ROOT = Path(__file__).resolve().parent.parent


def start_gunicorn(env_extra, workers=1):
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT), **env_extra)
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "demo_app.wsgi:app", "--workers", str(workers), "--threads", "4",
         "--bind", f"127.0.0.1:{port}"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/healthz", timeout=10).status_code == 200:
                return process, url
        except requests.RequestException:  # not listening yet, or the worker still loading
            time.sleep(0.3)
        if process.poll() is not None:
            raise AssertionError(process.stdout.read())
    process.kill()
    raise AssertionError("gunicorn did not start")


def stop(process):
    process.terminate()
    process.wait(timeout=30)


def test_gunicorn_serves_the_demo_model():
    process, url = start_gunicorn({})
    try:
        response = requests.post(url + "/api", data=json.dumps("이 영화 정말 재밌어요"),
                                 headers={"Content-Type": "application/json"}, timeout=30)
        assert response.status_code == 200
        assert response.json()["prediction"] == "긍정 (positive)"
    finally:
        stop(process)


def test_gunicorn_model_from_environment(tmp_path):
    write_lightning(tiny_model(num_labels=3, seed=2), tmp_path)
    process, url = start_gunicorn({"DEMO_APP_PRETRAINED_MODEL_NAME": str(PRETRAINED_DIR),
                                   "DEMO_APP_DOWNSTREAM_MODEL_DIR": str(tmp_path)})
    try:
        health = requests.get(url + "/healthz", timeout=10).json()
        assert health["model"]["labels"] == ["class 0", "class 1", "class 2"]
    finally:
        stop(process)


def test_production_recipe_holds_idle_and_slow_sockets():
    """The README's and Procfile's recipe, python -m demo_app.wsgi, under 500 idle and 100
    slowloris sockets: every other visitor is still answered, at most 50 times as slowly as on
    the idle server (measured first; a server whose connections were all taken would make them
    wait for a timeout)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "demo_app.wsgi"], cwd=ROOT,
                               env=dict(os.environ, PYTHONPATH=str(ROOT), PORT=str(port),
                                        DEMO_APP_HOST="127.0.0.1"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, process)

        def visit() -> float:
            started = time.monotonic()
            assert requests.get(url + "/healthz", timeout=30).status_code == 200
            assert requests.post(url + "/api", json="재밌어요", timeout=30).status_code == 200
            return time.monotonic() - started

        idle = max(visit() for _ in range(5))
        with HostileSockets(port, idle=500, slow=100) as hostile:
            for _ in range(3):
                hostile.trickle()
                waited = visit()
                assert waited < 50 * idle, (waited, idle)
    finally:
        stop(process)


@pytest.mark.logic
@pytest.mark.parametrize("variable, value", [("DEMO_APP_MAX_SEQ_LENGTH", "abc"), ("PORT", "x"),
                                             ("DEMO_APP_FORWARDED_HOPS", "x"), ("DEMO_APP_RATE_LIMIT", "lots")])
def test_a_bad_setting_stops_the_start_with_one_line_naming_its_variable(variable, value):
    result = subprocess.run([sys.executable, "-m", "demo_app.wsgi"], cwd=ROOT, capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT), **{variable: value}), timeout=120)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {variable}=")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("url", ["mysql://student:pw-s3cret@db.example/demo",
                                 "postgresql+asyncpg://student:pw-s3cret@db.example/demo"])
@pytest.mark.logic
def test_an_unsupported_history_url_is_refused_naming_what_is_supported(url, tmp_path):
    """It never becomes a SQLite file named after the URL, and its password is never shown."""
    commands = [[sys.executable, "-m", "demo_app.wsgi"]]
    if url.startswith("mysql"):  # the CLI reads the same setting through the same check: once is enough
        commands.append([sys.executable, "-m", "demo_app", "serve"])
    for command in commands:
        result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                                env=dict(os.environ, PYTHONPATH=str(ROOT), DEMO_APP_HISTORY="DATABASE_URL",
                                         DATABASE_URL=url))
        assert result.returncode == 1, result.stderr
        assert "postgresql://" in result.stderr
        assert "pw-s3cret" not in result.stderr + result.stdout
        assert "Traceback" not in result.stderr
        assert list(tmp_path.iterdir()) == []


@pytest.mark.logic
def test_the_docs_show_the_settings_table_the_code_reads():
    from demo_app.settings import settings_table

    assert settings_table() in (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")


@pytest.mark.logic
def test_a_user_without_a_password_is_refused_where_several_workers_may_import_the_app():
    """Each gunicorn worker would generate its own password; imported (not run), the app asks for one."""
    result = subprocess.run([sys.executable, "-c", "import demo_app.wsgi"], cwd=ROOT, capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT), DEMO_APP_AUTH="teacher"), timeout=120)
    assert result.returncode == 1
    assert "DEMO_APP_AUTH=user:password" in result.stderr


@pytest.mark.logic
def test_python_m_demo_app_wsgi_logs_each_request_with_its_time_and_no_query_string(tmp_path):
    port = free_port()
    log = tmp_path / "server.log"
    with open(log, "w") as output:
        environment = dict(os.environ, PYTHONPATH=str(ROOT), PORT=str(port), DEMO_APP_HOST="127.0.0.1")
        process = subprocess.Popen([sys.executable, "-m", "demo_app.wsgi"], cwd=ROOT, stdout=output, stderr=output,
                                   env=environment)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_serving(url, process)
            assert requests.post(url + "/api", json="재밌어요", timeout=30).status_code == 200
            assert requests.get(url + "/healthz?token=hf_secret_value", timeout=30).status_code == 200
        finally:
            stop(process)
    said = log.read_text()
    timestamp = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} "
    assert re.search(timestamp + "demo_app.web POST /api 200 ", said, re.MULTILINE), said
    assert re.search(r"demo_app.web GET /healthz 200 ", said), said
    assert "hf_secret_value" not in said
