"""One exception hierarchy and one set of handlers: every error leaves as RFC 9457 problem+json."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, current_app
from flask_limiter.errors import RateLimitExceeded
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException

log = logging.getLogger("tasktracker.errors")

PROBLEM_JSON = "application/problem+json"

# The contract's code for each status that werkzeug or a library may raise on its own.
CODES_BY_STATUS = {
    400: "validation_error",
    401: "token_missing",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}
DETAILS_BY_STATUS = {
    400: "The request is invalid.",
    404: "The requested resource was not found.",
    405: "The method is not allowed for this resource.",
    413: "The request body is larger than 1 MiB.",
    415: "The request body must be sent as Content-Type: application/json.",
    429: "Too many requests: slow down and retry after the time in Retry-After.",
    500: "An unexpected error occurred.",
    503: "The service is temporarily unavailable; retry shortly.",
}


class APIError(Exception):
    """An error the API reports to its client; subclasses fix status and code."""

    status = 500
    code = "internal_error"
    detail = "An unexpected error occurred."

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        errors: Mapping[str, list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Build the error; each argument overrides the class default."""
        super().__init__(detail or self.detail)
        self.detail = detail or self.detail
        self.code = code or self.code
        self.errors = dict(errors) if errors is not None else None
        self.headers = dict(headers or {})


class ValidationFailed(APIError):
    """A body field or query parameter is missing, of the wrong type, out of range or unknown."""

    status = 400
    code = "validation_error"
    detail = "The request is invalid."

    @classmethod
    def on(cls, field: str, message: str) -> ValidationFailed:
        """Return the error for one field with one message."""
        return cls(errors={field: [message]})


class InvalidJSON(APIError):
    """The body does not parse as JSON."""

    status = 400
    code = "invalid_json"
    detail = "The request body is not valid JSON."


class Unauthorized(APIError):
    """Authentication is missing or failed; `code` says why."""

    status = 401
    code = "token_invalid"
    detail = "The access token is invalid."

    def __init__(self, detail: str | None = None, *, code: str | None = None) -> None:
        """Build a 401, which always challenges with `WWW-Authenticate: Bearer`."""
        super().__init__(detail, code=code, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(APIError):
    """The resource exists but belongs to another user."""

    status = 403
    code = "forbidden"
    detail = "You do not have access to this resource."


class NotFound(APIError):
    """No such resource."""

    status = 404
    code = "not_found"
    detail = "The requested resource was not found."


class Conflict(APIError):
    """A uniqueness conflict or an operation already in flight."""

    status = 409
    code = "conflict"
    detail = "The request conflicts with the current state of the resource."


class PreconditionFailed(APIError):
    """`If-Match` does not match the current ETag."""

    status = 412
    code = "precondition_failed"
    detail = "The resource has changed: If-Match does not match its current ETag."


class UnsupportedMediaType(APIError):
    """The body is not JSON."""

    status = 415
    code = "unsupported_media_type"
    detail = DETAILS_BY_STATUS[415]


class ServiceUnavailable(APIError):
    """A service the request needs is not there (the database, or mail in production)."""

    status = 503
    code = "service_unavailable"
    detail = DETAILS_BY_STATUS[503]


class UnprocessableContent(APIError):
    """The request is well-formed but cannot be processed as sent (idempotency reuse)."""

    status = 422
    code = "unprocessable"


# RFC 9110's reason phrases where Python's `HTTPStatus` still has older ones (before 3.13).
TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}


def title_for(status: int) -> str:
    """Return the RFC 9110 reason phrase of `status`."""
    return TITLES.get(status) or HTTPStatus(status).phrase


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    errors: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Build an RFC 9457 problem+json response."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title_for(status),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    # Compact, like every success body (`backend.http.register_http`); ASCII, as a bad field's
    # name may hold a lone surrogate, which UTF-8 cannot carry.
    text = json.dumps(body, separators=(",", ":")) + "\n"  # a newline at the end, like Flask's
    response = Response(text, status=status, mimetype=PROBLEM_JSON)
    response.headers.update(headers or {})
    return response


def _roll_back() -> None:
    """Roll the request's database session back, before anything else can use it."""
    current_app.extensions["sqlalchemy"].session.rollback()


def handle_api_error(error: APIError) -> Response:
    """Answer one of our own errors."""
    return problem(
        error.status, error.code, error.detail, errors=error.errors, headers=error.headers
    )


def problem_for_http_exception(error: HTTPException) -> Response:
    """Answer an error raised by werkzeug or Flask (routing, size limits, and so on)."""
    status = error.code or 500
    headers = {
        key: _sorted_list(value) if key == "Allow" else value
        for key, value in error.get_headers()
        if key.lower() != "content-type"
    }
    code = CODES_BY_STATUS.get(status, HTTPStatus(status).phrase.lower().replace(" ", "_"))
    detail = DETAILS_BY_STATUS.get(status, error.description or HTTPStatus(status).description)
    return problem(status, code, detail, headers=headers)


def _sorted_list(value: str) -> str:
    """Sort a comma-separated header value, so that `Allow` reads the same on every run."""
    return ", ".join(sorted(item.strip() for item in value.split(",")))


def handle_rate_limited(error: RateLimitExceeded) -> Response:
    """Answer a request over its rate limit; `backend.middleware` adds `Retry-After`."""
    detail = f"Too many requests: the limit is {error.limit.limit}. Retry after the time given."
    return problem(429, "rate_limited", detail)


def handle_integrity_error(error: IntegrityError) -> Response:
    """Answer a database integrity error that no service turned into a precise 4xx."""
    _roll_back()
    log.warning("unmapped integrity error: %s", error.orig.__class__.__name__)
    return problem(409, "conflict", Conflict.detail)


def handle_database_error(error: DBAPIError | PoolTimeoutError) -> Response:
    """Answer a database outage (refused connection, timeout, lost server) with 503."""
    _roll_back()
    # The driver's first line says why ("no such table: users", "Connection refused").
    reason = str(getattr(error, "orig", None) or error).split("\n", 1)[0]
    log.error("database unavailable: %s: %s", error.__class__.__name__, reason)
    return problem(503, "service_unavailable", DETAILS_BY_STATUS[503], headers={"Retry-After": "5"})


def handle_data_error(error: DataError) -> Response:
    """Answer a value the database refused (out of range, bad encoding) as the client's mistake."""
    _roll_back()
    log.warning("database refused a value: %s", error.orig.__class__.__name__)
    return problem(400, "validation_error", "A value in the request is out of range or invalid.")


def handle_unexpected(_error: Exception) -> Response:
    """Answer any other exception with a bare 500, logging it (with the request id field)."""
    log.exception("unhandled error")
    _roll_back()
    return problem(500, "internal_error", DETAILS_BY_STATUS[500])


def register_error_handlers(app: Flask) -> None:
    """Route every kind of exception to its handler."""
    app.register_error_handler(APIError, handle_api_error)
    app.register_error_handler(RateLimitExceeded, handle_rate_limited)
    app.register_error_handler(IntegrityError, handle_integrity_error)
    app.register_error_handler(DataError, handle_data_error)
    app.register_error_handler(OperationalError, handle_database_error)
    app.register_error_handler(PoolTimeoutError, handle_database_error)
    app.register_error_handler(Exception, handle_unexpected)
