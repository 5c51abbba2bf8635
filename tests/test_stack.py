"""The whole stack a demo runs on past Colab, from real parts on one machine: Debian's nginx under
the path prefix ``/demo/`` on 127.0.0.2 (``nginx_server.py``), in front of two replicas (separate
gunicorn servers, A and B, two workers each) that share one PostgreSQL (``postgres_server.py``)
and nothing else: each has a jobs folder of its own, as replicas on two machines would, so file
jobs are shared through the database (``history/job_table.py``).

They serve the generation demo model (streamed text, and prompts files as jobs), trust one proxy
hop (``DEMO_APP_FORWARDED_HOPS=1``, what an export is given) and allow each visitor 3 requests a
minute. Visitors connect from other 127.x addresses, which stand in for other machines; a test
that talks to a replica directly says who it is with ``X-Forwarded-For``, as the host's proxy would.
The last test kills replica A.
"""

import csv
import io
import os
import signal

import pytest
import requests
from helpers import wait_until_done, worker_processes
from nginx_server import NginxProxy
from postgres_server import PostgresServer
from test_generation import write_on_the_page
from test_proxies import visitor
from test_wsgi import start_gunicorn, stop

from demo_app import History

pytestmark = [pytest.mark.slow, pytest.mark.browser]

FOLLOWED_PROMPTS = 1200  # more than a file answered at once (sync_file_rows): a job
LONG_PROMPTS = 20_000  # a job still running when it is cancelled or its replica killed


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    postgres = PostgresServer()
    settings = {"DEMO_APP_TASK": "generation", "DEMO_APP_HISTORY": postgres.create_database("stack"),
                "DEMO_APP_RATE_LIMIT": "3/minute", "DEMO_APP_FORWARDED_HOPS": "1"}
    replicas = [start_gunicorn({**settings, "DEMO_APP_JOBS_DIR": str(tmp_path_factory.mktemp(f"machine-{name}"))},
                               workers=2) for name in "AB"]
    nginx = NginxProxy({"/demo": [int(url.rsplit(":", 1)[1]) for _, url in replicas]})
    yield {"nginx": nginx.url, "A": replicas[0][1], "B": replicas[1][1], "A process": replicas[0][0],
           "history": settings["DEMO_APP_HISTORY"]}
    nginx.close()
    for process, _ in replicas:
        if process.poll() is None:
            stop(process)
    postgres.close()


def prompts_file(count: int) -> bytes:
    """Prompts with greedy decoding of two new tokens each: the same text however it is run."""
    return ("prompt,top_k,max_new_tokens\n" + "".join(f"긍정 영화 {i},1,2\n" for i in range(count))).encode()


def upload_as(url: str, who: str, content: bytes) -> dict:
    """A file job started by visitor ``who`` (the address the host's proxy would pass on)."""
    response = requests.post(url + "/predict/file", files={"file": ("prompts.csv", content)},
                             headers={"X-Forwarded-For": who}, timeout=60)
    assert response.status_code == 202, response.text
    return response.json()


def test_the_page_streams_and_predicts_a_file_under_the_prefix_in_a_browser(browser, stack, tmp_path):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ko-KR", accept_downloads=True)
    page = context.new_page()
    answered = []
    page.on("response", lambda response: answered.append((response.url, response.status,
                                                          response.headers.get("content-type", ""))))
    page.goto(stack["nginx"] + "/demo/")
    assert page.evaluate("() => [...document.styleSheets].some(sheet => sheet.cssRules.length > 0)")
    write_on_the_page(page, "긍정 아 정말", tokens=12)
    page.wait_for_function("() => document.getElementById('generated-meta').textContent.includes('tokens')")
    assert len(page.text_content("#result-generated")) > len("긍정 아 정말")
    streams = [kind for url, _, kind in answered if url.endswith("/stream")]
    assert streams, answered
    assert all(kind.startswith("text/event-stream") for kind in streams), answered
    prompts = tmp_path / "prompts.csv"
    prompts.write_bytes(prompts_file(5))
    page.set_input_files("#file", str(prompts))
    page.click("#file-submit")
    page.wait_for_function("() => document.querySelectorAll('#file-table tr').length > 1")
    with page.expect_download() as download:
        page.click("#file-download")
    with open(download.value.path(), encoding="utf-8-sig") as written:
        rows = list(csv.DictReader(written))
    assert [row["prompt"] for row in rows] == [f"긍정 영화 {i}" for i in range(5)]
    assert all(row["generated"] for row in rows)
    assert all(url.startswith(stack["nginx"] + "/demo/") for url, _, _ in answered), answered
    assert all(status < 400 for _, status, _ in answered), answered
    context.close()


