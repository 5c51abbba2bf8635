"""Token buckets kept in PostgreSQL, so that every worker and replica counts a visitor together.

A rate limit counted in each process lets a visitor through N times the limit when N processes
serve the demo. When the history is a PostgreSQL database they already share, the buckets live
there: one row per bucket (a visitor's, everyone's), loaded into the caller's bucket object
(``web/rate_limits.py``'s ``TokenBucket``, whose refill rule applies), taken from (all of them,
or none: ``take_from_all``, which the in-process limiter uses too), and written back, under the
rows' locks (``SELECT ... FOR UPDATE``), all in one transaction. Time is the database's own
clock, so machines whose clocks differ still agree.

Rows of buckets not used for a while are deleted now and then, so the table stays small.
"""

from __future__ import annotations

import random
from typing import Protocol, Sequence, Tuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from .migrations import DATABASE_NOW, RATE_BUCKETS

FORGET_AFTER_S = 2 * 3600  # a bucket unused this long is full again (the longest period is an hour)
CLEAN_ONE_IN = 500  # one take in this many deletes the forgotten rows


class Bucket(Protocol):
    """What ``take_tokens`` loads and takes from: ``web/rate_limits.py``'s ``TokenBucket``."""

    capacity: int
    tokens: float
    updated: float

    def wait(self, now: float) -> float: ...

    def take(self, now: float) -> float: ...


def take_from_all(buckets: Sequence[Bucket], now: float) -> float:
    """One token from each of ``buckets`` if every one has one (0), else none is taken and the
    seconds until all will: a request refused by the server-wide bucket costs the visitor nothing."""
    wait = max(bucket.wait(now) for bucket in buckets)
    if not wait:
        for bucket in buckets:
            bucket.take(now)
    return wait


def take_tokens(connection: sa.Connection, buckets: Sequence[Tuple[str, Bucket]]) -> float:
    """Load each ``(key, bucket)``'s row under its lock, take one request from every one if all
    have a token (0), else from none (the seconds until all will), and write them back. In the
    caller's transaction."""
    now = 0.0
    for key, bucket in buckets:
        connection.execute(postgresql.insert(RATE_BUCKETS)
                           .values(key=key, tokens=float(bucket.capacity), updated=DATABASE_NOW)
                           .on_conflict_do_nothing(index_elements=["key"]))
        tokens, updated, now = connection.execute(
            sa.select(RATE_BUCKETS.c.tokens, RATE_BUCKETS.c.updated, DATABASE_NOW)
            .where(RATE_BUCKETS.c.key == key).with_for_update()).one()
        bucket.tokens, bucket.updated = tokens, updated
    now = max([float(now)] + [bucket.updated for _, bucket in buckets])
    wait = take_from_all([bucket for _, bucket in buckets], now)
    for key, bucket in buckets:
        connection.execute(RATE_BUCKETS.update().where(RATE_BUCKETS.c.key == key)
                           .values(tokens=bucket.tokens, updated=bucket.updated))
    if random.randrange(CLEAN_ONE_IN) == 0:
        connection.execute(RATE_BUCKETS.delete().where(RATE_BUCKETS.c.updated < now - FORGET_AFTER_S))
    return wait
