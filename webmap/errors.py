"""The ONE table mapping domain errors to HTTP status codes, and the handlers that use it.

``geo`` and ``detection`` raise domain errors; only this module decides what HTTP code a
user sees for each. API and tile requests get JSON (``{"error", "message"}``), pages an
error page with the same message.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from detection.errors import (
    AlignmentError,
    DetectionError,
    GridMismatchError,
    ModelError,
    TileReadError,
    TileWriteError,
)
from geo.errors import (
    ConfigError,
    ConflictError,
    DatabaseUnavailable,
    GeoError,
    ImportFileError,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from geo.imagery.errors import DuplicateScene, ImageryError, StoreError
from reports.errors import PeriodError, RenderError, ReportConfigError, ReportError, UnitNotFound


class WebError(Exception):
    """Base class of errors raised by the web edge itself."""


class TooManyAttempts(WebError, PermissionError):
    """Too many failed logins for this user name or address; try again later."""


#: Domain error → HTTP status. Order matters: the first matching class wins.
STATUS_CODES: list[tuple[type[BaseException], int]] = [
    (ConflictError, 409),
    (DuplicateScene, 409),
    (InvalidTransition, 409),
    (NotFound, 404),
    (PermissionDenied, 403),
    (TooManyAttempts, 429),
    (ImportFileError, 400),
    (ImageryError, 400),
    (StoreError, 500),
    (ValidationError, 400),
    (GridMismatchError, 422),
    (TileReadError, 422),
    (AlignmentError, 422),
    (TileWriteError, 500),
    (ModelError, 500),
    (DetectionError, 500),
    (PeriodError, 400),
    (UnitNotFound, 404),
    (ReportConfigError, 500),
    (RenderError, 500),
    (ReportError, 500),
    (DatabaseUnavailable, 503),
    (ConfigError, 500),
    (GeoError, 500),
]

_NAMES = {400: "bad_request", 401: "unauthorised", 403: "forbidden", 404: "not_found", 409: "conflict",
          413: "too_large", 422: "unprocessable", 429: "too_many_requests", 500: "server_error", 503: "unavailable"}


def status_for(exc: BaseException) -> int:
    """The HTTP status of a domain error (500 when it is not in the table)."""
    for cls, code in STATUS_CODES:
        if isinstance(exc, cls):
            return code
    return 500


def wants_json() -> bool:
    """Whether the current request should get a JSON error."""
    path = request.path
    if path.startswith(("/api/", "/tiles/")) or request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def error_response(code: int, message: str) -> Any:
    """A JSON or HTML error response."""
    if wants_json():
        return jsonify(error=_NAMES.get(code, str(code)), message=message), code
    return render_template("error.html", code=code, message=message), code


def register(app: Flask) -> None:
    """Install the handlers on ``app``."""

    def on_domain(exc: Exception) -> Any:
        code = status_for(exc)
        if code >= 500:
            app.logger.exception("domain error", exc_info=exc)
        return error_response(code, str(exc))

    app.register_error_handler(GeoError, on_domain)
    app.register_error_handler(WebError, on_domain)
    app.register_error_handler(DetectionError, on_domain)
    app.register_error_handler(ReportError, on_domain)

    def on_csrf(exc: CSRFError) -> Any:
        return error_response(400, f"CSRF token missing or invalid: {exc.description}")

    app.register_error_handler(CSRFError, on_csrf)

    def on_http(exc: HTTPException) -> Any:
        return error_response(exc.code or 500, exc.description or exc.name)

    app.register_error_handler(HTTPException, on_http)
