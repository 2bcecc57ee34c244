"""OWASP API2:2023 Broken Authentication.

Tampered, expired, revoked, foreign-key-signed, `alg: none` and other-algorithm tokens are
refused with 401 and the contract's code on a sample of protected routes, and change nothing;
logins answer unknown emails and wrong passwords alike, in similar time, and are rate-limited.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import PASSWORD, AppFactory, AuthActions, User, assert_problem
from tests.security.conftest import API, Owned

FOREIGN_KEY = "another-deployment-key-that-is-long-enough-0123456789"
DIGESTS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
# A sample of protected routes, each with a body it accepts (`{task}` and `{category}` are ids).
SAMPLE_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/auth/me", None),
    ("GET", "/auth/sessions", None),
    ("GET", "/tasks", None),
    ("POST", "/tasks", {"title": "Forged"}),
    ("GET", "/tasks/{task}", None),
    ("PATCH", "/tasks/{task}", {"title": "Forged"}),
    ("DELETE", "/tasks/{task}", None),
    ("PUT", "/categories/{category}", {"name": "Forged"}),
    ("DELETE", "/tasks", None),
    ("POST", "/auth/logout-all", None),
    ("POST", "/auth/password", {"current_password": PASSWORD, "new_password": "New-Horse-10"}),
    ("DELETE", "/auth/me", {"password": PASSWORD}),
]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def claims_of(token: str) -> dict[str, Any]:
    return json.loads(unb64(token.split(".")[1]))


def sign(claims: dict[str, Any], key: str, alg: str = "HS256", **header: Any) -> str:
    """Sign a JWT by hand, so that any algorithm and key can be tried."""
    head = b64(json.dumps({"alg": alg, "typ": "JWT", **header}).encode())
    body = b64(json.dumps(claims).encode())
    if alg == "none":
        return f"{head}.{body}."
    digest = DIGESTS.get(alg, hashlib.sha256)
    signature = hmac.new(key.encode(), f"{head}.{body}".encode(), digest).digest()
    return f"{head}.{body}.{b64(signature)}"


def flip(text: str, index: int) -> str:
    """Change one base64url character of a token."""
    char = "A" if text[index] != "A" else "B"
    return text[:index] + char + text[index + 1 :]


Forger = Callable[[Flask, str], str]


def key(app: Flask) -> str:
    return app.config["JWT_SECRET_KEY"]


def another_subject(_app: Flask, token: str) -> str:
    head, payload, signature = token.split(".")
    forged = b64(json.dumps({**json.loads(unb64(payload)), "sub": "999"}).encode())
    return f"{head}.{forged}.{signature}"


def expired(app: Flask, token: str) -> str:
    claims = claims_of(token)
    return sign({**claims, "iat": claims["iat"] - 7200, "exp": claims["iat"] - 3600}, key(app))


FORGERIES: dict[str, tuple[Forger, str]] = {
    "tampered payload (another subject)": (another_subject, "token_invalid"),
    "tampered signature": (lambda app, token: flip(token, -5), "token_invalid"),
    "truncated signature": (lambda app, token: token[:-10], "token_invalid"),
    "signed with a foreign key": (
        lambda app, token: sign(claims_of(token), FOREIGN_KEY),
        "token_invalid",
    ),
    "alg none": (lambda app, token: sign(claims_of(token), "", alg="none"), "token_invalid"),
    "alg none, with the genuine signature": (
        lambda app, token: ".".join([b64(b'{"alg":"none","typ":"JWT"}'), *token.split(".")[1:]]),
        "token_invalid",
    ),
    "HS512 with the app key": (
        lambda app, token: sign(claims_of(token), key(app), alg="HS512"),
        "token_invalid",
    ),
    "RS256 header, HMAC signature": (
        lambda app, token: sign(claims_of(token), key(app), alg="RS256"),
        "token_invalid",
    ),
    "expired": (expired, "token_expired"),
}


@pytest.mark.parametrize("forgery", FORGERIES)
def test_forged_tokens_are_refused_and_change_nothing(
    app: Flask, owned: Owned, forgery: str
) -> None:
    forge, code = FORGERIES[forgery]
    token = forge(app, owned.user.access_token)
    before = owned.snapshot()
    for method, template, body in SAMPLE_ROUTES:
        path = API + template.format(task=owned.task_id, category=owned.category_id)
        response = owned.user.client.open(
            path, method=method, json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert_problem(response, 401, code)
    assert owned.snapshot() == before


def test_a_refresh_token_is_refused_on_the_sample_routes(owned: Owned) -> None:
    refresh = {"Authorization": f"Bearer {owned.user.refresh_token}"}
    before = owned.snapshot()
    for method, template, body in SAMPLE_ROUTES:
        path = API + template.format(task=owned.task_id, category=owned.category_id)
        response = owned.user.client.open(path, method=method, json=body, headers=refresh)
        assert_problem(response, 401, "token_invalid")
    assert owned.snapshot() == before


def test_the_genuine_token_passes_where_forgeries_fail(app: Flask, owned: Owned) -> None:
    """Re-signing the genuine claims with the app key works: the forgeries fail for their flaw."""
    token = sign(claims_of(owned.user.access_token), key(app))
    response = owned.user.client.get(f"{API}/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


@pytest.mark.parametrize("forgery", [name for name in FORGERIES if name != "expired"])
def test_forged_refresh_tokens_are_refused(app: Flask, user: User, forgery: str) -> None:
    token = FORGERIES[forgery][0](app, user.refresh_token)
    response = user.client.post(f"{API}/auth/refresh", headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 401, "token_invalid")
    # The genuine refresh token still works: the forgery spent nothing.
    assert (
        user.client.post(
            f"{API}/auth/refresh", headers={"Authorization": f"Bearer {user.refresh_token}"}
        ).status_code
        == 200
    )


def test_expired_refresh_token_is_token_expired(app: Flask, user: User) -> None:
    claims = claims_of(user.refresh_token)
    token = sign({**claims, "exp": claims["iat"] - 1}, key(app))
    response = user.client.post(f"{API}/auth/refresh", headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 401, "token_expired")


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_revoked_tokens_are_token_revoked_everywhere(owned: Owned, kind: str) -> None:
    user = owned.user
    token = getattr(user, kind)
    assert (
        user.client.post(
            f"{API}/auth/logout", headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 204
    )
    for method, template, body in SAMPLE_ROUTES:
        path = API + template.format(task=owned.task_id, category=owned.category_id)
        response = user.client.open(path, method=method, json=body, headers=user.headers)
        assert_problem(response, 401, "token_revoked")
    response = user.client.post(
        f"{API}/auth/refresh", headers={"Authorization": f"Bearer {user.refresh_token}"}
    )
    assert_problem(response, 401, "token_revoked")


def test_a_spent_refresh_token_revokes_its_session(user: User) -> None:
    refresh = {"Authorization": f"Bearer {user.refresh_token}"}
    assert user.client.post(f"{API}/auth/refresh", headers=refresh).status_code == 200
    assert_problem(user.client.post(f"{API}/auth/refresh", headers=refresh), 401, "token_revoked")
    assert_problem(user.get(f"{API}/auth/me"), 401, "token_revoked")


def test_a_password_change_revokes_the_other_sessions(auth: AuthActions, user: User) -> None:
    other_session = auth.login(user.email).get_json()
    changed = user.post(
        f"{API}/auth/password",
        json={"current_password": PASSWORD, "new_password": "Another-Horse-10"},
    )
    assert changed.status_code == 204
    stale = {"Authorization": f"Bearer {other_session['access_token']}"}
    assert_problem(user.client.get(f"{API}/auth/me", headers=stale), 401, "token_revoked")
    assert user.get(f"{API}/auth/me").status_code == 200
    assert_problem(auth.login(user.email), 401, "invalid_credentials")


def test_unknown_email_and_wrong_password_are_answered_alike(auth: AuthActions, user: User) -> None:
    unknown = auth.login("nobody@example.com", PASSWORD)
    wrong = auth.login(user.email, "Wrong-Horse-9")
    case = auth.login(user.email.upper(), "Wrong-Horse-9")
    for response in (unknown, wrong, case):
        assert_problem(response, 401, "invalid_credentials")
    assert unknown.get_json() == wrong.get_json() == case.get_json()
    assert unknown.headers["WWW-Authenticate"] == wrong.headers["WWW-Authenticate"]


def test_unknown_email_and_wrong_password_take_similar_time(make_app: AppFactory) -> None:
    """With the production Argon2 cost, an unknown email must not answer measurably faster."""
    app = make_app(ARGON2_TIME_COST=2, ARGON2_MEMORY_COST=19_456)
    auth = AuthActions(app.test_client())
    assert auth.register("victim@example.com").status_code == 201

    def fastest(email: str) -> float:
        times = []
        for _ in range(4):
            started = time.perf_counter()
            assert auth.login(email, "Wrong-Horse-9").status_code == 401
            times.append(time.perf_counter() - started)
        return min(times)

    unknown, wrong = fastest("nobody@example.com"), fastest("victim@example.com")
    assert 1 / 3 < unknown / wrong < 3, (unknown, wrong)


@pytest.mark.parametrize("route", ["login", "register"])
def test_auth_routes_are_rate_limited_per_client_address(make_app: AppFactory, route: str) -> None:
    app = make_app(AUTH_RATE_LIMIT="3 per minute")
    client = app.test_client()
    body = {"email": "someone@example.com", "password": "Wrong-Horse-9"}
    answers = [client.post(f"{API}/auth/{route}", json=body).status_code for _ in range(3)]
    assert 429 not in answers
    limited = client.post(f"{API}/auth/{route}", json=body)
    assert_problem(limited, 429, "rate_limited")
    assert int(limited.headers["Retry-After"]) > 0
    # Another address has its own budget; the limited one stays limited for any body.
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert other.post(f"{API}/auth/{route}", json=body).status_code != 429
    assert client.post(f"{API}/auth/{route}", json={}).status_code == 429


def test_credentials_in_the_query_string_are_not_read(client: FlaskClient, user: User) -> None:
    response = client.get(f"{API}/auth/me", query_string={"access_token": user.access_token})
    assert_problem(response, 401, "token_missing")
    response = client.get(f"{API}/auth/me", query_string={"jwt": user.access_token})
    assert_problem(response, 401, "token_missing")
