"""The Flask app: the demo page, the JSON API, and the rules every request goes through.

Routes (see README): ``GET /`` the page, ``POST /api`` (ratsnlp: the body is a JSON string),
``POST /predict`` (``{"sentence": ...}`` or ``{"sentences": [...]}``), ``GET /predict?sentence=``,
``GET /healthz``. API errors are always JSON ``{"error": "..."}`` with a 4xx status (503 when the
server is overloaded), never a traceback or an HTML page.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hmac
import json
import logging
import time
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from flask import Flask, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from .batching import Overloaded
from .classifier import Classifier, prediction_to_dict
from .limits import RateLimiter, retry_after_header

logger = logging.getLogger(__name__)

API_PATHS = ("/api", "/predict", "/healthz")
RATE_LIMITER = "demo_app.rate_limiter"
PUBLIC_RATE_LIMIT = "60/minute"  # per visitor, applied by serve() when a tunnel opens
DEFAULT_EXAMPLES = (
    "이 영화 정말 재밌어요",
    "배우들 연기가 정말 좋았어요",
    "시간이 아까웠습니다",
    "스토리가 너무 지루했어요",
)
# Only the app's own files; frame-ancestors lets Colab show the app inside the notebook.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'self' https://colab.research.google.com https://*.googleusercontent.com"
)


@dataclasses.dataclass
class WebOptions:
    """Limits and protections of the web app (all documented in the README).

    max_body_bytes: largest request body; larger -> 413.
    max_sentence_chars: longest sentence in characters; longer -> 413. (The model also truncates
        at max_seq_length tokens; this bound keeps tokenizing cheap.)
    max_batch_sentences: most sentences in one ``{"sentences": [...]}`` request; more -> 413.
    request_timeout_s: longest wait for a prediction; longer -> 503 with Retry-After. The page
        gives up 2 s after that and says so.
    cors_origins: origins allowed to call the API from other sites; none by default.
    auth: ``"user:password"`` to require HTTP basic auth from visitors (``/healthz`` stays open).
    rate_limit: e.g. ``"60/minute"`` per client; over it -> 429 with Retry-After. None: no limit.
    examples: sentences shown on the page as clickable examples.
    title: the page title.
    """

    max_body_bytes: int = 64 * 1024
    max_sentence_chars: int = 2000
    max_batch_sentences: int = 64
    request_timeout_s: float = 30.0
    cors_origins: Sequence[str] = ()
    auth: Optional[str] = None
    rate_limit: Optional[str] = None
    examples: Sequence[str] = DEFAULT_EXAMPLES
    title: str = "KcBERT 감정 분석 데모 (Sentiment demo)"

    def __post_init__(self) -> None:
        if self.auth is not None and (":" not in self.auth or self.auth.startswith(":")):
            raise ValueError("auth must look like 'user:password'")
        self.cors_origins = tuple(self.cors_origins)


class ApiError(Exception):
    """An answer to the client: a status code and a message a person can act on."""

    def __init__(self, status: int, message: str, headers: Optional[Dict[str, str]] = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def create_app(model, **options) -> Flask:
    """Build the demo's Flask app around a :class:`Classifier` or an ``inference_fn``.

    ``model`` is what ``load_classifier`` returns (batched, N-class), or any ratsnlp-style
    ``inference_fn(sentence) -> dict``. ``options`` are the fields of :class:`WebOptions`.
    """
    settings = WebOptions(**options)
    classifier = _classifier_of(model)
    predict_many = _predictor_for(model, classifier, settings)

    templates, static = _resource_dirs()
    app = Flask(__name__, template_folder=str(templates), static_folder=str(static))
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["JSON_AS_ASCII"] = False
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.extensions["demo_app"] = settings
    if settings.rate_limit:
        app.extensions[RATE_LIMITER] = RateLimiter(settings.rate_limit)

    def check_sentence(sentence: object, where: str = "sentence") -> str:
        if not isinstance(sentence, str):
            raise ApiError(400, f"{where} must be a string, got {_json_type(sentence)}")
        if not sentence.strip():
            raise ApiError(400, f"{where} is empty; type a sentence to classify")
        if len(sentence) > settings.max_sentence_chars:
            raise ApiError(413, f"{where} is {len(sentence)} characters long; the limit is "
                                f"{settings.max_sentence_chars} characters (max_sentence_chars)")
        return sentence

    def run(sentences: List[str]) -> List[dict]:
        g.sentence_chars = sum(len(s) for s in sentences)
        try:
            return predict_many(sentences)
        except Overloaded as error:
            raise ApiError(503, str(error), {"Retry-After": "1"}) from None
        except FutureTimeout:
            raise ApiError(503, f"the model took longer than {settings.request_timeout_s:g} s "
                                "(request_timeout_s); try again shortly", {"Retry-After": "5"}) from None

    @app.before_request
    def guard():
        g.started = time.perf_counter()
        if request.method == "OPTIONS" and request.routing_exception is None:
            # Answer CORS preflights and OPTIONS probes in JSON (Flask's default is an empty page).
            methods = sorted(app.url_map.bind_to_environ(request.environ).allowed_methods(request.path))
            return jsonify({"allowed_methods": methods}), 200, {"Allow": ", ".join(methods)}
        if settings.auth and request.path != "/healthz" and not _authorized(settings.auth):
            raise ApiError(401, "this demo needs a user name and password",
                           {"WWW-Authenticate": 'Basic realm="demo_app", charset="UTF-8"'})
        rate_limiter = app.extensions.get(RATE_LIMITER)
        if rate_limiter and request.path in ("/api", "/predict"):
            wait = rate_limiter.check(_client_address())
            if wait:
                raise ApiError(429, f"too many requests (limit {rate_limiter.rate} per client); "
                                    f"try again in {retry_after_header(wait)} s",
                               {"Retry-After": retry_after_header(wait)})
        return None

    @app.get("/")
    def index():
        return render_template("index.html", title=settings.title, examples=settings.examples,
                               max_sentence_chars=settings.max_sentence_chars,
                               page_timeout_ms=int((settings.request_timeout_s + 2) * 1000))

    @app.post("/api")
    def api():
        body = _json_body(str, 'POST /api takes a JSON string, e.g. "이 영화 정말 재밌어요" '
                               "(for objects use POST /predict)")
        return jsonify(run([check_sentence(body, "the sentence")])[0])

    @app.post("/predict")
    def predict_post():
        body = _json_body(dict, 'POST /predict takes {"sentence": "..."} or {"sentences": [...]}')
        if "sentences" in body and "sentence" not in body:
            sentences = body["sentences"]
            if not isinstance(sentences, list) or not sentences:
                raise ApiError(400, '"sentences" must be a non-empty list of strings')
            if len(sentences) > settings.max_batch_sentences:
                raise ApiError(413, f"{len(sentences)} sentences in one request; the limit is "
                                    f"{settings.max_batch_sentences} (max_batch_sentences)")
            checked = [check_sentence(s, f"sentences[{i}]") for i, s in enumerate(sentences)]
            return jsonify({"predictions": run(checked)})
        if "sentence" not in body:
            raise ApiError(400, 'missing "sentence": send {"sentence": "..."} or {"sentences": [...]}')
        return jsonify(run([check_sentence(body["sentence"])])[0])

    @app.get("/predict")
    def predict_get():
        if "sentence" not in request.args:
            raise ApiError(400, "missing query parameter: /predict?sentence=...")
        return jsonify(run([check_sentence(request.args["sentence"])])[0])

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok", "model": classifier.describe() if classifier else {}})

    @app.errorhandler(ApiError)
    def api_error(error: ApiError):
        response = jsonify({"error": error.message})
        response.status_code = error.status
        response.headers.update(error.headers)
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        messages = {
            404: f"no such page: {request.path} (the API is POST /api, POST or GET /predict, GET /healthz)",
            405: f"{request.method} is not allowed on {request.path}",
            413: f"request body over {settings.max_body_bytes} bytes (max_body_bytes)",
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
        headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "no-referrer"
        origin = request.headers.get("Origin")
        if origin and origin in settings.cors_origins:
            headers["Access-Control-Allow-Origin"] = origin
            headers["Access-Control-Allow-Methods"] = "GET, POST"
            headers["Access-Control-Allow-Headers"] = "Content-Type, ngrok-skip-browser-warning"
            headers.add("Vary", "Origin")
        # Lengths and timings only: visitor text is not logged.
        logger.info("%s %s %s chars=%s %.1fms", request.method, request.path, response.status_code,
                    g.get("sentence_chars", "-"),
                    (time.perf_counter() - g.get("started", time.perf_counter())) * 1000)
        return response

    return app


def limit_public_traffic(app: Flask) -> Optional[str]:
    """Give a demo_app made without a rate limit the public default; returns the limit set."""
    if "demo_app" not in app.extensions or RATE_LIMITER in app.extensions:
        return None
    app.extensions[RATE_LIMITER] = RateLimiter(PUBLIC_RATE_LIMIT)
    return PUBLIC_RATE_LIMIT


def _classifier_of(model) -> Optional[Classifier]:
    """The Classifier behind ``model``: itself, or the one make_inference_fn attached."""
    classifier = model if isinstance(model, Classifier) else getattr(model, "classifier", None)
    return classifier if isinstance(classifier, Classifier) else None


def _predictor_for(model, classifier: Optional[Classifier],
                   settings: WebOptions) -> Callable[[List[str]], List[dict]]:
    if classifier is not None:
        def predict_many(sentences: List[str]) -> List[dict]:
            predictions = classifier.predict(sentences, timeout=settings.request_timeout_s)
            return [prediction_to_dict(p) for p in predictions]
        return predict_many
    if callable(model):  # a plain ratsnlp-style inference_fn; routes validated the sentences
        def call_each(sentences: List[str]) -> List[dict]:
            return [model(s) for s in sentences]
        return call_each
    raise TypeError("create_app() takes a Classifier (from load_classifier) or an inference_fn")


def _resource_dirs():
    """templates/ and static/: inside the installed package, or at the top of a source checkout."""
    package = Path(__file__).resolve().parent
    for root in (package, package.parent):
        if (root / "templates" / "index.html").is_file():
            return root / "templates", root / "static"
    raise RuntimeError(f"demo_app's templates/ folder is missing (looked in {package} and its parent)")


def _json_body(expected: type, usage: str):
    """The request's JSON, which must be of type ``expected``; ``usage`` says what to send."""
    if not request.is_json:
        raise ApiError(415, "send JSON with the header Content-Type: application/json, e.g. "
                            "curl -H 'Content-Type: application/json' -d '{\"sentence\": \"...\"}'")
    raw = request.get_data(cache=False)
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(400, "the request body is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise ApiError(400, f"the request body is not valid JSON ({error.msg} at position "
                            f"{error.pos})") from None
    except RecursionError:
        raise ApiError(400, "the request body's JSON is nested too deeply") from None
    if not isinstance(body, expected):
        raise ApiError(400, f"{usage}; got {_json_type(body)}")
    return body


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string",
             list: "a list", dict: "an object"}
    return names.get(type(value), type(value).__name__)


def _is_api_request() -> bool:
    path = request.path.rstrip("/") or "/"
    under_api = path in API_PATHS or path.startswith(tuple(p + "/" for p in API_PATHS))
    return under_api or request.is_json or request.accept_mimetypes.best == "application/json"


def _authorized(expected: str) -> bool:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return False
    try:
        given = base64.b64decode(header[6:], validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def _client_address() -> str:
    """The visitor's address. Behind a local tunnel agent every request comes from loopback, so
    the address the proxy appended to X-Forwarded-For (the last one) identifies the visitor."""
    remote = request.remote_addr or ""
    forwarded = request.headers.get("X-Forwarded-For", "")
    if forwarded and remote in ("127.0.0.1", "::1"):
        return forwarded.split(",")[-1].strip()
    return remote
