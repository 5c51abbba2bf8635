"""The demo's history (opt-in): every prediction and visitors' corrections, in a SQLite file or
a PostgreSQL database that several servers share.

    app = create_app(predictor, history="demo.sqlite")      # or: serve --history demo.sqlite
    app = create_app(predictor, history="postgresql://user:password@host/demo")   # replicas share it
    python -m demo_app history demo.sqlite --flagged --format nsmc > corrections.txt   (exports.py)

One row per prediction (the ``predictions`` table, docs/history.md): when, which task and
model (checkpoint file name and SHA-256), the inputs and outputs as JSON, the latency, where it
came from (``page``, ``api`` or ``file``) and a salted hash of the visitor's address, never the
address itself. A visitor who thinks a result is wrong marks it and gives the right label; that
correction is stored with the row and can be exported as training data in the book's corpus
format. Each prediction is committed as it is made (one transaction per request), so a killed
server loses at most the requests it was answering, and several processes (gunicorn workers,
replicas behind a load balancer) write at once: a SQLite file through its write-ahead log on one
machine, PostgreSQL anywhere. The tables are made and upgraded by ``migrations.py``.

A SQLite file has a budget (``max_bytes``): past it, the oldest rows are removed to make room
(the file stays about that size, reusing their space): the oldest nobody flagged first, then,
when flagged rows alone fill it, the oldest flagged ones too, so that flags cannot grow the file
past its budget; the owner's view says how many of each were removed. The newest row is never
removed, so SQLite never gives a removed row's id to a new one; and a row's flag token is bound
to a nonce made with the row as well as to its id. A PostgreSQL database has the same budget,
counted in the bytes of the rows' inputs and outputs (``meta``'s ``stored_bytes``, kept with
every insert and removal in the same transaction: its table's size on disk shrinks only when
the server vacuums, and summing the rows at each insert would read the whole table). A result
too large to be worth keeping whole (``MAX_OUTPUTS_CHARS``: a long NER sentence's every word
piece) keeps only its prediction.
When the database cannot be reached, predictions are still answered; the history counts what
it missed and says so.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import hmac
import json
import os
import secrets
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from ..loading.arguments import find_best_checkpoint
from ..loading.checkpoint import HF_WEIGHT_FILES
from .availability import Availability
from .buckets import Bucket, take_tokens
from .locations import database_url
from .migrations import META, PREDICTIONS, dialect_insert, migrate

SOURCES = ("page", "api", "file")
# What a row counts against the budget on PostgreSQL: its inputs and outputs, in bytes.
_ROW_BYTES = sa.func.octet_length(PREDICTIONS.c.inputs) + sa.func.octet_length(PREDICTIONS.c.outputs)
DEFAULT_MAX_BYTES = 200 * 1024 * 1024  # a class's demo is a few MB; Drive's free space is 15 GB
MAX_OUTPUTS_CHARS = 16_384
HistoryError = SQLAlchemyError  # what a history that cannot be read or written raises
# What a database that cannot be reached raises (refused, timed out, dropped, wrong password).
UNREACHABLE = (sa.exc.OperationalError, sa.exc.InterfaceError)


class History:
    """A history file or database; safe to share between threads and processes."""

    def __init__(self, location, *, model: str = "", model_hash: str = "",
                 max_bytes: Optional[int] = DEFAULT_MAX_BYTES) -> None:
        self.model = model
        self.model_hash = model_hash
        self.engine = _engine(location)
        self.location = self.engine.url.render_as_string(hide_password=True)  # never the password
        database = self.engine.url.database
        self.path = Path(database) if self.engine.dialect.name == "sqlite" and database else None
        self.max_bytes = max_bytes
        self._pid = os.getpid()
        self._missed_lock = threading.Lock()
        self._missed = 0  # predictions answered but not stored, not yet counted in the database
        self._salt = ""
        self.availability = Availability(self._prepare, self.location)
        try:
            self._prepare()
        except UNREACHABLE as error:
            if self.path is not None:
                raise  # a local file that cannot be opened is the user's to fix, now
            self.availability.failed(error)  # a database server: the demo starts without it

    def _prepare(self) -> None:
        """Make or upgrade the tables and read this history's salt (at start, and again when an
        unreachable database answers again)."""
        with self._engine().connect() as connection, self._transaction(connection):
            migrate(connection)
            connection.execute(dialect_insert(connection, META).values(key="salt", value=secrets.token_hex(16))
                               .on_conflict_do_nothing(index_elements=["key"]))
            self._salt = connection.execute(sa.select(META.c.value).where(META.c.key == "salt")).scalar() or ""
            if self.path is None:
                _count_stored_bytes_once(connection)

    # -- writing -------------------------------------------------------------------------

    def record(self, task, items: Sequence, results: Sequence[Dict[str, Any]], *, source: str,
               visitor: Optional[str] = None, latency_ms: Optional[float] = None) -> List[Tuple[int, str]]:
        """Store one row per (input, result); returns ``(id, flag_token)`` for each, in order.
        ``visitor`` is hashed with this history's salt before it is stored. Raises
        ``HistoryError`` (and counts the rows as missed) when the database cannot be written."""
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
        if len(items) != len(results):
            raise ValueError(f"{len(items)} inputs but {len(results)} results")
        rows = self._rows_for(task, items, results, source, visitor, latency_ms)
        incoming = sum(len(row["inputs"].encode()) + len(row["outputs"].encode()) for row in rows)
        try:
            with self.writing() as connection:  # one transaction: room made, all of them or none
                removed = self._make_room(connection, incoming) if self.max_bytes is not None else 0
                ids = [_inserted_id(connection.execute(PREDICTIONS.insert().values(**row))) for row in rows]
                if self.path is None:
                    self._add_to_meta(connection, "stored_bytes", incoming)
                self._count_missed(connection)
            if removed and self.path is not None:
                self._shrink_log()
        except SQLAlchemyError:
            with self._missed_lock:
                self._missed += len(rows)
            raise
        return [(row_id, self.flag_token(row_id, row["nonce"])) for row_id, row in zip(ids, rows)]

    def _rows_for(self, task, items, results, source, visitor, latency_ms) -> List[Dict[str, Any]]:
        now = _now()
        visitor_hash = self._visitor_hash(visitor) if visitor else None
        share = latency_ms / len(items) if latency_ms is not None and items else latency_ms
        rows = []
        for item, result in zip(items, results):
            prediction = task.pipeline.prediction_text(result)
            outputs = json.dumps(result, ensure_ascii=False)
            if len(outputs) > MAX_OUTPUTS_CHARS:
                outputs = json.dumps({"omitted": f"{len(outputs)} characters: too large to keep"})
            rows.append({"time": now, "task": task.name, "model": self.model, "model_hash": self.model_hash,
                         "inputs": json.dumps(task.inputs.input_record(item), ensure_ascii=False), "outputs": outputs,
                         "prediction": None if prediction is None else str(prediction), "latency_ms": share,
                         "source": source, "visitor": visitor_hash, "nonce": secrets.token_hex(8)})
        return rows

    def _make_room(self, connection: sa.Connection, incoming: int) -> int:
        """Make room for ``incoming`` bytes: when the stored rows and they would take more than
        ``max_bytes``, remove the oldest rows (down to 90% of it, less ``incoming``): unflagged
        ones first, then flagged ones, never the newest. Returns how many were removed."""
        assert self.max_bytes is not None  # called only with a budget
        if self.path is None:
            used = self._locked_stored_bytes(connection)
        else:
            used, incoming = _sqlite_used_bytes(connection), incoming * 2  # pages and indexes too
        if used + incoming <= self.max_bytes:
            return 0
        count = connection.execute(sa.select(sa.func.count()).select_from(PREDICTIONS)).scalar_one()
        remove = min(max(1, int(count * (used + incoming - 0.9 * self.max_bytes) / used)), count - 1)
        newest = sa.select(sa.func.max(PREDICTIONS.c.id)).scalar_subquery()
        removed: Dict[int, int] = {}
        for flagged in (0, 1):
            oldest = (sa.select(PREDICTIONS.c.id).where(PREDICTIONS.c.flagged == flagged, PREDICTIONS.c.id < newest)
                      .order_by(PREDICTIONS.c.id).limit(max(0, remove - sum(removed.values()))))
            delete = PREDICTIONS.delete().where(PREDICTIONS.c.id.in_(oldest))
            if self.path is None:
                deleted = connection.execute(delete.returning(_ROW_BYTES)).scalars().all()
                self._add_to_meta(connection, "stored_bytes", -sum(deleted))
                removed[flagged] = len(deleted)
            else:
                removed[flagged] = connection.execute(delete).rowcount
        self._add_to_meta(connection, "rolled_off", removed[0] + removed[1])
        self._add_to_meta(connection, "flagged_rolled_off", removed[1])
        return removed[0] + removed[1]

    def _shrink_log(self) -> None:
        """Copy the write-ahead log into the file and empty it, so that the removed rows' space
        is reused rather than the log growing (outside a transaction: SQLite requires it)."""
        with self.connected() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def used_bytes(self) -> int:
        """What the stored rows take, as the budget counts it: in a SQLite file (the space of
        removed rows is reused), or their inputs' and outputs' bytes in PostgreSQL."""
        with self.connected() as connection:
            if self.path is None:
                stored = connection.execute(sa.select(META.c.value).where(META.c.key == "stored_bytes")).scalar()
                return int(stored or 0)
            return _sqlite_used_bytes(connection)

    def _locked_stored_bytes(self, connection: sa.Connection) -> int:
        """PostgreSQL's ``stored_bytes``, its row locked until the transaction ends (so that
        replicas making room at once take turns)."""
        locked = sa.select(META.c.value).where(META.c.key == "stored_bytes").with_for_update()
        return int(connection.execute(locked).scalar() or 0)

    def rolled_off(self) -> int:
        """How many old rows were removed to keep within ``max_bytes``."""
        return int(self._meta("rolled_off") or 0)

    def flagged_rolled_off(self) -> int:
        """How many of those had been flagged (removed only when flagged rows filled the budget)."""
        return int(self._meta("flagged_rolled_off") or 0)

    def missed(self) -> int:
        """Predictions answered while the database could not be written, so not stored."""
        with self._missed_lock:
            pending = self._missed
        try:
            return int(self._meta("missed") or 0) + pending
        except SQLAlchemyError:
            return pending

    def flag(self, row_id: int, token: str, correction: Optional[str],
             check: Optional[Callable[[Dict[str, Any]], None]] = None) -> bool:
        """Mark a row wrong, with the visitor's correction; False when the token does not match
        (only the visitor who got the result holds it). ``check(inputs)`` may refuse the
        correction for that row's inputs with a ValueError (nothing is written then)."""
        with self.writing() as connection:
            row = connection.execute(sa.select(PREDICTIONS.c.nonce, PREDICTIONS.c.inputs)
                                     .where(PREDICTIONS.c.id == row_id)).first()
            if row is None or not hmac.compare_digest(self.flag_token(row_id, row.nonce).encode(),
                                                      str(token).encode("utf-8", "replace")):
                return False
            if check is not None and correction is not None:
                check(json.loads(row.inputs))  # a ValueError rolls the transaction back
            changed = connection.execute(
                PREDICTIONS.update().where(PREDICTIONS.c.id == row_id, _same(PREDICTIONS.c.nonce, row.nonce))
                .values(flagged=1, correction=correction, flagged_at=_now())).rowcount
        return changed == 1

    def flag_token(self, row_id: int, nonce: Optional[str]) -> str:
        """The token that flags row ``row_id`` made with ``nonce`` (rows written before nonces
        were kept have none), and no other row."""
        message = f"flag:{row_id}" if nonce is None else f"flag:{row_id}:{nonce}"
        return hmac.new(self._salt.encode(), message.encode(), hashlib.sha256).hexdigest()[:24]

    # -- reading -------------------------------------------------------------------------

    def rows(self, flagged_only: bool = False, newest_first: bool = False,
             limit: Optional[int] = None, model_hash: Optional[str] = None) -> Iterator[Dict[str, Any]]:
        """The stored rows as dicts (``inputs`` and ``outputs`` decoded from JSON), streamed;
        those of one model only with ``model_hash`` (several demos may share a database)."""
        query = _of_model(sa.select(PREDICTIONS), model_hash)
        if flagged_only:
            query = query.where(PREDICTIONS.c.flagged == 1)
        query = query.order_by(PREDICTIONS.c.id.desc() if newest_first else PREDICTIONS.c.id)
        if limit is not None:
            query = query.limit(int(limit))
        with self.connected() as connection:
            for values in connection.execution_options(stream_results=True, yield_per=500).execute(query):
                row = dict(values._mapping)
                row["inputs"] = json.loads(row["inputs"])
                row["outputs"] = json.loads(row["outputs"])
                yield row

    @property
    def shared_by_servers(self) -> bool:
        """Whether this history is a database server several processes and machines share."""
        return self.path is None

    def take_tokens(self, visitor: str, visitor_bucket: Bucket, everyone_bucket: Bucket) -> float:
        """A request from ``visitor`` taken from their rate limit's bucket, then everyone's, as
        counted in the shared database (``buckets.py``), in one transaction: 0, or the seconds to
        wait. Only on a database server; raises ``HistoryError`` when it cannot be reached."""
        assert self.shared_by_servers
        keyed = [(_bucket_key(self._visitor_hash(visitor), visitor_bucket), visitor_bucket),
                 (_bucket_key("everyone", everyone_bucket), everyone_bucket)]
        with self.writing() as connection:
            return take_tokens(connection, keyed)

    def tasks(self) -> List[str]:
        """The tasks whose predictions the history holds."""
        with self.connected() as connection:
            tasks = sa.select(PREDICTIONS.c.task).distinct().order_by(PREDICTIONS.c.task)
            return list(connection.execute(tasks).scalars())

    def count(self, model_hash: Optional[str] = None) -> int:
        """How many rows are stored; of one model only with ``model_hash``."""
        query = _of_model(sa.select(sa.func.count()).select_from(PREDICTIONS), model_hash)
        with self.connected() as connection:
            return connection.execute(query).scalar_one()

    def close(self) -> None:
        self.engine.dispose()

    # -- private -------------------------------------------------------------------------

    def _engine(self) -> sa.Engine:
        """The engine, its pooled connections not inherited from a parent process (a forked
        gunicorn worker opens its own)."""
        if self._pid != os.getpid():
            self.engine.dispose(close=False)
            self._pid = os.getpid()
        return self.engine

    @contextlib.contextmanager
    def connected(self) -> Iterator[sa.Connection]:
        """A connection (for the tables kept beside the history too: ``buckets``, ``job_table``),
        unless the database is known to be unreachable (``HistoryDown`` at
        once); a connection failure marks it so (``availability.py``)."""
        self.availability.check()
        try:
            with self._engine().connect() as connection:
                yield connection
        except UNREACHABLE as error:
            if self.path is None:
                self.availability.failed(error)
            raise

    @contextlib.contextmanager
    def writing(self) -> Iterator[sa.Connection]:
        """One write transaction (``_transaction``) on a connection from ``connected``."""
        with self.connected() as connection, self._transaction(connection):
            yield connection

    @contextlib.contextmanager
    def _transaction(self, connection: sa.Connection) -> Iterator[None]:
        """On SQLite, BEGIN IMMEDIATE takes the write lock at once (waiting up to the busy
        timeout for another process), so two writers never deadlock upgrading a read lock."""
        if self.path is None:
            with connection.begin():
                yield
            return
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            connection.exec_driver_sql("ROLLBACK")
            raise
        connection.exec_driver_sql("COMMIT")

    def _meta(self, key: str) -> Optional[str]:
        with self.connected() as connection:
            return connection.execute(sa.select(META.c.value).where(META.c.key == key)).scalar()

    def _add_to_meta(self, connection: sa.Connection, key: str, amount: int) -> None:
        insert = dialect_insert(connection, META).values(key=key, value=str(amount))
        total = sa.cast(sa.cast(META.c.value, sa.Integer) + sa.cast(insert.excluded.value, sa.Integer), sa.Text)
        connection.execute(insert.on_conflict_do_update(index_elements=["key"], set_={"value": total}))

    def _count_missed(self, connection: sa.Connection) -> None:
        """Once the database answers again, what was missed meanwhile is counted in it."""
        with self._missed_lock:
            missed, self._missed = self._missed, 0
        if missed:
            self._add_to_meta(connection, "missed", missed)

    def _visitor_hash(self, visitor: str) -> str:
        return hashlib.sha256(f"{self._salt}:{visitor}".encode()).hexdigest()[:32]


