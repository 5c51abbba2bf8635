"""``POST /predict/stream``: a result sent as it is made, for tasks whose results stream
(generation: the text a token at a time), as server-sent events.

The body is what ``POST /predict`` takes for one input. The answer is ``text/event-stream``: one
``data: {"type": "text", "text": "..."}`` event per new piece, then ``data: {"type": "result",
"result": {...}}`` (what ``POST /predict`` answers), or ``data: {"type": "error", "error": "..."}``
if the model fails on the way. A bad body is a JSON 4xx before anything streams. A client that
closes the connection stops the work. Registered only for such tasks.
"""

from __future__ import annotations

import contextlib
import json
import time

from flask import Blueprint, Response, g, request, stream_with_context

from ..inference import Abandoned, Overloaded, PredictionError
from ..tasks import FieldError
from .errors import ApiError, logger
from .pages import model_trouble
from .recording import record_request
from .routes import costs_work
from .state import check_cost, current_visitor, demo_state, input_chars, is_large

STREAM_PATH = "/predict/stream"

stream_routes = Blueprint("stream", __name__)


@stream_routes.post(STREAM_PATH)
@costs_work
def predict_stream():
    state = demo_state()
    assert state.predictor is not None  # the stream is registered only for a predictor
    items, many = state.inputs.from_predict_body(several=False)
    if many:
        raise ApiError(400, f"{STREAM_PATH} takes one input; send several to POST /predict")
    check_cost(state.predictor, items, state.settings)
    g.sentence_chars = input_chars(state.task, items)
    visitor = current_visitor()
    gone = request.environ.get("waitress.client_disconnected")
    place = contextlib.ExitStack()  # in the waiting room until the stream ends (this thread streams)
    place.enter_context(state.waiting_room.admitted(visitor, is_large(state.predictor, items)))
    events = state.predictor.stream(items, visitor=visitor, gone=gone)
    try:
        first = next(events)  # refused at once (busy, a prompt too long) is JSON, not a stream
    except FieldError:
        place.close()
        raise
    except Exception as error:  # noqa: BLE001 - each kind of trouble has its own answer
        place.close()
        raise model_trouble(error, state.settings.request_timeout_s) from None

    def answer():
        started = time.perf_counter()
        try:
            event = first
            while True:
                if "results" in event:
                    results = [state.task.pipeline.to_dict(result) for result in event["results"]]
                    record_request(state.history, state.task, items, results, visitor=visitor, started=started)
                    yield _event({"type": "result", "result": results[0]})
                    return
                yield _event({"type": "text", "text": event["text"]})
                event = next(events)
        except Abandoned:
            return  # the client left: nobody reads the rest
        except (PredictionError, Overloaded) as error:
            yield _event({"type": "error", "error": str(error)})
        except Exception as error:  # noqa: BLE001 - one line in the log, the stream says why
            logger.warning("prediction failed: %s", type(error).__name__)
            yield _event({"type": "error", "error": f"the model could not process this request "
                                                    f"({type(error).__name__})"})
        finally:
            events.close()  # a client that left mid-stream: the work is abandoned
            place.close()

    response = Response(stream_with_context(answer()), mimetype="text/event-stream",
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    response.call_on_close(place.close)  # also when the stream is never read
    return response


def _event(data: dict) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"
