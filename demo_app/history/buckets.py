"""Token buckets kept in PostgreSQL, so that every worker and replica counts a visitor together.

A rate limit counted in each process lets a visitor through N times the limit when N processes
serve the demo. When the history is a PostgreSQL database they already share, the buckets live
there: one row per visitor (and one for everyone), read and written under the row's lock
(``SELECT ... FOR UPDATE``), refilled by the database's own clock so that machines whose clocks
differ still agree. The same refill rule as ``web/rate_limits.py``'s ``TokenBucket``.

Rows of visitors not seen for a while are deleted now and then, so the table stays small.
"""

from __future__ import annotations

import random

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from .migrations import RATE_BUCKETS

_NOW = sa.func.extract("epoch", sa.func.clock_timestamp())
FORGET_AFTER_PERIODS = 2  # a bucket unused this many periods is full again: its row can go
CLEAN_ONE_IN = 500  # one take in this many deletes the forgotten rows


def take_token(connection: sa.Connection, key: str, capacity: int, period: float) -> float:
    """Take one request from ``key``'s bucket (``capacity`` per ``period`` seconds): 0 if it
    had one, else the seconds until it will (nothing taken). In the caller's transaction."""
    connection.execute(postgresql.insert(RATE_BUCKETS).values(key=key, tokens=float(capacity), updated=_NOW)
                       .on_conflict_do_nothing(index_elements=["key"]))
    tokens, updated, now = connection.execute(
        sa.select(RATE_BUCKETS.c.tokens, RATE_BUCKETS.c.updated, _NOW)
        .where(RATE_BUCKETS.c.key == key).with_for_update()).one()
    refill_per_second = capacity / period
    tokens = min(float(capacity), tokens + max(0.0, float(now) - updated) * refill_per_second)
    wait = 0.0 if tokens >= 1 else (1 - tokens) / refill_per_second
    connection.execute(RATE_BUCKETS.update().where(RATE_BUCKETS.c.key == key)
                       .values(tokens=tokens - (0 if wait else 1), updated=float(now)))
    if random.randrange(CLEAN_ONE_IN) == 0:
        connection.execute(RATE_BUCKETS.delete().where(RATE_BUCKETS.c.updated < float(now) - FORGET_AFTER_PERIODS
                                                       * period))
    return wait
