"""HSTS behind a trusted HTTPS proxy, the local-origins CORS default, preflights answered 204."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from backend import config as config_module
from backend.app import create_app
from backend.database import dispose_engines
from tests.conftest import TEST_JWT_SECRET, AppFactory
from tests.test_middleware import cors_headers

HSTS = "max-age=31536000; includeSubDomains"
HTTPS = {"X-Forwarded-Proto": "https"}


def preflight(client: FlaskClient, origin: str, path: str = "/api/v1/tasks") -> Any:
    """Send a browser's preflight for a PATCH with a token."""
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "Authorization",
        },
    )


# --- HSTS -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("proxy_count", "forwarded_proto"),
    [(1, "https"), (2, "https, http")],  # the outer proxy, PROXY_COUNT hops out, saw HTTPS
)
def test_https_through_a_trusted_proxy_gets_hsts(
    make_app: AppFactory, proxy_count: int, forwarded_proto: str
) -> None:
    client = make_app(PROXY_COUNT=proxy_count).test_client()
    headers = {"X-Forwarded-Proto": forwarded_proto}
    for response in (
        client.get("/api/v1/health", headers=headers),
        client.get("/api/v1/nowhere", headers=headers),
        client.get("/api/v1/tasks", headers=headers),
    ):
        assert response.headers["Strict-Transport-Security"] == HSTS


@pytest.mark.parametrize(
    ("proxy_count", "headers"),
    [
        pytest.param(0, HTTPS, id="untrusted-proxy-header"),
        pytest.param(1, {}, id="plain-http-through-proxy"),
        pytest.param(1, {"X-Forwarded-Proto": "http"}, id="proxy-says-http"),
        pytest.param(2, {"X-Forwarded-Proto": "http, https"}, id="outer-proxy-says-http"),
        pytest.param(0, {}, id="plain-http"),
    ],
)
def test_no_hsts_unless_a_trusted_proxy_says_https(
    make_app: AppFactory, proxy_count: int, headers: dict[str, str]
) -> None:
    client = make_app(PROXY_COUNT=proxy_count).test_client()
    assert "Strict-Transport-Security" not in client.get("/api/v1/health", headers=headers).headers


def test_no_hsts_over_https_without_a_proxy_count(make_app: AppFactory) -> None:
    """TLS that reaches the app directly is not the deployment HSTS is promised for."""
    client = make_app().test_client()
    response = client.get("/api/v1/health", base_url="https://localhost")
    assert "Strict-Transport-Security" not in response.headers


# --- the CORS default -----------------------------------------------------------------------


@pytest.fixture
def default_cors_app(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Flask]:
    """Return an app (not production) whose `CORS_ORIGINS` is left unset."""
    monkeypatch.delenv("CORS_ORIGINS", raising=False)
    monkeypatch.setattr(config_module, "PROJECT_ROOT", tmp_path)  # no .env file
    app = create_app(
        {"APP_ENV": "testing", "DATABASE_URL": database_url, "JWT_SECRET_KEY": TEST_JWT_SECRET}
    )
    yield app
    dispose_engines(app)


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost:5173",
        "http://localhost:5174",  # Vite's next port
        "http://localhost:4173",  # vite preview
        "http://localhost:4200",  # Angular
        "http://127.0.0.1:3000",
        "http://localhost:8080",
        "http://localhost",
    ],
)
def test_development_allows_any_local_dev_server(default_cors_app: Flask, origin: str) -> None:
    client = default_cors_app.test_client()
    simple = client.get("/api/v1/health", headers={"Origin": origin})
    assert simple.headers["Access-Control-Allow-Origin"] == origin
    response = preflight(client, origin)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == origin


@pytest.mark.parametrize(
    "origin",
    [
        "https://localhost:5173",  # the pattern is for plain-HTTP dev servers
        "http://localhost:5173.evil.example",
        "http://localhost.evil.example",
        "http://127.0.0.1.evil.example:80",
        "http://evil.example",
        "http://localhost:5173/",
        "http://localhost:123456",
        "null",
    ],
)
def test_development_default_refuses_other_origins(default_cors_app: Flask, origin: str) -> None:
    client = default_cors_app.test_client()
    assert cors_headers(client.get("/api/v1/health", headers={"Origin": origin})) == {}
    assert cors_headers(preflight(client, origin)) == {}


# --- preflights -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/tasks", "/api/v1/tasks/1", "/api/v1/no-such-route"])
@pytest.mark.parametrize("origins", ["", "https://app.example"])
def test_every_preflight_under_api_is_answered_204(
    make_app: AppFactory, path: str, origins: str
) -> None:
    """With or without allowed origins: a refused origin simply gets no CORS headers."""
    client = make_app(APP_ENV="production", CORS_ORIGINS=origins).test_client()
    response = preflight(client, "http://localhost:5173", path)
    assert response.status_code == 204
    assert cors_headers(response) == {}
    assert response.get_data() == b""


def test_plain_options_is_answered_by_the_route(make_app: AppFactory) -> None:
    client = make_app(APP_ENV="production", CORS_ORIGINS="").test_client()
    response = client.options("/api/v1/tasks")
    assert response.status_code == 200
    assert {"GET", "POST"} <= {m.strip() for m in response.headers["Allow"].split(",")}
