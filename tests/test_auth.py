"""Authentication routes: register, login, refresh, logout, /auth/me, emails and sessions."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

import jwt as pyjwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from backend.extensions import db
from backend.models import AuthSession, User, utcnow
from tests.conftest import PASSWORD, AuthActions, assert_problem, recorded_statements

API = "/api/v1"
REGISTER, LOGIN, REFRESH, LOGOUT, ME = (
    f"{API}/auth/register",
    f"{API}/auth/login",
    f"{API}/auth/refresh",
    f"{API}/auth/logout",
    f"{API}/auth/me",
)
TIME_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
PUBLIC_ROUTES = {
    f"{API}/auth/register",
    f"{API}/auth/login",
    f"{API}/auth/password-reset",
    f"{API}/auth/password-reset/confirm",
    f"{API}/auth/verify-email",
    f"{API}/health",
    API,
    f"{API}/openapi.json",
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login_tokens(auth: AuthActions, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = auth.login(email, password)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def session_rows(app: Flask) -> list[AuthSession]:
    with app.app_context():
        return list(db.session.scalars(select(AuthSession).order_by(AuthSession.id)))


def run_together(count: int, action: Callable[[int], Any]) -> list[Any]:
    """Run `action(i)` in `count` threads released at the same moment; return the results."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = action(index)
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


# --- register -------------------------------------------------------------------------------


def test_register_returns_the_user_without_password(client: FlaskClient):
    response = client.post(
        REGISTER, json={"email": "ada@example.com", "password": PASSWORD, "name": "Ada"}
    )
    assert response.status_code == 201
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"id", "email", "name", "email_verified", "created_at"}
    assert isinstance(body["id"], int)
    assert body["email"] == "ada@example.com"
    assert body["name"] == "Ada"
    assert TIME_PATTERN.fullmatch(body["created_at"])
    text = response.get_data(as_text=True)
    assert PASSWORD not in text
    assert "argon2" not in text
    assert "password" not in text


@pytest.mark.parametrize("extra", [{}, {"name": None}, {"name": ""}, {"name": "   "}])
def test_register_name_is_null_when_not_given(auth: AuthActions, extra: dict[str, Any]):
    response = auth.register(**extra)
    assert response.status_code == 201
    assert response.get_json()["name"] is None


def test_register_trims_name(auth: AuthActions):
    response = auth.register(name="  Ada Lovelace  ")
    assert response.status_code == 201
    assert response.get_json()["name"] == "Ada Lovelace"


def test_register_accepts_name_of_100_characters(auth: AuthActions):
    response = auth.register(name="n" * 100)
    assert response.status_code == 201
    assert response.get_json()["name"] == "n" * 100


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": PASSWORD}, "email"),
        ({"email": "a@example.com"}, "password"),
        ({"email": "a@example.com", "password": PASSWORD, "name": "n" * 101}, "name"),
        ({"email": "a@example.com", "password": PASSWORD, "name": 5}, "name"),
        ({"email": "a@example.com", "password": PASSWORD, "name": "A\x00da"}, "name"),
        ({"email": 42, "password": PASSWORD}, "email"),
        ({"email": "a@example.com", "password": PASSWORD, "id": 7}, "id"),
        ({"email": "a@example.com", "password": PASSWORD, "created_at": "x"}, "created_at"),
        ({"email": "a@example.com", "password": PASSWORD, "password_hash": "x"}, "password_hash"),
    ],
)
def test_register_refuses_bad_bodies(client: FlaskClient, body: dict[str, Any], field: str):
    problem = assert_problem(client.post(REGISTER, json=body), 400, "validation_error")
    assert field in problem["errors"]
    with client.application.app_context():
        assert db.session.scalars(select(User)).all() == []


def test_register_refuses_non_json(client: FlaskClient):
    response = client.post(REGISTER, data="email=a@example.com", content_type="text/plain")
    assert_problem(response, 415, "unsupported_media_type")
    response = client.post(REGISTER, data="{bad", content_type="application/json")
    assert_problem(response, 400, "invalid_json")
    response = client.post(REGISTER, json=["a@example.com"])
    assert_problem(response, 400, "validation_error")


