"""OWASP API4:2023 Unrestricted Resource Consumption.

Every knob a client turns is capped: page size (`limit` 1-100), body size (1 MiB), password
length (128, checked before any hashing; long passwords at login hash in bounded time), bulk
`ids` (100), the search string `q` (200), string fields, nesting depth; login and register are
rate-limited per client address with the draft RateLimit headers.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask

from backend.passwords import LENGTH_MESSAGE
from tests.conftest import PASSWORD, AppFactory, AuthActions, User, assert_problem
from tests.security.conftest import API

MIB = 1024 * 1024
PRODUCTION_ARGON2 = {"ARGON2_TIME_COST": 2, "ARGON2_MEMORY_COST": 19_456}


def assert_refused(response: object, parameter: str) -> None:
    body = assert_problem(response, 400, "validation_error")
    assert parameter in body["errors"], body


@pytest.mark.parametrize("plural", ["tasks", "categories"])
def test_page_size_is_capped_at_100(user: User, plural: str) -> None:
    assert_refused(user.get(f"{API}/{plural}?limit=101"), "limit")
    assert_refused(user.get(f"{API}/{plural}?limit=1000000"), "limit")
    assert_refused(user.get(f"{API}/{plural}?limit=0"), "limit")
    assert user.get(f"{API}/{plural}?limit=100").get_json()["limit"] == 100


def test_a_full_page_holds_at_most_100_items(user: User) -> None:
    for number in range(101):
        assert user.post(f"{API}/tasks", json={"title": f"Task {number}"}).status_code == 201
    page = user.get(f"{API}/tasks?limit=100").get_json()
    assert page["total"] == 101
    assert len(page["items"]) == 100
    assert len(user.get(f"{API}/tasks").get_json()["items"]) == 20


@pytest.mark.parametrize("offset", ["2147483648", "99999999999999999999", "-1"])
def test_offset_is_bounded(user: User, offset: str) -> None:
    assert_refused(user.get(f"{API}/tasks?offset={offset}"), "offset")


@pytest.mark.parametrize(
    ("method", "path", "authenticated"),
    [
        ("POST", "/auth/register", False),
        ("POST", "/auth/login", False),
        ("POST", "/tasks", True),
        ("PATCH", "/tasks", True),
        ("POST", "/categories", True),
        ("PATCH", "/auth/me", True),
    ],
)
def test_bodies_over_one_mib_are_413(
    user: User, method: str, path: str, authenticated: bool
) -> None:
    body = b'{"title": "' + b"x" * MIB + b'"}'
    if authenticated:
        response = user.request(method, API + path, data=body, content_type="application/json")
    else:
        response = user.client.open(
            API + path, method=method, data=body, content_type="application/json"
        )
    assert_problem(response, 413, "payload_too_large")


def test_an_unauthenticated_big_body_is_refused_before_it_is_read(user: User) -> None:
    response = user.client.post(
        f"{API}/tasks", data=b"x" * (2 * MIB), content_type="application/json"
    )
    assert response.status_code in {401, 413}


@pytest.fixture
def hash_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the length of every password the real `PasswordHasher.hash` is asked to hash."""
    calls: list[int] = []
    real_hash = PasswordHasher.hash

    def spying_hash(hasher: PasswordHasher, password: str | bytes, **kwargs: Any) -> str:
        calls.append(len(password))
        return real_hash(hasher, password, **kwargs)

    monkeypatch.setattr(PasswordHasher, "hash", spying_hash)
    return calls


@pytest.mark.parametrize(
    "huge",
    [
        "Aa1!" * 250_000,  # close to the body limit, every other rule met
        "a" * 1_000_000,  # every character rule broken
        "\x00" * 100_000,  # every character a control character (6 bytes each in JSON)
    ],
)
def test_passwords_over_128_characters_are_refused_before_hashing(
    make_app: AppFactory, hash_calls: list[int], huge: str
) -> None:
    app = make_app(**PRODUCTION_ARGON2)
    auth = AuthActions(app.test_client())
    hash_calls.clear()  # the app's dummy hash
    long_password = "Aa1!" * 32 + "x"  # 129 characters, every other rule met
    body = assert_problem(auth.register("long@example.com", long_password), 400, "validation_error")
    assert body["errors"]["password"] == [LENGTH_MESSAGE]
    assert auth.register("exact@example.com", long_password[:128]).status_code == 201
    assert hash_calls == [128]
    # A huge password is refused by its length alone: no hash, and the length is the only
    # message, so neither the character rules nor the control-character scan looked at it.
    body = assert_problem(auth.register("huge@example.com", huge), 400, "validation_error")
    assert body["errors"] == {"password": [LENGTH_MESSAGE]}
    assert hash_calls == [128]


