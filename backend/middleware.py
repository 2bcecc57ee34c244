"""Request and response plumbing: request ids, one log line per request, CORS, headers."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context, request
from flask_cors import CORS
from werkzeug.exceptions import RequestEntityTooLarge

from backend.extensions import limiter

REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,128}")
ALLOWED_HEADERS = [
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
    "X-Request-ID",
]
EXPOSED_HEADERS = [
    "ETag",
    "Link",
    "Location",
    "Retry-After",
    "X-Request-ID",
    "Idempotent-Replayed",
    "RateLimit",
    "RateLimit-Policy",
]
RATE_LIMIT_POLICY_NAME = "auth"
EMPTY_STATUSES = frozenset({204, 304})
# Sent only when a trusted proxy says the request came over HTTPS: a year, no preload (that
# list is an operator's decision about the whole domain).
HSTS = "max-age=31536000; includeSubDomains"
# Control characters (Unicode Cc) and the Unicode line separators: any of them in a text log
# line could end it and start a forged one.
UNSAFE_LOG_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

# The format of werkzeug's request line (`WSGIRequestHandler.log_request`).
WERKZEUG_REQUEST_LINE = '"%s" %s %s'

request_log = logging.getLogger("tasktracker.request")


def rfc3339(record: logging.LogRecord) -> str:
    """Return the record's time as the API writes times: UTC, microseconds, `Z`."""
    return datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def escape_control_characters(text: str) -> str:
    r"""Write control characters as Python escapes (`\n`, `\x1b`, `\u2028`): one line stays one."""
    return UNSAFE_LOG_CHARACTERS.sub(lambda match: match[0].encode("unicode_escape").decode(), text)


class RequestIdFilter(logging.Filter):
    """Give every record logged during a request its `request_id` as a structured field."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add `request_id` to the record's fields (keeping one it already has); keep it."""
        fields = getattr(record, "fields", {})
        if has_request_context() and "request_id" in g and "request_id" not in fields:
            record.fields = {**fields, "request_id": g.request_id}
        return True


class WerkzeugRequestLineFilter(logging.Filter):
    """Drop the development server's own line per request: the app logs each request once.

    Werkzeug logs its start-up banner and errors through the same logger; they pass.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record but werkzeug's request line (`… "GET / HTTP/1.1" 200 -`)."""
        return not str(record.msg).endswith(WERKZEUG_REQUEST_LINE)


