"""Every error the foundation produces leaves as RFC 9457 problem+json, through real requests."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask, abort
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.exc import DataError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from backend.extensions import db
from backend.models import User
from tests.conftest import AppFactory, AuthActions, assert_problem
from tests.conftest import User as ApiUser

MIB = 1024 * 1024
SECRET_MESSAGE = "boom: do not leak this detail"

Send = Callable[..., Any]


@contextmanager
def app_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Let caplog see the app's logs.

    The `tasktracker` logger does not propagate to the root logger, and creating an app resets
    its handlers (dropping the one pytest attached), so caplog's handler is attached here.
    """
    logger = logging.getLogger("tasktracker")
    attach = caplog.handler not in logger.handlers
    if attach:
        logger.addHandler(caplog.handler)
    try:
        yield
    finally:
        if attach:
            logger.removeHandler(caplog.handler)


@pytest.fixture(params=["/api/v1/auth/register", "/api/v1/tasks"])
def send_body(request: pytest.FixtureRequest, client: FlaskClient, auth: AuthActions) -> Send:
    """POST a raw body to a route that takes a JSON object (tasks: as a logged-in user)."""
    path: str = request.param
    headers = auth.user().headers if path.endswith("/tasks") else {}

    def send(data: bytes | str, content_type: str | None = "application/json") -> Any:
        return client.post(path, data=data, content_type=content_type, headers=headers)

    return send


def user_count() -> int:
    """Count the users in the database with a fresh session."""
    db.session.remove()
    return db.session.scalar(select(func.count(User.id))) or 0


# --- routing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api/v1/nope", "/nope", "/api/v2/tasks", "/api/v1/tasks/abc", "/api/v1/tasks/-1"],
)
def test_unknown_route_is_404_not_found(client: FlaskClient, path: str) -> None:
    assert_problem(client.get(path), 404, "not_found")


@pytest.mark.parametrize("task_id", ["999", "0", "2147483648", "99999999999", "1.5", "abc"])
def test_unknown_or_impossible_id_is_404_not_found(user: ApiUser, task_id: str) -> None:
    problem = assert_problem(user.get(f"/api/v1/tasks/{task_id}"), 404, "not_found")
    if task_id.isdigit() and len(task_id) <= 10:  # a route matched: the message names the id
        assert problem["detail"] == f"Task {task_id} was not found."


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/api/v1/health", "GET"),
        ("POST", "/api/v1/health", "GET"),
        ("GET", "/api/v1/auth/login", "POST"),
        ("PUT", "/api/v1/auth/register", "POST"),
        ("PUT", "/api/v1/tasks", "POST"),
    ],
)
def test_wrong_method_is_405_with_allow(
    client: FlaskClient, method: str, path: str, allowed: str
) -> None:
    response = client.open(path, method=method)
    assert_problem(response, 405, "method_not_allowed")
    allow = {item.strip() for item in response.headers["Allow"].split(",")}
    assert allowed in allow
    assert method not in allow


# --- bodies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"email": "a@example.com", "password": ', id="truncated"),
        pytest.param(b'{"title": NaN}', id="nan"),
        pytest.param(b'{"title": Infinity}', id="infinity"),
        pytest.param(b'{"title": -Infinity}', id="minus-infinity"),
        pytest.param(b'{"title": "x"} trailing', id="trailing-garbage"),
        pytest.param(b'{"title": "x"}{}', id="two-documents"),
        pytest.param(b"{'title': 'x'}", id="single-quotes"),
        pytest.param(b'{"title": "x",}', id="trailing-comma"),
        pytest.param(b'{"title": "caf\xe9"}', id="invalid-utf8"),
        pytest.param(b"\xff\xfe{}", id="invalid-utf8-prefix"),
        pytest.param(b'{"title": "\xed\xa0\x80"}', id="utf8-encoded-surrogate"),
        pytest.param(b'{"title": "\xc0\xaf"}', id="overlong-utf8"),
        pytest.param(b"", id="empty"),
        pytest.param(b"[" * 100_000, id="deeply-nested-arrays"),
        pytest.param(b'{"a":' * 100_000, id="deeply-nested-objects"),
    ],
)
def test_body_that_is_not_json_is_400_invalid_json(send_body: Send, body: bytes) -> None:
    body_json = assert_problem(send_body(body), 400, "invalid_json")
    assert "errors" not in body_json


