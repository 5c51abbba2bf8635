"""Token buckets kept in PostgreSQL, so that every worker and replica counts a visitor together.

A rate limit counted in each process lets a visitor through N times the limit when N processes
serve the demo. When the history is a PostgreSQL database they already share, the buckets live
there: one row per bucket (a visitor's, everyone's), loaded into the caller's bucket object
(``web/rate_limits.py``'s ``TokenBucket``, whose refill rule applies), taken from, and written
back, under the row's lock (``SELECT ... FOR UPDATE``), all in one transaction. Time is the
database's own clock, so machines whose clocks differ still agree.

Rows of buckets not used for a while are deleted now and then, so the table stays small.
"""

from __future__ import annotations

import random
from typing import Protocol, Sequence, Tuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from .migrations import RATE_BUCKETS

_NOW = sa.func.extract("epoch", sa.func.clock_timestamp())
FORGET_AFTER_S = 2 * 3600  # a bucket unused this long is full again (the longest period is an hour)
CLEAN_ONE_IN = 500  # one take in this many deletes the forgotten rows


class Bucket(Protocol):
    """What ``take_tokens`` loads and takes from: ``web/rate_limits.py``'s ``TokenBucket``."""

    capacity: int
    tokens: float
    updated: float

    def take(self, now: float) -> float: ...


def take_tokens(connection: sa.Connection, buckets: Sequence[Tuple[str, Bucket]]) -> float:
    """Take one request from each ``(key, bucket)`` in turn, stopping at the first that has
    none: 0 if every one had a token, else the seconds until it will. In the caller's transaction."""
    now = 0.0
    for key, bucket in buckets:
        connection.execute(postgresql.insert(RATE_BUCKETS)
                           .values(key=key, tokens=float(bucket.capacity), updated=_NOW)
                           .on_conflict_do_nothing(index_elements=["key"]))
        tokens, updated, now = connection.execute(
            sa.select(RATE_BUCKETS.c.tokens, RATE_BUCKETS.c.updated, _NOW)
            .where(RATE_BUCKETS.c.key == key).with_for_update()).one()
        bucket.tokens, bucket.updated = tokens, updated
        wait = bucket.take(max(float(now), updated))
        connection.execute(RATE_BUCKETS.update().where(RATE_BUCKETS.c.key == key)
                           .values(tokens=bucket.tokens, updated=bucket.updated))
        if wait:
            return wait
    if random.randrange(CLEAN_ONE_IN) == 0:
        connection.execute(RATE_BUCKETS.delete().where(RATE_BUCKETS.c.updated < float(now) - FORGET_AFTER_S))
    return 0.0
