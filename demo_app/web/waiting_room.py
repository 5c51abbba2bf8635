"""How many requests may wait for the model at once.

The model's scheduler (``inference/batching.py``) serves a short request between the steps of
long ones, but only a request that reaches it: every request waiting for the model holds one of
the server's threads (waitress: 48), so if waiting requests could take them all, the page,
``/healthz`` and a short question would wait for a thread behind them. So requests are admitted
before they wait: at most ``max_waiting`` at once (fewer than the threads: the rest answer the
page and small requests), of them at most ``max_waiting_large`` large ones (more rows than one
batch: a long context, a long text to write), and at most ``max_waiting_large_per_visitor`` large
ones from one visitor. Past a cap the answer is at once a 503 with ``Retry-After``: nothing waits.
Small requests have no per-visitor cap: a class behind one school address sends many at once,
and they are answered in batches within moments.

Counters under one lock rather than semaphores: the standard library has no semaphore counted
per key, and a refusal must never block.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from typing import Iterator

from .errors import ApiError


class WaitingRoom:
    def __init__(self, max_waiting: int, max_large: int, max_large_per_visitor: int) -> None:
        self.max_waiting, self.max_large, self.max_large_per_visitor = max_waiting, max_large, max_large_per_visitor
        self._lock = threading.Lock()
        self._waiting = 0
        self._large: Counter = Counter()  # visitor -> large requests waiting

    @contextlib.contextmanager
    def admitted(self, visitor: str, large: bool) -> Iterator[None]:
        """Hold a place while the request waits for the model; an ApiError 503 when full."""
        self._enter(visitor, large)
        try:
            yield
        finally:
            self._leave(visitor, large)

    def _enter(self, visitor: str, large: bool) -> None:
        with self._lock:
            if large and self._large[visitor] >= self.max_large_per_visitor:
                raise ApiError(503, f"you already have {self._large[visitor]} long requests waiting for the "
                                    "model; send the next when one is answered", {"Retry-After": "5"})
            if large and sum(self._large.values()) >= self.max_large:
                raise ApiError(503, "the model is busy with long requests; try again shortly", {"Retry-After": "5"})
            if self._waiting >= self.max_waiting:
                raise ApiError(503, "the server is busy; try again shortly", {"Retry-After": "1"})
            self._waiting += 1
            if large:
                self._large[visitor] += 1

    def _leave(self, visitor: str, large: bool) -> None:
        with self._lock:
            self._waiting -= 1
            if large:
                self._large[visitor] -= 1
                if not self._large[visitor]:
                    del self._large[visitor]


__all__ = ["WaitingRoom"]
