"""One inference thread that gathers concurrent requests into micro-batches.

PyTorch runs fastest when one thread owns the model: calling it from a new thread per request
(what a threaded web server does) is slower, and two concurrent calls on two cores give no more
throughput than one. So every caller puts its sentences on a bounded queue and waits; the
inference thread takes everything that is waiting (up to ``max_batch_size`` sentences), runs one
padded forward pass, and hands each caller its share of the results.

A lone request does not wait for company: the thread starts as soon as something arrives, and
the batch grows naturally while a forward pass is running. ``max_wait_ms`` can add a short wait
for more requests, which helps only when requests arrive at a steady high rate.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from typing import Callable, List, Sequence, Tuple

Request = Tuple[List[str], Future]
logger = logging.getLogger(__name__)


class Overloaded(RuntimeError):
    """The request queue is full; try again shortly (the web app answers 503)."""


class MicroBatcher:
    """Runs ``run_batch(sentences) -> results`` on one thread, batching concurrent callers."""

    def __init__(
        self,
        run_batch: Callable[[List[str]], list],
        *,
        max_batch_size: int = 32,
        max_wait_ms: float = 0.0,
        max_queue: int = 256,
    ) -> None:
        if max_batch_size < 1 or max_queue < 1 or max_wait_ms < 0:
            raise ValueError("max_batch_size and max_queue must be >= 1, max_wait_ms >= 0")
        self._run_batch = run_batch
        self.max_batch_size = max_batch_size
        self.max_wait_ms = max_wait_ms
        self._queue: "queue.Queue[Request]" = queue.Queue(maxsize=max_queue)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, sentences: Sequence[str]) -> Future:
        """Queue ``sentences``; the future resolves to their results, in order."""
        self._ensure_thread()
        future: Future = Future()
        try:
            self._queue.put_nowait((list(sentences), future))
        except queue.Full:
            raise Overloaded(
                f"the server is busy ({self._queue.maxsize} requests waiting); try again shortly"
            ) from None
        return future

    def __call__(self, sentences: Sequence[str], timeout: float | None = None) -> list:
        """Submit and wait: the blocking form ``Predictor.predict`` uses."""
        return self.submit(sentences).result(timeout)

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._work, name="demo_app-inference", daemon=True
                )
                self._thread.start()

    def _work(self) -> None:
        while True:
            batch = [self._queue.get()]
            self._gather(batch)
            self._run(batch)

    def _gather(self, batch: List[Request]) -> None:
        size = len(batch[0][0])
        deadline = time.monotonic() + self.max_wait_ms / 1000
        while size < self.max_batch_size:
            try:
                wait = deadline - time.monotonic()
                request = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
            except queue.Empty:
                return
            batch.append(request)
            size += len(request[0])

    def _run(self, batch: List[Request]) -> None:
        live = [(sentences, future) for sentences, future in batch if future.set_running_or_notify_cancel()]
        if not live:
            return
        sentences = [s for request_sentences, _ in live for s in request_sentences]
        try:
            results = self._run_batch(sentences)
        except Exception as error:  # noqa: BLE001
            if len(live) == 1:
                self._fail(live[0][1], error)
            else:
                # One request's bad input must not fail its neighbours: run each on its own.
                for request in live:
                    self._run_alone(*request)
            return
        start = 0
        for request_sentences, future in live:
            future.set_result(results[start:start + len(request_sentences)])
            start += len(request_sentences)

    def _run_alone(self, sentences: List[str], future: Future) -> None:
        try:
            future.set_result(self._run_batch(sentences))
        except Exception as error:  # noqa: BLE001 - handed to this caller alone
            self._fail(future, error)

    @staticmethod
    def _fail(future: Future, error: Exception) -> None:
        # One line, without the input (visitors' text is never logged); the caller gets the error.
        logger.warning("a request failed in the model: %s", type(error).__name__)
        future.set_exception(error)
