"""The history over HTTP: recording each answer, ``POST /flag`` (a visitor marks a result wrong
and gives the right one) and ``GET /history`` (the owner's read-only view, served only when the
demo has a password). See ``history.py`` for what is stored.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Dict, List, Optional, Sequence

from flask import Flask, jsonify, render_template, request

from .history import History, model_identity
from .model_files import drive_file_path
from .web_inputs import ApiError, json_body, json_type

logger = logging.getLogger(__name__)
VIEW_ROWS = 200  # the owner's view shows the newest rows; export the file for all of them


def open_history(history, predictor) -> Optional[History]:
    """``history`` (a path or a History) opened for ``predictor``'s model; None when off."""
    if history is None or history is False:
        return None
    if isinstance(history, History):
        return history
    model, model_hash = model_identity(predictor.source if predictor is not None else None)
    return History(drive_file_path(history), model=model or "inference_fn", model_hash=model_hash)


def record_results(history: History, task, items: Sequence, results: List[Dict[str, object]],
                   *, source: str, visitor: str, latency_ms: float) -> None:
    """Store the answers and give each its ``history`` handle (``id`` and ``flag_token``, which
    ``POST /flag`` needs). A history that cannot be written is logged; the visitor still gets
    the answer."""
    try:
        handles = history.record(task, items, results, source=source, visitor=visitor,
                                 latency_ms=latency_ms)
    except sqlite3.Error as error:
        logger.warning("history not written: %s", error)
        return
    for result, (row_id, token) in zip(results, handles):
        result["history"] = {"id": row_id, "flag_token": token}


def add_history_routes(app: Flask, history: History, task, labels: Sequence[str], settings,
                       max_chars: int) -> None:
    """Register ``POST /flag`` and ``GET /history`` on ``app``."""

    @app.post("/flag")
    def flag():
        body = json_body(dict, 'POST /flag takes {"id": N, "flag_token": "...", "correction": "..."}')
        row_id, token = body.get("id"), body.get("flag_token")
        if not isinstance(row_id, int) or isinstance(row_id, bool) or not isinstance(token, str):
            raise ApiError(400, '"id" must be a number and "flag_token" a string, as the answer\'s '
                                '"history" gave them')
        correction = _correction(body.get("correction"), task, labels, max_chars)
        try:
            flagged = history.flag(row_id, token, correction)
        except sqlite3.Error as error:
            logger.warning("history not written: %s", error)
            raise ApiError(503, "the history could not be written; try again shortly") from None
        if not flagged:
            raise ApiError(404, "no such result to flag (the id or flag_token does not match)")
        return jsonify({"flagged": True, "id": row_id, "correction": correction})

    @app.get("/history")
    def history_view():
        if not settings.auth:
            raise ApiError(404, "the history view is served only when the demo has a password "
                                "(--auth, or auth= in create_app); or export the file: "
                                "python -m demo_app history PATH")
        flagged_only = request.args.get("flagged") == "1"
        rows = list(history.rows(flagged_only=flagged_only, newest_first=True, limit=VIEW_ROWS))
        return render_template("history.html", rows=rows, flagged_only=flagged_only,
                               total=history.count(), shown=VIEW_ROWS, title=settings.title or task.title,
                               fields=task.fields)


def _correction(value: object, task, labels: Sequence[str], max_chars: int) -> Optional[str]:
    """The right answer a visitor gives: one of the labels for a classifier; text (the tagged
    sentence for NER, the answer for QA) otherwise; may be left out for those."""
    if value is None and not task.has_gold_labels:
        return None
    if not isinstance(value, str):
        raise ApiError(400, f'"correction" must be a string, got {json_type(value)}')
    if task.has_gold_labels:
        if value not in labels:
            raise ApiError(400, f'"correction" must be one of the labels: {", ".join(labels)}')
        return value
    if len(value) > max_chars:
        raise ApiError(413, f'"correction" is {len(value)} characters long; the limit is {max_chars}')
    return value.strip() or None


__all__ = ["open_history", "record_results", "add_history_routes"]