def test_new_password_is_capped_too(user: User) -> None:
    body = {"current_password": PASSWORD, "new_password": "Aa1!" * 33}
    assert_refused(user.post(f"{API}/auth/password", json=body), "new_password")


def test_a_huge_password_at_login_hashes_in_bounded_time(make_app: AppFactory) -> None:
    app = make_app(**PRODUCTION_ARGON2)
    auth = AuthActions(app.test_client())
    assert auth.register("victim@example.com").status_code == 201
    normal = auth.login("victim@example.com", "Wrong-Horse-9")
    started = time.perf_counter()
    huge = auth.login("victim@example.com", "x" * 1_000_000)
    huge_time = time.perf_counter() - started
    assert normal.status_code == huge.status_code == 401
    assert normal.get_json() == huge.get_json()
    # Argon2 pre-hashes its input, so a megabyte costs about what a short password does; this
    # generous bound only catches a pathological cost (measuring speed is the benchmark's job).
    assert huge_time < 10, huge_time


def test_bulk_ids_are_capped_at_100(user: User) -> None:
    task = user.post(f"{API}/tasks", json={"title": "Bulk"}).get_json()
    too_many = {"ids": list(range(1, 102)), "changes": {"status": "done"}}
    assert_refused(user.patch(f"{API}/tasks", json=too_many), "ids")
    assert_refused(user.patch(f"{API}/tasks", json={"ids": [], "changes": {}}), "ids")
    hundred = {"ids": [task["id"]] * 100, "changes": {"status": "done"}}
    assert user.patch(f"{API}/tasks", json=hundred).get_json()["updated"] == 1


@pytest.mark.parametrize("plural", ["tasks", "categories"])
def test_search_string_is_capped_at_200(user: User, plural: str) -> None:
    assert_refused(user.get(f"{API}/{plural}", query_string={"q": "a" * 201}), "q")
    assert_refused(user.get(f"{API}/{plural}", query_string={"q": "a" * 100_000}), "q")
    assert user.get(f"{API}/{plural}", query_string={"q": "a" * 200}).status_code == 200


@pytest.mark.parametrize(
    ("path", "field", "length"),
    [
        ("/tasks", "title", 201),
        ("/tasks", "description", 10_001),
        ("/categories", "name", 51),
    ],
)
def test_string_fields_are_capped(user: User, path: str, field: str, length: int) -> None:
    body = {"title": "t", "name": "n", field: "x" * length}
    if path == "/categories":
        body.pop("title")
    else:
        body.pop("name")
    assert_refused(user.post(API + path, json=body), field)


def test_email_and_name_are_capped(auth: AuthActions) -> None:
    assert_refused(auth.register("a" * 243 + "@example.com"), "email")  # 255 characters
    assert_refused(auth.register("named@example.com", name="n" * 101), "name")


def test_idempotency_keys_are_capped_at_255(user: User) -> None:
    response = user.post(
        f"{API}/tasks", json={"title": "Keyed"}, headers={"Idempotency-Key": "k" * 256}
    )
    assert_refused(response, "Idempotency-Key")
    assert user.get(f"{API}/tasks").get_json()["total"] == 0


def test_deep_nesting_is_refused_quickly(user: User) -> None:
    started = time.perf_counter()
    response = user.post(
        f"{API}/tasks", data=b"[" * 500_000 + b"]" * 500_000, content_type="application/json"
    )
    assert time.perf_counter() - started < 2.0
    assert_problem(response, 400, "invalid_json")


def test_register_is_rate_limited_and_says_so(make_app: AppFactory) -> None:
    app: Flask = make_app(AUTH_RATE_LIMIT="2 per minute")
    auth = AuthActions(app.test_client())
    first = auth.register("one@example.com")
    assert first.status_code == 201
    assert first.headers["RateLimit-Policy"] == '"auth";q=2;w=60'
    assert first.headers["RateLimit"].startswith('"auth";r=1;t=')
    assert auth.register("two@example.com").status_code == 201
    limited = auth.register("three@example.com")
    assert_problem(limited, 429, "rate_limited")
    assert limited.headers["RateLimit"].startswith('"auth";r=0;t=')
    assert int(limited.headers["Retry-After"]) >= 1