def test_a_visitors_fourth_request_is_limited_whichever_replica_answers(stack):
    """3/minute, counted in PostgreSQL: nginx takes turns between the replicas (and each has two
    workers), yet the fourth request is a 429; another visitor is still answered."""
    url = stack["nginx"] + "/demo/api"
    first, second = visitor("127.0.0.3"), visitor("127.0.0.4")
    body = {"prompt": "긍정 아 정말", "top_k": 1, "max_new_tokens": 2}
    assert [first.post(url, json=body, timeout=60).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert second.post(url, json=body, timeout=60).status_code == 200


def test_a_job_started_through_a_is_followed_and_downloaded_through_b(stack):
    job = upload_as(stack["A"], "198.51.100.1", prompts_file(FOLLOWED_PROMPTS))
    progress = requests.get(stack["B"] + job["status_url"], timeout=30).json()  # B knows A's job
    assert progress["job"] == job["job"]
    assert progress["status"] in ("running", "done")
    done = wait_until_done(stack["B"], job["status_url"])
    assert done["status"] == "done", done
    assert done["predicted"] == FOLLOWED_PROMPTS
    downloads = [requests.get(url + done["download"], timeout=60) for url in (stack["A"], stack["B"])]
    assert [download.status_code for download in downloads] == [200, 200]
    assert downloads[0].content == downloads[1].content  # the same results through either
    rows = list(csv.DictReader(io.StringIO(downloads[1].content.decode("utf-8-sig"))))
    assert [row["prompt"] for row in rows] == [f"긍정 영화 {i}" for i in range(FOLLOWED_PROMPTS)]
    assert all(row["generated"] for row in rows)
    assert History(stack["history"]).count() >= FOLLOWED_PROMPTS  # recorded in the shared history


def test_a_job_started_through_a_is_cancelled_through_b(stack):
    job = upload_as(stack["A"], "198.51.100.2", prompts_file(LONG_PROMPTS))
    assert job["status"] == "running"
    cancelled = requests.delete(stack["B"] + job["status_url"], timeout=30).json()
    if cancelled["status"] == "running":  # A stops at its next batch
        cancelled = wait_until_done(stack["B"], job["status_url"], timeout=60)
    assert cancelled["status"] == "cancelled"
    assert cancelled["predicted"] < LONG_PROMPTS
    assert requests.get(stack["B"] + cancelled["download"], timeout=60).status_code == 200  # the rows so far


def test_killing_replica_a_mid_job_fails_the_job_with_a_reason_and_b_serves_on(stack):
    """kill -9 of A (its workers and master) while it predicts a file: B answers the job as
    failed, saying why, never "running" forever, and DELETE on it answers; nginx passes every
    visitor to B."""
    job = upload_as(stack["A"], "198.51.100.3", prompts_file(LONG_PROMPTS))
    assert job["status"] == "running"
    master = stack["A process"]
    for pid in worker_processes(master) + [master.pid]:
        os.kill(pid, signal.SIGKILL)
    master.wait(30)
    answer = wait_until_done(stack["B"], job["status_url"], timeout=30)
    assert answer["status"] == "failed"
    assert "stopped" in answer["error"]
    deleted = requests.delete(stack["B"] + job["status_url"], timeout=30)
    assert deleted.status_code == 200
    assert deleted.json()["status"] == "failed"
    someone = visitor("127.0.0.6")
    pages = [someone.get(stack["nginx"] + "/demo/", timeout=30).status_code for _ in range(4)]
    assert pages == [200] * 4
