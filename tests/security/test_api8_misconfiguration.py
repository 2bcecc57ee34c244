"""OWASP API8:2023 Security Misconfiguration.

CORS answers only the configured origins (none by default in production) and never with
credentials; every API response says `nosniff` and `no-store`; the production configuration
runs without debug and refuses weak signing keys; and an unexpected error in production shows
nothing of its cause.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from backend import config as config_module
from backend.config import ConfigError, load_config
from tests.conftest import AppFactory, User, assert_problem
from tests.security.conftest import API

ALLOWED_ORIGIN = "http://localhost:5173"
STRONG_SECRET = "a-production-signing-key-of-48-characters-0123456"
ALLOWED_HEADERS = {"authorization", "content-type", "if-match", "if-none-match", "idempotency-key"}
EXPOSED_HEADERS = {
    "etag",
    "link",
    "location",
    "retry-after",
    "x-request-id",
    "idempotent-replayed",
    "ratelimit",
    "ratelimit-policy",
}


def header_set(value: str | None) -> set[str]:
    return {item.strip().lower() for item in (value or "").split(",") if item.strip()}


def cors_headers(response: Any) -> list[str]:
    return [name for name, _ in response.headers.items() if name.startswith("Access-Control-")]


def preflight(client: FlaskClient, origin: str, path: str = f"{API}/tasks/1") -> Any:
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "Authorization, Content-Type, If-Match, "
            "If-None-Match, Idempotency-Key",
        },
    )


# ------------------------------------------------------------------------------ CORS


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "null",
        "http://localhost:5173.evil.example",
        "http://localhost:51730",
        "http://evil.example/http://localhost:5173",
        "https://localhost:5173",
    ],
)
def test_other_origins_get_no_cors_headers(client: FlaskClient, user: User, origin: str) -> None:
    simple = user.get(f"{API}/tasks", headers={"Origin": origin})
    assert simple.status_code == 200
    flight = preflight(client, origin)
    for response in (simple, flight):
        assert cors_headers(response) == [], origin


def test_preflight_from_an_allowed_origin(client: FlaskClient) -> None:
    response = preflight(client, ALLOWED_ORIGIN)
    assert response.status_code in {200, 204}
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "patch" in header_set(response.headers["Access-Control-Allow-Methods"])
    assert header_set(response.headers["Access-Control-Allow-Headers"]) >= ALLOWED_HEADERS
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_allowed_origin_sees_the_exposed_headers(user: User) -> None:
    response = user.get(f"{API}/tasks", headers={"Origin": ALLOWED_ORIGIN})
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert header_set(response.headers["Access-Control-Expose-Headers"]) >= EXPOSED_HEADERS
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert response.headers.get("Access-Control-Allow-Origin") != "*"


def test_production_allows_no_origin_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORS_ORIGINS", raising=False)
    monkeypatch.setattr(config_module, "dotenv_values", lambda _path: {})
    settings = load_config({"APP_ENV": "production", "JWT_SECRET_KEY": STRONG_SECRET})
    assert settings["CORS_ORIGINS"] == []


def test_production_app_sends_no_cors_headers_without_origins(make_app: AppFactory) -> None:
    app = make_app(APP_ENV="production", JWT_SECRET_KEY=STRONG_SECRET, CORS_ORIGINS="")
    client = app.test_client()
    for response in (
        client.get(f"{API}/health", headers={"Origin": ALLOWED_ORIGIN}),
        preflight(client, ALLOWED_ORIGIN),
    ):
        assert cors_headers(response) == []


# ------------------------------------------------------------------------------ headers


def responses_of_every_kind(client: FlaskClient, user: User) -> dict[str, Any]:
    task = user.post(f"{API}/tasks", json={"title": "Headers"})
    path = f"{API}/tasks/{task.get_json()['id']}"
    return {
        "200": user.get(path),
        "201": task,
        "304": user.get(path, headers={"If-None-Match": task.headers["ETag"]}),
        "400": user.get(f"{API}/tasks?limit=0"),
        "401": client.get(f"{API}/tasks"),
        "404": user.get(f"{API}/nowhere"),
        "405": client.put(f"{API}/health"),
        "413": user.post(f"{API}/tasks", data="x" * (1024 * 1024 + 1), content_type="text/plain"),
        "415": user.post(f"{API}/tasks", data="x", content_type="text/plain"),
        "health": client.get(f"{API}/health"),
        "openapi": client.get(f"{API}/openapi.json"),
        "preflight": preflight(client, ALLOWED_ORIGIN),
        "204": user.delete(path),
    }


def test_every_api_response_is_nosniff_and_no_store(client: FlaskClient, user: User) -> None:
    for kind, response in responses_of_every_kind(client, user).items():
        assert response.headers.get("X-Content-Type-Options") == "nosniff", kind
        assert response.headers.get("Cache-Control") == "no-store", kind
        assert response.headers.get("Referrer-Policy") == "no-referrer", kind


def test_errors_are_problem_json_never_html(client: FlaskClient, user: User) -> None:
    for kind, response in responses_of_every_kind(client, user).items():
        if response.status_code >= 400:
            assert response.mimetype == "application/problem+json", kind
            assert "<html" not in response.get_data(as_text=True).lower(), kind


def test_docs_page_has_a_content_security_policy(client: FlaskClient) -> None:
    response = client.get(f"{API}/docs")
    policy = response.headers["Content-Security-Policy"]
    assert "default-src" in policy
    assert "*" not in policy.replace("'self'", "")


@pytest.mark.parametrize("request_id", ["a" * 129, "evil\tvalue", "x;y", "ünïcode", ""])
def test_unsafe_request_ids_are_not_echoed(client: FlaskClient, request_id: str) -> None:
    response = client.get(f"{API}/health", headers={"X-Request-ID": request_id})
    assert response.headers["X-Request-ID"] != request_id


# ------------------------------------------------------------------------------ configuration


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read only the overrides: no `.env` file and no JWT or CORS settings from the shell."""
    for name in ("JWT_SECRET_KEY", "APP_ENV", "CORS_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(config_module, "dotenv_values", lambda _path: {})


@pytest.mark.usefixtures("clean_environment")
def test_production_runs_without_debug() -> None:
    settings = load_config({"APP_ENV": "production", "JWT_SECRET_KEY": STRONG_SECRET})
    assert settings["DEBUG"] is False
    assert settings["TESTING"] is False
    assert settings["PROPAGATE_EXCEPTIONS"] is False
    assert settings["JWT_DECODE_ALGORITHMS"] == ["HS256"]
    assert settings["JWT_TOKEN_LOCATION"] == ["headers"]
    assert settings["AUTO_MIGRATE"] is False


def test_production_app_is_not_in_debug_mode(make_app: AppFactory) -> None:
    app = make_app(APP_ENV="production", JWT_SECRET_KEY=STRONG_SECRET)
    assert app.debug is False
    assert app.testing is False


@pytest.mark.usefixtures("clean_environment")
@pytest.mark.parametrize("secret", [None, "", "short", "x" * 31])
def test_production_refuses_missing_or_short_secrets(secret: str | None) -> None:
    overrides = {"APP_ENV": "production"}
    if secret is not None:
        overrides["JWT_SECRET_KEY"] = secret
    with pytest.raises(ConfigError, match="JWT_SECRET_KEY"):
        load_config(overrides)


@pytest.mark.usefixtures("clean_environment")
@pytest.mark.parametrize(
    "secret",
    [
        pytest.param(" " * 40, id="blank"),
        pytest.param("\t" * 40, id="tabs"),
    ],
)
def test_production_refuses_blank_secrets(secret: str) -> None:
    """A key of blanks is no key: it is refused like a missing one."""
    with pytest.raises(ConfigError, match="JWT_SECRET_KEY"):
        load_config({"APP_ENV": "production", "JWT_SECRET_KEY": secret})


def test_a_production_500_shows_nothing_of_its_cause(make_app: AppFactory) -> None:
    app: Flask = make_app(APP_ENV="production", JWT_SECRET_KEY=STRONG_SECRET)

    def explode() -> str:
        raise RuntimeError("SELECT password_hash FROM users -- /srv/secret/path.py line 42")

    app.add_url_rule(f"{API}/explode", "explode", explode)
    response = app.test_client().get(f"{API}/explode")
    body = assert_problem(response, 500, "internal_error")
    text = response.get_data(as_text=True)
    for leak in ("Traceback", 'File "', "RuntimeError", "SELECT", "password_hash", "/srv", "42"):
        assert leak not in text, leak
    assert set(body) == {"type", "title", "status", "detail", "code"}
    assert response.headers["X-Request-ID"]
