"""Errors: every API answer that is not a result is JSON ``{"error": "..."}`` with a 4xx status
(503 when overloaded, 500 when the model itself fails), never a traceback or an HTML page."""

from __future__ import annotations

import logging
from typing import Dict, Optional

from flask import Flask, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from ..tasks import FieldError

logger = logging.getLogger("demo_app.web")


class ApiError(Exception):
    """An answer to the client: a status code and a message a person can act on."""

    def __init__(self, status: int, message: str, headers: Optional[Dict[str, str]] = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def register_error_handlers(app: Flask) -> None:
    """JSON errors for the API; a short plain-text page for a browser that asked for a page."""
    app.register_error_handler(ApiError, api_error_response)
    app.register_error_handler(FieldError, _input_error)  # a field or picture that cannot be used
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)


def api_error_response(error: ApiError):
    response = jsonify({"error": error.message})
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


def _input_error(error: FieldError):
    return api_error_response(ApiError(error.status, str(error)))


def _http_error(error: HTTPException):
    messages = {
        404: f"no such page: {request.path} (the API is POST /api, POST or GET /predict, "
             "POST /predict/file, GET /healthz)",
        405: f"{request.method} is not allowed on {request.path}",
        413: _too_large(),
    }
    message = messages.get(error.code or 500, error.description or error.name)
    if not is_api_request() and error.code != 413:
        plain_text = {"Content-Type": "text/plain; charset=utf-8"}
        return f"{error.code} {error.name}: {message}\n", error.code, plain_text
    response = jsonify({"error": message})
    response.status_code = error.code or 500
    allowed = getattr(error, "valid_methods", None)  # a MethodNotAllowed's
    if error.code == 405 and allowed:
        response.headers["Allow"] = ", ".join(allowed)
    return response


def _too_large() -> str:
    """Why a body was refused: its size, or (a form within the size) its parts."""
    limit = request.max_content_length
    length = request.content_length
    if request.mimetype == "multipart/form-data" and length is not None and (limit is None or length <= limit):
        return (f"the form has more than {request.max_form_parts} parts, or a field over "
                f"{request.max_form_memory_size} bytes; send one file in the field \"file\"")
    own_limit = request.path in current_app.config.get("DEMO_APP_BODY_LIMITS", {})  # file uploads
    return f"request body over {limit} bytes ({'max_file_bytes' if own_limit else 'max_body_bytes'})"


def _unexpected_error(error: Exception):
    logger.exception("unexpected error on %s %s", request.method, request.path)
    response = jsonify({"error": "the server failed to handle this request; it has been logged"})
    response.status_code = 500
    return response


def is_api_request() -> bool:
    routes = current_app.config.get("DEMO_APP_ROUTES")
    under_api = routes is not None and routes.is_api_path(request.path)
    return under_api or request.is_json or request.accept_mimetypes.best == "application/json"


__all__ = ["ApiError", "is_api_request", "register_error_handlers"]
