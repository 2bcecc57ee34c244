"""OWASP API5:2023 Broken Function Level Authorization.

Every route of the URL map that is not public (register, login, health, the OpenAPI document
and the docs) refuses a request without a token with 401 `token_missing`; a refresh token
opens only `/auth/refresh` and `/auth/logout`, an access token never opens `/auth/refresh`.
No header or method trick reaches a function the token does not allow.
"""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import User, assert_problem
from tests.security.conftest import API, PUBLIC_RULES, Owned, Route, api_routes

REFRESH_ROUTES = {f"POST {API}/auth/refresh"}
ANY_TOKEN_ROUTES = {f"POST {API}/auth/logout"}


def protected_routes(app: Flask) -> list[Route]:
    return [route for route in api_routes(app) if route.rule not in PUBLIC_RULES]


def test_the_only_routes_outside_the_api_are_the_root_and_flasks_static_files(
    app: Flask, client: FlaskClient
) -> None:
    outside = {rule.rule for rule in app.url_map.iter_rules() if not rule.rule.startswith(API)}
    assert outside <= {"/", "/static/<path:filename>"}
    assert client.get("/").get_json() == client.get(API).get_json()  # it only points at the API


def test_public_routes_answer_without_a_token(app: Flask, client: FlaskClient) -> None:
    public = [route for route in api_routes(app) if route.rule in PUBLIC_RULES]
    assert len(public) == len(PUBLIC_RULES)
    for route in public:
        path = route.rule.replace("<path:filename>", "swagger-ui.css")
        response = client.open(path, method=route.method, json=route.body)
        response.close()
        assert response.status_code != 401, route


def test_every_protected_route_refuses_a_missing_token(
    app: Flask, client: FlaskClient, owned: Owned
) -> None:
    routes = protected_routes(app)
    assert len(routes) >= 20
    before = owned.snapshot()
    for route in routes:
        response = client.open(owned.path(route.rule), method=route.method, json=route.body)
        assert_problem(response, 401, "token_missing")
    assert owned.snapshot() == before


def test_every_protected_get_refuses_head_without_a_token(
    app: Flask, client: FlaskClient, owned: Owned
) -> None:
    for route in protected_routes(app):
        if route.method == "GET":
            response = client.head(owned.path(route.rule))
            assert response.status_code == 401, route
            assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_refresh_token_opens_only_refresh_and_logout(app: Flask, owned: Owned) -> None:
    refresh = {"Authorization": f"Bearer {owned.user.refresh_token}"}
    before = owned.snapshot()
    for route in protected_routes(app):
        if str(route) in REFRESH_ROUTES | ANY_TOKEN_ROUTES:
            continue
        response = owned.user.client.open(
            owned.path(route.rule), method=route.method, json=route.body, headers=refresh
        )
        assert_problem(response, 401, "token_invalid")
    assert owned.snapshot() == before


def test_an_access_token_cannot_refresh(user: User) -> None:
    assert_problem(user.post(f"{API}/auth/refresh"), 401, "token_invalid")


def test_method_override_headers_are_ignored(owned: Owned) -> None:
    path = f"{API}/tasks/{owned.task_id}"
    for header in ("X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"):
        response = owned.user.get(path, headers={header: "DELETE"})
        assert response.status_code == 200
    response = owned.user.get(f"{path}?_method=DELETE")
    assert response.status_code == 200
    assert owned.user.get(path).status_code == 200


def test_unknown_methods_are_405_not_a_way_around_auth(client: FlaskClient, owned: Owned) -> None:
    for method in ("TRACE", "CONNECT", "PROPFIND"):
        response = client.open(f"{API}/tasks/{owned.task_id}", method=method)
        assert_problem(response, 405, "method_not_allowed")
        assert "Allow" in response.headers
