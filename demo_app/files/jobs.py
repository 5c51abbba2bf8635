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

Several worker processes (gunicorn ``--workers 4``) or replicas serve one demo: a job runs in the
worker that took the upload, and any other finds it, reports it, cancels it and serves its
results. Each process keeps its jobs in a folder of its own (``demo_app-jobs-<pid>-...``) under
one root, the machine's temporary folder, or ``$DEMO_APP_JOBS_DIR``: a volume shared by
replicas on several machines. A job's progress is published there after every batch
(``<id>.status.json``); cancelling from another worker leaves ``<id>.cancel`` beside it.

A process that is killed (``kill -9``, a replica taken away) cannot say its jobs ended. So every
process touches its folder's ``owner.json`` every ``HEARTBEAT_S``; another process that reads a
"running" job whose owner is gone (its pid not running on this machine, or its heartbeat older
than ``ORPHANED_AFTER_S`` on another) answers it as failed, with that reason and the rows written
so far to download, never "running" forever.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import tempfile
import threading
import time
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from .predictions import FileReport, write_predictions
from .reading import RowReader
from .text_source import buffered
from .writing import RowWriter, safe_text

KEEP_JOBS = 8
KEEP_SECONDS = 3600
PREVIEW_ROWS = 20  # rows of the result shown on the page; the CSV has them all
PREVIEW_CHARS = 200  # characters of a cell shown on the page; the CSV has them all
MAX_PROBLEMS = 50  # bad-row messages in a job's answer; all are counted
MAX_PROBLEM_CHARS = 300
FOLDER_PREFIX = "demo_app-jobs-"
JOB_ID = re.compile(r"[A-Za-z0-9_-]{16}")  # secrets.token_urlsafe(12)
CANCEL_CHECK_S = 0.5  # how often a running job looks for another worker's cancel marker
HEARTBEAT_S = 10.0  # how often a process says it is alive (owner.json's time)
ORPHANED_AFTER_S = 30.0  # a heartbeat older than this: its process is gone


def jobs_root() -> Path:
    """Where every demo_app process keeps its jobs' folders: ``$DEMO_APP_JOBS_DIR`` (a volume
    shared by replicas), else the machine's temporary folder."""
    return Path(os.environ.get("DEMO_APP_JOBS_DIR") or tempfile.gettempdir())


class JobsBusy(RuntimeError):
    """Too many files are being predicted already; try again when one is done."""


class ResultsTooLarge(RuntimeError):
    """The results file reached its size limit."""


