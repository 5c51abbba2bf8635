"""Per-client rate limiting for a public demo (a token bucket per client address)."""

from __future__ import annotations

import math
import re
import threading
import time
from typing import Dict, Tuple

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour)\s*$")
_SECONDS = {"second": 1, "minute": 60, "hour": 3600}


def parse_rate(rate: str) -> Tuple[int, float]:
    """``"60/minute"`` -> ``(60, 60.0)``: at most 60 requests per 60 seconds."""
    match = _RATE.match(rate) if isinstance(rate, str) else None
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"rate limit must look like '60/minute' (or /second, /hour), got {rate!r}")
    return int(match.group(1)), float(_SECONDS[match.group(2)])


class RateLimiter:
    """Allows each key ``count`` requests per ``period``, refilling smoothly (a token bucket)."""

    MAX_CLIENTS = 10_000  # forget full buckets beyond this, so memory stays bounded

    def __init__(self, rate: str) -> None:
        self.rate = rate
        self.capacity, period = parse_rate(rate)
        self._refill_per_second = self.capacity / period
        self._buckets: Dict[str, Tuple[float, float]] = {}  # key -> (tokens, last update)
        self._lock = threading.Lock()

    def check(self, key: str) -> float:
        """Take one request for ``key``: 0 if allowed, else the seconds to wait before retrying."""
        now = time.monotonic()
        with self._lock:
            tokens, updated = self._buckets.get(key, (float(self.capacity), now))
            tokens = min(self.capacity, tokens + (now - updated) * self._refill_per_second)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                if len(self._buckets) > self.MAX_CLIENTS:
                    self._forget_idle(now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self._refill_per_second

    def _forget_idle(self, now: float) -> None:
        full_after = self.capacity / self._refill_per_second
        for key, (_, updated) in list(self._buckets.items()):
            if now - updated >= full_after:
                del self._buckets[key]


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