@pytest.mark.parametrize("body", ["[]", '[{"title": "x"}]', '"title"', "17", "1.5", "null", "true"])
def test_json_body_that_is_not_an_object_is_400_validation_error(
    send_body: Send, body: str
) -> None:
    problem = assert_problem(send_body(body), 400, "validation_error")
    assert problem["errors"]


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "application/xml",
        "application/jsonx",
        "text/json",
    ],
)
def test_wrong_content_type_is_415(send_body: Send, content_type: str) -> None:
    assert_problem(send_body('{"title": "x"}', content_type), 415, "unsupported_media_type")


def test_body_without_content_type_is_415(send_body: Send) -> None:
    assert_problem(send_body('{"title": "x"}', None), 415, "unsupported_media_type")


def test_json_content_type_with_charset_is_accepted(send_body: Send) -> None:
    response = send_body("{}", "application/json; charset=utf-8")
    problem = assert_problem(response, 400, "validation_error")
    assert problem["errors"]  # the body was parsed and validated: a required field is missing


def test_body_over_one_mib_is_413(send_body: Send) -> None:
    body = b'{"title": "' + b"a" * MIB + b'"}'
    assert_problem(send_body(body), 413, "payload_too_large")


def test_body_of_exactly_one_mib_is_not_413(send_body: Send) -> None:
    prefix, suffix = b'{"unknown_padding": "', b'"}'
    body = prefix + b"a" * (MIB - len(prefix) - len(suffix)) + suffix
    assert len(body) == MIB
    assert_problem(send_body(body), 400, "validation_error")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        pytest.param(b'{"title": "' + b"a" * MIB + b'"}', 413, "payload_too_large", id="over"),
        # A valid object padded past the limit must not be cut to a valid prefix and accepted.
        pytest.param(b'{"email": "x"}' + b" " * MIB, 413, "payload_too_large", id="padded"),
        pytest.param(b"{" + b" " * (MIB - 2) + b"}", 400, "validation_error", id="exactly-1-mib"),
    ],
)
def test_streamed_body_is_limited_to_one_mib(
    client: FlaskClient, body: bytes, status: int, code: str
) -> None:
    response = client.post(
        "/api/v1/auth/register",
        input_stream=io.BytesIO(body),
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        # What a WSGI server (gunicorn) sets for a chunked body: no Content-Length to check.
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert_problem(response, status, code)


# --- 500 ----------------------------------------------------------------------------------


def _add_user_and_raise(error: Exception) -> Callable[[], Any]:
    """Return a view that writes a row into the session and then fails."""

    def view() -> Any:
        db.session.add(User(email="pending@example.com", password_hash="x"))
        db.session.flush()
        raise error

    return view


def _app_with_route(make_app: AppFactory, view: Callable[[], Any]) -> tuple[Flask, list[bool]]:
    """Add `view` at /api/v1/_test and record whether a DB transaction is open afterwards."""
    app = make_app()
    app.add_url_rule("/api/v1/_test", "test_view", view, methods=["GET", "POST"])
    in_transaction: list[bool] = []

    @app.after_request
    def record_session(response: Any) -> Any:
        in_transaction.append(db.session().in_transaction())
        return response

    return app, in_transaction


def test_unexpected_exception_is_500_without_details_and_logged(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app, in_transaction = _app_with_route(
        make_app, _add_user_and_raise(RuntimeError(SECRET_MESSAGE))
    )
    with app_logs(caplog):
        response = app.test_client().get("/api/v1/_test", headers={"X-Request-ID": "req-500"})

    problem = assert_problem(response, 500, "internal_error")
    text = response.get_data(as_text=True)
    for leak in ("Traceback", "RuntimeError", SECRET_MESSAGE, 'File "', "pending@example.com"):
        assert leak not in text
    assert set(problem) == {"type", "title", "status", "detail", "code"}
    assert response.headers["X-Request-ID"] == "req-500"

    errors = [r for r in caplog.records if r.name == "tasktracker.errors"]
    assert len(errors) == 1
    assert errors[0].levelno == logging.ERROR
    assert errors[0].fields == {"request_id": "req-500"}  # type: ignore[attr-defined]
    assert errors[0].exc_info is not None
    assert errors[0].exc_info[0] is RuntimeError

    assert in_transaction == [False]  # the handler rolled the session back
    with app.app_context():
        assert user_count() == 0


def test_unmapped_integrity_error_is_409_and_rolled_back(make_app: AppFactory) -> None:
    def view() -> Any:
        db.session.add(User(email="dup@example.com", password_hash="x"))
        db.session.flush()
        db.session.add(User(email="DUP@example.com", password_hash="x"))
        db.session.flush()

    app, in_transaction = _app_with_route(make_app, view)
    response = app.test_client().get("/api/v1/_test")
    problem = assert_problem(response, 409, "conflict")
    assert "dup@example.com" not in response.get_data(as_text=True).lower()
    assert "errors" not in problem
    assert in_transaction == [False]
    with app.app_context():
        assert user_count() == 0


def test_database_data_error_is_400_validation_error(make_app: AppFactory) -> None:
    error = DataError("INSERT INTO secret_table", {}, ValueError("value out of range"))
    app, in_transaction = _app_with_route(make_app, _add_user_and_raise(error))
    response = app.test_client().get("/api/v1/_test")
    assert_problem(response, 400, "validation_error")
    assert "secret_table" not in response.get_data(as_text=True)
    assert in_transaction == [False]


def test_pool_timeout_is_503(make_app: AppFactory) -> None:
    app, in_transaction = _app_with_route(
        make_app, _add_user_and_raise(PoolTimeoutError("QueuePool limit reached"))
    )
    response = app.test_client().get("/api/v1/_test")
    assert_problem(response, 503, "service_unavailable")
    assert response.headers["Retry-After"]
    assert in_transaction == [False]


def test_other_http_exceptions_keep_their_status_as_problem_json(make_app: AppFactory) -> None:
    app, _ = _app_with_route(make_app, lambda: abort(406))
    response = app.test_client().get("/api/v1/_test")
    assert_problem(response, 406, "not_acceptable")


# --- 503 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("postgresql+psycopg://x@127.0.0.1:1/x", id="postgresql-refused"),
        pytest.param("sqlite:////nonexistent-dir/x.db", id="sqlite-unopenable"),
    ],
)
def test_database_outage_is_503_quickly(
    make_app: AppFactory, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(DATABASE_URL=url)
    started = time.monotonic()
    with app_logs(caplog):
        response = app.test_client().get("/api/v1/health", headers={"X-Request-ID": "outage-1"})
    assert time.monotonic() - started < 5
    assert_problem(response, 503, "service_unavailable")
    assert response.headers["Retry-After"].isdigit()
    text = response.get_data(as_text=True)
    assert "127.0.0.1" not in text
    assert "nonexistent" not in text
    assert any(
        r.name == "tasktracker.errors" and r.fields == {"request_id": "outage-1"}  # type: ignore[attr-defined]
        for r in caplog.records
    )


def test_problem_bodies_are_compact_json_like_success_bodies(user: ApiUser) -> None:
    """One JSON style for every body: no spaces after separators, errors included."""
    for response in (
        user.get("/api/v1/tasks/999"),
        user.post("/api/v1/tasks", json={"title": ""}),
        user.get("/api/v1/auth/me"),
    ):
        text = response.get_data(as_text=True)
        assert text.startswith("{"), text
        assert ", " not in text, text
        assert '": ' not in text, text
