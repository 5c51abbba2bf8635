"""What one demo app holds, in one object on the app (``app.extensions["demo_app"]``): its
settings, the task and the predictor, how request bodies are read, the history and the file jobs.
Routes and guards find it with :func:`demo_state`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from flask import current_app, request

from ..files.jobs import Jobs
from ..history import History, JobTable
from ..inference import Predictor
from ..tasks import Task, get_task
from .errors import ApiError
from .inputs import FileInputReader, InputReader, input_reader
from .options import WebOptions
from .rate_limits import RateLimiter, SharedRateLimiter
from .recording import open_history, record_results
from .visitors import visitor_key
from .waiting_room import WaitingRoom

# (items, visitor, gone) -> the task's result dicts; gone() says the client has left
PredictMany = Callable[[List, str, Optional[Callable[[], bool]]], List[Dict[str, Any]]]


@dataclasses.dataclass
class DemoState:
    """One demo app's parts. ``predictor`` is None for a bare ratsnlp ``inference_fn``."""

    settings: WebOptions
    task: Task
    predictor: Optional[Predictor]
    predict_many: PredictMany  # inputs -> the task's result dicts
    inputs: "InputReader | FileInputReader"
    waiting_room: WaitingRoom
    history: Optional[History] = None
    jobs: Optional[Jobs] = None  # whole files (text tasks with a predictor)
    rate_limiter: Optional[RateLimiter] = None  # set later by serve() for a public tunnel too

    @classmethod
    def build(cls, model, settings: WebOptions) -> "DemoState":
        predictor = predictor_of(model)
        task = predictor.task if predictor is not None else get_task(None)
        if settings.max_body_bytes is None:
            settings.max_body_bytes = task.inputs.max_body_bytes
        room = WaitingRoom(settings.max_waiting, settings.max_waiting_large, settings.max_waiting_large_per_visitor)
        state = cls(settings=settings, task=task, predictor=predictor, waiting_room=room,
                    predict_many=_predict_many_for(model, predictor, settings, room),
                    inputs=input_reader(task, settings.max_text_chars, settings.max_batch_sentences),
                    history=open_history(settings.history, predictor, settings.max_history_bytes))
        state.rate_limiter = rate_limiter_for(settings, state.history)
        if predictor is not None and not task.inputs.takes_files:  # a bare inference_fn cannot batch files
            state.jobs = Jobs(predictor, max_running=settings.max_file_jobs, max_chars=settings.max_text_chars,
                              record=state.record_file_rows if state.history is not None else None,
                              max_result_bytes=settings.max_file_result_bytes,
                              max_columns=settings.max_file_columns, board=job_board_for(state.history))
        return state

    def close(self) -> None:
        """Stop this app's file jobs and delete their files (the server is stopping)."""
        if self.jobs is not None:
            self.jobs.close()

    def record_file_rows(self, items: List, results: List[Dict[str, Any]], visitor: str) -> None:
        assert self.history is not None  # called only with the history on
        record_results(self.history, self.task, items, results, source="file", visitor=visitor,
                       latency_ms=0.0)


def rate_limiter_for(settings: WebOptions, history: Optional[History]) -> Optional[RateLimiter]:
    """The visitors' rate limit, if any: counted in the history's database when several servers
    share one (PostgreSQL), else in this process."""
    if not settings.rate_limit:
        return None
    if history is not None and history.shared_by_servers:
        return SharedRateLimiter(history, settings.rate_limit, settings.rate_limit_total)
    return RateLimiter(settings.rate_limit, settings.rate_limit_total)


def demo_state() -> DemoState:
    """The state of the app handling the current request."""
    return current_app.extensions["demo_app"]


def current_visitor() -> str:
    """Who sent the current request, as far as a trusted proxy says (``visitors.py``)."""
    return visitor_key(request.remote_addr)


def predictor_of(model) -> Optional[Predictor]:
    """The Predictor behind ``model``: itself, or the one make_inference_fn attached."""
    predictor = model if isinstance(model, Predictor) else getattr(model, "predictor", None)
    return predictor if isinstance(predictor, Predictor) else None


def texts_of(item) -> tuple:
    """An input as a tuple of its fields: a sentence or an image is one field."""
    return tuple(item) if isinstance(item, (tuple, list)) else (item,)


def input_chars(task: Task, items: List) -> int:
    """How many characters of text ``items`` hold (for the access log): what the history keeps
    of each input, its text fields counted (a picture has none)."""
    if task.inputs.takes_files:
        return 0
    return sum(len(value) for item in items for value in task.inputs.input_record(item).values()
               if isinstance(value, str))


def _predict_many_for(model, predictor: Optional[Predictor], settings: WebOptions,
                      room: WaitingRoom) -> PredictMany:
    if predictor is not None:
        def predict_many(items: List, visitor: str, gone) -> List[Dict[str, Any]]:
            check_cost(predictor, items, settings)
            with room.admitted(visitor, is_large(predictor, items)):
                results = predictor.predict(items, timeout=settings.request_timeout_s, visitor=visitor, gone=gone)
            return [predictor.task.pipeline.to_dict(result) for result in results]
        return predict_many
    if callable(model):  # a plain ratsnlp-style inference_fn; routes validated the inputs
        def call_each(items: List, visitor: str, gone) -> List[Dict[str, Any]]:
            return [model(*texts_of(item)) for item in items]
        return call_each
    raise TypeError("create_app() takes a Predictor (from load_predictor) or an inference_fn")


def is_large(predictor: Predictor, items: List) -> bool:
    """Whether ``items`` are priced at more rows than one batch (a long context, a long text to
    write): work that holds a thread for long, so one visitor may have only a few of them
    waiting; a book-length generation, 20 tokens, is not."""
    return predictor.rows(items) > predictor.batch_size


def check_cost(predictor: Predictor, items: List, settings: WebOptions) -> None:
    """A 413 for a request that would cost more than ``max_request_rows``, or more than the
    model can read within ``request_timeout_s`` at its pace measured on this machine, before any
    work (a 503 after the timeout would say it only when the time is spent)."""
    rows = predictor.rows(items)
    what = f"this request would have the model read up to {rows} sequences of {predictor.max_seq_length} tokens"
    if rows > settings.max_request_rows:
        raise ApiError(413, f"{what}; the limit is {settings.max_request_rows} (max_request_rows): send "
                            "fewer or shorter inputs")
    pace = predictor.seconds_per_row
    if pace and rows * pace > settings.request_timeout_s:
        fits = max(1, int(settings.request_timeout_s / pace))
        raise ApiError(413, f"{what}, about {rows * pace:.0f} s on this server; it reads about {fits} in "
                            f"{settings.request_timeout_s:g} s (request_timeout_s): send a shorter text")


def resource_dirs():
    """templates/ and static/: inside the installed package, or at the top of a source checkout."""
    package = Path(__file__).resolve().parent.parent
    for root in (package, package.parent):
        if (root / "templates" / "index.html").is_file():
            return root / "templates", root / "static"
    raise RuntimeError(f"demo_app's templates/ folder is missing (looked in {package} and its parent)")


def job_board_for(history: Optional[History]) -> Optional[JobTable]:
    """Where file jobs are shared: the history's database when several servers share one
    (PostgreSQL: replicas on any machine), else a folder (``files/job_board.py``)."""
    return JobTable(history) if history is not None and history.shared_by_servers else None
