"""Uploaded data files, predicted in the background: a job per file, with progress and cancel.

The web app (``POST /predict/file``) saves the upload, checks its columns, and starts a
:class:`Job` on its own thread. The job feeds the rows through the same predictor (and so the
same inference thread) as the page's requests, a batch at a time, so visitors' single requests
are served between its batches. It writes a CSV of the rows with their predictions to a
temporary file as it goes; ``GET /jobs/<id>`` reports its progress, ``DELETE /jobs/<id>`` stops
it, ``GET /jobs/<id>/results.csv`` downloads the CSV. Job ids are random: only whoever started
a job can find it. Finished jobs are forgotten (and their files deleted) after ``KEEP_SECONDS``
or when more than ``KEEP_JOBS`` are kept.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
import time
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Dict, List, Optional

from .formats import RowReader, RowWriter, buffered, safe_text
from .predictions import FileReport, write_predictions

KEEP_JOBS = 32
KEEP_SECONDS = 3600
PREVIEW_ROWS = 100  # rows of the result shown on the page; the CSV has them all
PREVIEW_CHARS = 200  # characters of a cell shown on the page; the CSV has them all


class JobsBusy(RuntimeError):
    """Too many files are being predicted already; try again when one is done."""


class Job:
    """One uploaded file being predicted. ``status``: running, done, failed or cancelled."""

    def __init__(self, name: str, upload: Path, output: Path, total: int, visitor: str) -> None:
        self.id = secrets.token_urlsafe(12)
        self.name = name
        self.upload = upload
        self.output = output
        self.total = total
        self.visitor = visitor
        self.status = "running"
        self.error: Optional[str] = None
        self.report = FileReport()
        self.columns: List[str] = []
        self.preview: List[Dict[str, object]] = []
        self.started = time.monotonic()
        self.finished: Optional[float] = None
        self._cancel = threading.Event()
        self._finished = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait until the job ends (up to ``timeout`` s); True if it has."""
        return self._finished.wait(timeout)

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def to_dict(self) -> Dict[str, object]:
        """What ``GET /jobs/<id>`` answers: progress while running, the results when done."""
        elapsed = (self.finished or time.monotonic()) - self.started
        done = self.report.rows
        rate = done / elapsed if elapsed > 0 else 0.0
        answer: Dict[str, object] = {
            "job": self.id, "file": self.name, "status": self.status,
            "progress": {"done": done, "total": max(self.total, done), "rows_per_s": round(rate, 1),
                         "eta_s": round((self.total - done) / rate, 1) if rate and self.status == "running"
                         and self.total > done else None},
            "status_url": f"jobs/{self.id}",
        }
        if self.status == "failed":
            answer["error"] = self.error
        if self.status in ("done", "cancelled"):
            answer.update(self.report.to_dict())
            answer.update(columns=self.columns, preview=self.preview,
                          download=f"jobs/{self.id}/results.csv")
        return answer


class Jobs:
    """The app's jobs: at most ``max_running`` at once, one per visitor."""

    def __init__(self, predictor, *, max_running: int = 2, max_chars: int = 2000,
                 record: Optional[Callable] = None, timeout: Optional[float] = None) -> None:
        self.predictor = predictor
        self.max_running = max_running
        self.max_chars = max_chars
        self.record = record  # history: record(items, results, visitor)
        self.timeout = timeout
        self._directory: Optional[Path] = None  # made at the first upload
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
            job = Job(name, upload, upload.with_suffix(".results.csv"), total, visitor)
            self._jobs[job.id] = job
        threading.Thread(target=self._run, args=(job, input_format), name=f"demo_app-job-{job.id[:6]}",
                         daemon=True).start()
        return job

    def get(self, job_id: str) -> Optional[Job]:
        with self._lock:
            return self._jobs.get(job_id)

    def new_upload_path(self, input_format: str) -> Path:
        """A new file for an upload, in this app's temporary folder, which is deleted with the
        app or when the process exits (uploads and results are visitors' data)."""
        with self._lock:
            if self._directory is None:
                self._directory = Path(tempfile.mkdtemp(prefix="demo_app-jobs-"))
                weakref.finalize(self, shutil.rmtree, str(self._directory), ignore_errors=True)
        return self._directory / f"{secrets.token_hex(8)}.{input_format}"

    def close(self) -> None:
        """Stop every job and delete the uploads and results."""
        for job in list(self._jobs.values()):
            job.cancel()
            job.wait(10)
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)

    def _run(self, job: Job, input_format: str) -> None:
        predictor = self.predictor
        task = predictor.task
        job.report = FileReport.for_predictor(predictor)
        try:
            with open(job.upload, "rb") as raw, open(job.output, "w", encoding="utf-8", newline="") as out:
                reader = RowReader(buffered(raw), job.name, task, predictor.labels, self.max_chars, input_format)
                rows = reader.start()
                writer = RowWriter(out, "csv", reader.columns, task.output_columns)
                job.columns = writer.columns
                batch_rows, batch_results = [], []
                for row, result, columns in write_predictions(
                        predictor, rows, writer, job.report, chunk_rows=predictor.batch_size,
                        timeout=self.timeout, cancelled=lambda: job.cancelled):
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
                self._record(batch_rows, batch_results, job)
            job.report.cancelled = job.cancelled
            job.status = "cancelled" if job.cancelled else "done"
        except Exception as error:  # noqa: BLE001 - the job says why; the server goes on
            job.status, job.error = "failed", f"{type(error).__name__}: {error}"
        finally:
            job.finished = time.monotonic()
            job.upload.unlink(missing_ok=True)
            job._finished.set()

    def _record(self, items: List, results: List[Dict[str, object]], job: Job) -> None:
        if items and self.record is not None:
            self.record(items, results, job.visitor)

    def _forget_old(self) -> None:
        now = time.monotonic()
        finished = [job for job in self._jobs.values() if job.status != "running"]
        for job in finished:
            if now - (job.finished or now) > KEEP_SECONDS or len(self._jobs) > KEEP_JOBS:
                self._jobs.pop(job.id, None)
                job.output.unlink(missing_ok=True)


def _shortened(value: object) -> object:
    if isinstance(value, str) and len(value) > PREVIEW_CHARS:
        return value[:PREVIEW_CHARS] + "…"
    return value