# --- emails ---------------------------------------------------------------------------------

LONG_DOMAIN = ".".join(["a" * 63, "b" * 63, "c" * 63])


@pytest.mark.parametrize(
    "email",
    [
        "",
        "   ",
        "plainaddress",
        "ada.example.com",
        "ada@",
        "@example.com",
        "ada@@example.com",
        "ada lovelace@example.com",
        "ada@exa mple.com",
        "ada@example",
        "ada@example..com",
        "ada\x00@example.com",
        "ada\x07@example.com",
        f"{'u' * 10}@{LONG_DOMAIN}.{'d' * 52}",  # 255 characters
        f"{'u' * 300}@example.com",
        f"{'İ' * 130}@example.com",  # 142 characters, but 272 once lower-cased
        None,
        ["ada@example.com"],
    ],
)
def test_register_refuses_bad_emails(client: FlaskClient, email: Any):
    response = client.post(REGISTER, json={"email": email, "password": PASSWORD})
    problem = assert_problem(response, 400, "validation_error")
    assert list(problem["errors"]) == ["email"]


def test_register_accepts_email_of_254_characters(auth: AuthActions):
    email = f"{'u' * 10}@{LONG_DOMAIN}.{'d' * 51}"
    assert len(email) == 254
    response = auth.register(email)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["email"] == email


def test_email_is_trimmed_and_lower_cased(app: Flask, auth: AuthActions):
    response = auth.register("  Ada.Lovelace@Example.COM \t")
    assert response.status_code == 201
    assert response.get_json()["email"] == "ada.lovelace@example.com"
    with app.app_context():
        assert db.session.scalars(select(User.email)).all() == ["ada.lovelace@example.com"]
    assert auth.login("ADA.lovelace@example.com").status_code == 200
    assert auth.login("  ada.lovelace@example.com  ").status_code == 200


def test_non_ascii_email_is_lower_cased(app: Flask, auth: AuthActions):
    response = auth.register("ÄDA@Example.com")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["email"] == "äda@example.com"
    assert_problem(auth.register("äda@EXAMPLE.com"), 409, "email_taken")
    assert auth.login("Äda@example.COM").status_code == 200
    with app.app_context():
        assert db.session.scalars(select(User.email)).all() == ["äda@example.com"]


@pytest.mark.parametrize("second", ["a@X.COM", "A@x.com", " a@x.com ", "A@X.Com"])
def test_email_uniqueness_ignores_case(auth: AuthActions, second: str):
    assert auth.register("A@x.com").status_code == 201
    assert_problem(auth.register(second), 409, "email_taken")


def test_taken_email_keeps_the_first_account(app: Flask, auth: AuthActions):
    assert auth.register("ada@example.com", name="First").status_code == 201
    assert_problem(auth.register("ADA@example.com", "Other-Pass-1"), 409, "email_taken")
    assert auth.login("ada@example.com").status_code == 200
    assert_problem(auth.login("ada@example.com", "Other-Pass-1"), 401, "invalid_credentials")
    with app.app_context():
        assert db.session.scalars(select(User.name)).all() == ["First"]


def test_concurrent_registration_of_one_email(app: Flask, is_postgres: bool):
    if not is_postgres:
        pytest.skip("needs PostgreSQL")

    def register(index: int) -> tuple[int, str | None]:
        response = app.test_client().post(
            REGISTER,
            json={
                "email": "race@example.com" if index % 2 else "RACE@example.com",
                "password": PASSWORD,
            },
        )
        return response.status_code, (response.get_json() or {}).get("code")

    results = run_together(8, register)
    assert sorted(status for status, _ in results) == [201] + [409] * 7, results
    assert all(code == "email_taken" for status, code in results if status == 409)
    with app.app_context():
        assert db.session.scalars(select(User.email)).all() == ["race@example.com"]


# --- login and the token pair ---------------------------------------------------------------


