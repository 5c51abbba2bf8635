"""One inference thread that batches concurrent requests and shares the model fairly.

PyTorch runs fastest when one thread owns the model: calling it from a new thread per request
(what a threaded web server does) is slower, and two concurrent calls on two cores give no more
throughput than one. So every caller puts its work on a queue and waits; the inference thread
runs it.

Work is priced before it runs, in *rows*: the sequences the model will read (a sentence is one;
a long QA context is one per window). Each turn of the inference thread does two things:

1. **small requests** (at most ``max_batch_size`` rows each), taken one per visitor in turn
   until a batch is full, are run together in one padded forward pass, as a micro-batch;
2. **one step** of one large request (more rows than a batch, a file job's chunk, a generation),
   the visitors taking turns, and each visitor's requests too: a step is one forward pass of at
   most ``max_batch_size`` rows (a generated token).

So a short request waits at most for one step of somebody else's large work, however much of it
is queued, and visitors with large work take turns. Work whose steps many requests can share
(generation: one forward pass writes a token of every visitor's text) goes to ``shared``
(:class:`SharedSteps`) instead, and each turn runs one step of all of it together.

A lone request does not wait for company:
the thread starts as soon as something arrives, and the batch grows while a step runs. Under
steady load the visitors of the last batch come back together; when fewer are waiting than that
batch held, the thread waits for the others a moment (a tenth of that batch's time, at most
``MAX_PATIENCE_S``), so that batches stay full rather than alternating between large and small
(measured at 16 clients on kcbert-base: batches of 12 and 4 in turn, 25% fewer answers per
second). ``max_wait_ms`` sets a fixed wait instead.

A caller that stops waiting (its client disconnected, its timeout passed, its job was cancelled)
**abandons** its request: queued, it is dropped; running as steps, it stops at the next step.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
import weakref
from collections import OrderedDict, deque
from concurrent.futures import Future, InvalidStateError
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Callable, Deque, Dict, Generator, Hashable, List, Optional, Protocol, Sequence

logger = logging.getLogger(__name__)

Steps = Generator[object, None, list]  # yields after each step (None, or progress), returns the results
POLL_S = 0.1  # how often a waiting caller looks whether its client is still there
MAX_PATIENCE_S = 0.02  # the longest wait for the rest of the last batch's visitors
_batchers: "weakref.WeakSet[MicroBatcher]" = weakref.WeakSet()


class SharedSteps(Protocol):
    """Work whose steps many requests share (``tasks/decoding``: every text being written gets
    a token per forward pass): requests join it, and each turn runs one step of all of them."""

    busy: bool

    def add(self, owner: Hashable, items: List[Any], group: str = "") -> None:
        """Take ``owner``'s items (``group``: who asks); raises for bad items, taking none."""

    def drop(self, owner: Hashable) -> None:
        """Forget ``owner``'s work (its caller left)."""

    def clear(self) -> None:
        """Forget all the work (after a step failed)."""

    def step(self) -> Any:
        """One step; returns ``.events`` and ``.finished``: lists of ``(owner, event or results)``."""


class Overloaded(RuntimeError):
    """The request queue is full; try again shortly (the web app answers 503)."""


class Abandoned(RuntimeError):
    """The caller stopped waiting (client gone, timeout, job cancelled); the work was dropped."""


