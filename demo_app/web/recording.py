"""Recording answers in the history (when it is on): opening it for the served model, and giving
each stored answer the handle (``id`` and ``flag_token``) that ``POST /flag`` needs."""

from __future__ import annotations

import logging
import time
from typing import Any, Dict, List, Optional, Sequence

from flask import request

from ..history import History, HistoryError, model_identity
from ..history.locations import is_database_url
from ..loading.paths import drive_file_path

logger = logging.getLogger("demo_app.web")


def open_history(history, predictor, max_bytes: Optional[int] = None) -> Optional[History]:
    """``history`` (a path or a History) opened for ``predictor``'s model, within ``max_bytes``;
    None when off."""
    if history is None or history is False:
        return None
    if isinstance(history, History):
        return history
    model, model_hash = model_identity(predictor.source if predictor is not None else None)
    location = history if is_database_url(history) else drive_file_path(history)
    return History(location, model=model or "inference_fn", model_hash=model_hash, max_bytes=max_bytes)


def record_results(history: History, task, items: Sequence, results: List[Dict[str, Any]],
                   *, source: str, visitor: str, latency_ms: float) -> None:
    """Store the answers and give each its ``history`` handle (``id`` and ``flag_token``, which
    ``POST /flag`` needs). A history that cannot be written (the database is down) is logged
    and counted; the visitor still gets the answer."""
    try:
        handles = history.record(task, items, results, source=source, visitor=visitor,
                                 latency_ms=latency_ms)
    except HistoryError as error:
        logger.warning("history not written: %s", type(error).__name__)  # the message may name the server
        return
    for result, (row_id, token) in zip(results, handles):
        result["history"] = {"id": row_id, "flag_token": token}


def record_request(history: Optional[History], task, items: Sequence, results: List[Dict[str, Any]],
                   *, visitor: str, started: float) -> None:
    """``record_results`` for the answers to the current request (when the history is on): from
    the page when the page's script says so, else from the API; its latency since ``started``."""
    if history is None:
        return
    source = "page" if request.headers.get("X-Demo-Source") == "page" else "api"
    record_results(history, task, items, results, source=source, visitor=visitor,
                   latency_ms=(time.perf_counter() - started) * 1000)
