"""The app factory: the demo's Flask app around a predictor, as in Flask's own tutorial.

    app = create_app(load_predictor(), rate_limit="60/minute")

Settings (``options.py``) and the app's parts (``state.py``) go into one object on the app; the
guards every request passes (``guards.py``) and the error handlers (``errors.py``) are
registered; then one blueprint per resource: the page and prediction API (``pages.py``), whole
files (``files.py``) and the history (``history.py``).
"""

from __future__ import annotations

import secrets
import sys
from typing import Optional

from flask import Flask

from .errors import register_error_handlers
from .explain import explain_routes
from .files import file_routes
from .guards import guards_for, install_guards
from .history import history_routes
from .options import WebOptions
from .pages import pages
from .proxies import TrustedProxies
from .rate_limits import RateLimiter
from .routes import read_marks
from .state import DemoState, resource_dirs
from .stream import stream_routes

PUBLIC_RATE_LIMIT = "60/minute"  # per visitor, applied by serve() when a tunnel opens
WEAK_PASSWORD_CHARS = 12  # shorter passwords get a warning: guessing them is bounded only by time


def create_app(model, **options) -> Flask:
    """Build the demo's Flask app around a :class:`~demo_app.Predictor` or an ``inference_fn``.

    ``model`` is what ``load_predictor`` returns (any task; routes, page and ``/healthz``
    follow its task), or any ratsnlp-style ``inference_fn(sentence) -> dict`` (served as
    document classification). ``options`` are the fields of :class:`WebOptions`.
    """
    state = DemoState.build(model, _with_password(WebOptions(**options)))
    templates, static = resource_dirs()
    app = Flask("demo_app", template_folder=str(templates), static_folder=str(static))
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # Flask's DefaultJSONProvider
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["demo_app"] = state
    app.register_blueprint(pages)
    if state.jobs is not None:
        app.register_blueprint(file_routes)
    if state.task.pipeline.streams and state.predictor is not None:
        app.register_blueprint(stream_routes)
    if state.history is not None:
        app.register_blueprint(history_routes)
    if state.task.pipeline.explains and state.predictor is not None:
        app.register_blueprint(explain_routes)
    routes = app.config["DEMO_APP_ROUTES"] = read_marks(app)
    install_guards(app, guards_for(state, routes))
    register_error_handlers(app)
    app.wsgi_app = TrustedProxies(app.wsgi_app, state.settings)  # type: ignore[method-assign]
    return app


def _with_password(settings: WebOptions) -> WebOptions:
    """``auth="user"`` gets a generated strong password, shown once on the terminal (never in
    the log); a short given one gets a warning."""
    if settings.auth and ":" not in settings.auth:
        password = secrets.token_urlsafe(12)
        settings.auth = f"{settings.auth}:{password}"
        print(f"Visitors log in as {settings.auth.split(':')[0]!r} with the password {password} "
              "(generated now; shown only here)", file=sys.stderr, flush=True)
    elif settings.auth and len(settings.auth.partition(":")[2]) < WEAK_PASSWORD_CHARS:
        print(f"warning: the visitor password is shorter than {WEAK_PASSWORD_CHARS} characters; a "
              "guesser is slowed but not stopped. Give the user alone for a generated one.",
              file=sys.stderr, flush=True)
    return settings


def limit_public_traffic(app: Flask, forwarded_hops: int = 0) -> Optional[str]:
    """Prepare a demo_app for a public tunnel: trust the ``forwarded_hops`` the tunnel adds to
    X-Forwarded-For, and give an app made without a rate limit the public default.
    Returns the limit set, if any."""
    state: Optional[DemoState] = app.extensions.get("demo_app")
    if state is None:
        return None
    state.settings.forwarded_hops = max(state.settings.forwarded_hops, forwarded_hops)
    if state.rate_limiter is not None:
        return None
    state.rate_limiter = RateLimiter(PUBLIC_RATE_LIMIT, state.settings.rate_limit_total)
    return PUBLIC_RATE_LIMIT