class Request(Future):
    """One caller's work: its ``items``, who sent it and what it costs (``rows``)."""

    def __init__(self, items: list, visitor: str, rows: int) -> None:
        super().__init__()
        self.items, self.visitor, self.rows = items, visitor, rows
        self.steps: Optional[Steps] = None
        self.shared = False  # handed over to the batcher's shared steps
        self._abandoned = threading.Event()
        self._events: "queue.SimpleQueue[object]" = queue.SimpleQueue()

    def finish(self, result: object = None, error: Optional[BaseException] = None) -> None:
        """Settle with ``result`` or ``error``, unless something settled it first (the server
        stopping, the caller leaving): whichever comes first wins, and the other is dropped."""
        try:
            if error is not None:
                self.set_exception(error)
            else:
                self.set_result(result)
        except InvalidStateError:
            pass

    def stop(self, error: BaseException) -> None:
        """End it with ``error`` wherever it is: queued, or between or inside its steps (then
        the inference thread's own answer, when its step ends, is dropped)."""
        try:
            started = self.set_running_or_notify_cancel()  # False: the caller cancelled it
        except RuntimeError:  # already running, or already settled
            started = True
        if started:
            self.finish(error=error)

    def report(self, event: object) -> None:
        """A step's progress (a generated piece of text), for :meth:`events`."""
        self._events.put(event)

    def events(self, gone: Optional[Callable[[], bool]] = None):
        """The progress events of this request's steps as they come, until it is done; abandons
        it when ``gone()`` says the caller left (:class:`Abandoned`)."""
        while True:
            try:
                yield self._events.get(timeout=POLL_S)
                continue
            except queue.Empty:
                pass
            if self.done():
                while not self._events.empty():
                    yield self._events.get()
                return
            if gone is not None and gone():
                self.abandon()
                raise Abandoned("the caller left before the answer was ready")

    def abandon(self) -> None:
        """Nobody waits for this any more: drop it, queued or between two of its steps."""
        self._abandoned.set()
        self.cancel()

    @property
    def abandoned(self) -> bool:
        return self._abandoned.is_set()

    def wait(self, timeout: Optional[float] = None, gone: Optional[Callable[[], bool]] = None) -> list:
        """The results; abandons the request when ``timeout`` passes (FutureTimeout) or
        ``gone()`` says the caller left (:class:`Abandoned`)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = POLL_S if gone is not None else None
            if deadline is not None:
                left = deadline - time.monotonic()
                wait = left if wait is None else min(wait, left)
            try:
                return self.result(max(wait, 0) if wait is not None else None)
            except FutureTimeout:
                if deadline is not None and time.monotonic() >= deadline:
                    self.abandon()
                    raise
                if gone is not None and gone():
                    self.abandon()
                    raise Abandoned("the caller left before the answer was ready") from None


class MicroBatcher:
    """Runs ``run_batch(items) -> results`` for small requests, batched together, and
    ``run_steps(items)`` (a generator, see ``Steps``) for large ones, on one thread."""

    def __init__(
        self,
        run_batch: Callable[[list], list],
        *,
        run_steps: Optional[Callable[[list], Steps]] = None,
        shared: Optional[SharedSteps] = None,
        max_batch_size: int = 32,
        max_wait_ms: float = 0.0,
        max_queue: int = 256,
        max_queue_per_visitor: Optional[int] = None,
    ) -> None:
        if max_batch_size < 1 or max_queue < 1 or max_wait_ms < 0:
            raise ValueError("max_batch_size and max_queue must be >= 1, max_wait_ms >= 0")
        self._run_batch = run_batch
        self._run_steps = run_steps
        self._shared = shared
        self.max_batch_size = max_batch_size
        self.max_wait_ms = max_wait_ms
        self.max_queue = max_queue
        self.max_queue_per_visitor = max_queue_per_visitor or max_queue
        self._small: "OrderedDict[str, Deque[Request]]" = OrderedDict()  # visitor -> waiting requests
        self._large: Dict[str, Deque[Request]] = OrderedDict()
        self._sharing: Dict[str, Deque[Request]] = OrderedDict()  # visitor -> requests given to ``shared``
        self._changed = threading.Condition()
        self._thread: Optional[threading.Thread] = None
        self._closed = False
        self._last_rows = 0  # the last small batch's size, and how long it ran
        self._last_seconds = 0.0
        _batchers.add(self)

    # -- callers ----------------------------------------------------------------------------

    def submit(self, items: Sequence, *, visitor: str = "", rows: Optional[int] = None,
               stepwise: bool = False) -> Request:
        """Queue ``items`` (``rows`` of work, default one per item); the request resolves to
        their results, in order. ``stepwise`` sends it to the large lane whatever its size."""
        rows = len(items) if rows is None else rows
        large = self._run_steps is not None and (stepwise or rows > self.max_batch_size)
        request = Request(list(items), visitor, rows)
        with self._changed:
            if self._closed:
                raise Overloaded("the server is stopping")
            queued = self._waiting()
            if queued >= self.max_queue:
                raise Overloaded(f"the server is busy ({queued} requests waiting); try again shortly")
            mine = sum(len(lane.get(visitor, ())) for lane in self._lanes)
            if visitor and mine >= self.max_queue_per_visitor:  # "": Python callers, not visitors
                raise Overloaded(f"the server is busy: you have {mine} requests waiting; "
                                 "try again when they are answered")
            lane = self._small if not large else self._sharing if self._shared is not None else self._large
            lane.setdefault(visitor, deque()).append(request)
            self._ensure_thread()
            self._changed.notify()
        return request

    def __call__(self, items: Sequence, timeout: Optional[float] = None, *, visitor: str = "",
                 rows: Optional[int] = None, stepwise: bool = False,
                 gone: Optional[Callable[[], bool]] = None) -> list:
        """Submit and wait: the blocking form ``Predictor.predict`` uses."""
        return self.submit(items, visitor=visitor, rows=rows, stepwise=stepwise).wait(timeout, gone)

    @property
    def queued(self) -> int:
        with self._changed:
            return self._waiting()

    def _waiting(self) -> int:
        return sum(len(queue) for lane in self._lanes for queue in lane.values())

    @property
    def _lanes(self) -> "tuple[Dict[str, Deque[Request]], ...]":
        """Every lane's requests by visitor: small, large, and those given to ``shared``."""
        return self._small, self._large, self._sharing

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread after the step it is running (for a clean exit); queued requests
        fail with Overloaded."""
        with self._changed:
            self._closed = True
            waiting = [r for lane in self._lanes for q in lane.values() for r in q]
            for lane in self._lanes:
                lane.clear()
            self._changed.notify_all()
        for request in waiting:
            request.stop(Overloaded("the server is stopping"))
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # -- the inference thread ---------------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._work, name="demo_app-inference", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        while True:
            with self._changed:
                while not self._closed and not any(self._lanes):
                    self._changed.wait()
                if self._closed:
                    return
            batch = self._take_small()
            if batch:
                self._run(batch)
            if self._shared is not None:
                self._shared_step(self._shared)
            request = self._next_large()
            if request is not None:
                self._step(request)

    def _take_small(self) -> List[Request]:
        """Waiting small requests, one per visitor in turn, up to ``max_batch_size`` rows;
        waiting a moment for as many as the last batch held (see the module's docstring)."""
        patience = self.max_wait_ms / 1000 or min(MAX_PATIENCE_S, self._last_seconds / 10)
        deadline = time.monotonic() + patience
        expected = max(1, self._last_rows) if not self.max_wait_ms else self.max_batch_size
        batch: List[Request] = []
        rows = 0
        with self._changed:
            while True:
                took = False
                for visitor in list(self._small):
                    queue = self._small[visitor]
                    request = queue[0]
                    if batch and rows + request.rows > self.max_batch_size:
                        continue
                    queue.popleft()
                    if queue:
                        self._small.move_to_end(visitor)  # the next batch starts with another visitor
                    else:
                        del self._small[visitor]
                    if request.abandoned:
                        continue
                    batch.append(request)
                    rows += request.rows
                    took = True
                    if rows >= self.max_batch_size:
                        return batch
                if not took:
                    wait = deadline - time.monotonic()
                    if not batch or wait <= 0 or rows >= expected:
                        return batch
                    self._changed.wait(wait)

    def _next_large(self) -> Optional[Request]:
        """The large request whose turn it is: visitors take turns, and so do one visitor's
        requests (each moves to the back of its line after a step)."""
        with self._changed:
            while self._large:
                visitor, queue = next(iter(self._large.items()))
                self._large.pop(visitor)
                request = queue.popleft()
                if request.abandoned:
                    if queue:
                        self._large[visitor] = queue
                    continue
                queue.append(request)
                self._large[visitor] = queue  # to the end of the line: the next visitor's turn
                return request
        return None

    def _step(self, request: Request) -> None:
        """One step of a large request; its results or error when it ends."""
        finished = True
        try:
            if request.steps is None:
                if not request.set_running_or_notify_cancel():
                    return
                assert self._run_steps is not None  # only then are requests large (submit)
                request.steps = self._run_steps(request.items)
            event = next(request.steps)
            if event is not None:
                request.report(event)
            finished = False
        except StopIteration as end:
            request.finish(end.value)
        except Exception as error:  # noqa: BLE001 - handed to this caller alone
            self._fail(request, error)
        finally:
            if finished or request.abandoned:
                if not finished and request.steps is not None:
                    request.steps.close()
                    request.finish(error=Abandoned("abandoned"))
                self._remove_large(request)

    def _shared_step(self, shared: SharedSteps) -> None:
        """Hand new shared requests over, forget abandoned ones, and run one step of them all."""
        with self._changed:
            requests = [request for queue in self._sharing.values() for request in queue]
        for request in requests:
            if request.abandoned or request.done():
                shared.drop(request)
                request.finish(error=Abandoned("abandoned"))
                self._remove(self._sharing, request)
            elif not request.shared and request.set_running_or_notify_cancel():
                request.shared = True
                try:
                    shared.add(request, request.items, request.visitor)
                except Exception as error:  # noqa: BLE001 - this request's bad input, handed to it alone
                    self._fail(request, error)
                    self._remove(self._sharing, request)
        if not shared.busy:
            return
        try:
            outcome = shared.step()
        except Exception as error:  # noqa: BLE001 - a step of all of them failed: so did each
            logger.warning("a shared step failed in the model: %s", type(error).__name__)
            for request in requests:
                request.finish(error=error)
                self._remove(self._sharing, request)
            shared.clear()
            return
        for request, event in outcome.events:
            request.report(event)
        for request, results in outcome.finished:
            request.finish(results)
            self._remove(self._sharing, request)

    def _remove_large(self, request: Request) -> None:
        self._remove(self._large, request)

    def _remove(self, lane: Dict[str, Deque[Request]], request: Request) -> None:
        with self._changed:
            queue = lane.get(request.visitor)
            if queue and request in queue:
                queue.remove(request)
                if not queue:
                    del lane[request.visitor]

    def _run(self, batch: List[Request]) -> None:
        live = [request for request in batch if request.set_running_or_notify_cancel()]
        if live:
            self._run_live(live)

    def _run_live(self, live: List[Request]) -> None:
        items = [item for request in live for item in request.items]
        started = time.monotonic()
        try:
            results = self._run_batch(items)
            self._last_rows, self._last_seconds = sum(r.rows for r in live), time.monotonic() - started
        except Exception as error:  # noqa: BLE001
            if len(live) == 1:
                self._fail(live[0], error)
            else:
                # One request's bad input must not fail its neighbours: run each on its own.
                for request in live:
                    self._run_alone(request)
            return
        start = 0
        for request in live:
            request.finish(results[start:start + len(request.items)])
            start += len(request.items)

    def _run_alone(self, request: Request) -> None:
        try:
            request.finish(self._run_batch(request.items))
        except Exception as error:  # noqa: BLE001 - handed to this caller alone
            self._fail(request, error)

    @staticmethod
    def _fail(request: Request, error: Exception) -> None:
        # One line, without the input (visitors' text is never logged); the caller gets the error.
        # A ValueError is the caller's input (a prompt too long, a target that is none of the answer's).
        if not isinstance(error, ValueError):
            logger.warning("a request failed in the model: %s", type(error).__name__)
        request.finish(error=error)


@atexit.register
def _close_all() -> None:
    """At exit, let each inference thread finish its step: a thread stopped inside the model
    while Python shuts down can crash the process."""
    for batcher in list(_batchers):
        batcher.close(timeout=5)
