"""Bearer tokens: only well-formed HS256 tokens of a live session get through."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt as pyjwt
import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import PASSWORD, AuthActions, assert_problem

API = "/api/v1"
LOGIN, REFRESH, LOGOUT, ME = (
    f"{API}/auth/login",
    f"{API}/auth/refresh",
    f"{API}/auth/logout",
    f"{API}/auth/me",
)
WRONG_KEY = "a-foreign-key-that-is-long-enough-for-hs256-0123456789"
DIGESTS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
# Each route with the kind of token it takes.
ROUTES = [("GET", ME, "access"), ("POST", REFRESH, "refresh"), ("POST", LOGOUT, "access")]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: dict[str, Any]) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def sign(claims: dict[str, Any], key: str, alg: str = "HS256", **header: Any) -> str:
    """Sign a JWT by hand, so that any algorithm and key length can be tried without warnings."""
    signing_input = f"{segment({'alg': alg, 'typ': 'JWT', **header})}.{segment(claims)}"
    if alg == "none":
        return f"{signing_input}."
    digest = hmac.new(key.encode(), signing_input.encode(), DIGESTS[alg]).digest()
    return f"{signing_input}.{b64(digest)}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def call(client: FlaskClient, method: str, path: str, headers: dict[str, str]) -> Any:
    return client.open(path, method=method, headers=headers)


class Session:
    """A registered user's login: its two tokens, their claims and the app's signing key."""

    def __init__(self, app: Flask, client: FlaskClient, email: str = "ada@example.com") -> None:
        self.app, self.client = app, client
        auth = AuthActions(client)
        assert auth.register(email).status_code == 201
        tokens = auth.login(email).get_json()
        self.access, self.refresh = tokens["access_token"], tokens["refresh_token"]
        self.key = app.config["JWT_SECRET_KEY"]

    def token(self, kind: str) -> str:
        return self.access if kind == "access" else self.refresh

    def claims(self, kind: str) -> dict[str, Any]:
        return pyjwt.decode(self.token(kind), self.key, algorithms=["HS256"])

    def forge(self, kind: str, alg: str = "HS256", key: str | None = None, **changes: Any) -> str:
        """Re-sign this session's token of `kind` with `changes` (None removes a claim)."""
        claims = {**self.claims(kind), **changes}
        claims = {name: value for name, value in claims.items() if value is not None}
        return sign(claims, key or self.key, alg)


@pytest.fixture
def session(app: Flask, client: FlaskClient) -> Session:
    return Session(app, client)


def assert_refused(response: Any, code: str) -> None:
    assert response.status_code != 422
    assert_problem(response, 401, code)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Traceback" not in response.get_data(as_text=True)


# --- the forged token is the only thing wrong: the genuine one works -------------------------


@pytest.mark.parametrize(("method", "path", "kind"), ROUTES)
def test_resigned_genuine_claims_are_accepted(session: Session, method: str, path: str, kind: str):
    """Our hand-made signer is faithful: a re-signed copy of a real token is accepted."""
    response = call(session.client, method, path, bearer(session.forge(kind)))
    assert response.status_code in {200, 204}, response.get_json()


# --- algorithms and signatures ----------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "kind"), ROUTES)
@pytest.mark.parametrize(
    ("alg", "key"),
    [
        ("none", None),
        ("HS512", None),
        ("HS384", None),
        ("HS256", WRONG_KEY),
    ],
    ids=["alg-none", "hs512-right-key", "hs384-right-key", "hs256-foreign-key"],
)
def test_only_hs256_with_the_app_key(
    session: Session, method: str, path: str, kind: str, alg: str, key: str | None
):
    token = session.forge(kind, alg=alg, key=key)
    assert_refused(call(session.client, method, path, bearer(token)), "token_invalid")
    # The session is untouched by the forgery.
    assert session.client.get(ME, headers=bearer(session.access)).status_code == 200


def test_unsigned_token_variants(session: Session):
    claims = session.claims("access")
    header, payload, _signature = session.access.split(".")
    unsigned = [
        sign(claims, "", "none"),
        sign(claims, "", "none")[:-1],
        f"{header}.{payload}.",
        f"{segment({'alg': 'None', 'typ': 'JWT'})}.{payload}.",
    ]
    for token in unsigned:
        assert_refused(session.client.get(ME, headers=bearer(token)), "token_invalid")


