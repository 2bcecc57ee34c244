"""Request plumbing: request ids, one log line per request, security headers and CORS."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask, request
from flask.testing import FlaskClient

from backend.app import create_app
from backend.database import dispose_engines
from tests.conftest import PASSWORD, AppFactory, AuthActions, User, assert_problem

ORIGIN = "http://localhost:5173"  # the allowed origin of the test defaults
FRESH_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
EXPOSED = {
    "ETag",
    "Link",
    "Location",
    "Retry-After",
    "X-Request-ID",
    "Idempotent-Replayed",
    "RateLimit",
    "RateLimit-Policy",
}
ALLOWED_HEADERS = ["Authorization", "Content-Type", "If-Match", "If-None-Match", "Idempotency-Key"]


def header_set(value: str | None) -> set[str]:
    """Split a comma-separated header into a case-insensitive set."""
    return {item.strip().lower() for item in (value or "").split(",") if item.strip()}


def cors_headers(response: Any) -> dict[str, str]:
    """Return the response's `Access-Control-*` headers."""
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


@contextmanager
def app_logs(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """Capture the app's log records (caplog) and its formatted output (the returned stream).

    The `tasktracker` logger does not propagate to the root logger, and creating an app resets
    its handlers (dropping the one pytest attached), so caplog's handler is attached here.
    """
    logger = logging.getLogger("tasktracker")
    (handler,) = [h for h in logger.handlers if type(h) is logging.StreamHandler]
    stream = io.StringIO()
    handler.setStream(stream)
    attach = caplog.handler not in logger.handlers
    if attach:
        logger.addHandler(caplog.handler)
    try:
        yield stream
    finally:
        if attach:
            logger.removeHandler(caplog.handler)


def request_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Return the request log records captured so far."""
    return [r for r in caplog.records if r.name == "tasktracker.request"]


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """Return the structured fields of a request log record."""
    return record.fields  # type: ignore[attr-defined]


# --- X-Request-ID -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["a", "A" * 128, "abc.DEF_123-x", "0f8fad5b-d9cb-469f-a165-70867728950e", "...", "-_-"],
)
def test_valid_client_request_id_is_echoed(client: FlaskClient, value: str) -> None:
    response = client.get("/api/v1/health", headers={"X-Request-ID": value})
    assert response.headers["X-Request-ID"] == value


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("A" * 129, id="too-long"),
        pytest.param("has space", id="space"),
        pytest.param("", id="empty"),
        pytest.param("réquest", id="non-ascii"),
        pytest.param("a/b", id="slash"),
        pytest.param("a,b", id="comma"),
        pytest.param("a\tb", id="tab"),
        pytest.param("<script>", id="markup"),
    ],
)
def test_invalid_client_request_id_is_replaced(client: FlaskClient, value: str) -> None:
    first = client.get("/api/v1/health", headers={"X-Request-ID": value})
    second = client.get("/api/v1/health", headers={"X-Request-ID": value})
    ids = [first.headers["X-Request-ID"], second.headers["X-Request-ID"]]
    for request_id in ids:
        assert request_id != value
        assert FRESH_ID.fullmatch(request_id)
    assert ids[0] != ids[1]


def test_request_id_is_generated_when_none_is_sent(client: FlaskClient) -> None:
    ids = {client.get("/api/v1/health").headers["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3
    assert all(FRESH_ID.fullmatch(request_id) for request_id in ids)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/api/v1/health", {}, 200),
        ("GET", "/api/v1/nope", {}, 404),
        ("DELETE", "/api/v1/health", {}, 405),
        ("GET", "/api/v1/tasks", {}, 401),
        ("POST", "/api/v1/auth/register", {"data": "{", "content_type": "application/json"}, 400),
        ("POST", "/api/v1/auth/register", {"data": "x", "content_type": "text/plain"}, 415),
        (
            "POST",
            "/api/v1/auth/register",
            {"data": b"x" * (1024 * 1024 + 1), "content_type": "application/json"},
            413,
        ),
        ("OPTIONS", "/api/v1/tasks", {}, 200),
    ],
)
def test_every_response_has_request_id_and_security_headers(
    client: FlaskClient, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    response = client.open(path, method=method, headers={"X-Request-ID": "trace-1"}, **kwargs)
    assert response.status_code == status
    assert response.headers["X-Request-ID"] == "trace-1"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_authenticated_responses_have_request_id_and_security_headers(user: User) -> None:
    created = user.post("/api/v1/tasks", json={"title": "t"}, headers={"X-Request-ID": "t-2"})
    assert created.status_code == 201
    deleted = user.delete(created.headers["Location"], headers={"X-Request-ID": "t-3"})
    assert deleted.status_code == 204
    for response, request_id in ((created, "t-2"), (deleted, "t-3")):
        assert response.headers["X-Request-ID"] == request_id
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"


# --- request log --------------------------------------------------------------------------


def test_one_log_line_per_request_with_its_fields(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with app_logs(caplog) as output:
        ok = client.get("/api/v1/health", headers={"X-Request-ID": "log-1"})
        missing = client.get("/api/v1/nope?secret=1")
    records = request_records(caplog)
    assert len(records) == 2
    assert all(r.levelno == logging.INFO for r in records)
    first, second = fields(records[0]), fields(records[1])
    assert first["method"] == "GET"
    assert first["path"] == "/api/v1/health"
    assert first["status"] == 200
    assert isinstance(first["duration_ms"], float)
    assert first["duration_ms"] >= 0
    assert first["request_id"] == "log-1" == ok.headers["X-Request-ID"]
    assert first["user_id"] is None
    assert second["status"] == 404
    assert second["path"] == "/api/v1/nope"  # the query string is not logged
    assert second["request_id"] == missing.headers["X-Request-ID"]

    lines = output.getvalue().splitlines()
    assert len(lines) == 2
    assert "method=GET" in lines[0]
    assert "path=/api/v1/health" in lines[0]
    assert "status=200" in lines[0]
    assert "request_id=log-1" in lines[0]
    assert "secret" not in output.getvalue()


def test_log_line_names_the_authenticated_user(
    user: User, caplog: pytest.LogCaptureFixture
) -> None:
    with app_logs(caplog):
        assert user.get("/api/v1/auth/me").status_code == 200
    (record,) = request_records(caplog)
    assert fields(record)["user_id"] == user.id
    assert fields(record)["status"] == 200


def test_logs_never_contain_credentials(
    client: FlaskClient, auth: AuthActions, caplog: pytest.LogCaptureFixture
) -> None:
    password = "Secret-Passw0rd!"
    with app_logs(caplog) as output:
        auth.register("logged@example.com", password)
        tokens = auth.login("logged@example.com", password).get_json()
        auth.login("logged@example.com", "Wrong-Passw0rd!")
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        client.get("/api/v1/auth/me", headers=headers)
        client.get("/api/v1/auth/me", headers={"Authorization": "Bearer not.a.valid-token"})
        client.post(
            "/api/v1/auth/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
        )
    assert len(request_records(caplog)) == 6
    captured = output.getvalue() + caplog.text
    captured += "".join(json.dumps(fields(r), default=str) for r in request_records(caplog))
    for secret in (
        password,
        "Wrong-Passw0rd!",
        tokens["access_token"],
        tokens["refresh_token"],
        "not.a.valid-token",
        "Bearer",
        "Authorization",
        "$argon2",
    ):
        assert secret not in captured


def test_json_log_lines_when_log_json_is_on(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(LOG_JSON="true")

    def boom() -> str:
        raise ZeroDivisionError

    app.add_url_rule("/api/v1/_boom", "boom", boom)
    client = app.test_client()
    with app_logs(caplog) as output:
        client.get("/api/v1/health", headers={"X-Request-ID": "json-1"})
        client.get("/api/v1/_boom", headers={"X-Request-ID": "json-2"})
    entries = [json.loads(line) for line in output.getvalue().splitlines()]
    requests = [e for e in entries if e["logger"] == "tasktracker.request"]
    assert [e["request_id"] for e in requests] == ["json-1", "json-2"]
    assert requests[0]["level"] == "INFO"
    assert requests[0]["message"] == "request"
    assert requests[0]["method"] == "GET"
    assert requests[0]["path"] == "/api/v1/health"
    assert requests[0]["status"] == 200
    assert requests[1]["status"] == 500
    assert "duration_ms" in requests[0]
    assert "time" in requests[0]
    (error,) = [e for e in entries if e["logger"] == "tasktracker.errors"]
    assert error["level"] == "ERROR"
    assert error["request_id"] == "json-2"  # a field, not a part of the message
    assert error["message"] == "unhandled error"
    assert "ZeroDivisionError" in error["exception"]


def test_text_log_lines_when_log_json_is_off(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(LOG_JSON="false")
    with app_logs(caplog) as output:
        app.test_client().get("/api/v1/health")
    (line,) = output.getvalue().splitlines()
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)
    assert "INFO tasktracker.request request method=GET" in line


def test_log_level_filters_request_lines(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(LOG_LEVEL="warning")
    with app_logs(caplog) as output:
        app.test_client().get("/api/v1/health")
    assert request_records(caplog) == []
    assert output.getvalue() == ""


# --- CORS ---------------------------------------------------------------------------------


def test_allowed_origin_gets_cors_headers(client: FlaskClient) -> None:
    response = client.get("/api/v1/health", headers={"Origin": ORIGIN})
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert header_set(response.headers["Access-Control-Expose-Headers"]) == header_set(
        ",".join(EXPOSED)
    )


def test_allowed_origin_gets_cors_headers_on_errors(client: FlaskClient) -> None:
    response = client.get("/api/v1/tasks", headers={"Origin": ORIGIN})
    assert_problem(response, 401, "token_missing")
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "x-request-id" in header_set(response.headers["Access-Control-Expose-Headers"])


@pytest.mark.parametrize("method", ["PATCH", "DELETE", "PUT", "POST", "GET"])
def test_preflight_from_allowed_origin(client: FlaskClient, method: str) -> None:
    response = client.options(
        "/api/v1/tasks/1",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": ", ".join(ALLOWED_HEADERS),
        },
    )
    assert response.status_code in {200, 204}
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert header_set(response.headers["Access-Control-Allow-Headers"]) >= header_set(
        ",".join(ALLOWED_HEADERS)
    )
    methods = header_set(response.headers["Access-Control-Allow-Methods"])
    assert {"get", "post", "put", "patch", "delete"} <= methods
    assert int(response.headers["Access-Control-Max-Age"]) > 0


def test_preflight_does_not_allow_other_headers(client: FlaskClient) -> None:
    response = client.options(
        "/api/v1/tasks",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "X-Evil",
        },
    )
    assert "x-evil" not in header_set(response.headers.get("Access-Control-Allow-Headers"))


@pytest.mark.parametrize(
    "origin",
    ["http://evil.example", "http://localhost:5174", "https://localhost:5173", "null"],
)
def test_disallowed_origin_gets_no_cors_headers(client: FlaskClient, origin: str) -> None:
    simple = client.get("/api/v1/health", headers={"Origin": origin})
    preflight = client.options(
        "/api/v1/tasks",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "Authorization",
        },
    )
    assert simple.status_code == 200
    assert cors_headers(simple) == {}
    assert cors_headers(preflight) == {}


def test_request_without_origin_gets_no_cors_headers(client: FlaskClient) -> None:
    assert cors_headers(client.get("/api/v1/health")) == {}
    assert cors_headers(client.options("/api/v1/tasks")) == {}


def test_several_configured_origins_are_each_allowed(make_app: AppFactory) -> None:
    client = make_app(CORS_ORIGINS="https://a.example, https://b.example/").test_client()
    for origin in ("https://a.example", "https://b.example"):
        response = client.get("/api/v1/health", headers={"Origin": origin})
        assert response.headers["Access-Control-Allow-Origin"] == origin
    assert cors_headers(client.get("/api/v1/health", headers={"Origin": ORIGIN})) == {}


def test_production_default_allows_no_origin(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.delenv("CORS_ORIGINS", raising=False)
    monkeypatch.setattr("backend.config.PROJECT_ROOT", tmp_path)  # no .env file
    app = create_app(
        {"APP_ENV": "production", "DATABASE_URL": database_url, "JWT_SECRET_KEY": "k" * 32}
    )
    try:
        assert app.config["CORS_ORIGINS"] == []
        client = app.test_client()
        for origin in (ORIGIN, "http://localhost:3000", "http://127.0.0.1:5173"):
            response = client.get("/api/v1/health", headers={"Origin": origin})
            assert response.status_code == 200
            assert cors_headers(response) == {}
    finally:
        dispose_engines(app)


# --- proxies ------------------------------------------------------------------------------


def _remote_addr_app(make_app: AppFactory, **overrides: Any) -> Flask:
    app = make_app(**overrides)
    app.add_url_rule("/api/v1/_addr", "addr", lambda: {"addr": request.remote_addr})
    return app


def test_forwarded_for_is_trusted_only_with_proxy_count(make_app: AppFactory) -> None:
    forwarded = {"X-Forwarded-For": "203.0.113.7"}
    direct = _remote_addr_app(make_app).test_client()
    proxied = _remote_addr_app(make_app, PROXY_COUNT=1).test_client()
    assert direct.get("/api/v1/_addr", headers=forwarded).get_json()["addr"] == "127.0.0.1"
    assert proxied.get("/api/v1/_addr", headers=forwarded).get_json()["addr"] == "203.0.113.7"


def test_me_and_logout_log_lines_carry_no_credentials(
    user: User, caplog: pytest.LogCaptureFixture
) -> None:
    with app_logs(caplog) as output:
        user.get("/api/v1/auth/me")
        user.post("/api/v1/auth/logout")
    assert PASSWORD not in output.getvalue()
    assert user.access_token not in output.getvalue()
    assert [fields(r)["status"] for r in request_records(caplog)] == [200, 204]


def test_preflight_to_a_path_without_a_route_is_answered(client):
    """A browser must be able to read the 404 of an unknown path: its preflight succeeds."""
    response = client.options(
        "/api/v1/no-such-route",
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert "Origin" in response.headers.get("Vary", "")
    followed = client.get("/api/v1/no-such-route", headers={"Origin": "http://localhost:5173"})
    assert followed.status_code == 404
    assert followed.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"


def test_plain_options_without_preflight_headers_is_not_hijacked(client):
    response = client.options("/api/v1/no-such-route")
    assert response.status_code == 404
