"""``POST /explain``: why the model answered as it did, word by word (``inference/explaining.py``).

The body is what ``POST /predict`` takes for one input, plus ``target`` (which class, entity or
candidate answer to explain; the answer given by default) and ``steps`` (integrated gradients'
points, 2 to 128; by default the task's: 12, 20 for QA). The answer is ``{answer, target, method, steps, score,
baseline_score, convergence_delta, words: [{field, text, start, end, attribution}]}``. The work
is priced as ``steps`` rows and waits its turn like any other request. Registered for the tasks
whose answers are explained (classification, pairs, NER, QA).
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..inference.explaining import check_steps
from ..tasks import FieldError
from .errors import ApiError
from .inputs import InputReader, json_body
from .pages import model_trouble
from .routes import costs_work
from .state import check_cost, current_visitor, demo_state

EXPLAIN_PATH = "/explain"
EXPLAIN_OPTIONS = ("target", "steps")

explain_routes = Blueprint("explain", __name__)


@explain_routes.post(EXPLAIN_PATH)
@costs_work
def explain():
    state = demo_state()
    predictor = state.predictor
    assert predictor is not None  # registered only for a predictor
    if not predictor.explains:
        raise ApiError(501, "explanations need the PyTorch model (gradients), which this server cannot read: "
                            "serve with --backend torch")
    assert isinstance(state.inputs, InputReader)  # the explained tasks take text
    body = json_body(dict, f"POST {EXPLAIN_PATH} takes {state.inputs.object_usage.split(' or ')[0]} with "
                           '"target" and "steps" if you like')
    options = {name: body.pop(name) for name in EXPLAIN_OPTIONS if name in body}
    item = state.inputs.from_object(body)
    check_cost(predictor, [item], state.settings)  # the answer's own reading, refused before any work
    try:
        steps = check_steps(options.get("steps", predictor.task.pipeline.explanation_steps))
    except ValueError as error:
        raise ApiError(400, str(error)) from None
    visitor = current_visitor()
    with state.waiting_room.admitted(visitor, steps + 1 > predictor.batch_size):
        try:
            explanation = predictor.explain(item, options.get("target"), steps, visitor=visitor,
                                            gone=request.environ.get("waitress.client_disconnected"),
                                            timeout=state.settings.request_timeout_s)
        except (ApiError, FieldError):  # FieldError: a target that is none of the answer's
            raise
        except Exception as error:  # noqa: BLE001 - each kind of trouble has its own answer
            raise model_trouble(error, state.settings.request_timeout_s) from None
    return jsonify(explanation)
