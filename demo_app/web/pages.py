"""The demo page and the prediction API, generic over the task: ``GET /`` the task's page,
``POST /api`` (ratsnlp's body for the task), ``POST /predict`` (the task's fields as an object, or
``{"inputs": [...]}``), ``GET /predict?FIELD=...`` and ``GET /healthz``. Reading the bodies is
``inputs.py``'s job; this module answers them."""

from __future__ import annotations

import time
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Dict, List

from flask import Blueprint, g, jsonify, render_template, request

from ..inference import Abandoned, Overloaded, PredictionError
from ..tasks import FieldError
from .errors import ApiError, logger
from .recording import record_request
from .routes import answers_json, costs_work
from .state import DemoState, current_visitor, demo_state, input_chars, texts_of

pages = Blueprint("pages", __name__)


@pages.get("/")
def index():
    state = demo_state()
    settings = state.settings
    return render_template("index.html", **page_texts(state), history_on=state.history is not None,
                           files_on=state.jobs is not None,
                           history_view=state.history is not None and bool(settings.auth),
                           field_max_chars={field: state.task.inputs.max_chars(field, settings.max_text_chars)
                                            for field in state.task.inputs.fields},  # the server's limits
                           max_text_chars=settings.max_text_chars,  # what /flag takes as a correction
                           page_timeout_ms=int((settings.request_timeout_s + 2) * 1000))


@pages.post("/api")
@costs_work
def api():
    return jsonify(answers([demo_state().inputs.from_api_body()])[0])


@pages.post("/predict")
@costs_work
def predict_post():
    items, many = demo_state().inputs.from_predict_body()
    results = answers(items)
    return jsonify({"predictions": results} if many else results[0])


@pages.get("/predict")
@costs_work
def predict_get():
    return jsonify(answers([demo_state().inputs.from_query()])[0])


@pages.get("/healthz")
@answers_json
def healthz():
    state = demo_state()
    model_facts = state.predictor.describe() if state.predictor else {"task": state.task.name}
    history = "off" if state.history is None else "up" if state.history.availability.up else "down"
    return jsonify({"status": "ok", "model": model_facts, "history": history})


def answers(items: List) -> List[Dict[str, Any]]:
    """The task's result dicts for ``items``, recorded in the history when it is on; model
    trouble becomes an :class:`ApiError` (503 busy or slow, 500 broken) for this request only."""
    state = demo_state()
    g.sentence_chars = input_chars(state.task, items)
    started = time.perf_counter()
    visitor = current_visitor()
    try:
        results = state.predict_many(items, visitor, request.environ.get("waitress.client_disconnected"))
    except (ApiError, FieldError):  # FieldError: found while the model read it (a prompt too many tokens long)
        raise
    except Exception as error:  # noqa: BLE001 - each kind of trouble has its own answer
        raise model_trouble(error, state.settings.request_timeout_s) from None
    record_request(state.history, state.task, items, results, visitor=visitor, started=started)
    return results


def model_trouble(error: Exception, timeout_s: float) -> ApiError:
    """The answer to a request the model could not answer: the client left, the model is busy
    or slow, or it failed (one line in the log, not a traceback per request)."""
    if isinstance(error, Abandoned):  # nobody reads this answer
        return ApiError(499, "the client closed the connection")
    if isinstance(error, Overloaded):
        return ApiError(503, str(error), {"Retry-After": "1"})
    if isinstance(error, FutureTimeout):
        return ApiError(503, f"the model took longer than {timeout_s:g} s (request_timeout_s); try again "
                             "shortly", {"Retry-After": "5"})
    if isinstance(error, PredictionError):
        return ApiError(500, str(error))
    logger.warning("prediction failed: %s", type(error).__name__)
    return ApiError(500, f"the model could not process this request ({type(error).__name__});"
                         " the server keeps serving other requests")


def page_texts(state: DemoState) -> Dict[str, Any]:
    """What the page template needs: the task's fields, examples and texts (settings win), and
    which model is served, so that nobody mistakes a demo model for the student's own."""
    task, predictor = state.task, state.predictor
    examples = state.settings.examples if state.settings.examples is not None else task.page.examples
    if predictor is None:
        model_note = "모델 (model): inference_fn"
    else:
        labels = predictor.labels
        shown = "" if not labels else f" · {' / '.join(labels)}" if len(labels) <= 6 else f" · {len(labels)} tags"
        model_note = f"모델 (model): {predictor.describe()['checkpoint']} · {task.name}{shown}"
    return {
        "demo_model": bool(predictor and predictor.demo_model),
        "model_note": model_note,
        "task": task.name,
        "form": task.page.form,
        "renderer": task.page.renderer,
        "fields": [(field, task.page.field_labels.get(field, field)) for field in task.inputs.fields],
        "examples": [texts_of(example) for example in examples],
        "title": state.settings.title or task.page.title,
        "lead": task.page.lead,
        "lead_en": task.page.lead_en,
        "action": task.page.action,
        "action_en": task.page.action_en,
        "correction": "label" if task.data.has_gold_labels else "text",
        "correction_placeholder": task.page.correction_placeholder,
        "form_settings": task.page.form_settings(),
        "warnings": list(predictor.warnings) if predictor is not None else [],
        "streams": task.pipeline.streams and predictor is not None,
        "explains": predictor is not None and predictor.explains,
    }
