"""Several processes serving one demo without a shared database (gunicorn workers, replicas that
mount one volume as ``DEMO_APP_JOBS_DIR``): a file job started in one is polled, cancelled and
downloaded through another, and a killed one's job is failed with its reason (the folder board,
``files/job_board.py``). With PostgreSQL, the database is the board: ``test_stack.py``.
The last test kills the first server."""

import csv
import io
import os
import signal

import pytest
import requests
from helpers import wait_until_done, worker_processes
from test_files import upload
from test_wsgi import start_gunicorn, stop

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory):
    env = {"DEMO_APP_JOBS_DIR": str(tmp_path_factory.mktemp("shared-volume"))}
    servers = [start_gunicorn(env) for _ in range(2)]
    yield servers
    for process, _ in servers:
        if process.poll() is None:
            stop(process)


def test_a_job_is_followed_and_downloaded_through_another_server(two_servers):
    (_, first), (_, second) = two_servers
    rows = [f"영화 {i} 정말 재밌어요" if i % 2 else f"영화 {i} 시간이 아까웠어요" for i in range(3000)]
    started = upload(first, "reviews.csv", ("sentence\n" + "\n".join(rows) + "\n").encode())
    assert started.status_code == 202, started.text
    job = started.json()
    progress = requests.get(second + job["status_url"], timeout=30).json()  # the other server knows it
    assert progress["job"] == job["job"]
    assert progress["status"] in ("running", "done")
    done = wait_until_done(second, job["status_url"])
    assert done["status"] == "done"
    assert done["predicted"] == 3000
    assert len(done["preview"]) == 20
    for url in (first, second):  # the same results through either
        download = requests.get(url + done["download"], timeout=60)
        assert download.status_code == 200
        table = list(csv.DictReader(io.StringIO(download.content.decode("utf-8-sig"))))
        assert [row["sentence"] for row in table] == rows
    assert requests.get(second + "/jobs/no-such-job", timeout=30).status_code == 404


def test_a_job_is_cancelled_through_another_server(two_servers):
    (_, first), (_, second) = two_servers
    rows = "sentence\n" + "\n".join(f"정말 재밌어요 {i}" for i in range(50_000)) + "\n"
    job = upload(first, "big.csv", rows.encode()).json()
    assert job["status"] == "running"
    cancelled = requests.delete(second + job["status_url"], timeout=30).json()
    if cancelled["status"] == "running":  # the owner stops at its next batch
        cancelled = wait_until_done(first, job["status_url"], timeout=30)
    assert cancelled["status"] == "cancelled"
    assert cancelled["predicted"] < 50_000


def test_a_job_whose_server_was_killed_is_failed_with_its_reason_not_running_forever(two_servers):
    """kill -9 of the server predicting a file: the other answers the job as failed, saying why,
    serves the rows written so far, and DELETE on it answers."""
    owner, other = two_servers
    rows = "sentence\n" + "\n".join(f"정말 재밌어요 {i}" for i in range(50_000)) + "\n"
    job = upload(owner[1], "big.csv", rows.encode()).json()
    assert job["status"] == "running"
    for process in worker_processes(owner[0]) + [owner[0].pid]:
        os.kill(process, signal.SIGKILL)
    owner[0].wait(30)
    answer = wait_until_done(other[1], job["status_url"], timeout=60)
    assert answer["status"] == "failed"
    assert "stopped" in answer["error"]
    deleted = requests.delete(other[1] + job["status_url"], timeout=30)
    assert deleted.status_code == 200
    assert deleted.json()["status"] == "failed"