def test_login_returns_a_token_pair(app: Flask, auth: AuthActions):
    auth.register("ada@example.com")
    response = auth.login("ada@example.com")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    key = app.config["JWT_SECRET_KEY"]
    access = pyjwt.decode(body["access_token"], key, algorithms=["HS256"])
    refresh = pyjwt.decode(body["refresh_token"], key, algorithms=["HS256"])
    assert pyjwt.get_unverified_header(body["access_token"])["alg"] == "HS256"
    assert access["type"] == "access"
    assert refresh["type"] == "refresh"
    assert access["exp"] - access["iat"] == 900
    assert refresh["exp"] - refresh["iat"] == 2_592_000
    assert access["sid"] == refresh["sid"]
    assert access["sub"] == refresh["sub"] == str(_user_id(app, "ada@example.com"))


def _user_id(app: Flask, email: str) -> int:
    with app.app_context():
        user_id = db.session.scalar(select(User.id).where(User.email == email))
    assert user_id is not None
    return user_id


def test_token_lifetimes_follow_configuration(make_app: Callable[..., Flask]):
    app = make_app(JWT_ACCESS_TOKEN_EXPIRES=60, JWT_REFRESH_TOKEN_EXPIRES=3600)
    auth = AuthActions(app.test_client())
    auth.register("ada@example.com")
    body = login_tokens(auth, "ada@example.com")
    assert body["expires_in"] == 60
    key = app.config["JWT_SECRET_KEY"]
    access = pyjwt.decode(body["access_token"], key, algorithms=["HS256"])
    refresh = pyjwt.decode(body["refresh_token"], key, algorithms=["HS256"])
    assert access["exp"] - access["iat"] == 60
    assert refresh["exp"] - refresh["iat"] == 3600
    refreshed = app.test_client().post(REFRESH, headers=bearer(body["refresh_token"]))
    assert refreshed.get_json()["expires_in"] == 60


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": PASSWORD}, "email"),
        ({"email": "ada@example.com"}, "password"),
        ({"email": "ada@example.com", "password": PASSWORD, "name": "Ada"}, "name"),
        ({"email": "ada@example.com", "password": 123}, "password"),
        ({"email": "", "password": PASSWORD}, "email"),
    ],
)
def test_login_refuses_bad_bodies(auth: AuthActions, body: dict[str, Any], field: str):
    auth.register("ada@example.com")
    problem = assert_problem(auth.client.post(LOGIN, json=body), 400, "validation_error")
    assert field in problem["errors"]


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("ada@example.com", "Wrong-Horse-9"),
        ("ada@example.com", PASSWORD.lower()),
        ("nobody@example.com", PASSWORD),
        ("not an email", PASSWORD),
        ("ada@example.com", ""),
    ],
)
def test_login_refuses_bad_credentials(auth: AuthActions, email: str, password: str):
    auth.register("ada@example.com")
    problem = assert_problem(auth.login(email, password), 401, "invalid_credentials")
    assert "errors" not in problem


def test_login_opens_a_session(app: Flask, auth: AuthActions):
    user_id = auth.register("ada@example.com").get_json()["id"]
    assert session_rows(app) == []
    tokens = login_tokens(auth, "ada@example.com")
    rows = session_rows(app)
    assert len(rows) == 1
    row = rows[0]
    assert row.user_id == user_id
    assert row.revoked_at is None
    assert row.expires_at > utcnow()
    assert row.created_at == row.last_used_at
    claims = pyjwt.decode(tokens["refresh_token"], app.config["JWT_SECRET_KEY"], ["HS256"])
    assert claims["sid"] == row.id
    assert claims["jti"] == row.refresh_jti
    login_tokens(auth, "ada@example.com")
    assert len(session_rows(app)) == 2


def test_failed_login_opens_no_session(app: Flask, auth: AuthActions):
    auth.register("ada@example.com")
    auth.login("ada@example.com", "Wrong-Horse-9")
    auth.login("nobody@example.com")
    assert session_rows(app) == []


# --- me -------------------------------------------------------------------------------------


def test_me_returns_the_user(auth: AuthActions):
    registered = auth.register("ada@example.com", name="Ada").get_json()
    tokens = login_tokens(auth, "ada@example.com")
    response = auth.client.get(ME, headers=bearer(tokens["access_token"]))
    assert response.status_code == 200
    assert response.get_json() == registered
    assert "argon2" not in response.get_data(as_text=True)


