"""Where the processes serving one demo share their file jobs: progress, cancel requests, results.

Several worker processes (gunicorn ``--workers 4``) or replicas serve one demo: a job runs in the
process that took the upload, and any other finds it, reports it, cancels it and serves its
results. Each process keeps its uploads and results in a folder of its own
(``demo_app-jobs-<pid>-...``) under one root: the machine's temporary folder, or
``$DEMO_APP_JOBS_DIR``. What the others read goes on a *board*:

- :class:`FolderBoard` (this module): the same folder. A job's progress is published there after
  every batch (``<id>.status.json``); cancelling from another process leaves ``<id>.cancel``
  beside it. Processes of one machine, or of several machines that mount one volume as
  ``DEMO_APP_JOBS_DIR``, share it.
- ``history.JobTable``: the PostgreSQL database the history is kept in, when there is one, for
  replicas on machines that share nothing else (a Space's, a container host's).

A process that is killed (``kill -9``, a replica taken away) cannot say its jobs ended. So every
process says it is alive every ``HEARTBEAT_S`` (its folder's ``owner.json`` touched; its jobs'
rows stamped); another process that reads a "running" job whose owner is gone (its pid not
running on this machine, or no sign of life for ``ORPHANED_AFTER_S`` from another) answers it as
failed, with that reason and the rows written so far to download, never "running" forever.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import Any, BinaryIO, Dict, Optional, Protocol

KEEP_SECONDS = 3600  # a finished job's answer and results are kept this long
FOLDER_PREFIX = "demo_app-jobs-"
HEARTBEAT_S = 10.0  # how often a process says it is alive
ORPHANED_AFTER_S = 30.0  # no sign of life for this long: the process is gone
OWNER_GONE = ("the server predicting this file stopped before it was done; the rows it wrote can be "
              "downloaded: upload the file again for the rest")


def jobs_root() -> Path:
    """Where every demo_app process keeps its jobs' folders: ``$DEMO_APP_JOBS_DIR`` (a volume
    shared by replicas), else the machine's temporary folder."""
    return Path(os.environ.get("DEMO_APP_JOBS_DIR") or tempfile.gettempdir())


class JobBoard(Protocol):
    """What the jobs of one process publish and read of every process's jobs."""

    def folder(self) -> Path:
        """This process's folder for uploads and results (made at first use)."""

    def publish(self, job_id: str, name: str, answer: Dict[str, Any], results: Path) -> None:
        """A job's answer (progress, or the end) and the results written so far, for the others."""

    def published(self, job_id: str) -> Optional[Dict[str, Any]]:
        """Another process's job: ``{"name", "answer", "has_results"}``, or None if unknown."""

    def request_cancel(self, job_id: str) -> None: ...

    def cancel_requested(self, job_id: str) -> bool: ...

    def results(self, job_id: str) -> Optional[BinaryIO]:
        """Another process's job's results CSV, open for reading; None if it has none."""

    def forget(self, job_id: str) -> None: ...

    def close(self) -> None: ...


class FolderBoard:
    """Jobs shared through the folder every process sees (see the module's docstring)."""

    def __init__(self) -> None:
        self._directory: Optional[Path] = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()  # ends the heartbeat (close)
        self._heartbeat: Optional[threading.Thread] = None
        remove_abandoned_folders()

    def folder(self) -> Path:
        """This process's folder, deleted with the board or when the process exits (uploads and
        results are visitors' data); its heartbeat starts with it."""
        with self._lock:
            if self._directory is None:
                root = jobs_root()
                root.mkdir(parents=True, exist_ok=True)
                self._directory = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-", dir=root))
                (self._directory / "owner.json").write_text(json.dumps(owner_identity()))
                weakref.finalize(self, shutil.rmtree, str(self._directory), ignore_errors=True)
                self._stopping = threading.Event()  # anew: the app may be served again after close()
                self._heartbeat = threading.Thread(target=self._beat_until_closed, name="demo_app-jobs-heartbeat",
                                                   daemon=True)
                self._heartbeat.start()
            return self._directory

    def publish(self, job_id: str, name: str, answer: Dict[str, Any], results: Path) -> None:
        status = results.with_name(f"{job_id}.status.json")
        temporary = results.with_name(f"{job_id}.status.tmp")
        temporary.write_text(json.dumps({"name": name, "answer": answer}, ensure_ascii=False), encoding="utf-8")
        os.replace(temporary, status)

    def published(self, job_id: str) -> Optional[Dict[str, Any]]:
        status_file = self._status_file(job_id)
        if status_file is None:
            return None
        try:
            published = json.loads(status_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # removed since: the owner forgot it or stopped
            return {"name": "", "has_results": False,
                    "answer": {"job": job_id, "status": "failed", "error": "the worker running this job has stopped"}}
        if published["answer"]["status"] == "running" and not _folder_owner_alive(status_file.parent):
            published["answer"] = {**published["answer"], "status": "failed", "error": OWNER_GONE}
        published["has_results"] = status_file.with_name(f"{job_id}.results.csv").is_file()
        return published

    def request_cancel(self, job_id: str) -> None:
        status_file = self._status_file(job_id)
        if status_file is not None:
            status_file.with_name(f"{job_id}.cancel").touch()

    def cancel_requested(self, job_id: str) -> bool:
        return self._directory is not None and (self._directory / f"{job_id}.cancel").exists()

    def results(self, job_id: str) -> Optional[BinaryIO]:
        status_file = self._status_file(job_id)
        try:
            return open(status_file.with_name(f"{job_id}.results.csv"), "rb") if status_file is not None else None
        except FileNotFoundError:
            return None

    def forget(self, job_id: str) -> None:
        if self._directory is not None:
            for suffix in (".results.csv", ".status.json", ".cancel"):
                (self._directory / f"{job_id}{suffix}").unlink(missing_ok=True)

    def close(self) -> None:
        """Stop the heartbeat and delete this process's folder (the app may be served again)."""
        with self._lock:
            directory, self._directory = self._directory, None
        self._stopping.set()
        if self._heartbeat is not None:
            self._heartbeat.join(5)
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    def beat(self, directory: Path) -> None:
        """Say this process is alive (every ``HEARTBEAT_S``)."""
        os.utime(directory / "owner.json")

    def _beat_until_closed(self) -> None:
        directory = self._directory
        while directory is not None and not self._stopping.wait(HEARTBEAT_S):
            try:
                self.beat(directory)
            except Exception:  # noqa: BLE001 - the folder is gone, or the database is down: later
                if not directory.exists():
                    return

    def _status_file(self, job_id: str) -> Optional[Path]:
        for status_file in jobs_root().glob(f"{FOLDER_PREFIX}*/{job_id}.status.json"):
            return status_file
        return None


def owner_identity() -> Dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def owner_alive(owner: Dict[str, Any], seconds_since_heard: float) -> bool:
    """Whether the process ``owner`` (``owner_identity()``) still runs: on this machine, whether
    its pid does; on another, whether it was heard from in the last ``ORPHANED_AFTER_S``."""
    if owner.get("host") == socket.gethostname() and str(owner.get("pid")).isdigit():
        return _alive(int(owner["pid"]))
    return seconds_since_heard < ORPHANED_AFTER_S


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


def _folder_owner_alive(folder: Path) -> bool:
    try:
        owner = json.loads((folder / "owner.json").read_text())
        touched = (folder / "owner.json").stat().st_mtime
    except (OSError, ValueError):
        return False
    return owner_alive(owner, time.time() - touched)


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