class Job:
    """One uploaded file being predicted. ``status``: running, done, failed or cancelled."""

    def __init__(self, name: str, upload: Path, total: int, visitor: str) -> None:
        self.id = secrets.token_urlsafe(12)  # 16 characters: JOB_ID
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
        """Write the job's answer where other workers read it (``SharedJob``)."""
        status = self.output.with_name(f"{self.id}.status.json")
        temporary = self.output.with_name(f"{self.id}.status.tmp")
        temporary.write_text(json.dumps({"name": self.name, "answer": self._answer or self._progress()},
                                        ensure_ascii=False), encoding="utf-8")
        os.replace(temporary, status)

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait until the job ends (up to ``timeout`` s); True if it has."""
        return self._finished.wait(timeout)

    @property
    def cancelled(self) -> bool:
        """Cancelled here, or by another worker (its marker file, looked for twice a second)."""
        if not self._cancel.is_set() and time.monotonic() - self._cancel_checked > CANCEL_CHECK_S:
            self._cancel_checked = time.monotonic()
            if self.output.with_name(f"{self.id}.cancel").exists():
                self._cancel.set()
        return self._cancel.is_set()

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
        try:
            self.publish()
        except OSError:  # the folder is gone (the server is stopping): nobody else asks
            pass
        self._finished.set()


class SharedJob:
    """Another worker's job, read from what it publishes: the same answers as a :class:`Job`."""

    def __init__(self, status_file: Path) -> None:
        self.status_file = status_file
        self.id = status_file.name[:-len(".status.json")]
        self.output = status_file.with_name(f"{self.id}.results.csv")
        self.name = self._read()["name"]

    @property
    def status(self) -> str:
        return self._read()["answer"]["status"]

    def to_dict(self, status_url: str = "", download_url: str = "") -> Dict[str, Any]:
        answer = self._read()["answer"]
        downloadable = answer["status"] != "running" and self.output.is_file()
        return {**answer, "status_url": status_url, **({"download": download_url} if downloadable else {})}

    def cancel(self) -> None:
        self.status_file.with_name(f"{self.id}.cancel").touch()

    def wait(self, timeout: Optional[float] = None) -> bool:
        deadline = time.monotonic() + (timeout or 0)
        while self.status == "running":
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True

    def _read(self) -> Dict[str, Any]:
        try:
            published = json.loads(self.status_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # removed since: the owner forgot it or stopped
            return {"name": "", "answer": {"job": self.id, "status": "failed",
                                           "error": "the worker running this job has stopped"}}
        if published["answer"]["status"] == "running" and not _owner_alive(self.status_file.parent):
            published["answer"] = {**published["answer"], "status": "failed",
                                   "error": "the server predicting this file stopped before it was done; the rows "
                                            "it wrote can be downloaded: upload the file again for the rest"}
        return published


class Jobs:
    """The app's jobs: at most ``max_running`` at once, one per visitor."""

    def __init__(self, predictor, *, max_running: int = 2, max_chars: int = 2000,
                 record: Optional[Callable] = None, max_result_bytes: int = 64 * 1024 * 1024,
                 max_columns: int = 50) -> None:
        self.predictor = predictor
        self.max_running = max_running
        self.max_chars = max_chars
        self.max_columns = max_columns
        self.record = record  # history: record(items, results, visitor)
        self.max_result_bytes = max_result_bytes
        self._directory: Optional[Path] = None  # made at the first upload
        self._jobs: "OrderedDict[str, Job]" = OrderedDict()
        self._lock = threading.Lock()
        self._stopping = threading.Event()  # ends the heartbeat (close)
        self._heartbeat: Optional[threading.Thread] = None
        remove_abandoned_folders()

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
            job = Job(name, upload, total, visitor)
            self._jobs[job.id] = job
        job.publish()
        threading.Thread(target=self._run, args=(job, input_format), name=f"demo_app-job-{job.id[:6]}",
                         daemon=True).start()
        return job

    def get(self, job_id: str) -> "Job | SharedJob | None":
        """This process's job, or another worker's (published under the same root)."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is not None:
            return job
        if not JOB_ID.fullmatch(job_id):
            return None  # never a path, nor a name too long for the file system
        for status_file in jobs_root().glob(f"{FOLDER_PREFIX}*/{job_id}.status.json"):
            return SharedJob(status_file)
        return None

    def reader(self, stream, name: str, input_format: str) -> RowReader:
        """A reader of an upload with this app's limits."""
        return RowReader(buffered(stream), name, self.predictor.task, self.predictor.labels, self.max_chars,
                         input_format, max_columns=self.max_columns)

    def new_upload_path(self, input_format: str) -> Path:
        """A new file for an upload, in this app's folder (see the module's docstring), which is
        deleted with the app or when the process exits (uploads and results are visitors' data)."""
        with self._lock:
            if self._directory is None:
                root = jobs_root()
                root.mkdir(parents=True, exist_ok=True)
                self._directory = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-", dir=root))
                owner = self._directory / "owner.json"
                owner.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))
                weakref.finalize(self, shutil.rmtree, str(self._directory), ignore_errors=True)
                self._stopping = threading.Event()  # anew: the app may be served again after close()
                self._heartbeat = threading.Thread(target=_heartbeat, args=(owner, self._stopping),
                                                   name="demo_app-jobs-heartbeat", daemon=True)
                self._heartbeat.start()
        return self._directory / f"{secrets.token_hex(8)}.{input_format}"

    def close(self) -> None:
        """Stop every job and delete the uploads and results (the app may be served again)."""
        with self._lock:
            jobs = list(self._jobs.values())
            self._jobs.clear()
            directory, self._directory = self._directory, None
        for job in jobs:
            job.cancel()
        for job in jobs:
            job.wait(10)
        self._stopping.set()
        if self._heartbeat is not None:
            self._heartbeat.join(5)
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

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
                for path in (job.output, job.output.with_name(f"{job.id}.status.json"),
                             job.output.with_name(f"{job.id}.cancel")):
                    path.unlink(missing_ok=True)


def remove_abandoned_folders() -> None:
    """Delete the job folders of demo_app servers that are gone (killed before they could clean
    up): on this machine, those whose process is not running; on a volume shared with other
    machines, those nobody has written to for ``KEEP_SECONDS``."""
    host = socket.gethostname()
    for folder in jobs_root().glob(f"{FOLDER_PREFIX}*"):
        try:
            owner = json.loads((folder / "owner.json").read_text())
        except (OSError, ValueError):
            owner = {"host": host, "pid": folder.name[len(FOLDER_PREFIX):].split("-", 1)[0]}
        pid = str(owner.get("pid"))
        if owner.get("host") == host:
            gone = pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid))
        else:
            gone = time.time() - folder.stat().st_mtime > KEEP_SECONDS
        if gone:
            shutil.rmtree(folder, ignore_errors=True)


def _heartbeat(owner: Path, stopping: threading.Event) -> None:
    """Touch ``owner`` every HEARTBEAT_S until the app's jobs close or their folder is gone."""
    while not stopping.wait(HEARTBEAT_S):
        try:
            os.utime(owner)
        except OSError:
            return


def _owner_alive(folder: Path) -> bool:
    """Whether the process that made a jobs folder still runs (see the module's docstring)."""
    try:
        owner = json.loads((folder / "owner.json").read_text())
        touched = (folder / "owner.json").stat().st_mtime
    except (OSError, ValueError):
        return False
    if owner.get("host") == socket.gethostname() and str(owner.get("pid")).isdigit():
        return _alive(int(owner["pid"]))
    return time.time() - touched < ORPHANED_AFTER_S


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs: it exists and is not a zombie (a killed process whose
    parent has not collected it, as under a container's init that never does, still exists)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS): it exists
    return state not in ("Z", "X")


def _shortened(value: object) -> object:
    if isinstance(value, str) and len(value) > PREVIEW_CHARS:
        return value[:PREVIEW_CHARS] + "…"
    return value
