"""Uploaded data files, predicted in the background: a job per file, with progress and cancel.

The web app (``POST /predict/file``) saves the upload, checks its columns, and starts a
:class:`Job` on its own thread. The job feeds the rows through the same predictor (and so the
same inference thread) as the page's requests, a batch at a time, as background work: visitors'
requests are served between its batches (``inference/batching.py``). It writes a CSV of the rows
with their predictions to a temporary file as it goes; ``GET /jobs/<id>`` reports its progress,
``DELETE /jobs/<id>`` stops it, ``GET /jobs/<id>/results.csv`` downloads the CSV. Job ids are
random: only whoever started a job can find it.

Everything a job keeps is bounded: its answer holds a preview of ``PREVIEW_ROWS`` rows of short
cells and at most ``MAX_PROBLEMS`` messages, built once when the job ends; its results file at
most ``max_result_bytes`` (then the job stops and says so). Finished jobs are forgotten (and their
files deleted) after ``KEEP_SECONDS``, when more than ``KEEP_JOBS`` are kept, and when the server
stops; a server that was killed leaves its folder behind, which the next one deletes.

Several worker processes or replicas serve one demo: a job runs in the process that took the
upload, and any other finds it, reports it, cancels it and serves its results through a board
(``job_board.py``: a folder they all see, or the history's PostgreSQL database).
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, BinaryIO, Callable, Dict, List, Optional

from .job_board import KEEP_SECONDS, FolderBoard, JobBoard
from .predictions import FileReport, write_predictions
from .reading import RowReader
from .text_source import buffered
from .writing import RowWriter, safe_text

logger = logging.getLogger("demo_app.files")

KEEP_JOBS = 8
PREVIEW_ROWS = 20  # rows of the result shown on the page; the CSV has them all
PREVIEW_CHARS = 200  # characters of a cell shown on the page; the CSV has them all
MAX_PROBLEMS = 50  # bad-row messages in a job's answer; all are counted
MAX_PROBLEM_CHARS = 300
JOB_ID = re.compile(r"[A-Za-z0-9_-]{16}")  # secrets.token_urlsafe(12)
CANCEL_CHECK_S = 0.5  # how often a running job looks for another worker's cancel request


class JobsBusy(RuntimeError):
    """Too many files are being predicted already; try again when one is done."""


class ResultsTooLarge(RuntimeError):
    """The results file reached its size limit."""


class Job:
    """One uploaded file being predicted. ``status``: running, done, failed or cancelled."""

    def __init__(self, name: str, upload: Path, total: int, visitor: str, board: JobBoard) -> None:
        self.id = secrets.token_urlsafe(12)  # 16 characters: JOB_ID
        self.board = board
        self.name = name
        self.upload = upload
        self.output = upload.with_name(f"{self.id}.results.csv")  # beside it: <id>.status.json
        self.total = total
        self.visitor = visitor
        self.status = "running"
        self.error: Optional[str] = None
        self.report = FileReport()
        self.columns: List[str] = []
        self.preview: List[Dict[str, Any]] = []
        self.started = time.monotonic()
        self.finished: Optional[float] = None
        self._answer: Optional[Dict[str, Any]] = None  # built once, when the job ends
        self._cancel = threading.Event()
        self._finished = threading.Event()
        self._cancel_checked = 0.0

    def cancel(self) -> None:
        self._cancel.set()

    def publish(self) -> None:
        """Put the job's answer and results so far where other processes read them (``SharedJob``).
        If the board cannot be written (the database is down), the job goes on: the others see
        its last progress until it can."""
        try:
            self.board.publish(self.id, self.name, self._answer or self._progress(), self.output)
        except Exception as error:  # noqa: BLE001 - see above; the folder may be gone at stop
            logger.warning("job %s: progress not shared (%s)", self.id[:6], type(error).__name__)

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait until the job ends (up to ``timeout`` s); True if it has."""
        return self._finished.wait(timeout)

    @property
    def cancelled(self) -> bool:
        """Cancelled here, or by another worker (on the board, looked at twice a second)."""
        if not self._cancel.is_set() and time.monotonic() - self._cancel_checked > CANCEL_CHECK_S:
            self._cancel_checked = time.monotonic()
            try:
                if self.board.cancel_requested(self.id):
                    self._cancel.set()
            except Exception:  # noqa: BLE001 - the database is down: looked at again next time
                pass
        return self._cancel.is_set()

    def results(self) -> Optional[BinaryIO]:
        """The results CSV, open for reading; None before there is one."""
        try:
            return open(self.output, "rb")
        except FileNotFoundError:
            return None

    def to_dict(self, status_url: str = "", download_url: str = "") -> Dict[str, Any]:
        """What ``GET /jobs/<id>`` answers: progress while running, the results when done.
        Of bounded size, and built only once for a finished job."""
        answer = self._answer or self._progress()
        downloadable = answer["status"] != "running" and self.output.is_file()  # a failed job's rows so far too
        return {**answer, "status_url": status_url or f"jobs/{self.id}",
                **({"download": download_url or f"jobs/{self.id}/results.csv"} if downloadable else {})}

    def _progress(self) -> Dict[str, Any]:
        elapsed = (self.finished or time.monotonic()) - self.started
        done = self.report.rows
        rate = done / elapsed if elapsed > 0 else 0.0
        answer: Dict[str, Any] = {
            "job": self.id, "file": self.name, "status": self.status,
            "progress": {"done": done, "total": max(self.total, done), "rows_per_s": round(rate, 1),
                         "eta_s": round((self.total - done) / rate, 1) if rate and self.status == "running"
                         and self.total > done else None},
        }
        if self.status == "failed":
            answer["error"] = self.error
        if self.status in ("done", "cancelled"):
            report = self.report.to_dict()
            report["problems"] = [p[:MAX_PROBLEM_CHARS] for p in report["problems"][:MAX_PROBLEMS]]
            answer.update(report)
            answer.update(columns=self.columns, preview=self.preview)
        return answer

    def end(self, status: str, error: Optional[str] = None) -> None:
        self.status, self.error = status, error
        self.finished = time.monotonic()
        self._answer = self._progress()
        self.publish()
        self._finished.set()


