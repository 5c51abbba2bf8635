"""Whether the history's database answers, so that an outage costs one failed try, not one per request.

The history is optional: the demo must answer at its usual latency while the database is down or
unreachable (a dropped packet costs a connect timeout, 5 s, on every request that tries). So the
first failure marks it down; until it is back every history operation fails at once
(``HistoryDown``), and one background thread tries to reach it again, waiting 1 s, then 2, 4, ...
up to 30 s between tries. A database that is down when the demo starts is handled the same way:
the demo serves without it and the history comes back on its own. This is a circuit breaker,
kept to these few lines rather than a dependency (pybreaker's half-open state would still let a
visitor's request pay for the probe).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional

from sqlalchemy.exc import SQLAlchemyError

logger = logging.getLogger("demo_app.history")
FIRST_RETRY_S = 1.0
LONGEST_RETRY_S = 30.0


class HistoryDown(SQLAlchemyError):
    """The history's database could not be reached a moment ago; it is being retried."""


class Availability:
    """Up or down, and the reconnecting thread while down. ``reconnect()`` is whatever makes the
    history usable again (connect, migrate); it raises while the database cannot be reached."""

    def __init__(self, reconnect: Callable[[], None], where: str) -> None:
        self._reconnect, self._where = reconnect, where
        self._lock = threading.Lock()
        self._down_since: Optional[float] = None
        self._thread: Optional[threading.Thread] = None
        self.last_error = ""

    @property
    def up(self) -> bool:
        return self._down_since is None

    def check(self) -> None:
        """Raise ``HistoryDown`` at once while the database is known to be unreachable."""
        if self._down_since is not None:
            raise HistoryDown(f"the history at {self._where} cannot be reached ({self.last_error}); retrying")

    def failed(self, error: BaseException) -> None:
        """The database did not answer: mark it down and start trying again in the background."""
        with self._lock:
            self.last_error = type(error).__name__  # the message may name the server or the user
            if self._down_since is None:
                self._down_since = time.monotonic()
                logger.warning("history unreachable at %s (%s): predictions go on without it; retrying",
                               self._where, self.last_error)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._retry, name="demo_app-history-retry", daemon=True)
                self._thread.start()

    def _retry(self) -> None:
        delay = FIRST_RETRY_S
        while True:
            time.sleep(delay)
            try:
                self._reconnect()
            except SQLAlchemyError as error:
                self.last_error = type(error).__name__
                delay = min(delay * 2, LONGEST_RETRY_S)
                continue
            with self._lock:
                down_for = time.monotonic() - (self._down_since or time.monotonic())
                self._down_since, self._thread = None, None
            logger.warning("history reachable again at %s after %.0f s", self._where, down_for)
            return
