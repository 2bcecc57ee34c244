"""GET /api/v1/health: a real database check, no authentication."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.conftest import AppFactory, User, assert_problem


def test_health_is_ok_with_the_database(client: FlaskClient) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_health_needs_no_token_and_ignores_a_bad_one(client: FlaskClient) -> None:
    response = client.get("/api/v1/health", headers={"Authorization": "Bearer garbage"})
    assert response.status_code == 200


def test_health_works_for_a_logged_in_user(user: User) -> None:
    assert user.get("/api/v1/health").get_json() == {"status": "ok", "database": "ok"}


def test_head_of_health_has_no_body(client: FlaskClient) -> None:
    response = client.head("/api/v1/health")
    assert response.status_code == 200
    assert response.get_data() == b""


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("postgresql+psycopg://x@127.0.0.1:1/x", id="postgresql-refused"),
        pytest.param("sqlite:////nonexistent-dir/x.db", id="sqlite-unopenable"),
    ],
)
def test_health_is_503_when_the_database_is_unreachable(make_app: AppFactory, url: str) -> None:
    client = make_app(DATABASE_URL=url).test_client()
    for _ in range(2):  # the pool does not keep a broken connection around
        response = client.get("/api/v1/health")
        body = assert_problem(response, 503, "service_unavailable")
        assert "database" not in body or body.get("database") != "ok"
        assert response.headers["Retry-After"].isdigit()


@pytest.mark.parametrize("path", ["/", "/api/v1"])
def test_the_roots_point_at_the_docs(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    links = response.get_json()
    assert links["docs"] == "/api/v1/docs"
    for name in ("docs", "openapi", "health"):
        assert client.get(links[name]).status_code == 200, name
