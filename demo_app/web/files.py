"""Whole data files over HTTP: ``POST /predict/file``, ``GET``/``DELETE /jobs/<id>``,
``GET /jobs/<id>/results.csv`` (docs/files.md).

An upload (multipart, field ``file``) is saved to a temporary file, its size and row count are
checked against the limits (413), its header against the task's columns (400), and a job
predicts it in the background (``demo_app.files.jobs``). A file of at most ``sync_file_rows`` rows is
answered in the same request when it is done within the request timeout (200); a larger one
answers 202 at once with the job's ``status_url`` to poll.
"""

from __future__ import annotations

import itertools
import logging
import threading
from pathlib import Path

from flask import Blueprint, jsonify, request, send_file, url_for

from ..files.formats import DataFileError, file_format
from ..files.jobs import Jobs, JobsBusy
from ..files.text_source import count_lines
from ..history import HistoryError
from .errors import ApiError, api_error_response
from .routes import answers_json, body_limit, costs_work
from .state import current_visitor, demo_state

logger = logging.getLogger("demo_app.web")
CHECKING = threading.BoundedSemaphore(2)  # uploads read through at once, before their job starts

file_routes = Blueprint("files", __name__)


@file_routes.post("/predict/file")
@costs_work
@body_limit("max_file_bytes")
def predict_file():
    state = demo_state()
    jobs, settings = state.jobs, state.settings
    assert jobs is not None  # these routes are registered only with file jobs
    upload = request.files.get("file") if request.mimetype == "multipart/form-data" else None
    if request.mimetype != "multipart/form-data":
        raise ApiError(415, "send the file as multipart/form-data in a field named file, e.g. "
                            "curl -F file=@ratings_test.txt URL/predict/file")
    if upload is None or not upload.filename:
        raise ApiError(400, 'no file: send it in a multipart field named "file"')
    name = _printable(Path(upload.filename.replace("\\", "/")).name)[:200] or "upload"
    try:
        input_format = file_format(name, request.form.get("format") or None)
    except DataFileError as error:
        raise ApiError(400, str(error)) from None
    path = jobs.new_upload_path(input_format)
    try:
        upload.save(path)
        rows = _check_upload(path, name, input_format, jobs, settings)
        job = jobs.start(path, name, rows, current_visitor(), input_format)
    except JobsBusy as error:
        path.unlink(missing_ok=True)
        raise ApiError(429, str(error), {"Retry-After": "10"}) from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if rows <= settings.sync_file_rows:
        job.wait(settings.request_timeout_s)
    answer = _answer(job)
    return jsonify(answer), 202 if answer["status"] == "running" else 200


@file_routes.get("/jobs/<job_id>")
@answers_json
def job_status(job_id: str):
    return jsonify(_answer(_job(job_id)))


@file_routes.delete("/jobs/<job_id>")
@answers_json
def job_cancel(job_id: str):
    job = _job(job_id)
    job.cancel()
    job.wait(5)
    return jsonify(_answer(job))


@file_routes.get("/jobs/<job_id>/results.csv")
@answers_json
def job_results(job_id: str):
    job = _job(job_id)
    if job.status == "running":
        raise ApiError(409, "the file is still being predicted; download when its status is done")
    results = job.results()
    if results is None:
        raise ApiError(404, "this job has no results")
    download = (Path(job.name).stem or "upload") + "-predictions.csv"
    return send_file(results, mimetype="text/csv", as_attachment=True, download_name=download)


@file_routes.errorhandler(HistoryError)
def jobs_database_down(error: HistoryError):
    """Another server's job, in a database that cannot be reached right now."""
    logger.warning("job not read: %s", type(error).__name__)  # the message may name the server
    return api_error_response(ApiError(503, "the jobs' database cannot be reached right now; try again shortly",
                               {"Retry-After": "5"}))


def _check_upload(path: Path, name: str, input_format: str, jobs: Jobs, settings) -> int:
    """The upload's row count (an estimate from its lines), after the checks a visitor hears
    about at once: empty, too many rows, not text, the wrong columns."""
    size = path.stat().st_size
    if size == 0:
        raise ApiError(400, f"{name} is empty")
    rows = count_lines(path) - (1 if input_format in ("csv", "tsv") else 0)  # the header
    if rows > settings.max_file_rows:
        raise ApiError(413, f"{name} has about {rows} rows; the limit is {settings.max_file_rows} "
                            "(max_file_rows); split it or use the command line (docs/files.md)")
    if not CHECKING.acquire(timeout=settings.request_timeout_s):
        raise ApiError(503, "other uploads are being read; try again shortly", {"Retry-After": "5"})
    try:
        with open(path, "rb") as stream:
            rows_iterator = jobs.reader(stream, name, input_format).start()
            if input_format == "json":  # one item per object, however the file breaks its lines
                rows = sum(1 for _ in itertools.islice(rows_iterator, settings.max_file_rows + 1))
    except DataFileError as error:
        raise ApiError(400, str(error)) from None
    finally:
        CHECKING.release()
    if rows > settings.max_file_rows:
        raise ApiError(413, f"{name} has over {settings.max_file_rows} rows (max_file_rows); "
                            "split it or use the command line (docs/files.md)")
    return rows


def _answer(job) -> dict:
    """The job's answer, with its URLs from the root of the site (where the app is mounted)."""
    return job.to_dict(status_url=url_for("files.job_status", job_id=job.id),
                       download_url=url_for("files.job_results", job_id=job.id))


def _job(job_id: str):
    jobs = demo_state().jobs
    assert jobs is not None  # these routes are registered only with file jobs
    job = jobs.get(job_id)
    if job is None:
        raise ApiError(404, "no such job (finished jobs are kept for an hour)")
    return job


def _printable(name: str) -> str:
    """A file name without control characters (it goes into headers and messages)."""
    return "".join(c for c in name if c.isprintable())
