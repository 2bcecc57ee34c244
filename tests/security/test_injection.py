"""Injection (OWASP API8:2019; in the 2023 list it falls under API8 and API10's input handling).

SQL injection payloads in every string parameter (`q`, `sort`, `status`, `priority`, dates,
`title`, `description`, category `name` and `color`, `name` on PATCH /auth/me, `email` and
`password` at login and register) never cause a 5xx, never show another user's data, are
stored verbatim where they are valid text, and leave every table in place.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import inspect

from backend.extensions import db
from tests.conftest import PASSWORD, AuthActions, User, assert_problem
from tests.security.conftest import API

PAYLOADS = [
    "' OR 1=1 --",
    "' OR '1'='1",
    '"; DROP TABLE tasks; --',
    "'; DROP TABLE users; --",
    "%' --",
    "%",
    "_",
    "\\",
    "' UNION SELECT id, email, password_hash FROM users --",
    "1; SELECT pg_sleep(5) --",
    "\u2018 OR 1=1 --",  # left single quotation mark
    "\u02bc OR \u02bc1\u02bc=\u02bc1",  # modifier letter apostrophe
    "\uff07 OR 1=1 --",  # fullwidth apostrophe
    "') OR ('a'='a",
    "admin'/*",
    "*/ OR 1=1 /*",
    "$where: '1 == 1'",
    '{"$ne": null}',
]
SECRET = "SECRET-of-the-victim"
TABLES = {"users", "auth_sessions", "tasks", "categories", "idempotency_keys"}
QUERY_PARAMETERS = [
    "q",
    "sort",
    "status",
    "priority",
    "category_id",
    "due_before",
    "due_after",
    "updated_after",
    "limit",
    "offset",
]


@pytest.fixture
def victim(auth: AuthActions) -> User:
    """Another user whose data no payload may reveal or change."""
    victim = auth.user()
    category = victim.post(f"{API}/categories", json={"name": SECRET}).get_json()
    victim.post(
        f"{API}/tasks",
        json={"title": SECRET, "description": SECRET, "category_id": category["id"]},
    )
    return victim


def victim_state(victim: User) -> Any:
    return (
        victim.get(f"{API}/tasks").get_json(),
        victim.get(f"{API}/categories").get_json(),
        victim.get(f"{API}/auth/me").get_json(),
    )


def assert_safe(response: Any, request: str) -> None:
    text = response.get_data(as_text=True)
    assert response.status_code < 500, (request, response.status_code, text[:300])
    assert SECRET not in text, request
    assert "$argon2" not in text, request
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json", request


def assert_tables_intact(app: Flask) -> None:
    with app.app_context():
        assert set(inspect(db.engine).get_table_names()) >= TABLES


def test_payloads_in_query_parameters_are_inert(app: Flask, user: User, victim: User) -> None:
    before = victim_state(victim)
    own = user.post(f"{API}/tasks", json={"title": "Mine"}).get_json()
    for payload in PAYLOADS:
        for plural in ("tasks", "categories"):
            for name in QUERY_PARAMETERS:
                response = user.get(f"{API}/{plural}", query_string={name: payload})
                request = f"GET /{plural}?{name}={payload}"
                assert_safe(response, request)
                if response.status_code == 200:
                    ids = {item["id"] for item in response.get_json()["items"]}
                    assert ids <= ({own["id"]} if plural == "tasks" else set()), (request, ids)
        assert_safe(user.delete(f"{API}/tasks", query_string={"q": payload}), payload)
    assert victim_state(victim) == before
    assert user.get(f"{API}/tasks/{own['id']}").status_code == 200
    assert_tables_intact(app)


def test_payloads_in_bodies_are_stored_verbatim(app: Flask, user: User, victim: User) -> None:
    before = victim_state(victim)
    titles: dict[int, str] = {}
    for payload in PAYLOADS:
        task = user.post(f"{API}/tasks", json={"title": payload, "description": payload})
        assert task.status_code == 201, payload
        task_id = task.get_json()["id"]
        titles[task_id] = payload
        fetched = user.get(f"{API}/tasks/{task_id}").get_json()
        assert fetched["title"] == fetched["description"] == payload
        category = user.post(f"{API}/categories", json={"name": payload[:50]})
        assert category.status_code == 201, payload
        assert category.get_json()["name"] == payload[:50]
        color = user.post(f"{API}/categories", json={"name": "C", "color": payload})
        assert_problem(color, 400, "validation_error")
        renamed = user.patch(f"{API}/auth/me", json={"name": payload})
        assert renamed.get_json()["name"] == payload
        patched = user.patch(
            f"{API}/tasks/{task_id}", json={"status": payload, "priority": payload}
        )
        assert_problem(patched, 400, "validation_error")
        bulk = user.patch(f"{API}/tasks", json={"ids": [task_id], "changes": {"title": payload}})
        assert bulk.get_json()["updated"] == 1
        assert bulk.get_json()["items"][0]["title"] == payload
        # The search reads the payload as plain text: it finds exactly the titles holding it.
        found = user.get(f"{API}/tasks", query_string={"q": payload, "limit": 100}).get_json()
        expected = {id_ for id_, title in titles.items() if payload.lower() in title.lower()}
        assert {item["id"] for item in found["items"]} == expected, payload
    assert victim_state(victim) == before
    assert_tables_intact(app)


def test_payloads_at_login_and_register_get_nobody_in(
    app: Flask, auth: AuthActions, victim: User
) -> None:
    for payload in PAYLOADS:
        emails = (payload, f"{payload}@example.com", f"{victim.email}' --", victim.email + payload)
        for email in emails:
            for password in (payload, PASSWORD):
                response = auth.login(email, password)
                assert_safe(response, f"login {email!r}")
                assert_problem(response, 401, "invalid_credentials")
        registered = auth.register(payload, PASSWORD)
        assert_safe(registered, f"register {payload!r}")
        assert_problem(registered, 400, "validation_error")
    assert auth.login(victim.email).status_code == 200
    assert_tables_intact(app)


def test_like_wildcards_in_q_match_only_themselves(user: User) -> None:
    titles = ["100% done", "snake_case", "back\\slash", "plain"]
    ids = {
        title: user.post(f"{API}/tasks", json={"title": title}).get_json()["id"] for title in titles
    }
    for q, expected in [("%", "100% done"), ("_", "snake_case"), ("\\", "back\\slash")]:
        found = user.get(f"{API}/tasks", query_string={"q": q}).get_json()["items"]
        assert [item["id"] for item in found] == [ids[expected]], q
    categories = {
        name: user.post(f"{API}/categories", json={"name": name}).get_json()["id"]
        for name in ("50% off", "a_b", "ab")
    }
    found = user.get(f"{API}/categories", query_string={"q": "_"}).get_json()["items"]
    assert [item["id"] for item in found] == [categories["a_b"]]


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("sort", "title; DROP TABLE tasks"),
        ("sort", "(SELECT 1)"),
        ("sort", "title,-id"),
        ("status", "todo' OR '1'='1"),
        ("category_id", "1 OR 1=1"),
        ("due_before", "2026-01-01' OR '1'='1"),
        ("limit", "10; DROP TABLE tasks"),
    ],
)
def test_structured_parameters_refuse_sql(user: User, parameter: str, value: str) -> None:
    body = assert_problem(
        user.get(f"{API}/tasks", query_string={parameter: value}), 400, "validation_error"
    )
    assert parameter in body["errors"]