@pytest.mark.parametrize(("method", "path", "kind"), ROUTES)
def test_tampered_payload_is_refused(session: Session, method: str, path: str, kind: str):
    header, _payload, signature = session.token(kind).split(".")
    other_user = AuthActions(session.client).register("eve@example.com").get_json()["id"]
    tampered = segment({**session.claims(kind), "sub": str(other_user)})
    token = f"{header}.{tampered}.{signature}"
    assert_refused(call(session.client, method, path, bearer(token)), "token_invalid")


def test_tampered_signature_is_refused(session: Session):
    header, payload, signature = session.access.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert_refused(
        session.client.get(ME, headers=bearer(f"{header}.{payload}.{flipped}")), "token_invalid"
    )


# --- expiry ------------------------------------------------------------------------------------


def test_expired_access_token(make_app: Callable[..., Flask]):
    app = make_app(JWT_ACCESS_TOKEN_EXPIRES=60)
    session = Session(app, app.test_client())
    assert session.client.get(ME, headers=bearer(session.access)).status_code == 200
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=59), tick=False):
        assert session.client.get(ME, headers=bearer(session.access)).status_code == 200
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=61), tick=False):
        assert_refused(session.client.get(ME, headers=bearer(session.access)), "token_expired")
        expired = session.client.post(LOGOUT, headers=bearer(session.access))
        assert_refused(expired, "token_expired")
        # The refresh token still works and hands out a fresh access token.
        refreshed = session.client.post(REFRESH, headers=bearer(session.refresh))
        assert refreshed.status_code == 200
        fresh = refreshed.get_json()["access_token"]
        assert session.client.get(ME, headers=bearer(fresh)).status_code == 200


@pytest.mark.parametrize(("method", "path", "kind"), ROUTES)
def test_expired_tokens_signed_with_the_app_key(
    session: Session, method: str, path: str, kind: str
):
    now = int(time.time())
    token = session.forge(kind, iat=now - 120, nbf=now - 120, exp=now - 60)
    assert_refused(call(session.client, method, path, bearer(token)), "token_expired")


def test_expired_refresh_token_does_not_rotate(session: Session):
    now = int(time.time())
    expired = session.forge("refresh", iat=now - 120, nbf=now - 120, exp=now - 1)
    assert_refused(session.client.post(REFRESH, headers=bearer(expired)), "token_expired")
    # The session's genuine refresh token was not spent by the expired attempt.
    assert session.client.post(REFRESH, headers=bearer(session.refresh)).status_code == 200


def test_token_not_yet_valid_is_refused(session: Session):
    now = int(time.time())
    token = session.forge("access", nbf=now + 3600)
    assert_refused(session.client.get(ME, headers=bearer(token)), "token_invalid")


# --- malformed headers and garbage -----------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "a.b.c",
        "a.b",
        "...",
        "eyJhbGciOiJIUzI1NiJ9",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0",
        "eyJhbGciOiJIUzI1NiJ9.W10.c2ln",  # a payload that is a JSON array
        "bm90IGpzb24.bm90IGpzb24.c2ln",  # segments that are not JSON
        "%%%.%%%.%%%",
        "x" * 5000,
    ],
)
@pytest.mark.parametrize(("method", "path"), [("GET", ME), ("POST", REFRESH), ("POST", LOGOUT)])
def test_garbage_tokens_are_token_invalid(client: FlaskClient, token: str, method: str, path: str):
    assert_refused(call(client, method, path, bearer(token)), "token_invalid")


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer ", "Bearer    ", "Bearer a b", "bearer a.b.c d.e.f"],
)
def test_malformed_bearer_header_is_token_invalid(client: FlaskClient, header: str):
    assert_refused(client.get(ME, headers={"Authorization": header}), "token_invalid")


@pytest.mark.parametrize(
    "header",
    ["", "   ", "Basic dXNlcjpwYXNz", "Token abc", "Digest x", "BearerXYZ abc", "JWT a.b.c"],
)
def test_non_bearer_schemes_are_token_missing(session: Session, header: str):
    assert_refused(session.client.get(ME, headers={"Authorization": header}), "token_missing")