def test_me_accepts_the_scheme_in_any_case(auth: AuthActions):
    auth.register("ada@example.com")
    token = login_tokens(auth, "ada@example.com")["access_token"]
    for scheme in ("bearer", "BEARER", "Bearer "):
        response = auth.client.get(ME, headers={"Authorization": f"{scheme} {token}"})
        assert response.status_code == 200, scheme


def test_me_without_token_is_token_missing(client: FlaskClient):
    assert_problem(client.get(ME), 401, "token_missing")


def api_requests(app: Flask) -> list[tuple[str, str, str]]:
    """Return (rule, method, path) for every API route and method, ids filled with 1."""
    requests = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API) or rule.rule.startswith(f"{API}/docs"):
            continue
        path = re.sub(r"<[^>]+>", "1", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            requests.append((rule.rule, method, path))
    return requests


def protected_requests(app: Flask) -> list[tuple[str, str]]:
    """Return (method, path) for every route that is not public."""
    return [(method, path) for rule, method, path in api_requests(app) if rule not in PUBLIC_ROUTES]


def test_only_the_public_routes_go_without_a_token(app: Flask, client: FlaskClient):
    """Every API route needs a token except register, login, health and the API description."""
    public = {
        rule
        for rule, method, path in api_requests(app)
        if client.open(path, method=method, json={}).status_code != 401
    }
    assert public == PUBLIC_ROUTES


def test_every_protected_route_needs_a_token(app: Flask, client: FlaskClient):
    requests = protected_requests(app)
    assert ("GET", ME) in requests
    assert ("POST", REFRESH) in requests
    assert ("POST", LOGOUT) in requests
    assert ("GET", f"{API}/tasks/1") in requests
    for method, path in requests:
        response = client.open(path, method=method, json={})
        assert_problem(response, 401, "token_missing")


def test_every_protected_route_refuses_a_bad_token(app: Flask, client: FlaskClient):
    for method, path in protected_requests(app):
        response = client.open(path, method=method, json={}, headers=bearer("not-a-jwt"))
        assert_problem(response, 401, "token_invalid")


def test_deleted_user_token_is_refused(app: Flask, auth: AuthActions):
    user_id = auth.register("ada@example.com").get_json()["id"]
    tokens = login_tokens(auth, "ada@example.com")
    with app.app_context():
        db.session.delete(db.session.get_one(User, user_id))
        db.session.commit()
    assert_problem(
        auth.client.get(ME, headers=bearer(tokens["access_token"])), 401, "token_revoked"
    )
    assert_problem(
        auth.client.post(REFRESH, headers=bearer(tokens["refresh_token"])), 401, "token_revoked"
    )


# --- the full flow --------------------------------------------------------------------------


def test_full_flow(client: FlaskClient):
    registered = client.post(REGISTER, json={"email": "flow@example.com", "password": PASSWORD})
    assert registered.status_code == 201
    user = registered.get_json()
    assert user["name"] is None

    login = client.post(LOGIN, json={"email": "flow@example.com", "password": PASSWORD})
    assert login.status_code == 200
    first = login.get_json()

    me = client.get(ME, headers=bearer(first["access_token"]))
    assert me.status_code == 200
    assert me.get_json() == user

    refreshed = client.post(REFRESH, headers=bearer(first["refresh_token"]))
    assert refreshed.status_code == 200
    second = refreshed.get_json()
    assert set(second) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert second["token_type"] == "Bearer"
    assert second["expires_in"] == 900
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]

    me = client.get(ME, headers=bearer(second["access_token"]))
    assert me.status_code == 200
    assert me.get_json() == user

    logout = client.post(LOGOUT, headers=bearer(second["access_token"]))
    assert logout.status_code == 204
    assert logout.get_data() == b""

    assert_problem(client.get(ME, headers=bearer(second["access_token"])), 401, "token_revoked")
    assert_problem(
        client.post(REFRESH, headers=bearer(second["refresh_token"])), 401, "token_revoked"
    )
    assert_problem(client.get(ME, headers=bearer(first["access_token"])), 401, "token_revoked")
    assert_problem(
        client.post(LOGOUT, headers=bearer(second["access_token"])), 401, "token_revoked"
    )


