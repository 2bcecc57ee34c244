"""Sessions and account: list and revoke sessions, log out everywhere, rename, change the
password, delete the account (issue 8, "Beyond the core")."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from backend.extensions import db
from backend.models import AuthSession, Category, IdempotencyRecord, Task, User
from tests.conftest import PASSWORD, AuthActions, assert_problem
from tests.conftest import User as ApiUser

SESSIONS = "/api/v1/auth/sessions"
LOGOUT_ALL = "/api/v1/auth/logout-all"
ME = "/api/v1/auth/me"
PASSWORD_URL = "/api/v1/auth/password"
REFRESH = "/api/v1/auth/refresh"
TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
NEW_PASSWORD = "Another-Horse-10"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def second_session(auth: AuthActions, user: ApiUser) -> ApiUser:
    """Log `user` in again: the same account acting through a new session."""
    response = auth.login(user.email, user.password)
    assert response.status_code == 200, response.get_json()
    tokens = response.get_json()
    return ApiUser(
        id=user.id,
        email=user.email,
        password=user.password,
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
        client=user.client,
    )


def sessions_of(user: ApiUser) -> list[dict[str, Any]]:
    response = user.get(SESSIONS)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == {"items"}
    return body["items"]


def assert_token_revoked(user: ApiUser, token: str | None = None) -> None:
    response = user.client.get(ME, headers=bearer(token or user.access_token))
    assert_problem(response, 401, "token_revoked")


def assert_refresh_revoked(user: ApiUser) -> None:
    response = user.client.post(REFRESH, headers=bearer(user.refresh_token))
    assert_problem(response, 401, "token_revoked")


def assert_works(user: ApiUser) -> None:
    response = user.get(ME)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["id"] == user.id


# --- GET /auth/sessions ---------------------------------------------------------------------


def test_list_sessions_shape_and_current(user: ApiUser) -> None:
    items = sessions_of(user)
    assert len(items) == 1
    (item,) = items
    assert set(item) == {"id", "created_at", "last_used_at", "current"}
    assert isinstance(item["id"], int)
    assert item["current"] is True
    assert TIME.fullmatch(item["created_at"])
    assert TIME.fullmatch(item["last_used_at"])
    assert item["last_used_at"] == item["created_at"]


def test_list_sessions_most_recently_used_first_and_refresh_moves_it(
    auth: AuthActions, user: ApiUser
) -> None:
    second = second_session(auth, user)
    third = second_session(auth, user)
    items = sessions_of(user)
    assert len(items) == 3
    first_id = next(item["id"] for item in items if item["current"])
    assert [item["current"] for item in items] == [False, False, True]
    assert items[-1]["id"] == first_id

    # Refreshing the oldest session moves its last_used_at: it becomes the most recent.
    refreshed = user.client.post(REFRESH, headers=bearer(user.refresh_token))
    assert refreshed.status_code == 200
    after = sessions_of(second)
    assert after[0]["id"] == first_id
    assert after[0]["last_used_at"] > after[0]["created_at"]
    assert after[0]["created_at"] == items[-1]["created_at"]
    assert after[0]["current"] is False
    assert [item["current"] for item in after].count(True) == 1
    current = next(item for item in after if item["current"])
    assert current["id"] != first_id
    assert sessions_of(third)[0]["id"] == first_id
    used = [item["last_used_at"] for item in after]
    assert used == sorted(used, reverse=True)


def test_list_sessions_leaves_out_revoked_expired_and_other_users(
    app: Flask, auth: AuthActions, user: ApiUser, other_user: ApiUser
) -> None:
    logged_out = second_session(auth, user)
    expired = second_session(auth, user)
    assert user.client.post("/api/v1/auth/logout", headers=logged_out.headers).status_code == 204
    expired_id = next(item["id"] for item in sessions_of(expired) if item["current"])
    with app.app_context():
        db.session.execute(
            update(AuthSession)
            .where(AuthSession.id == expired_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        db.session.commit()
    items = sessions_of(user)
    assert len(items) == 1
    assert items[0]["current"] is True
    assert len(sessions_of(other_user)) == 1
    assert items[0]["id"] != sessions_of(other_user)[0]["id"]


def test_list_sessions_needs_an_access_token(client: Any, user: ApiUser) -> None:
    assert_problem(client.get(SESSIONS), 401, "token_missing")
    assert_problem(client.get(SESSIONS, headers=bearer(user.refresh_token)), 401, "token_invalid")


# --- DELETE /auth/sessions/{id} -------------------------------------------------------------


def test_revoke_another_session_of_mine(auth: AuthActions, user: ApiUser) -> None:
    other = second_session(auth, user)
    other_id = next(item["id"] for item in sessions_of(other) if item["current"])
    response = user.delete(f"{SESSIONS}/{other_id}")
    assert response.status_code == 204
    assert response.get_data() == b""
    assert_token_revoked(other)
    assert_refresh_revoked(other)
    assert_works(user)
    assert [item["id"] for item in sessions_of(user)] != [other_id]
    assert len(sessions_of(user)) == 1


def test_revoke_the_current_session(user: ApiUser) -> None:
    (item,) = sessions_of(user)
    assert user.delete(f"{SESSIONS}/{item['id']}").status_code == 204
    assert_token_revoked(user)
    assert_refresh_revoked(user)


def test_revoke_another_users_session_is_forbidden(user: ApiUser, other_user: ApiUser) -> None:
    (theirs,) = sessions_of(other_user)
    assert_problem(user.delete(f"{SESSIONS}/{theirs['id']}"), 403, "forbidden")
    assert_works(other_user)
    assert len(sessions_of(other_user)) == 1


@pytest.mark.parametrize("session_id", ["999999", "0", "abc", "-1", "2147483648", "99999999999"])
def test_revoke_unknown_session_is_not_found(user: ApiUser, session_id: str) -> None:
    assert_problem(user.delete(f"{SESSIONS}/{session_id}"), 404, "not_found")
    assert_works(user)


def test_revoke_session_needs_an_access_token(client: Any, user: ApiUser) -> None:
    (item,) = sessions_of(user)
    assert_problem(client.delete(f"{SESSIONS}/{item['id']}"), 401, "token_missing")
    response = client.delete(f"{SESSIONS}/{item['id']}", headers=bearer(user.refresh_token))
    assert_problem(response, 401, "token_invalid")
    assert_works(user)


# --- POST /auth/logout-all ------------------------------------------------------------------


def test_logout_all_revokes_every_session_of_the_user(
    auth: AuthActions, user: ApiUser, other_user: ApiUser
) -> None:
    second = second_session(auth, user)
    response = user.post(LOGOUT_ALL)
    assert response.status_code == 204
    assert response.get_data() == b""
    for session in (user, second):
        assert_token_revoked(session)
        assert_refresh_revoked(session)
    assert_works(other_user)
    # A new login still works afterwards.
    assert_works(second_session(auth, user))


def test_logout_all_needs_an_access_token(client: Any, user: ApiUser) -> None:
    assert_problem(client.post(LOGOUT_ALL), 401, "token_missing")
    assert_problem(
        client.post(LOGOUT_ALL, headers=bearer(user.refresh_token)), 401, "token_invalid"
    )
    assert_works(user)


# --- PATCH /auth/me -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("Ada Lovelace", "Ada Lovelace"),
        ("  Ada  ", "Ada"),
        ("x" * 100, "x" * 100),
        ("Zoë 名前", "Zoë 名前"),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_rename(auth: AuthActions, sent: str | None, stored: str | None) -> None:
    email = "rename@example.com"
    assert auth.register(email, name="Old Name").status_code == 201
    tokens = auth.login(email).get_json()
    response = auth.client.patch(ME, json={"name": sent}, headers=bearer(tokens["access_token"]))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == {"id", "email", "name", "email_verified", "created_at"}
    assert body["name"] == stored
    assert body["email"] == email
    me = auth.client.get(ME, headers=bearer(tokens["access_token"])).get_json()
    assert me == body


def test_rename_with_merge_patch(user: ApiUser) -> None:
    response = user.patch(
        ME, data='{"name": "Grace"}', headers={"Content-Type": "application/merge-patch+json"}
    )
    assert response.status_code == 200
    assert response.get_json()["name"] == "Grace"
    response = user.patch(
        ME, data='{"name": null}', headers={"Content-Type": "application/merge-patch+json"}
    )
    assert response.status_code == 200
    assert response.get_json()["name"] is None


def test_rename_with_empty_body_changes_nothing(user: ApiUser) -> None:
    assert user.patch(ME, json={"name": "Kept"}).status_code == 200
    response = user.patch(ME, json={})
    assert response.status_code == 200
    assert response.get_json()["name"] == "Kept"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x" * 101}, "name"),
        ({"name": 5}, "name"),
        ({"name": ["Ada"]}, "name"),
        ({"name": "Ada\x00"}, "name"),
        ({"name": "Ada\nLovelace"}, "name"),
        ({"email": "new@example.com"}, "email"),
        ({"password": NEW_PASSWORD}, "password"),
        ({"id": 7}, "id"),
        ({"created_at": "2026-01-01T00:00:00Z"}, "created_at"),
    ],
)
def test_rename_validation(user: ApiUser, body: dict[str, Any], field: str) -> None:
    assert user.patch(ME, json={"name": "Before"}).status_code == 200
    problem = assert_problem(user.patch(ME, json=body), 400, "validation_error")
    assert field in problem["errors"]
    me = user.get(ME).get_json()
    assert me["name"] == "Before"
    assert me["email"] == user.email


def test_rename_body_errors(user: ApiUser) -> None:
    assert_problem(user.patch(ME, json=["Ada"]), 400, "validation_error")
    response = user.patch(ME, data="{nope", headers={"Content-Type": "application/json"})
    assert_problem(response, 400, "invalid_json")
    response = user.patch(ME, data="name=Ada", headers={"Content-Type": "text/plain"})
    assert_problem(response, 415, "unsupported_media_type")


def test_rename_needs_an_access_token(client: Any, user: ApiUser) -> None:
    assert_problem(client.patch(ME, json={"name": "X"}), 401, "token_missing")
    response = client.patch(ME, json={"name": "X"}, headers=bearer(user.refresh_token))
    assert_problem(response, 401, "token_invalid")
    assert user.get(ME).get_json()["name"] is None


# --- POST /auth/password --------------------------------------------------------------------


def test_change_password(auth: AuthActions, user: ApiUser, other_user: ApiUser) -> None:
    second = second_session(auth, user)
    response = user.post(
        PASSWORD_URL, json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 204
    assert response.get_data() == b""
    # This session is kept (access and refresh), every other one is revoked.
    assert_works(user)
    assert user.client.post(REFRESH, headers=bearer(user.refresh_token)).status_code == 200
    assert_token_revoked(second)
    assert_refresh_revoked(second)
    assert_works(other_user)
    # The new password logs in, the old one no longer does.
    assert auth.login(user.email, NEW_PASSWORD).status_code == 200
    assert_problem(auth.login(user.email, PASSWORD), 401, "invalid_credentials")
    assert auth.login(other_user.email, PASSWORD).status_code == 200


def test_change_password_is_not_trimmed(auth: AuthActions, user: ApiUser) -> None:
    spaced = "  Spaced-Out-7  "
    body = {"current_password": PASSWORD, "new_password": spaced}
    assert user.post(PASSWORD_URL, json=body).status_code == 204
    assert auth.login(user.email, spaced).status_code == 200
    assert_problem(auth.login(user.email, spaced.strip()), 401, "invalid_credentials")


def test_change_password_wrong_current_password(auth: AuthActions, user: ApiUser) -> None:
    second = second_session(auth, user)
    body = {"current_password": "Wrong-Horse-9", "new_password": NEW_PASSWORD}
    assert_problem(user.post(PASSWORD_URL, json=body), 401, "invalid_credentials")
    # Nothing changed: the old password works, the new does not, no session was revoked.
    assert auth.login(user.email, PASSWORD).status_code == 200
    assert_problem(auth.login(user.email, NEW_PASSWORD), 401, "invalid_credentials")
    assert_works(user)
    assert_works(second)


@pytest.mark.parametrize(
    ("new_password", "broken"),
    [
        ("short", 4),
        ("Sh0rt!", 1),
        ("alllowercase", 3),
        ("NoDigitsHere!", 1),
        ("NoSymbols123", 1),
        ("no-upper-1", 1),
        ("A1!" + "x" * 126, 1),
        ("", 4),
    ],
)
def test_change_password_policy(
    auth: AuthActions, user: ApiUser, new_password: str, broken: int
) -> None:
    body = {"current_password": PASSWORD, "new_password": new_password}
    problem = assert_problem(user.post(PASSWORD_URL, json=body), 400, "validation_error")
    assert set(problem["errors"]) == {"new_password"}
    assert len(problem["errors"]["new_password"]) == broken
    assert auth.login(user.email, PASSWORD).status_code == 200


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"current_password", "new_password"}),
        ({"current_password": PASSWORD}, {"new_password"}),
        ({"new_password": NEW_PASSWORD}, {"current_password"}),
        ({"current_password": 123, "new_password": NEW_PASSWORD}, {"current_password"}),
        ({"current_password": PASSWORD, "new_password": None}, {"new_password"}),
        ({"current_password": PASSWORD, "new_password": "Bad\x00Pass-9"}, {"new_password"}),
        (
            {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "email": "x@y.z"},
            {"email"},
        ),
    ],
)
def test_change_password_validation(
    auth: AuthActions, user: ApiUser, body: dict[str, Any], fields: set[str]
) -> None:
    problem = assert_problem(user.post(PASSWORD_URL, json=body), 400, "validation_error")
    assert fields <= set(problem["errors"])
    assert auth.login(user.email, PASSWORD).status_code == 200


def test_change_password_body_errors(user: ApiUser) -> None:
    response = user.post(PASSWORD_URL, data="{", headers={"Content-Type": "application/json"})
    assert_problem(response, 400, "invalid_json")
    response = user.post(
        PASSWORD_URL,
        data='{"current_password": "x", "new_password": "y"}',
        headers={"Content-Type": "text/plain"},
    )
    assert_problem(response, 415, "unsupported_media_type")
    assert_problem(user.post(PASSWORD_URL), 400, "validation_error")


def test_change_password_needs_an_access_token(client: Any, user: ApiUser) -> None:
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert_problem(client.post(PASSWORD_URL, json=body), 401, "token_missing")
    response = client.post(PASSWORD_URL, json=body, headers=bearer(user.refresh_token))
    assert_problem(response, 401, "token_invalid")
    assert_works(user)


# --- DELETE /auth/me ------------------------------------------------------------------------


def count_rows(app: Flask, model: type[Any], user_id: int) -> int:
    with app.app_context():
        column = User.id if model is User else model.user_id
        statement = select(func.count()).select_from(model).where(column == user_id)
        return db.session.scalar(statement) or 0


def seed_data(user: ApiUser) -> None:
    category = user.post("/api/v1/categories", json={"name": "Work"}).get_json()
    for title in ("One", "Two"):
        response = user.post(
            "/api/v1/tasks",
            json={"title": title, "category_id": category["id"]},
            headers={"Idempotency-Key": f"key-{title}"},
        )
        assert response.status_code == 201


def test_delete_account(app: Flask, auth: AuthActions, user: ApiUser, other_user: ApiUser) -> None:
    second = second_session(auth, user)
    seed_data(user)
    seed_data(other_user)
    models = (User, Task, Category, AuthSession, IdempotencyRecord)
    assert all(count_rows(app, model, user.id) > 0 for model in models)

    response = user.delete(ME, json={"password": PASSWORD})
    assert response.status_code == 204
    assert response.get_data() == b""

    # Every token of every session of the account is refused from now on.
    for session in (user, second):
        response = user.client.get(ME, headers=bearer(session.access_token))
        assert_problem(response, 401, "token_revoked")
        assert_refresh_revoked(session)
        assert_problem(
            user.client.get("/api/v1/tasks", headers=bearer(session.access_token)),
            401,
            "token_revoked",
        )
    # All the account's data is gone; the other user's is untouched.
    assert [count_rows(app, model, user.id) for model in models] == [0] * len(models)
    assert [count_rows(app, model, other_user.id) for model in models] == [1, 2, 1, 1, 2]
    assert_works(other_user)
    assert_problem(auth.login(user.email, PASSWORD), 401, "invalid_credentials")

    # The email is free again, and the new account starts empty.
    again = auth.register(user.email.upper())
    assert again.status_code == 201, again.get_json()
    assert again.get_json()["id"] != user.id
    assert again.get_json()["email"] == user.email
    tokens = auth.login(user.email).get_json()
    listing = user.client.get("/api/v1/tasks", headers=bearer(tokens["access_token"]))
    assert listing.get_json()["total"] == 0


def test_delete_account_wrong_password(app: Flask, auth: AuthActions, user: ApiUser) -> None:
    seed_data(user)
    response = user.delete(ME, json={"password": "Wrong-Horse-9"})
    assert_problem(response, 401, "invalid_credentials")
    assert_works(user)
    assert count_rows(app, Task, user.id) == 2
    assert count_rows(app, User, user.id) == 1
    assert auth.login(user.email, PASSWORD).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "password"),
        ({"password": None}, "password"),
        ({"password": 12345678}, "password"),
        ({"password": PASSWORD, "confirm": True}, "confirm"),
    ],
)
def test_delete_account_validation(
    app: Flask, user: ApiUser, body: dict[str, Any], field: str
) -> None:
    problem = assert_problem(user.delete(ME, json=body), 400, "validation_error")
    assert field in problem["errors"]
    assert count_rows(app, User, user.id) == 1
    assert_works(user)


def test_delete_account_body_errors(app: Flask, user: ApiUser) -> None:
    assert_problem(user.delete(ME), 400, "validation_error")
    assert_problem(user.delete(ME, json=[PASSWORD]), 400, "validation_error")
    response = user.delete(ME, data="{", headers={"Content-Type": "application/json"})
    assert_problem(response, 400, "invalid_json")
    response = user.delete(ME, data=PASSWORD, headers={"Content-Type": "text/plain"})
    assert_problem(response, 415, "unsupported_media_type")
    assert count_rows(app, User, user.id) == 1


def test_delete_account_needs_an_access_token(app: Flask, client: Any, user: ApiUser) -> None:
    assert_problem(client.delete(ME, json={"password": PASSWORD}), 401, "token_missing")
    response = client.delete(ME, json={"password": PASSWORD}, headers=bearer(user.refresh_token))
    assert_problem(response, 401, "token_invalid")
    assert count_rows(app, User, user.id) == 1
