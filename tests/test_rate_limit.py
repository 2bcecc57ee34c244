"""Rate limits on login and register: per client address, with 429 and draft-09 headers."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from backend.services.users import register_user
from tests.conftest import PASSWORD, AppFactory, AuthActions, assert_problem

API = "/api/v1"
REGISTER, LOGIN, ME = f"{API}/auth/register", f"{API}/auth/login", f"{API}/auth/me"
POLICY = '"auth";q=3;w=60'
RATELIMIT = re.compile(r'"auth";r=(\d+);t=(\d+)')
_emails = itertools.count(1)


@pytest.fixture
def limited_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(AUTH_RATE_LIMIT="3 per minute")


def post(client: FlaskClient, path: str, **kwargs: Any) -> Any:
    """Log in (as a known user) or register (a new email each time)."""
    if path == LOGIN:
        body = {"email": "ada@example.com", "password": PASSWORD}
    else:
        body = {"email": f"limited{next(_emails)}@example.com", "password": PASSWORD}
    return client.post(path, json=body, **kwargs)


def remaining(response: Any) -> tuple[int, int]:
    match = RATELIMIT.fullmatch(response.headers["RateLimit"])
    assert match, response.headers["RateLimit"]
    return int(match[1]), int(match[2])


def seed_user(app: Flask) -> None:
    """Create ada@example.com directly through the service, spending no rate-limit hit."""
    with app.app_context():
        register_user("ada@example.com", PASSWORD)


def assert_rate_limited(response: Any) -> None:
    assert_problem(response, 429, "rate_limited")
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit(), retry_after
    assert 1 <= int(retry_after) <= 60
    assert response.headers["RateLimit-Policy"] == POLICY
    left, reset = remaining(response)
    assert left == 0
    assert 0 <= reset <= 60


@pytest.mark.parametrize("path", [LOGIN, REGISTER])
def test_fourth_request_is_rate_limited(limited_app: Flask, path: str):
    seed_user(limited_app)
    client = limited_app.test_client()
    expected = 200 if path == LOGIN else 201
    seen = []
    for _ in range(3):
        response = post(client, path)
        assert response.status_code == expected, response.get_json()
        assert response.headers["RateLimit-Policy"] == POLICY
        seen.append(remaining(response)[0])
    assert seen == [2, 1, 0]
    limited = post(client, path)
    assert_rate_limited(limited)
    assert "errors" not in limited.get_json()
    # Still limited on the next try, whatever the body.
    assert_rate_limited(client.post(path, json={}))


def test_rate_limited_register_creates_nothing(limited_app: Flask):
    client = limited_app.test_client()
    for _ in range(3):
        assert post(client, REGISTER).status_code == 201
    response = client.post(REGISTER, json={"email": "late@example.com", "password": PASSWORD})
    assert_rate_limited(response)
    assert_problem(
        client.post(LOGIN, json={"email": "late@example.com", "password": PASSWORD}),
        401,
        "invalid_credentials",
    )


def test_failed_attempts_count_too(limited_app: Flask):
    seed_user(limited_app)
    client = limited_app.test_client()
    wrong = {"email": "ada@example.com", "password": "Wrong-Horse-9"}
    for _ in range(3):
        assert_problem(client.post(LOGIN, json=wrong), 401, "invalid_credentials")
    # Even the right password is refused now: guessing cannot go on.
    assert_rate_limited(post(client, LOGIN))


def test_other_routes_are_not_limited(limited_app: Flask):
    seed_user(limited_app)
    client = limited_app.test_client()
    token = post(client, LOGIN).get_json()["access_token"]
    for _ in range(5):
        response = client.get(ME, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        assert "RateLimit" not in response.headers
        assert "RateLimit-Policy" not in response.headers


def test_limit_is_per_client_address(limited_app: Flask):
    seed_user(limited_app)
    client = limited_app.test_client()
    first = {"REMOTE_ADDR": "192.0.2.1"}
    for _ in range(3):
        assert post(client, LOGIN, environ_base=first).status_code == 200
    assert_rate_limited(post(client, LOGIN, environ_base=first))
    assert post(client, LOGIN, environ_base={"REMOTE_ADDR": "192.0.2.2"}).status_code == 200


def test_forwarded_for_is_ignored_without_a_proxy(limited_app: Flask):
    assert limited_app.config["PROXY_COUNT"] == 0
    seed_user(limited_app)
    client = limited_app.test_client()
    remote = {"REMOTE_ADDR": "192.0.2.1"}
    for index in range(3):
        response = post(
            client, LOGIN, environ_base=remote, headers={"X-Forwarded-For": f"198.51.100.{index}"}
        )
        assert response.status_code == 200
    spoofed = post(client, LOGIN, environ_base=remote, headers={"X-Forwarded-For": "198.51.100.99"})
    assert_rate_limited(spoofed)


def test_forwarded_for_is_honoured_behind_one_proxy(make_app: Callable[..., Flask]):
    app = make_app(AUTH_RATE_LIMIT="3 per minute", PROXY_COUNT=1)
    seed_user(app)
    client = app.test_client()
    proxy = {"REMOTE_ADDR": "10.0.0.1"}

    def login_from(address: str) -> Any:
        return post(client, LOGIN, environ_base=proxy, headers={"X-Forwarded-For": address})

    for _ in range(3):
        assert login_from("198.51.100.1").status_code == 200
    assert_rate_limited(login_from("198.51.100.1"))
    # Another client behind the same proxy has its own counter...
    fresh = login_from("198.51.100.2")
    assert fresh.status_code == 200
    assert remaining(fresh)[0] == 2
    # ...and only the address the proxy appended counts, not what the client claims before it.
    assert_rate_limited(login_from("203.0.113.7, 198.51.100.1"))


def test_default_limit_is_ten_per_minute(make_app: Callable[..., Flask]):
    app = make_app(AUTH_RATE_LIMIT="")
    assert app.config["AUTH_RATE_LIMIT"] == "10 per minute"
    response = app.test_client().post(LOGIN, json={"email": "x@example.com", "password": "x"})
    assert response.headers["RateLimit-Policy"] == '"auth";q=10;w=60'
    assert remaining(response)[0] == 9


def test_limits_can_be_switched_off(make_app: Callable[..., Flask]):
    """RATELIMIT_ENABLED=false (as in a load test) builds the app and limits nothing."""
    app = make_app(AUTH_RATE_LIMIT="1 per minute", RATELIMIT_ENABLED=False)
    seed_user(app)
    client = app.test_client()
    statuses = [post(client, LOGIN).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert "RateLimit" not in client.post(LOGIN, json={"email": "x@example.com"}).headers


def test_password_checks_are_limited_per_user(make_app: AppFactory) -> None:
    """POST /auth/password and DELETE /auth/me share one counter per user: 429 past it."""
    app = make_app(PASSWORD_CHECK_RATE_LIMIT="2 per minute")
    auth = AuthActions(app.test_client())
    user, other = auth.user(), auth.user()
    wrong = {"current_password": "Wrong-Horse-1", "new_password": "Another-Horse-10"}
    for _ in range(2):
        refused = user.post("/api/v1/auth/password", json=wrong)
        assert_problem(refused, 401, "invalid_credentials")
        assert refused.headers["RateLimit-Policy"] == '"password";q=2;w=60'
    limited = user.delete("/api/v1/auth/me", json={"password": user.password})
    assert_problem(limited, 429, "rate_limited")
    assert int(limited.headers["Retry-After"]) >= 1
    assert user.get("/api/v1/auth/me").status_code == 200  # the account was not deleted
    # Another user's checks are counted apart.
    assert_problem(other.post("/api/v1/auth/password", json=wrong), 401, "invalid_credentials")