# --- refresh and rotation -------------------------------------------------------------------


def test_refresh_rotates_the_session_token(app: Flask, auth: AuthActions):
    auth.register("ada@example.com")
    tokens = login_tokens(auth, "ada@example.com")
    before = session_rows(app)[0]
    response = auth.client.post(REFRESH, headers=bearer(tokens["refresh_token"]))
    assert response.status_code == 200
    after = session_rows(app)
    assert len(after) == 1, "refresh keeps the same session"
    assert after[0].id == before.id
    assert after[0].refresh_jti != before.refresh_jti
    assert after[0].last_used_at >= before.last_used_at
    assert after[0].revoked_at is None
    claims = pyjwt.decode(
        response.get_json()["refresh_token"], app.config["JWT_SECRET_KEY"], ["HS256"]
    )
    assert claims["jti"] == after[0].refresh_jti
    assert claims["sid"] == before.id


def test_reused_refresh_token_revokes_the_whole_session(app: Flask, auth: AuthActions):
    auth.register("ada@example.com")
    first = login_tokens(auth, "ada@example.com")
    other = login_tokens(auth, "ada@example.com")
    second = auth.client.post(REFRESH, headers=bearer(first["refresh_token"])).get_json()
    third = auth.client.post(REFRESH, headers=bearer(second["refresh_token"])).get_json()
    assert auth.client.get(ME, headers=bearer(third["access_token"])).status_code == 200

    reuse = auth.client.post(REFRESH, headers=bearer(first["refresh_token"]))
    assert_problem(reuse, 401, "token_revoked")

    for token in (first["access_token"], second["access_token"], third["access_token"]):
        assert_problem(auth.client.get(ME, headers=bearer(token)), 401, "token_revoked")
    for token in (second["refresh_token"], third["refresh_token"]):
        assert_problem(auth.client.post(REFRESH, headers=bearer(token)), 401, "token_revoked")
    assert [row.revoked_at is not None for row in session_rows(app)] == [True, False]
    assert auth.client.get(ME, headers=bearer(other["access_token"])).status_code == 200


def test_refresh_with_an_access_token_is_token_invalid(auth: AuthActions):
    auth.register("ada@example.com")
    tokens = login_tokens(auth, "ada@example.com")
    assert_problem(
        auth.client.post(REFRESH, headers=bearer(tokens["access_token"])), 401, "token_invalid"
    )
    assert auth.client.post(REFRESH, headers=bearer(tokens["refresh_token"])).status_code == 200


def test_me_with_a_refresh_token_is_token_invalid(auth: AuthActions):
    auth.register("ada@example.com")
    tokens = login_tokens(auth, "ada@example.com")
    assert_problem(
        auth.client.get(ME, headers=bearer(tokens["refresh_token"])), 401, "token_invalid"
    )
    assert_problem(
        auth.client.get(f"{API}/tasks", headers=bearer(tokens["refresh_token"])),
        401,
        "token_invalid",
    )
    assert auth.client.get(ME, headers=bearer(tokens["access_token"])).status_code == 200


def test_concurrent_refresh_of_one_token(app: Flask, auth: AuthActions, is_postgres: bool):
    if not is_postgres:
        pytest.skip("needs PostgreSQL")
    auth.register("ada@example.com")
    refresh_token = login_tokens(auth, "ada@example.com")["refresh_token"]

    def refresh(_index: int) -> tuple[int, str | None]:
        response = app.test_client().post(REFRESH, headers=bearer(refresh_token))
        return response.status_code, (response.get_json() or {}).get("code")

    results = run_together(8, refresh)
    statuses = [status for status, _ in results]
    assert statuses.count(200) <= 1, results
    assert all(
        status == 200 or (status == 401 and code == "token_revoked") for status, code in results
    ), results
    assert_problem(auth.client.post(REFRESH, headers=bearer(refresh_token)), 401, "token_revoked")