class JSONFormatter(logging.Formatter):
    """Format a log record as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record, with the request fields a request log line carries."""
        entry: dict[str, Any] = {
            "time": rfc3339(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class KeyValueFormatter(logging.Formatter):
    """Format a log record as `time level logger message key=value …` for a terminal.

    The message and the values are escaped, so that no request can forge a line; a traceback
    follows on lines of its own, each indented, so that only a record starts a line.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Render the record on one line, then its traceback (if any) indented below it."""
        line = f"{rfc3339(record)} {record.levelname} {record.name} {record.getMessage()}"
        fields = getattr(record, "fields", {})
        if fields:
            line += " " + " ".join(f"{key}={value}" for key, value in fields.items())
        line = escape_control_characters(line)
        if record.exc_info:
            for trace_line in self.formatException(record.exc_info).splitlines():
                line += "\n  " + escape_control_characters(trace_line)
        return line


def configure_logging(app: Flask) -> None:
    """Send the app's logs to stderr, as JSON in production."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if app.config["LOG_JSON"] else KeyValueFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger("tasktracker")
    root.handlers[:] = [handler]
    root.setLevel(app.config["LOG_LEVEL"])
    root.propagate = False


def quiet_development_server() -> None:
    """Leave the request log to the app under `flask run` (werkzeug would log each twice)."""
    werkzeug_log = logging.getLogger("werkzeug")
    if not any(isinstance(f, WerkzeugRequestLineFilter) for f in werkzeug_log.filters):
        werkzeug_log.addFilter(WerkzeugRequestLineFilter())


def assign_request_id() -> None:
    """Adopt the client's well-formed `X-Request-ID`, or make one; start the request clock."""
    g.started = time.perf_counter()
    supplied = request.headers.get("X-Request-ID", "")
    g.request_id = supplied if REQUEST_ID_PATTERN.fullmatch(supplied) else uuid.uuid4().hex


def limit_streamed_body() -> None:
    """Answer 413 to a body sent without `Content-Length` (chunked) that passes the size limit.

    Werkzeug cuts such a stream at `MAX_CONTENT_LENGTH` without an error, which would turn a
    body over 1 MiB into a truncated one (a 400, or a valid prefix) instead of a 413.
    """
    environ = request.environ
    if request.content_length is not None or not environ.get("wsgi.input_terminated"):
        return
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    body = environ["wsgi.input"].read(limit + 1)
    if len(body) > limit:
        raise RequestEntityTooLarge
    environ["wsgi.input"] = io.BytesIO(body)


def rate_limit_headers() -> dict[str, str]:
    """Return the draft-09 `RateLimit` and `RateLimit-Policy` headers for this request, if any."""
    current = limiter.current_limit
    if current is None:
        return {}
    window = current.limit.get_expiry()
    reset = max(0, int(current.reset_at - time.time()))
    # A shared limit is named by its scope (e.g. "password"); a route's own limits are "auth".
    name = str(current.request_args[1]) if current.shared else RATE_LIMIT_POLICY_NAME
    headers = {
        "RateLimit-Policy": f'"{name}";q={current.limit.amount};w={window}',
        "RateLimit": f'"{name}";r={max(0, current.remaining)};t={reset}',
    }
    if current.breached:
        headers["Retry-After"] = str(max(1, reset))
    return headers


def finish_response(response: Response) -> Response:
    """Add the request id, security and rate-limit headers, then log the request."""
    response.headers["X-Request-ID"] = g.get("request_id") or uuid.uuid4().hex
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if current_app.config["PROXY_COUNT"] and request.scheme == "https":
        response.headers["Strict-Transport-Security"] = HSTS
    if response.status_code in EMPTY_STATUSES or (
        request.method == "OPTIONS" and not response.content_length
    ):
        response.headers.pop("Content-Type", None)
    for key, value in rate_limit_headers().items():
        response.headers.setdefault(key, value)
    started = g.get("started")
    duration_ms = (time.perf_counter() - started) * 1000 if started else 0.0
    request_log.info(
        "request",
        extra={
            "fields": {
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round(duration_ms, 2),
                "request_id": response.headers["X-Request-ID"],
                "user_id": g.get("user_id"),
            }
        },
    )
    return response


def answer_preflight() -> Response | None:
    """Answer every CORS preflight under /api/ with 204, even where no route matches.

    Flask answers OPTIONS only for routes that exist; without this a browser could never read
    the 404 of an unknown path, as its preflight would fail first. Flask-CORS adds the headers
    for an allowed origin; any other origin gets the same 204 without them (so the browser
    refuses), whether or not `CORS_ORIGINS` allows any origin at all.
    """
    if (
        request.method == "OPTIONS"
        and "Access-Control-Request-Method" in request.headers
        and request.path.startswith("/api/")
    ):
        return Response(status=204)
    return None


def vary_on_origin(response: Response) -> Response:
    """Mark API responses as varying by `Origin`, since their CORS headers do."""
    if request.path.startswith("/api/"):
        response.vary.add("Origin")
    return response


def register_middleware(app: Flask) -> None:
    """Install the request hooks and CORS on `app`."""
    configure_logging(app)
    app.before_request(assign_request_id)
    app.before_request(limit_streamed_body)
    app.after_request(finish_response)
    app.before_request(answer_preflight)
    origins = app.config["CORS_ORIGINS"]
    if origins:
        app.after_request(vary_on_origin)
        CORS(
            app,
            resources={r"/api/*": {"origins": origins}},
            allow_headers=ALLOWED_HEADERS,
            expose_headers=EXPOSED_HEADERS,
            methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            max_age=600,
            supports_credentials=False,
            vary_header=True,
            always_send=False,
        )
