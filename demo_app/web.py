"""The Flask app: the demo page, the JSON API, and the rules every request goes through.

Routes (see README), generic over the predictor's task: ``GET /`` the task's page, ``POST /api``
(ratsnlp's body for the task), ``POST /predict`` (the task's fields as an object, or
``{"inputs": [...]}``), ``GET /predict?FIELD=...``, ``GET /healthz``. Reading those bodies is
``web_inputs.py``'s job; whole files (``POST /predict/file``, ``/jobs/...``) are
``web_files.py``'s; the history (``POST /flag``, ``GET /history``) ``web_history.py``'s. API errors are always JSON ``{"error": "..."}`` with a 4xx status (503
when the server is overloaded, 500 when the model itself fails), never a traceback or an HTML
page.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hmac
import logging
import time
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from flask import Flask, Request, current_app, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from .batching import Overloaded
from .jobs import Jobs
from .colab import in_colab
from .limits import RateLimiter, retry_after_header
from .predictor import PredictionError, Predictor
from .tasks import Task, get_task
from .tasks.image_classification import MAX_IMAGES
from .visitors import visitor_key
from .web_files import FILE_PATH, add_file_routes
from .web_history import add_history_routes, open_history, record_results
from .web_inputs import ApiError, ImageInputReader, InputReader

logger = logging.getLogger(__name__)

API_PATHS = ("/api", "/predict", "/healthz", "/jobs", "/flag")
LIMITED_PATHS = ("/api", "/predict", FILE_PATH, "/flag")  # what the rate limit counts
RATE_LIMITER = "demo_app.rate_limiter"
AUTH_FAILURES = "demo_app.auth_failures"
PUBLIC_RATE_LIMIT = "60/minute"  # per visitor, applied by serve() when a tunnel opens
AUTH_FAILURE_LIMIT = "5/minute"  # wrong passwords per visitor; beyond it -> 429
# Only the app's own files. Framing: the app itself and Colab's notebook page; inside a Colab
# runtime also Colab's output frames, which live on per-session googleusercontent.com hosts.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'self' https://colab.research.google.com"
)
COLAB_OUTPUT_FRAMES = " https://*.googleusercontent.com"


def security_headers(in_colab: bool = False) -> Dict[str, str]:
    """The headers every response of the demo carries (the server's own error pages too)."""
    return {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY + (COLAB_OUTPUT_FRAMES if in_colab else ""),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


@dataclasses.dataclass
class WebOptions:
    """Limits and protections of the web app (all documented in the README).

    max_body_bytes: largest request body; larger -> 413. None: the task's (64 KiB; 256 KiB for
        QA, whose context is a passage).
    max_sentence_chars: longest sentence in characters; longer -> 413. (The model also truncates
        at max_seq_length tokens; this bound keeps tokenizing cheap.)
    max_batch_sentences: most sentences in one ``{"sentences": [...]}`` request; more -> 413.
    request_timeout_s: longest wait for a prediction; longer -> 503 with Retry-After. The page
        gives up 2 s after that and says so.
    cors_origins: origins allowed to call the API from other sites; none by default.
    auth: ``"user:password"`` to require HTTP basic auth from visitors (``/healthz`` stays open).
        Wrong passwords count against ``AUTH_FAILURE_LIMIT`` per visitor (then 429).
    rate_limit: e.g. ``"60/minute"`` per visitor; over it -> 429 with Retry-After. None: no limit.
    rate_limit_total: the ceiling for all visitors together; default ten times ``rate_limit``.
    forwarded_hops: how many proxies in front of the app append the visitor's address to
        ``X-Forwarded-For`` and are trusted (see ``visitors.py``). 0 (the default) trusts none:
        visitors are told apart by their socket address, and everyone arriving through a local
        tunnel agent shares one bucket. ``serve(tunnel="ngrok")`` sets 1 (ngrok appends).
    examples: inputs shown on the page as clickable examples (sentences, or tuples of the task's
        fields); None: the task's own.
    title: the page title; None: the task's.
    history: a SQLite file (or a ``History``) that keeps every prediction and visitors'
        corrections (``history.py``); None (the default) keeps nothing. The page says when it is on.
    max_file_bytes: the largest file ``POST /predict/file`` takes; larger -> 413.
    max_file_rows: the most rows in one file; more -> 413.
    sync_file_rows: a file of at most this many rows is answered in the same request (when done
        within ``request_timeout_s``); a larger one gets 202 and a job to poll.
    max_file_jobs: files predicted at the same time (one per visitor); more -> 429.
    """

    max_body_bytes: Optional[int] = None
    max_sentence_chars: int = 2000
    max_batch_sentences: int = 64
    request_timeout_s: float = 30.0
    cors_origins: Sequence[str] = ()
    auth: Optional[str] = None
    rate_limit: Optional[str] = None
    rate_limit_total: Optional[str] = None
    forwarded_hops: int = 0
    examples: Optional[Sequence] = None
    title: Optional[str] = None
    history: object = None
    max_file_bytes: int = 16 * 1024 * 1024
    max_file_rows: int = 100_000
    sync_file_rows: int = 1000
    max_file_jobs: int = 2

    def __post_init__(self) -> None:
        if self.auth is not None:
            user, _, password = self.auth.partition(":")
            if not user or not password:
                raise ValueError("auth must look like 'user:password', with a user name and a "
                                 "non-empty password")
        if not isinstance(self.forwarded_hops, int) or self.forwarded_hops < 0:
            raise ValueError(f"forwarded_hops must be 0 or more, got {self.forwarded_hops!r}")
        self.cors_origins = tuple(self.cors_origins)


def create_app(model, **options) -> Flask:
    """Build the demo's Flask app around a :class:`Predictor` or an ``inference_fn``.

    ``model`` is what ``load_classifier`` returns (any task; routes, page and ``/healthz``
    follow its task), or any ratsnlp-style ``inference_fn(sentence) -> dict`` (served as
    document classification). ``options`` are the fields of :class:`WebOptions`.
    """
    settings = WebOptions(**options)
    predictor = _predictor_of(model)
    task = predictor.task if predictor is not None else get_task(None)
    predict_many = _predict_many_for(model, predictor, settings)
    inputs = (ImageInputReader(task, MAX_IMAGES) if task.input_kind == "image" else
              InputReader(task, settings.max_sentence_chars, settings.max_batch_sentences))
    if settings.max_body_bytes is None:
        settings.max_body_bytes = task.max_body_bytes

    history = open_history(settings.history, predictor)

    templates, static = _resource_dirs()
    app = Flask(__name__, template_folder=str(templates), static_folder=str(static))
    app.request_class = _LimitedRequest
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["DEMO_APP_BODY_LIMITS"] = {FILE_PATH: settings.max_file_bytes}  # larger than the rest
    app.config["JSON_AS_ASCII"] = False
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.extensions["demo_app"] = settings
    if settings.rate_limit:
        app.extensions[RATE_LIMITER] = RateLimiter(settings.rate_limit, settings.rate_limit_total)
    if settings.auth:
        app.extensions[AUTH_FAILURES] = RateLimiter(AUTH_FAILURE_LIMIT)
    headers_for_every_response = security_headers(in_colab())

    def run(items: List) -> List[dict]:
        g.sentence_chars = sum(len(text) for item in items for text in _texts(item) if isinstance(text, str))
        started = time.perf_counter()
        try:
            results = predict_many(items)
            if history is not None:
                source = "page" if request.headers.get("X-Demo-Source") == "page" else "api"
                record_results(history, task, items, results, source=source, visitor=visitor(),
                               latency_ms=(time.perf_counter() - started) * 1000)
            return results
        except Overloaded as error:
            raise ApiError(503, str(error), {"Retry-After": "1"}) from None
        except FutureTimeout:
            raise ApiError(503, f"the model took longer than {settings.request_timeout_s:g} s "
                                "(request_timeout_s); try again shortly", {"Retry-After": "5"}) from None
        except PredictionError as error:
            raise ApiError(500, str(error)) from None
        except Exception as error:  # noqa: BLE001 - one line in the log, not a traceback per request
            logger.warning("prediction failed: %s", type(error).__name__)
            raise ApiError(500, f"the model could not process this request ({type(error).__name__});"
                                " the server keeps serving other requests") from None

    def visitor() -> str:
        return visitor_key(request.remote_addr, request.headers.getlist("X-Forwarded-For"),
                           settings.forwarded_hops)

    @app.before_request
    def guard():
        g.started = time.perf_counter()
        if request.method == "OPTIONS" and request.routing_exception is None:
            # Answer CORS preflights and OPTIONS probes in JSON (Flask's default is an empty page).
            methods = sorted(app.url_map.bind_to_environ(request.environ).allowed_methods(request.path))
            return jsonify({"allowed_methods": methods}), 200, {"Allow": ", ".join(methods)}
        if settings.auth and request.path != "/healthz":
            # Checked before the password, so a visitor out of guesses cannot try one more.
            failures = app.extensions[AUTH_FAILURES]
            wait = failures.wait(visitor())
            if wait:
                raise ApiError(429, f"too many wrong passwords; try again in "
                                    f"{retry_after_header(wait)} s",
                               {"Retry-After": retry_after_header(wait)})
            if not _authorized(settings.auth):
                if "Authorization" in request.headers:  # a guess; a first visit sends none
                    failures.check(visitor())
                raise ApiError(401, "this demo needs a user name and password",
                               {"WWW-Authenticate": 'Basic realm="demo_app", charset="UTF-8"'})
        rate_limiter = app.extensions.get(RATE_LIMITER)
        if rate_limiter and request.path in LIMITED_PATHS:
            wait = rate_limiter.check(visitor())
            if wait:
                raise ApiError(429, f"too many requests (limit {rate_limiter.rate} per visitor, "
                                    f"{rate_limiter.total} for everyone); "
                                    f"try again in {retry_after_header(wait)} s",
                               {"Retry-After": retry_after_header(wait)})
        return None

    page = _page_for(task, settings, predictor)

    files_on = predictor is not None and task.input_kind == "text"
    if files_on:  # data files need the batching predictor, not a bare inference_fn; text tasks
        def record_file_rows(items, results, visitor_key):
            record_results(history, task, items, results, source="file", visitor=visitor_key,
                           latency_ms=0.0)

        jobs = Jobs(predictor, max_running=settings.max_file_jobs, max_chars=settings.max_sentence_chars,
                    record=record_file_rows if history is not None else None,
                    timeout=settings.request_timeout_s)
        app.extensions["demo_app.jobs"] = jobs
        add_file_routes(app, jobs, settings, visitor)
    if history is not None:
        app.extensions["demo_app.history"] = history
        add_history_routes(app, history, task, predictor.labels if predictor else (), settings,
                           settings.max_sentence_chars)

    @app.get("/")
    def index():
        return render_template("index.html", **page, history_on=history is not None,
                               files_on=files_on,
                               history_view=history is not None and bool(settings.auth),
                               max_sentence_chars=settings.max_sentence_chars,
                               page_timeout_ms=int((settings.request_timeout_s + 2) * 1000))

    @app.post("/api")
    def api():
        return jsonify(run([inputs.from_api_body()])[0])

    @app.post("/predict")
    def predict_post():
        items, many = inputs.from_predict_body()
        results = run(items)
        return jsonify({"predictions": results} if many else results[0])

    @app.get("/predict")
    def predict_get():
        return jsonify(run([inputs.from_query()])[0])

    @app.get("/healthz")
    def healthz():
        model_facts = predictor.describe() if predictor else {"task": task.name}
        return jsonify({"status": "ok", "model": model_facts})

    @app.errorhandler(ApiError)
    def api_error(error: ApiError):
        response = jsonify({"error": error.message})
        response.status_code = error.status
        response.headers.update(error.headers)
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        body_limit = request.max_content_length
        setting = "max_file_bytes" if request.path == FILE_PATH else "max_body_bytes"
        messages = {
            404: f"no such page: {request.path} (the API is POST /api, POST or GET /predict, "
                 "POST /predict/file, GET /healthz)",
            405: f"{request.method} is not allowed on {request.path}",
            413: f"request body over {body_limit} bytes ({setting})",
        }
        message = messages.get(error.code, error.description or error.name)
        if not _is_api_request() and error.code != 413:
            plain_text = {"Content-Type": "text/plain; charset=utf-8"}
            return f"{error.code} {error.name}: {message}\n", error.code, plain_text
        response = jsonify({"error": message})
        response.status_code = error.code or 500
        if error.code == 405 and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        logger.exception("unexpected error on %s %s", request.method, request.path)
        response = jsonify({"error": "the server failed to handle this request; it has been logged"})
        response.status_code = 500
        return response

    @app.after_request
    def finish(response):
        headers = response.headers
        headers.update(headers_for_every_response)
        if settings.cors_origins:
            headers.add("Vary", "Origin")  # the CORS headers below depend on it
        origin = request.headers.get("Origin")
        if origin and origin in settings.cors_origins:
            headers["Access-Control-Allow-Origin"] = origin
            headers["Access-Control-Allow-Methods"] = "GET, POST"
            headers["Access-Control-Allow-Headers"] = "Content-Type, ngrok-skip-browser-warning"
        # Lengths and timings only: visitor text is not logged.
        logger.info("%s %s %s chars=%s %.1fms", request.method, _loggable(request.path), response.status_code,
                    g.get("sentence_chars", "-"),
                    (time.perf_counter() - g.get("started", time.perf_counter())) * 1000)
        return response

    return app


class _LimitedRequest(Request):
    """A request whose body limit depends on its path: files may be larger than JSON bodies."""

    @property
    def max_content_length(self) -> Optional[int]:
        limits = current_app.config.get("DEMO_APP_BODY_LIMITS", {})
        return limits.get(self.path, current_app.config["MAX_CONTENT_LENGTH"])


def limit_public_traffic(app: Flask, forwarded_hops: int = 0) -> Optional[str]:
    """Prepare a demo_app for a public tunnel: trust the ``forwarded_hops`` the tunnel adds to
    X-Forwarded-For, and give an app made without a rate limit the public default.
    Returns the limit set, if any."""
    settings = app.extensions.get("demo_app")
    if settings is None:
        return None
    settings.forwarded_hops = max(settings.forwarded_hops, forwarded_hops)
    if RATE_LIMITER in app.extensions:
        return None
    app.extensions[RATE_LIMITER] = RateLimiter(PUBLIC_RATE_LIMIT, settings.rate_limit_total)
    return PUBLIC_RATE_LIMIT


def _predictor_of(model) -> Optional[Predictor]:
    """The Predictor behind ``model``: itself, or the one make_inference_fn attached."""
    predictor = model if isinstance(model, Predictor) else getattr(model, "predictor", None)
    return predictor if isinstance(predictor, Predictor) else None


def _predict_many_for(model, predictor: Optional[Predictor],
                      settings: WebOptions) -> Callable[[List], List[dict]]:
    if predictor is not None:
        def predict_many(items: List) -> List[dict]:
            results = predictor.predict(items, timeout=settings.request_timeout_s)
            return [predictor.task.to_dict(result) for result in results]
        return predict_many
    if callable(model):  # a plain ratsnlp-style inference_fn; routes validated the inputs
        def call_each(items: List) -> List[dict]:
            return [model(*_texts(item)) for item in items]
        return call_each
    raise TypeError("create_app() takes a Predictor (from load_classifier) or an inference_fn")


def _page_for(task: Task, settings: WebOptions, predictor: Optional[Predictor]) -> Dict[str, object]:
    """What the page template needs: the task's fields, examples and texts (settings win), and
    which model is served, so that nobody mistakes a demo model for the student's own."""
    examples = settings.examples if settings.examples is not None else task.examples
    if predictor is None:
        model_note = "모델 (model): inference_fn"
    else:
        facts = predictor.describe()
        labels = predictor.labels
        shown = " / ".join(labels) if len(labels) <= 6 else f"{len(labels)} tags"
        model_note = f"모델 (model): {facts['checkpoint']} · {task.name} · {shown}"
    return {
        "demo_model": bool(predictor and predictor.demo_model),
        "model_note": model_note,
        "task": task.name,
        "renderer": task.renderer,
        "fields": [(field, task.field_labels.get(field, field)) for field in task.fields],
        "examples": [_texts(example) for example in examples],
        "title": settings.title or task.title,
        "lead": task.lead,
        "lead_en": task.lead_en,
    }


def _texts(item) -> tuple:
    """An input as a tuple of its fields: a sentence or an image is one field."""
    return tuple(item) if isinstance(item, (tuple, list)) else (item,)


def _resource_dirs():
    """templates/ and static/: inside the installed package, or at the top of a source checkout."""
    package = Path(__file__).resolve().parent
    for root in (package, package.parent):
        if (root / "templates" / "index.html").is_file():
            return root / "templates", root / "static"
    raise RuntimeError(f"demo_app's templates/ folder is missing (looked in {package} and its parent)")


def _is_api_request() -> bool:
    path = request.path.rstrip("/") or "/"
    under_api = path in API_PATHS or path.startswith(tuple(p + "/" for p in API_PATHS))
    return under_api or request.is_json or request.accept_mimetypes.best == "application/json"


def _loggable(path: str) -> str:
    """``path`` on one log line: control characters (a visitor's %0D%0A) escaped."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in path)


def _authorized(expected: str) -> bool:
    scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "basic":  # RFC 9110: the scheme is case-insensitive
        return False
    try:
        given = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return hmac.compare_digest(given.encode(), expected.encode())