# --- logout ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_logout_revokes_only_its_session(app: Flask, auth: AuthActions, kind: str):
    auth.register("ada@example.com")
    mine = login_tokens(auth, "ada@example.com")
    other = login_tokens(auth, "ada@example.com")

    response = auth.client.post(LOGOUT, headers=bearer(mine[kind]))
    assert response.status_code == 204
    assert response.get_data() == b""

    assert_problem(auth.client.get(ME, headers=bearer(mine["access_token"])), 401, "token_revoked")
    assert_problem(
        auth.client.post(REFRESH, headers=bearer(mine["refresh_token"])), 401, "token_revoked"
    )
    assert_problem(auth.client.post(LOGOUT, headers=bearer(mine[kind])), 401, "token_revoked")

    assert auth.client.get(ME, headers=bearer(other["access_token"])).status_code == 200
    refreshed = auth.client.post(REFRESH, headers=bearer(other["refresh_token"]))
    assert refreshed.status_code == 200
    revoked = [row.revoked_at is not None for row in session_rows(app)]
    assert revoked == [True, False]


def test_logout_of_one_user_leaves_other_users(auth: AuthActions):
    ada, bob = auth.user(), auth.user()
    assert auth.client.post(LOGOUT, headers=ada.headers).status_code == 204
    assert bob.get(ME).status_code == 200
    assert_problem(ada.get(ME), 401, "token_revoked")


def test_logout_survives_a_restart(make_app: Callable[..., Flask]):
    first = make_app()
    auth = AuthActions(first.test_client())
    auth.register("ada@example.com")
    tokens = login_tokens(auth, "ada@example.com")
    assert auth.client.post(LOGOUT, headers=bearer(tokens["access_token"])).status_code == 204

    restarted = make_app().test_client()
    assert_problem(restarted.get(ME, headers=bearer(tokens["access_token"])), 401, "token_revoked")
    assert_problem(
        restarted.post(REFRESH, headers=bearer(tokens["refresh_token"])), 401, "token_revoked"
    )


def test_tokens_work_in_another_process_until_logout(make_app: Callable[..., Flask]):
    first, second = make_app().test_client(), make_app().test_client()
    auth = AuthActions(first)
    auth.register("ada@example.com")
    tokens = login_tokens(auth, "ada@example.com")
    assert second.get(ME, headers=bearer(tokens["access_token"])).status_code == 200
    assert first.post(LOGOUT, headers=bearer(tokens["refresh_token"])).status_code == 204
    assert_problem(second.get(ME, headers=bearer(tokens["access_token"])), 401, "token_revoked")


@pytest.mark.parametrize(
    "change",
    [
        {"revoked_at": utcnow()},
        {"expires_at": utcnow()},
    ],
)
def test_revoked_or_expired_session_refuses_its_tokens(
    app: Flask, auth: AuthActions, change: dict[str, Any]
):
    auth.register("ada@example.com")
    tokens = login_tokens(auth, "ada@example.com")
    with app.app_context():
        db.session.execute(update(AuthSession).values(**change))
        db.session.commit()
    assert_problem(
        auth.client.get(ME, headers=bearer(tokens["access_token"])), 401, "token_revoked"
    )
    assert_problem(
        auth.client.post(REFRESH, headers=bearer(tokens["refresh_token"])), 401, "token_revoked"
    )


# --- cost of the session check --------------------------------------------------------------


def test_me_costs_one_session_query(app: Flask, auth: AuthActions):
    auth.register("ada@example.com")
    token = login_tokens(auth, "ada@example.com")["access_token"]
    with recorded_statements(app) as statements:
        response = auth.client.get(ME, headers=bearer(token))
    assert response.status_code == 200
    assert len(statements) == 2, statements
    session_checks = [sql for sql in statements if "auth_sessions" in sql]
    assert len(session_checks) == 1, statements
    assert statements[0] is session_checks[0]
    assert "users" in statements[1]


def test_protected_route_costs_one_session_query(app: Flask, auth: AuthActions):
    auth.register("ada@example.com")
    token = login_tokens(auth, "ada@example.com")["access_token"]
    with recorded_statements(app) as statements:
        response = auth.client.get(f"{API}/tasks", headers=bearer(token))
    assert response.status_code == 200
    assert len([sql for sql in statements if "auth_sessions" in sql]) == 1, statements