def _of_model(query: sa.Select, model_hash: Optional[str]) -> sa.Select:
    """``query`` restricted to the rows of the model ``model_hash`` (all of them for None)."""
    return query if model_hash is None else query.where(PREDICTIONS.c.model_hash == model_hash)


def _bucket_key(owner: str, bucket) -> str:
    """A bucket's row: whose it is and its rate (a changed limit starts a new bucket)."""
    return f"{bucket.capacity}/{bucket.capacity / bucket.refill_per_second:g}s:{owner}"


def _count_stored_bytes_once(connection: sa.Connection) -> None:
    """PostgreSQL's ``stored_bytes``, counted from the rows the first time a demo_app with the
    budget opens the database; kept up to date by every insert and removal after that."""
    if connection.execute(sa.select(META.c.value).where(META.c.key == "stored_bytes")).scalar() is None:
        total = connection.execute(sa.select(sa.func.coalesce(sa.func.sum(_ROW_BYTES), 0))).scalar_one()
        connection.execute(dialect_insert(connection, META).values(key="stored_bytes", value=str(int(total)))
                           .on_conflict_do_nothing(index_elements=["key"]))


def _sqlite_used_bytes(connection: sa.Connection) -> int:
    """The bytes of a SQLite file's pages in use (its free list is reused before it grows)."""
    pages = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
    free = connection.exec_driver_sql("PRAGMA freelist_count").scalar_one()
    return (pages - free) * connection.exec_driver_sql("PRAGMA page_size").scalar_one()


