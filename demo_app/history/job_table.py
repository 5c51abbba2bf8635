"""File jobs shared through the history's PostgreSQL database, so that replicas on machines that
share nothing else (a Space's, a container host's, behind one load balancer) all answer for
every job: its progress, a cancel request, its results (``files/job_board.py`` says what a board
does; this is the board for a database server).

The process running a job keeps its upload and results in its own folder, as always, and after
every batch writes the job's answer and the results' new bytes here, in one transaction (a
``jobs`` row, ``job_results`` parts); so a job whose process dies keeps what it wrote. Its
owner's heartbeat stamps its running jobs with the database's clock, so machines whose clocks
differ agree on who is gone. Rows of jobs finished over ``KEEP_SECONDS`` ago go at the next start.

Why not a queue library on PostgreSQL (procrastinate, ``SKIP LOCKED`` workers)? A job here is not
queued work any process may take: it runs where its upload is, at once or not at all (429), and
what the others need is to read it; two small tables and a row update per batch do that.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Dict, Optional

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from ..files.job_board import KEEP_SECONDS, OWNER_GONE, FolderBoard, owner_alive, owner_identity
from .migrations import DATABASE_NOW, JOB_RESULTS, JOBS
from .store import History

PART_BYTES = 1 << 20  # the results are stored in parts of at most this size
SPOOL_BYTES = 8 << 20  # a download larger than this is spooled to a temporary file, not memory


class JobTable(FolderBoard):
    """The jobs board in the history's database (see the module's docstring)."""

    def __init__(self, history: History) -> None:
        super().__init__()  # this process's folder: the uploads and results it works on
        self.history = history
        self.owner = json.dumps(owner_identity())
        self._stored: Dict[str, int] = {}  # bytes of each job's results stored so far
        try:
            self._remove_old()
        except sa.exc.SQLAlchemyError:  # down at start: the old rows go next time
            pass

    def publish(self, job_id: str, name: str, answer: Dict[str, Any], results: Path) -> None:
        stored = self._stored.get(job_id, 0)
        with self.history.writing() as connection:
            for start, data in _new_parts(results, stored):
                connection.execute(JOB_RESULTS.insert().values(job_id=job_id, start=start, data=data))
                stored = start + len(data)
            row = {"name": name, "status": answer["status"], "answer": json.dumps(answer, ensure_ascii=False),
                   "owner": self.owner, "heard": DATABASE_NOW, "result_bytes": stored}
            connection.execute(postgresql.insert(JOBS).values(id=job_id, **row)
                               .on_conflict_do_update(index_elements=["id"], set_=row))
        self._stored[job_id] = stored

    def published(self, job_id: str) -> Optional[Dict[str, Any]]:
        with self.history.connected() as connection:
            row = connection.execute(sa.select(JOBS.c.name, JOBS.c.answer, JOBS.c.owner, JOBS.c.heard,
                                               JOBS.c.result_bytes, DATABASE_NOW).where(JOBS.c.id == job_id)).first()
        if row is None:
            return None
        name, answer_json, owner, heard, result_bytes, now = row
        answer = json.loads(answer_json)
        if answer["status"] == "running" and not owner_alive(json.loads(owner), float(now) - heard):
            answer = {**answer, "status": "failed", "error": OWNER_GONE}
        return {"name": name, "answer": answer, "has_results": result_bytes > 0}

    def request_cancel(self, job_id: str) -> None:
        with self.history.writing() as connection:
            connection.execute(JOBS.update().where(JOBS.c.id == job_id).values(cancel=1))

    def cancel_requested(self, job_id: str) -> bool:
        with self.history.connected() as connection:
            return bool(connection.execute(sa.select(JOBS.c.cancel).where(JOBS.c.id == job_id)).scalar())

    def results(self, job_id: str) -> Optional[BinaryIO]:
        """The results CSV, read back from its parts into a file (in memory while small)."""
        spooled: BinaryIO = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # type: ignore[assignment]
        query = sa.select(JOB_RESULTS.c.data).where(JOB_RESULTS.c.job_id == job_id).order_by(JOB_RESULTS.c.start)
        with self.history.connected() as connection:
            for (data,) in connection.execution_options(stream_results=True, yield_per=8).execute(query):
                spooled.write(data)
        if spooled.tell() == 0:
            spooled.close()
            return None
        spooled.seek(0)
        return spooled

    def forget(self, job_id: str) -> None:
        super().forget(job_id)
        self._stored.pop(job_id, None)
        with self.history.writing() as connection:
            connection.execute(JOB_RESULTS.delete().where(JOB_RESULTS.c.job_id == job_id))
            connection.execute(JOBS.delete().where(JOBS.c.id == job_id))

    def beat(self, directory: Path) -> None:
        super().beat(directory)
        with self.history.writing() as connection:
            connection.execute(JOBS.update().where(JOBS.c.owner == self.owner, JOBS.c.status == "running")
                               .values(heard=DATABASE_NOW))

    def _remove_old(self) -> None:
        with self.history.writing() as connection:
            old = JOBS.c.heard < DATABASE_NOW - KEEP_SECONDS
            connection.execute(JOB_RESULTS.delete().where(JOB_RESULTS.c.job_id.in_(sa.select(JOBS.c.id).where(old))))
            connection.execute(JOBS.delete().where(old))


def _new_parts(results: Path, stored: int):
    """The bytes of ``results`` after the first ``stored``, as (start, data) parts."""
    try:
        stream = open(results, "rb")
    except FileNotFoundError:  # published before its first row
        return
    with stream:
        stream.seek(stored)
        for data in iter(lambda: stream.read(PART_BYTES), b""):
            yield stored, data
            stored += len(data)