class SharedJob:
    """Another process's job, read from its board: the same answers as a :class:`Job`."""

    def __init__(self, board: JobBoard, job_id: str, published: Dict[str, Any]) -> None:
        self.board, self.id, self.name = board, job_id, published["name"]

    @property
    def status(self) -> str:
        return self._read()["answer"]["status"]

    def to_dict(self, status_url: str = "", download_url: str = "") -> Dict[str, Any]:
        published = self._read()
        answer = published["answer"]
        downloadable = answer["status"] != "running" and published["has_results"]
        return {**answer, "status_url": status_url, **({"download": download_url} if downloadable else {})}

    def cancel(self) -> None:
        self.board.request_cancel(self.id)

    def results(self) -> Optional[BinaryIO]:
        return self.board.results(self.id)

    def wait(self, timeout: Optional[float] = None) -> bool:
        deadline = time.monotonic() + (timeout or 0)
        while self.status == "running":
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True

    def _read(self) -> Dict[str, Any]:
        published = self.board.published(self.id)
        if published is None:  # forgotten since: its owner forgot it or stopped
            return {"name": self.name, "has_results": False,
                    "answer": {"job": self.id, "status": "failed", "error": "the worker running this job has stopped"}}
        return published


class Jobs:
    """The app's jobs: at most ``max_running`` at once, one per visitor."""

    def __init__(self, predictor, *, max_running: int = 2, max_chars: int = 2000,
                 record: Optional[Callable] = None, max_result_bytes: int = 64 * 1024 * 1024,
                 max_columns: int = 50, board: Optional[JobBoard] = None) -> None:
        self.predictor = predictor
        self.max_running = max_running
        self.max_chars = max_chars
        self.max_columns = max_columns
        self.record = record  # history: record(items, results, visitor)
        self.max_result_bytes = max_result_bytes
        self.board: JobBoard = board if board is not None else FolderBoard()
        self._jobs: "OrderedDict[str, Job]" = OrderedDict()
        self._lock = threading.Lock()

    def start(self, upload: Path, name: str, total: int, visitor: str, input_format: str) -> Job:
        """Start predicting ``upload`` (already checked); raises :class:`JobsBusy`."""
        with self._lock:
            self._forget_old()
            running = [job for job in self._jobs.values() if job.status == "running"]
            if any(job.visitor == visitor for job in running):
                raise JobsBusy("you have a file being predicted already; wait for it or cancel it")
            if len(running) >= self.max_running:
                raise JobsBusy(f"{len(running)} files are being predicted already; try again when "
                               "one is done")
            job = Job(name, upload, total, visitor, self.board)
            self._jobs[job.id] = job
        job.publish()
        threading.Thread(target=self._run, args=(job, input_format), name=f"demo_app-job-{job.id[:6]}",
                         daemon=True).start()
        return job

    def get(self, job_id: str) -> "Job | SharedJob | None":
        """This process's job, or another's (on the board)."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is not None:
            return job
        if not JOB_ID.fullmatch(job_id):
            return None  # never a path, nor a name too long for the file system
        published = self.board.published(job_id)
        return SharedJob(self.board, job_id, published) if published is not None else None

    def reader(self, stream, name: str, input_format: str) -> RowReader:
        """A reader of an upload with this app's limits."""
        return RowReader(buffered(stream), name, self.predictor.task, self.predictor.labels, self.max_chars,
                         input_format, max_columns=self.max_columns)

    def new_upload_path(self, input_format: str) -> Path:
        """A new file for an upload, in this process's folder (``job_board.py``), which is
        deleted with the app or when the process exits (uploads and results are visitors' data)."""
        return self.board.folder() / f"{secrets.token_hex(8)}.{input_format}"

    def close(self) -> None:
        """Stop every job and delete the uploads and results (the app may be served again)."""
        with self._lock:
            jobs = list(self._jobs.values())
            self._jobs.clear()
        for job in jobs:
            job.cancel()
        for job in jobs:
            job.wait(10)
        self.board.close()

    def _run(self, job: Job, input_format: str) -> None:
        predictor = self.predictor
        job.report = FileReport.for_predictor(predictor)
        status, error = "done", None
        try:
            with open(job.upload, "rb") as raw, open(job.output, "w", encoding="utf-8", newline="") as out:
                reader = self.reader(raw, job.name, input_format)
                rows = reader.start()
                writer = RowWriter(out, "csv", reader.columns, predictor.task.data.output_columns)
                job.columns = writer.columns
                self._predict_rows(job, reader, rows, writer, out)
            if job.cancelled:
                status = "cancelled"
        except ResultsTooLarge as problem:
            status, error = "failed", str(problem)
        except Exception as problem:  # noqa: BLE001 - the job says why; the server goes on
            if job.cancelled:  # stopped in the middle of a batch
                status = "cancelled"
            else:
                status, error = "failed", f"{type(problem).__name__}: {problem}".rstrip(": ")
        finally:
            job.upload.unlink(missing_ok=True)
            job.report.cancelled = job.cancelled
            job.end(status, error)

    def _predict_rows(self, job: Job, reader: RowReader, rows, writer: RowWriter, out) -> None:
        """Predict, write and preview the rows; record them in the history in batches."""
        predictor = self.predictor
        batch_rows, batch_results = [], []
        options = {"visitor": job.visitor, "background": True, "gone": lambda: job.cancelled}
        for row, result, columns in write_predictions(
                predictor, rows, writer, job.report, chunk_rows=predictor.batch_size,
                cancelled=lambda: job.cancelled, predict_options=options):
            if len(job.preview) < PREVIEW_ROWS:
                cells = {**{c: row.values.get(c) for c in reader.columns}, **(columns or {}),
                         "error": row.problem or ""}
                job.preview.append({c: _shortened(safe_text(v)) for c, v in cells.items()})
            if columns is not None and self.record is not None:
                batch_rows.append(row.item)
                batch_results.append(result)
            if len(batch_rows) >= predictor.batch_size:
                self._record(batch_rows, batch_results, job)
                batch_rows, batch_results = [], []
            if job.report.rows % predictor.batch_size == 0:
                out.flush()  # whole rows on disk: what another process serves if this one dies
                job.publish()  # other workers see the progress
            if out.tell() > self.max_result_bytes:
                raise ResultsTooLarge(f"the results reached {self.max_result_bytes // (1024 * 1024)} MiB "
                                      f"after {job.report.rows} rows (max_file_result_bytes); the rows "
                                      "so far can be downloaded: split the file for the rest")
        self._record(batch_rows, batch_results, job)

    def _record(self, items: List, results: List[Optional[Dict[str, Any]]], job: Job) -> None:
        if items and self.record is not None:
            self.record(items, results, job.visitor)

    def _forget_old(self) -> None:
        now = time.monotonic()
        finished = [job for job in self._jobs.values() if job.status != "running"]
        for job in finished:
            if now - (job.finished or now) > KEEP_SECONDS or len(self._jobs) > KEEP_JOBS:
                self._jobs.pop(job.id, None)
                job.output.unlink(missing_ok=True)
                try:
                    self.board.forget(job.id)
                except Exception:  # noqa: BLE001 - the database is down: its rows go with age
                    pass


def _shortened(value: object) -> object:
    if isinstance(value, str) and len(value) > PREVIEW_CHARS:
        return value[:PREVIEW_CHARS] + "…"
    return value
