"""Rate limits for a public demo: a token bucket per visitor, and one for the whole server.

A visitor is an IP address that nobody but the visitor's own proxy chose (see ``visitors.py``),
so keys are short and their number is bounded: the least recently seen visitors are forgotten
beyond ``max_visitors``, and each check is O(1). The server-wide bucket caps the total, so a
visitor who rotates addresses cannot multiply the limit.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict
from typing import Optional, Tuple

from ..history.buckets import take_from_all

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour)\s*$")
_SECONDS = {"second": 1, "minute": 60, "hour": 3600}
TOTAL_PER_VISITOR = 10  # the server-wide default: ten visitors' worth of requests


def parse_rate(rate: str) -> Tuple[int, float]:
    """``"60/minute"`` -> ``(60, 60.0)``: at most 60 requests per 60 seconds."""
    match = _RATE.match(rate) if isinstance(rate, str) else None
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"rate limit must look like '60/minute' (or /second, /hour), got {rate!r}")
    return int(match.group(1)), float(_SECONDS[match.group(2)])


class TokenBucket:
    """``capacity`` requests at once, refilled smoothly at ``capacity`` per ``period`` seconds."""

    __slots__ = ("capacity", "refill_per_second", "tokens", "updated")

    def __init__(self, capacity: int, period: float, now: float) -> None:
        self.capacity = capacity
        self.refill_per_second = capacity / period
        self.tokens = float(capacity)
        self.updated = now

    def wait(self, now: float) -> float:
        """0 if a token is there, else the seconds until there is one (takes nothing)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.refill_per_second)
        self.updated = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.refill_per_second

    def take(self, now: float) -> float:
        """Take one token: 0 if there was one, else the seconds until there is."""
        wait = self.wait(now)
        if not wait:
            self.tokens -= 1
        return wait


class RateLimiter:
    """``rate`` per visitor (e.g. ``"60/minute"``) and ``total`` for everyone together.

    ``total`` defaults to ten times ``rate``; ``everyone=False`` has no server-wide bucket (for
    counts that must never spill from one visitor onto others). Thread-safe.
    """

    def __init__(self, rate: str, total: Optional[str] = None, *, max_visitors: int = 10_000,
                 everyone: bool = True) -> None:
        self.rate = rate
        self.capacity, self.period = parse_rate(rate)
        self.total = total or f"{self.capacity * TOTAL_PER_VISITOR}/{_unit(self.period)}"
        self._total_capacity, self._total_period = parse_rate(self.total)
        self.max_visitors = max_visitors
        self._visitors: "OrderedDict[str, TokenBucket]" = OrderedDict()
        self._everyone = TokenBucket(self._total_capacity, self._total_period, time.monotonic()) if everyone else None
        self._lock = threading.Lock()

    def check(self, visitor: str) -> float:
        """Take one request for ``visitor``: 0 if allowed, else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            buckets = [self._bucket(visitor, now)] + ([self._everyone] if self._everyone else [])
            return take_from_all(buckets, now)

    def _bucket(self, visitor: str, now: float) -> TokenBucket:
        bucket = self._visitors.pop(visitor, None)
        if bucket is None:
            bucket = TokenBucket(self.capacity, self.period, now)
            if len(self._visitors) >= self.max_visitors:
                self._visitors.popitem(last=False)  # the visitor seen least recently
        self._visitors[visitor] = bucket  # now the most recently seen
        return bucket

    @property
    def visitors(self) -> int:
        return len(self._visitors)


class SharedRateLimiter(RateLimiter):
    """The same limits, counted in the history's database that every worker and replica shares
    (``history/buckets.py``), so that N processes do not let a visitor through N times. While
    the database cannot be reached, each process counts on its own (the limit still holds per
    process) rather than refusing or waiting."""

    def __init__(self, history, rate: str, total: Optional[str] = None) -> None:
        super().__init__(rate, total)
        self.history = history

    def check(self, visitor: str) -> float:
        from ..history import HistoryError

        now = time.monotonic()  # each bucket's own time comes from the database
        try:
            return self.history.take_tokens(visitor, TokenBucket(self.capacity, self.period, now),
                                            TokenBucket(self._total_capacity, self._total_period, now))
        except HistoryError:
            return super().check(visitor)


def _unit(period: float) -> str:
    return {1.0: "second", 60.0: "minute", 3600.0: "hour"}[period]


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