def test_token_in_other_places_is_not_read(session: Session):
    """Only the Authorization header carries tokens: not the query string, cookies or body."""
    client = session.client
    assert_refused(client.get(f"{ME}?access_token={session.access}"), "token_missing")
    assert_refused(client.get(f"{ME}?jwt={session.access}"), "token_missing")
    client.set_cookie("access_token_cookie", session.access)
    assert_refused(client.get(ME), "token_missing")
    assert_refused(client.post(REFRESH, json={"refresh_token": session.refresh}), "token_missing")


# --- claims -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"sid": None},
        {"sid": "1"},
        {"sid": True},
        {"sid": 1.5},
        {"sid": 0},
        {"sid": -1},
        {"sid": 2**40},
        {"sub": None},
        {"sub": "abc"},
        {"sub": "1.0"},
        {"sub": "-1"},
        {"sub": "99999999999999999999"},
        {"sub": "\u0661"},  # ARABIC-INDIC DIGIT ONE: a decimal, but not an id
        {"sub": 1},
        {"jti": None},
        {"jti": 5},
        {"type": "id"},
    ],
    ids=str,
)
@pytest.mark.parametrize(("method", "path", "kind"), ROUTES)
def test_tokens_missing_required_claims_are_token_invalid(
    session: Session, changes: dict[str, Any], method: str, path: str, kind: str
):
    token = session.forge(kind, **changes)
    assert_refused(call(session.client, method, path, bearer(token)), "token_invalid")
    assert session.client.get(ME, headers=bearer(session.access)).status_code == 200


def test_token_without_type_is_an_access_token(session: Session):
    token = session.forge("access", type=None)
    assert session.client.get(ME, headers=bearer(token)).status_code == 200


def test_refresh_token_without_type_is_token_invalid(session: Session):
    """Without `type` a token counts as an access token, so it cannot refresh."""
    token = session.forge("refresh", type=None)
    assert_refused(session.client.post(REFRESH, headers=bearer(token)), "token_invalid")
    assert session.client.post(REFRESH, headers=bearer(session.refresh)).status_code == 200


def test_token_of_another_users_session_is_refused(app: Flask, session: Session):
    eve = Session(app, session.client, "eve@example.com")
    token = session.forge("access", sid=eve.claims("access")["sid"])
    assert_refused(session.client.get(ME, headers=bearer(token)), "token_revoked")
    assert session.client.get(ME, headers=bearer(eve.access)).status_code == 200


def test_token_of_an_unknown_session_is_refused(session: Session):
    token = session.forge("access", sid=987_654)
    assert_refused(session.client.get(ME, headers=bearer(token)), "token_revoked")


def test_forged_refresh_token_id_revokes_the_session(session: Session):
    """A refresh token whose id is not the session's current one counts as a spent one."""
    token = session.forge("refresh", jti="00000000-0000-0000-0000-000000000000")
    assert_refused(session.client.post(REFRESH, headers=bearer(token)), "token_revoked")
    assert_refused(session.client.get(ME, headers=bearer(session.access)), "token_revoked")


@pytest.mark.parametrize("kind", ["access", "refresh"])
def test_wrong_token_kind_is_token_invalid(session: Session, kind: str):
    if kind == "refresh":
        response = session.client.get(ME, headers=bearer(session.refresh))
    else:
        response = session.client.post(REFRESH, headers=bearer(session.access))
    assert_refused(response, "token_invalid")
    # A token of the wrong kind spends nothing and revokes nothing.
    assert session.client.post(REFRESH, headers=bearer(session.refresh)).status_code == 200


def test_login_needs_no_token_and_ignores_a_bad_one(session: Session):
    response = session.client.post(
        LOGIN,
        json={"email": "ada@example.com", "password": PASSWORD},
        headers=bearer("garbage"),
    )
    assert response.status_code == 200


@pytest.mark.parametrize("exp", [float("inf"), float("nan"), "soon", None])
def test_a_token_whose_expiry_is_not_a_finite_time_is_refused(session: Session, exp: Any):
    """A token that would never expire (signed with the app key) is treated as expired."""
    token = session.forge("access", exp=exp)
    response = session.client.get(ME, headers=bearer(token))
    assert response.status_code == 401
    assert response.get_json()["code"] in {"token_expired", "token_invalid"}
