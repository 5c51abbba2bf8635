"""The history over HTTP: ``POST /flag`` (a visitor marks a result wrong and gives the right one)
and ``GET /history`` (the owner's read-only view, served only when the demo has a password).
Answers are recorded as they are given (``recording.py``); ``demo_app.history`` says what is
stored. Registered only when the history is on.
"""

from __future__ import annotations

import logging
from typing import Optional, Sequence

from flask import Blueprint, jsonify, render_template, request

from ..history import HistoryError
from ..tasks import Task
from ..tasks.fields import type_name
from .errors import ApiError
from .inputs import json_body
from .routes import costs_work
from .state import demo_state

logger = logging.getLogger("demo_app.web")
VIEW_ROWS = 200  # the owner's view shows the newest rows; `history PATH` writes all of them

history_routes = Blueprint("history", __name__)


@history_routes.post("/flag")
@costs_work
def flag():
    state = demo_state()
    body = json_body(dict, 'POST /flag takes {"id": N, "flag_token": "...", "correction": "..."}')
    row_id, token = body.get("id"), body.get("flag_token")
    if not isinstance(row_id, int) or isinstance(row_id, bool) or not isinstance(token, str):
        raise ApiError(400, '"id" must be a number and "flag_token" a string, as the answer\'s '
                            '"history" gave them')
    labels = state.predictor.labels if state.predictor is not None else ()
    correction = _correction(body.get("correction"), state.task, labels, state.settings.max_text_chars)
    assert state.history is not None  # these routes are registered only with a history
    def fits_its_row(inputs):
        state.task.data.check_correction(str(correction), inputs, labels)

    try:
        flagged = state.history.flag(row_id, token, correction, check=fits_its_row)
    except ValueError as error:  # the correction does not fit the result it corrects
        raise ApiError(400, f'"correction": {error}') from None
    except HistoryError as error:
        logger.warning("history not written: %s", type(error).__name__)
        raise ApiError(503, "the history could not be written; try again shortly") from None
    if not flagged:
        raise ApiError(404, "no such result to flag (the id or flag_token does not match)")
    return jsonify({"flagged": True, "id": row_id, "correction": correction})


@history_routes.get("/history")
def history_view():
    state = demo_state()
    if not state.settings.auth:
        raise ApiError(404, "the history view is served only when the demo has a password "
                            "(--auth, or auth= in create_app); or write it to a file: "
                            "python -m demo_app history PATH")
    flagged_only = request.args.get("flagged") == "1"
    history = state.history
    assert history is not None  # these routes are registered only with a history
    own = history.model_hash or None  # this demo's model: other demos may share the database
    try:
        rows = list(history.rows(flagged_only=flagged_only, newest_first=True, limit=VIEW_ROWS, model_hash=own))
        total = history.count(model_hash=own)
        counts = {"total": total, "others": history.count() - total if own else 0,
                  "rolled_off": history.rolled_off(), "flagged_rolled_off": history.flagged_rolled_off()}
    except HistoryError as error:
        logger.warning("history not read: %s", type(error).__name__)
        raise ApiError(503, "the history's database cannot be reached right now; predictions go on without "
                            "it and it is retried in the background: try again shortly") from None
    return render_template("history.html", rows=rows, flagged_only=flagged_only, shown=VIEW_ROWS, **counts,
                           missed=history.missed(), budget_mb=(history.max_bytes or 0) // (1024 * 1024),
                           title=state.settings.title or state.task.page.title, fields=state.task.inputs.fields)


def _correction(value: object, task: Task, labels: Sequence[str], max_chars: int) -> Optional[str]:
    """The right answer a visitor gives: one of the labels for a classifier (or its index or
    short name, as in data files); text (the tagged sentence for NER, the answer for QA)
    otherwise; may be left out for those."""
    if value is None and not task.data.has_gold_labels:
        return None
    if task.data.has_gold_labels and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # a class index, as data files give it
    if not isinstance(value, str):
        raise ApiError(400, f'"correction" must be a string, got {type_name(value)}')
    if task.data.has_gold_labels:
        try:  # a label, its class index (0, 1), or its Korean or English name, as data files give it
            return task.data.gold_label(value, labels)
        except ValueError:
            raise ApiError(400, f'"correction" must be one of the labels ({", ".join(labels)}) or '
                                f"its index (0-{len(labels) - 1})") from None
    if len(value) > max_chars:
        raise ApiError(413, f'"correction" is {len(value)} characters long; the limit is {max_chars}')
    return value.strip() or None
