"""OWASP API3:2023 Broken Object Property Level Authorization.

Mass assignment: a body can set only the fields the contract lists as writable; any other
(`id`, `user_id`, timestamps, `task_count`, `password_hash`, `email` on PATCH /auth/me, ...) is
a 400 naming the field, and changes nothing. Excessive data exposure: no response, success or
error, ever carries a password, a password hash, a token outside the token-pair responses, or
a stack trace.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import PASSWORD, AppFactory, AuthActions, User, assert_problem
from tests.security.conftest import API, Owned

TASK_READ_ONLY = ["id", "user_id", "created_at", "updated_at", "completed_at", "version"]
CATEGORY_READ_ONLY = [
    "id",
    "user_id",
    "task_count",
    "created_at",
    "updated_at",
    "name_key",
    "version",
]
USER_READ_ONLY = ["id", "email", "password", "password_hash", "created_at", "user_id"]
FORCED_VALUES: dict[str, Any] = {
    "id": 999,
    "user_id": 999,
    "created_at": "2000-01-01T00:00:00Z",
    "updated_at": "2000-01-01T00:00:00Z",
    "completed_at": "2000-01-01T00:00:00Z",
    "version": 99,
    "task_count": 99,
    "name_key": "hijacked",
    "email": "hijacked@example.com",
    "password": "Hijacked-Horse-9",
    "password_hash": "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
}
CONTENT_TYPES = ["application/json", "application/merge-patch+json"]


def send(user: User, method: str, path: str, body: dict[str, Any], content_type: str) -> Any:
    return user.request(method, path, data=json.dumps(body), content_type=content_type)


def assert_field_refused(response: Any, field: str) -> None:
    body = assert_problem(response, 400, "validation_error")
    assert field in body["errors"], body


def assert_all_refused(
    owned: Owned, method: str, path: str, base: dict[str, Any], fields: list[str], **kwargs: Any
) -> None:
    """Send `base` plus each field in turn: each is a 400 naming it, and nothing changes."""
    before = owned.snapshot()
    content_type = kwargs.get("content_type", "application/json")
    prefix = kwargs.get("prefix", "")
    for field in fields:
        forced = {field: FORCED_VALUES.get(field, 999)}
        body = {**base, "changes": forced} if prefix else {**base, **forced}
        assert_field_refused(send(owned.user, method, path, body, content_type), prefix + field)
    assert owned.snapshot() == before


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_tasks_refuse_read_only_fields(owned: Owned, method: str) -> None:
    path = f"{API}/tasks" if method == "POST" else f"{API}/tasks/{owned.task_id}"
    assert_all_refused(owned, method, path, {"title": "Mass"}, TASK_READ_ONLY)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_categories_refuse_read_only_fields(owned: Owned, method: str) -> None:
    path = f"{API}/categories" if method == "POST" else f"{API}/categories/{owned.category_id}"
    assert_all_refused(owned, method, path, {"name": "Mass"}, CATEGORY_READ_ONLY)


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
def test_patch_me_changes_only_the_name(owned: Owned, content_type: str) -> None:
    path = f"{API}/auth/me"
    assert_all_refused(
        owned, "PATCH", path, {"name": "Mass"}, USER_READ_ONLY, content_type=content_type
    )
    login = {"email": owned.user.email, "password": PASSWORD}
    assert owned.user.client.post(f"{API}/auth/login", json=login).status_code == 200


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
def test_merge_patch_refuses_read_only_fields(owned: Owned, content_type: str) -> None:
    path = f"{API}/tasks/{owned.task_id}"
    fields = ["user_id", "id", "completed_at", "version"]
    assert_all_refused(owned, "PATCH", path, {}, fields, content_type=content_type)


def test_bulk_changes_refuse_read_only_fields(owned: Owned) -> None:
    fields = ["user_id", "id", "created_at", "completed_at"]
    body = {"ids": [owned.task_id]}
    assert_all_refused(owned, "PATCH", f"{API}/tasks", body, fields, prefix="changes.")


def test_register_refuses_fields_beyond_email_password_name(auth: AuthActions) -> None:
    for field in ["id", "password_hash", "created_at", "user_id", "is_admin"]:
        response = auth.register("mass@example.com", **{field: FORCED_VALUES.get(field, True)})
        assert_field_refused(response, field)
    assert_problem(auth.login("mass@example.com"), 401, "invalid_credentials")


def test_password_change_cannot_touch_other_fields(owned: Owned) -> None:
    body = {"current_password": PASSWORD, "new_password": "Another-Horse-10", "email": "x@y.z"}
    assert_field_refused(owned.user.post(f"{API}/auth/password", json=body), "email")
    assert owned.snapshot()["me"]["email"] == owned.user.email


def test_status_done_sets_completed_at_by_the_server_only(owned: Owned) -> None:
    done = owned.user.patch(f"{API}/tasks/{owned.task_id}", json={"status": "done"}).get_json()
    assert done["completed_at"] > "2020"
    assert done["completed_at"] == done["updated_at"]


# ------------------------------------------------------------------------------ exposure

LEAKS = ("$argon2", "password_hash", "Traceback", 'File "', "sqlalchemy", "psycopg")


class Recorder:
    """Keep every response and every token the API hands out."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.responses: list[tuple[str, Any]] = []
        self.tokens: dict[str, int] = {}  # token -> the index of the response that issued it

    def __call__(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = self.client.open(path, method=method, headers=headers, **kwargs)
        request = f"{method} {path}"
        response.get_data()
        response.close()
        self.responses.append((request, response))
        if response.status_code == 200 and path in {f"{API}/auth/login", f"{API}/auth/refresh"}:
            pair = response.get_json()
            self.tokens[pair["access_token"]] = len(self.responses) - 1
            self.tokens[pair["refresh_token"]] = len(self.responses) - 1
        return response


def keys_of(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from keys_of(item)
    elif isinstance(value, list):
        for item in value:
            yield from keys_of(item)


def exercise(send: Recorder) -> None:
    """Drive every route, successes and errors, as two users."""
    email, other_email = "walker@example.com", "other-walker@example.com"
    for address in (email, other_email):
        send("POST", f"{API}/auth/register", json={"email": address, "password": PASSWORD})
    send("POST", f"{API}/auth/register", json={"email": email, "password": PASSWORD})  # 409
    send("POST", f"{API}/auth/register", json={"email": "weak@example.com", "password": "weak"})
    send("POST", f"{API}/auth/login", json={"email": email, "password": "Wrong-Horse-9"})
    pair = send("POST", f"{API}/auth/login", json={"email": email, "password": PASSWORD})
    other = send("POST", f"{API}/auth/login", json={"email": other_email, "password": PASSWORD})
    access, refresh = pair.get_json()["access_token"], pair.get_json()["refresh_token"]
    other_access = other.get_json()["access_token"]
    rotated = send("POST", f"{API}/auth/refresh", refresh).get_json()
    access = rotated["access_token"]
    send("POST", f"{API}/auth/refresh", access)  # wrong kind: 401
    send("GET", f"{API}/auth/me", access)
    send("PATCH", f"{API}/auth/me", access, json={"name": "Walker"})
    send("PATCH", f"{API}/auth/me", access, json={"is_admin": True})
    send("GET", f"{API}/auth/sessions", access)
    send("POST", f"{API}/auth/password", access, json={"current_password": "Nope-Horse-1"})
    send(
        "POST",
        f"{API}/auth/password",
        access,
        json={"current_password": "Wrong-Horse-9", "new_password": "Another-Horse-10"},
    )
    category = send("POST", f"{API}/categories", access, json={"name": "Work"}).get_json()
    send("POST", f"{API}/categories", access, json={"name": "work"})  # 409
    task = send(
        "POST",
        f"{API}/tasks",
        access,
        json={"title": "Walk", "category_id": category["id"]},
        headers={"Idempotency-Key": "walk-1"},
    )
    send(
        "POST",
        f"{API}/tasks",
        access,
        json={"title": "Walk"},
        headers={"Idempotency-Key": "walk-1"},
    )
    send(
        "POST",
        f"{API}/tasks",
        access,
        json={"title": "Other"},
        headers={"Idempotency-Key": "walk-1"},
    )
    task_path = f"{API}/tasks/{task.get_json()['id']}"
    send("GET", task_path, access)
    send("GET", task_path, access, headers={"If-None-Match": task.headers["ETag"]})
    send("PATCH", task_path, access, json={"status": "done"})
    send("PUT", task_path, access, json={"title": "Walked"}, headers={"If-Match": '"stale"'})
    send("GET", f"{API}/tasks?q=walk&sort=-priority,title", access)
    send("GET", f"{API}/tasks?limit=0", access)
    send("PATCH", f"{API}/tasks", access, json={"ids": [task.get_json()["id"]], "changes": {}})
    send("GET", task_path, other_access)  # 403
    send("GET", f"{API}/tasks/999999", access)  # 404
    send("GET", f"{API}/categories", access)
    send("PATCH", f"{API}/categories/{category['id']}", access, json={"color": "#123456"})
    send("POST", f"{API}/tasks", access, data="not json", content_type="application/json")
    send("POST", f"{API}/tasks", access, data="title=x", content_type="text/plain")
    send("POST", f"{API}/tasks", access, data="x" * (1024 * 1024 + 1), content_type="text/plain")
    send("TRACE", f"{API}/tasks", access)
    send("GET", f"{API}/nowhere", access)
    send("GET", f"{API}/tasks")
    send("GET", f"{API}/health")
    send("DELETE", task_path, access)
    send("DELETE", f"{API}/tasks?status=done", access)
    send("DELETE", f"{API}/categories/{category['id']}", access)
    send("DELETE", f"{API}/auth/me", other_access, json={"password": "Wrong-Horse-9"})
    send("POST", f"{API}/auth/logout", access)
    send("GET", f"{API}/auth/me", access)  # revoked


def test_no_response_exposes_secrets_tokens_or_stack_traces(make_app: AppFactory) -> None:
    app = make_app(AUTH_RATE_LIMIT="40 per minute")
    send = Recorder(app.test_client())
    exercise(send)
    for _ in range(40):  # the rate limiter's 429 too
        send("POST", f"{API}/auth/login", json={"email": "x@example.com", "password": "y"})
    statuses = {response.status_code for _, response in send.responses}
    assert {200, 201, 204, 304, 400, 401, 403, 404, 405, 409, 412, 413, 415, 422, 429} <= statuses
    for index, (request, response) in enumerate(send.responses):
        text = response.get_data(as_text=True)
        headers = str(response.headers)
        for leak in (*LEAKS, PASSWORD, "Another-Horse-10", "Wrong-Horse-9"):
            assert leak not in text, (request, leak, text[:300])
            assert leak not in headers, (request, leak)
        issued_here = {token for token, issuer in send.tokens.items() if issuer == index}
        for token in set(send.tokens) - issued_here:
            assert token not in text, (request, "a token outside its token-pair response")
            assert token not in headers, (request, "a token in a header")
        if response.mimetype == "application/json" and response.status_code < 400:
            assert not [key for key in keys_of(response.get_json()) if "password" in key], request


def test_users_are_shown_without_private_fields(auth: AuthActions, user: User) -> None:
    registered = auth.register("shown@example.com", name="Shown").get_json()
    me = user.get(f"{API}/auth/me").get_json()
    assert set(registered) == set(me) == {"id", "email", "name", "email_verified", "created_at"}


def test_task_and_category_representations_hold_no_owner_fields(owned: Owned) -> None:
    task = owned.user.get(f"{API}/tasks/{owned.task_id}").get_json()
    category = owned.user.get(f"{API}/categories/{owned.category_id}").get_json()
    assert "user_id" not in task
    assert "version" not in task
    assert set(category) == {"id", "name", "color", "task_count", "created_at", "updated_at"}


def test_docs_describe_passwords_as_write_only(client: FlaskClient) -> None:
    document = client.get(f"{API}/openapi.json").get_json()
    text = json.dumps(document)
    assert "$argon2" not in text
    assert "password_hash" not in text
    for name, schema in document["components"]["schemas"].items():
        for field, spec in schema.get("properties", {}).items():
            if "password" in field:
                assert spec.get("writeOnly") is True, (name, field)
