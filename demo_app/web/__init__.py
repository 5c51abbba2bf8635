"""The web app: ``create_app`` (``app.py``) with its options (``options.py``), the guards every
request passes (``guards.py``: access log, body limits, auth, rate limits, security headers,
CORS), errors (``errors.py``), request bodies (``inputs.py``), who a visitor is (``visitors.py``,
``rate_limits.py``), and one blueprint per resource: ``pages.py`` (the page, ``/api``,
``/predict``, ``/healthz``), ``files.py`` (``/predict/file``, ``/jobs``) and ``history.py``
(``/flag``, ``/history``)."""

from .app import PUBLIC_RATE_LIMIT, create_app, limit_public_traffic
from .errors import ApiError
from .guards import security_headers
from .options import WebOptions

__all__ = ["ApiError", "PUBLIC_RATE_LIMIT", "WebOptions", "create_app", "limit_public_traffic",
           "security_headers"]
