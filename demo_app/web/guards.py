"""The rules every request goes through, one unit each, composed in one place (:func:`guards_for`).

A guard may set up the app (``install``), look at a request before any route (``before``: return
a response, raise an ``ApiError``, or None to go on) and change every response (``after``). They
run in the order :func:`guards_for` lists them, and ``after`` in the reverse order, like a
middleware stack: the access log is outermost, so it logs what the client finally got.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import time
from typing import Dict, FrozenSet, List, Optional

from flask import Flask, Request, Response, current_app, g, jsonify, request

from ..colab import in_colab
from .errors import ApiError
from .rate_limits import RateLimiter, retry_after_header
from .routes import RouteMarks
from .state import DemoState, current_visitor, demo_state

logger = logging.getLogger("demo_app.web")

AUTH_FAILURE_LIMIT = "5/minute"  # wrong passwords per visitor; beyond it -> 429
# Only the app's own files. Framing: the app itself and Colab's notebook page; inside a Colab
# runtime also Colab's output frames, which live on per-session googleusercontent.com hosts.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'self' https://colab.research.google.com"
)
COLAB_OUTPUT_FRAMES = " https://*.googleusercontent.com"


class Guard:
    def install(self, app: Flask) -> None:
        """Set the app up (once, when it is made)."""

    def before(self) -> Optional[Response]:
        """Look at the request before its route; a response (or an ApiError) ends it here."""
        return None

    def after(self, response: Response) -> Response:
        return response


def guards_for(state: DemoState, routes: RouteMarks) -> List[Guard]:
    """The demo's guards, outermost first, for the app's routes (``routes.py``)."""
    settings = state.settings
    larger = {path: getattr(settings, setting) for path, setting in routes.body_limits.items()}
    assert settings.max_body_bytes is not None  # the task's, when not set (DemoState.build)
    guards = [AccessLog(), BodyLimits(settings.max_body_bytes, larger), AnswerOptions()]
    if settings.auth:
        guards.append(BasicAuth(settings.auth))
    guards += [RateLimit(routes.costing_work), SecurityHeaders(in_colab()), Cors(settings.cors_origins)]
    return guards


def install_guards(app: Flask, guards: List[Guard]) -> None:
    for guard in guards:
        guard.install(app)

    @app.before_request
    def before():
        for guard in guards:
            response = guard.before()
            if response is not None:
                return response
        return None

    @app.after_request
    def after(response: Response) -> Response:
        for guard in reversed(guards):
            response = guard.after(response)
        return response


class AccessLog(Guard):
    """One line per request: method, path, status, text length and time. Never visitor text."""

    def before(self) -> None:
        g.started = time.perf_counter()

    def after(self, response: Response) -> Response:
        logger.info("%s %s %s chars=%s %.1fms", request.method, _loggable(request.path),
                    response.status_code, g.get("sentence_chars", "-"),
                    (time.perf_counter() - g.get("started", time.perf_counter())) * 1000)
        return response


class BodyLimits(Guard):
    """Request bodies up to ``default`` bytes, or a path's own limit (files are larger); the
    server reads the same limits to discard larger bodies unread (``serving.waitress_setup``)."""

    def __init__(self, default: int, per_path: Dict[str, int]) -> None:
        self.default, self.per_path = default, per_path

    def install(self, app: Flask) -> None:
        app.request_class = _LimitedRequest
        app.config["MAX_CONTENT_LENGTH"] = self.default
        app.config["DEMO_APP_BODY_LIMITS"] = dict(self.per_path)


class _LimitedRequest(Request):
    """A request whose body limit depends on its path."""

    @property  # type: ignore[misc]  # werkzeug's is settable; this one follows the path
    def max_content_length(self) -> Optional[int]:  # type: ignore[override]
        limits = current_app.config.get("DEMO_APP_BODY_LIMITS", {})
        return limits.get(self.path, current_app.config["MAX_CONTENT_LENGTH"])


class AnswerOptions(Guard):
    """CORS preflights and OPTIONS probes get JSON (Flask's default is an empty page)."""

    def before(self) -> Optional[Response]:
        if request.method != "OPTIONS" or request.routing_exception is not None:
            return None
        methods = sorted(current_app.url_map.bind_to_environ(request.environ).allowed_methods(request.path))
        response = jsonify({"allowed_methods": methods})
        response.headers["Allow"] = ", ".join(methods)
        return response


class BasicAuth(Guard):
    """HTTP basic auth for everything but ``/healthz``.

    The right password always gets in: it cannot be locked out, however many wrong guesses
    came from the same address (behind an ssh tunnel or Colab's proxy every visitor is
    127.0.0.1). Only the failing attempts are throttled: past ``AUTH_FAILURE_LIMIT`` wrong
    passwords a visitor's wrong ones answer 429, and they never count against anyone else.
    Guessing is then bounded by the password's strength: ``create_app(auth="user")`` (or
    ``--auth user``) makes a strong one.
    """

    def __init__(self, credentials: str) -> None:
        self.credentials = credentials
        self.failures = RateLimiter(AUTH_FAILURE_LIMIT, everyone=False)

    def before(self) -> None:
        if request.path == "/healthz" or self._authorized():
            return
        if "Authorization" in request.headers:  # a guess; a first visit sends none
            wait = self.failures.check(current_visitor())
            if wait:
                raise ApiError(429, f"too many wrong passwords; try again in {retry_after_header(wait)} s",
                               {"Retry-After": retry_after_header(wait)})
        raise ApiError(401, "this demo needs a user name and password",
                       {"WWW-Authenticate": 'Basic realm="demo_app", charset="UTF-8"'})

    def _authorized(self) -> bool:
        scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
        if scheme.lower() != "basic":  # RFC 9110: the scheme is case-insensitive
            return False
        try:
            given = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return hmac.compare_digest(given.encode(), self.credentials.encode())


class RateLimit(Guard):
    """The state's rate limit (per visitor and for everyone) on the routes that cost work
    (``endpoints``). The limiter is looked up per request: ``serve()`` adds one when it opens a
    public tunnel."""

    def __init__(self, endpoints: FrozenSet[str]) -> None:
        self.endpoints = endpoints

    def before(self) -> None:
        limiter = demo_state().rate_limiter
        if limiter is None or request.endpoint not in self.endpoints:
            return
        wait = limiter.check(current_visitor())
        if wait:
            raise ApiError(429, f"too many requests (limit {limiter.rate} per visitor, "
                                f"{limiter.total} for everyone); try again in {retry_after_header(wait)} s",
                           {"Retry-After": retry_after_header(wait)})


class SecurityHeaders(Guard):
    def __init__(self, in_colab: bool = False) -> None:
        self.headers = security_headers(in_colab)

    def after(self, response: Response) -> Response:
        response.headers.update(self.headers)
        return response


def security_headers(in_colab: bool = False) -> Dict[str, str]:
    """The headers every response of the demo carries (the server's own error pages too)."""
    return {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY + (COLAB_OUTPUT_FRAMES if in_colab else ""),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


class Cors(Guard):
    """The API for the listed other origins only; ``Vary: Origin`` whenever there are some."""

    def __init__(self, origins) -> None:
        self.origins = tuple(origins)

    def after(self, response: Response) -> Response:
        if not self.origins:
            return response
        response.headers.add("Vary", "Origin")
        origin = request.headers.get("Origin")
        if origin in self.origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Methods"] = "GET, POST"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type, ngrok-skip-browser-warning"
        return response


def _loggable(path: str) -> str:
    """``path`` on one log line: control characters (a visitor's %0D%0A) escaped."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in path)
