"""The history's tables, and the steps that bring a database from any earlier version to this one.

The same SQLAlchemy Core definitions make the tables in SQLite and in PostgreSQL. A database
records its version in ``meta`` (``schema_version``); ``migrate`` runs every step after it, in
order, in the caller's transaction, and several processes starting at once take turns (SQLite's
write lock; a PostgreSQL advisory lock). Version 1 is the schema demo_app has written from the
start, so history files made by earlier versions are version 1 as they are.

To change the schema, add a step to ``STEPS`` (never edit a released one): for example
``lambda connection: connection.execute(sa.text("ALTER TABLE predictions ADD COLUMN note TEXT"))``.
"""

from __future__ import annotations

from typing import Callable, List

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

METADATA = sa.MetaData()

PREDICTIONS = sa.Table(
    "predictions", METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("time", sa.Text, nullable=False),  # UTC, ISO 8601
    sa.Column("task", sa.Text, nullable=False),  # classification, pair-classification, ner, qa, ...
    sa.Column("model", sa.Text, nullable=False),  # the checkpoint's file name
    sa.Column("model_hash", sa.Text, nullable=False),  # SHA-256 of the checkpoint file (empty when unknown)
    sa.Column("inputs", sa.Text, nullable=False),  # JSON: the task's fields
    sa.Column("outputs", sa.Text, nullable=False),  # JSON: the result as the API returned it
    sa.Column("prediction", sa.Text),  # the label, tagged sentence or answer, for reading
    sa.Column("latency_ms", sa.Float),
    sa.Column("source", sa.Text, nullable=False),  # page, api or file
    sa.Column("visitor", sa.Text),  # salted SHA-256 of the visitor's address (see web/visitors.py)
    sa.Column("flagged", sa.Integer, nullable=False, server_default="0"),
    sa.Column("correction", sa.Text),  # the right label, tagged sentence or answer, as given
    sa.Column("flagged_at", sa.Text),
    sa.Column("nonce", sa.Text),  # random, made with the row: its flag token is bound to it (step 2)
    sa.Index("predictions_flagged", "flagged"),
)

META = sa.Table(
    "meta", METADATA,
    sa.Column("key", sa.Text, primary_key=True),  # salt, schema_version, rolled_off, missed
    sa.Column("value", sa.Text, nullable=False),
)

RATE_BUCKETS = sa.Table(
    "rate_buckets", METADATA,  # rate limits every worker and replica counts together (buckets.py)
    sa.Column("key", sa.Text, primary_key=True),  # a salted hash of the visitor's key, or "everyone"
    sa.Column("tokens", sa.Float, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),  # the database's clock, seconds since the epoch
)

JOBS = sa.Table(
    "jobs", METADATA,  # file jobs every worker and replica can read (job_table.py)
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),  # the uploaded file's name
    sa.Column("status", sa.Text, nullable=False),  # running, done, failed or cancelled
    sa.Column("answer", sa.Text, nullable=False),  # JSON: what GET /jobs/<id> answers
    sa.Column("owner", sa.Text, nullable=False),  # JSON: host and pid of the process running it
    sa.Column("heard", sa.Float, nullable=False),  # the owner's last sign of life, the database's clock
    sa.Column("cancel", sa.Integer, nullable=False, server_default="0"),  # asked by another process
    sa.Column("result_bytes", sa.BigInteger, nullable=False, server_default="0"),
)

JOB_RESULTS = sa.Table(
    "job_results", METADATA,  # each job's results CSV, in parts as it is written
    sa.Column("job_id", sa.Text, primary_key=True),
    sa.Column("start", sa.BigInteger, primary_key=True),  # the byte of the CSV where the part starts
    sa.Column("data", sa.LargeBinary, nullable=False),
)

# The database's own clock, in seconds since the epoch (PostgreSQL): what every process sharing the
# database agrees on, whatever its machine's clock says (rate buckets, job heartbeats).
DATABASE_NOW = sa.func.extract("epoch", sa.func.clock_timestamp())

# Step n brings version n-1 to version n; step 1 makes the tables (if an older demo_app has not).
STEPS: List[Callable[[sa.Connection], None]] = [
    lambda connection: METADATA.create_all(connection, checkfirst=True),
    # 2: a row's flag token is bound to a nonce made with it, so that a token never flags another
    # row that took a removed row's id. (Tables made by step 1 above already have the column.)
    lambda connection: _add_column(connection, "predictions", "nonce", "TEXT"),
    # 3: rate limits shared by every process that uses this database.
    lambda connection: RATE_BUCKETS.create(connection, checkfirst=True),
    # 4: file jobs shared by every process that uses this database.
    lambda connection: METADATA.create_all(connection, tables=[JOBS, JOB_RESULTS], checkfirst=True),
]
SCHEMA_VERSION = len(STEPS)
_MIGRATION_LOCK = 0x64656D6F  # "demo": the advisory lock PostgreSQL processes take turns on


def migrate(connection: sa.Connection) -> int:
    """Bring the database to ``SCHEMA_VERSION`` inside the caller's transaction; returns it."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
    version = 0
    if sa.inspect(connection).has_table("meta"):
        stored = connection.execute(sa.select(META.c.value).where(META.c.key == "schema_version")).scalar()
        # A file an earlier demo_app made has the tables but no version: it is version 1.
        version = int(stored) if stored else (1 if sa.inspect(connection).has_table("predictions") else 0)
    if version > SCHEMA_VERSION:
        raise RuntimeError(f"this history was written by a newer demo_app (schema version {version}, "
                           f"this one knows {SCHEMA_VERSION}); upgrade demo_app to read it")
    for step in STEPS[version:]:
        step(connection)
    write = dialect_insert(connection, META).values(key="schema_version", value=str(SCHEMA_VERSION))
    connection.execute(write.on_conflict_do_update(index_elements=["key"], set_={"value": str(SCHEMA_VERSION)}))
    return SCHEMA_VERSION


def _add_column(connection: sa.Connection, table: str, column: str, kind: str) -> None:
    if column not in {c["name"] for c in sa.inspect(connection).get_columns(table)}:
        connection.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {column} {kind}"))


def dialect_insert(connection: sa.Connection, table: sa.Table):
    """The database's own INSERT, which knows ``ON CONFLICT`` (SQLite and PostgreSQL)."""
    return (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(table)