def _engine(location) -> sa.Engine:
    """A SQLAlchemy engine for a file path (SQLite, its write-ahead log on) or a database URL
    (PostgreSQL through psycopg 3; ``locations.py``)."""
    url = database_url(str(location))
    if url.get_backend_name() == "postgresql":
        # A dropped connection is noticed within seconds, not TCP's minutes (libpq's own settings).
        return sa.create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=8,
                                connect_args={"connect_timeout": 5, "tcp_user_timeout": 5000, "keepalives": 1,
                                              "keepalives_idle": 10, "keepalives_interval": 2, "keepalives_count": 3})
    path = Path(url.database or "")
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, record):
        dbapi_connection.isolation_level = None  # demo_app's _writing() opens each transaction itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across a killed process
        cursor.execute("PRAGMA journal_size_limit=8388608")  # the WAL shrinks back after a checkpoint
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine


def model_identity(source: Optional[str]) -> Tuple[str, str]:
    """(file name, SHA-256) of the weights the model was loaded from: the checkpoint file at
    ``source``, the lowest-val_loss checkpoint of a folder (the one served), or the weights file
    of a ``save_pretrained`` folder or an export (named by its folder); ("", "") without one."""
    if not source:
        return "", ""
    path = Path(source)
    name = path.name
    if path.is_dir():
        weights = [path / file for file in HF_WEIGHT_FILES if (path / file).is_file()]
        if weights:
            path = weights[0]
        else:
            try:
                path = find_best_checkpoint(path)
            except FileNotFoundError:
                return name, ""
            name = path.name
    if not path.is_file():
        return name, ""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return name, digest.hexdigest()


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def _inserted_id(result: sa.CursorResult) -> int:
    """The id the database gave the row ``result`` inserted."""
    key = result.inserted_primary_key
    assert key is not None  # an INSERT of one row
    return int(key[0])


def _same(column: sa.Column, value: Optional[str]) -> sa.ColumnElement[bool]:
    """``column`` equals ``value``, NULL included (SQL's ``=`` is never true for NULL)."""
    return column.is_(None) if value is None else column == value
