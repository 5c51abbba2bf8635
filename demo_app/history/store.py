"""The demo's history (opt-in): every prediction and visitors' corrections, in one SQLite file.

    app = create_app(predictor, history="demo.sqlite")      # or: serve --history demo.sqlite
    python -m demo_app history demo.sqlite --flagged --format nsmc > corrections.txt   (exports.py)

One row per prediction (the ``predictions`` table, README: "History"): when, which task and
model (checkpoint file name and SHA-256), the inputs and outputs as JSON, the latency, where it
came from (``page``, ``api`` or ``file``) and a salted hash of the visitor's address, never the
address itself. A visitor who thinks a result is wrong marks it and gives the right label; that
correction is stored with the row and can be exported as training data in the book's corpus
format. The file uses SQLite's write-ahead log, so several processes (gunicorn workers) can write
to it at once, and each prediction is committed as it is made: a killed server loses at most the
requests it was answering.

The file has a budget (``max_bytes``): past it, the oldest rows nobody flagged are removed to
make room (the file stays about that size, reusing their space), and the owner's view says how
many were. A result too large to be worth keeping whole (``MAX_OUTPUTS_CHARS``: a long NER
sentence's every word piece) keeps only its prediction.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

SOURCES = ("page", "api", "file")
DEFAULT_MAX_BYTES = 200 * 1024 * 1024  # a class's demo is a few MB; Drive's free space is 15 GB
MAX_OUTPUTS_CHARS = 16_384

SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    id          INTEGER PRIMARY KEY,
    time        TEXT NOT NULL,     -- UTC, ISO 8601
    task        TEXT NOT NULL,     -- classification, pair-classification, ner, qa
    model       TEXT NOT NULL,     -- the checkpoint's file name
    model_hash  TEXT NOT NULL,     -- SHA-256 of the checkpoint file (empty when unknown)
    inputs      TEXT NOT NULL,     -- JSON: the task's fields
    outputs     TEXT NOT NULL,     -- JSON: the result as the API returned it
    prediction  TEXT,              -- the label, tagged sentence or answer, for reading
    latency_ms  REAL,
    source      TEXT NOT NULL,     -- page, api or file
    visitor     TEXT,              -- salted SHA-256 of the visitor's address (see visitors.py)
    flagged     INTEGER NOT NULL DEFAULT 0,
    correction  TEXT,              -- the right label, tagged sentence or answer, as given
    flagged_at  TEXT
);
CREATE INDEX IF NOT EXISTS predictions_flagged ON predictions (flagged);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class History:
    """A history file; safe to share between threads and between processes on one machine."""

    def __init__(self, path, *, model: str = "", model_hash: str = "",
                 max_bytes: Optional[int] = DEFAULT_MAX_BYTES) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.model = model
        self.model_hash = model_hash
        self.max_bytes = max_bytes
        self._local = threading.local()
        self._connection().executescript(SCHEMA)
        with self._writing() as connection:
            connection.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('salt', ?)",
                               (secrets.token_hex(16),))
        self._salt = self._connection().execute("SELECT value FROM meta WHERE key = 'salt'").fetchone()[0]

    # -- writing -------------------------------------------------------------------------

    def record(self, task, items: Sequence, results: Sequence[Dict[str, object]], *, source: str,
               visitor: Optional[str] = None, latency_ms: Optional[float] = None) -> List[Tuple[int, str]]:
        """Store one row per (input, result); returns ``(id, flag_token)`` for each, in order.
        ``visitor`` is hashed with this file's salt before it is stored."""
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
        now = _now()
        visitor_hash = self._visitor_hash(visitor) if visitor else None
        share = latency_ms / len(items) if latency_ms is not None and items else latency_ms
        if len(items) != len(results):
            raise ValueError(f"{len(items)} inputs but {len(results)} results")
        rows = []
        for item, result in zip(items, results):
            prediction = task.prediction_text(result)
            outputs = json.dumps(result, ensure_ascii=False)
            if len(outputs) > MAX_OUTPUTS_CHARS:
                outputs = json.dumps({"omitted": f"{len(outputs)} characters: too large to keep"})
            rows.append((now, task.name, self.model, self.model_hash,
                         json.dumps(task.input_record(item), ensure_ascii=False), outputs,
                         None if prediction is None else str(prediction), share, source, visitor_hash))
        if self.max_bytes is not None:
            self.keep_within_budget(incoming=sum(len(row[4]) + len(row[5]) for row in rows) * 2)
        with self._writing() as connection:  # one transaction: all of them or none
            ids = []
            for row in rows:
                cursor = connection.execute(
                    "INSERT INTO predictions (time, task, model, model_hash, inputs, outputs, "
                    "prediction, latency_ms, source, visitor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
                ids.append(cursor.lastrowid)
        return [(row_id, self.flag_token(row_id)) for row_id in ids]

    def keep_within_budget(self, incoming: int = 0) -> int:
        """Make room for ``incoming`` bytes: when the stored rows and they would take more than
        ``max_bytes``, remove the oldest unflagged rows (down to 90% of it, less ``incoming``).
        Returns how many were removed."""
        used = self.used_bytes()
        if self.max_bytes is None or used + incoming <= self.max_bytes:
            return 0
        with self._writing() as connection:
            count = connection.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]
            remove = max(1, int(count * (used + incoming - 0.9 * self.max_bytes) / used))
            removed = connection.execute(
                "DELETE FROM predictions WHERE id IN (SELECT id FROM predictions WHERE flagged = 0 "
                "ORDER BY id LIMIT ?)", (remove,)).rowcount
            connection.execute("INSERT INTO meta (key, value) VALUES ('rolled_off', ?) ON CONFLICT(key) "
                               "DO UPDATE SET value = CAST(value AS INTEGER) + excluded.value", (str(removed),))
        self._connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return removed

    def used_bytes(self) -> int:
        """What the stored rows take in the file (the space of removed rows is reused)."""
        connection = self._connection()
        pages = connection.execute("PRAGMA page_count").fetchone()[0] - connection.execute(
            "PRAGMA freelist_count").fetchone()[0]
        return pages * connection.execute("PRAGMA page_size").fetchone()[0]

    def rolled_off(self) -> int:
        """How many old rows were removed to keep within ``max_bytes``."""
        row = self._connection().execute("SELECT value FROM meta WHERE key = 'rolled_off'").fetchone()
        return int(row[0]) if row else 0

    def flag(self, row_id: int, token: str, correction: Optional[str]) -> bool:
        """Mark a row wrong, with the visitor's correction; False when the token does not match
        (only the visitor who got the result holds it)."""
        if not hmac.compare_digest(self.flag_token(row_id).encode(), str(token).encode("utf-8", "replace")):
            return False
        with self._writing() as connection:
            changed = connection.execute(
                "UPDATE predictions SET flagged = 1, correction = ?, flagged_at = ? WHERE id = ?",
                (correction, _now(), row_id)).rowcount
        return changed == 1

    def flag_token(self, row_id: int) -> str:
        return hmac.new(self._salt.encode(), f"flag:{row_id}".encode(), hashlib.sha256).hexdigest()[:24]

    # -- reading -------------------------------------------------------------------------

    def rows(self, flagged_only: bool = False, newest_first: bool = False,
             limit: Optional[int] = None) -> Iterator[Dict[str, object]]:
        """The stored rows as dicts (``inputs`` and ``outputs`` decoded from JSON)."""
        query = "SELECT * FROM predictions" + (" WHERE flagged = 1" if flagged_only else "")
        query += " ORDER BY id" + (" DESC" if newest_first else "")
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        cursor = self._connection().execute(query)
        names = [column[0] for column in cursor.description]
        for values in cursor:
            row = dict(zip(names, values))
            row["inputs"] = json.loads(row["inputs"])
            row["outputs"] = json.loads(row["outputs"])
            yield row

    def tasks(self) -> List[str]:
        """The tasks whose predictions the history holds."""
        return [row[0] for row in self._connection().execute("SELECT DISTINCT task FROM predictions ORDER BY task")]

    def count(self) -> int:
        return self._connection().execute("SELECT COUNT(*) FROM predictions").fetchone()[0]

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    # -- private -------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection (a forked worker opens its own)."""
        connection = getattr(self._local, "connection", None)
        if connection is None or getattr(self._local, "pid", None) != os.getpid():
            # Autocommit; _writing() opens each write transaction itself.
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across a killed process
            connection.execute("PRAGMA journal_size_limit=8388608")  # the WAL shrinks back after a checkpoint
            connection.execute("PRAGMA busy_timeout=30000")
            self._local.connection, self._local.pid = connection, os.getpid()
        return connection

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. IMMEDIATE takes the write lock at once (waiting up to the busy
        timeout for another process), so two writers never deadlock upgrading a read lock."""
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def _visitor_hash(self, visitor: str) -> str:
        return hashlib.sha256(f"{self._salt}:{visitor}".encode()).hexdigest()[:32]


def model_identity(source: Optional[str]) -> Tuple[str, str]:
    """(file name, SHA-256) of the checkpoint file at ``source`` (or of the lowest-val_loss
    checkpoint in a directory); ("", "") when there is no file to read."""
    if not source:
        return "", ""
    path = Path(source)
    if path.is_dir():
        checkpoints = sorted(path.glob("*.ckpt"))
        if not checkpoints:
            return path.name, ""
        path = checkpoints[0]
    if not path.is_file():
        return path.name, ""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return path.name, digest.hexdigest()


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
