"""Tokens and sessions on Flask-JWT-Extended: issue, the session check, and the 401 answers.

Protected routes are guarded by `jwt_required()`. Flask-JWT-Extended reads the bearer token,
checks its signature, expiry and type, then asks `session_is_revoked` (its
`token_in_blocklist_loader`) whether the token's session is still open: one indexed query per
request. Its error loaders answer every failure with the contract's 401 code, so its default
422 never reaches a client.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app, g, request
from flask_jwt_extended import (
    create_access_token,
    create_refresh_token,
    get_jwt,
    get_jwt_identity,
)
from sqlalchemy import select

from backend.errors import Unauthorized, problem
from backend.extensions import db, jwt
from backend.models import MAX_ROW_ID, AuthSession, utcnow

BEARER = "Bearer"
TOKEN_TYPES = ("access", "refresh")
DECIMAL_ID = re.compile(r"[0-9]{1,10}")


@dataclass(frozen=True)
class TokenPair:
    """The tokens a login or a refresh hands out."""

    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = BEARER


def issue_tokens(user_id: int, session_id: int, refresh_jti: str) -> TokenPair:
    """Sign an access and a refresh token for one session."""
    identity = str(user_id)
    claims = {"sid": session_id}
    access = create_access_token(identity=identity, additional_claims=claims)
    refresh = create_refresh_token(
        identity=identity, additional_claims={**claims, "jti": refresh_jti}
    )
    return TokenPair(access, refresh, int(current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]))


def new_jti() -> str:
    """Return a fresh token id."""
    return str(uuid.uuid4())


def current_user_id() -> int:
    """Return the id of the user the request's verified token belongs to."""
    return int(get_jwt_identity())


def current_session_id() -> int:
    """Return the id of the session the request's verified token belongs to."""
    return int(get_jwt()["sid"])


def current_jti() -> str:
    """Return the id of the request's verified token."""
    return str(get_jwt()["jti"])


def session_is_revoked(_header: dict[str, Any], claims: dict[str, Any]) -> bool:
    """Tell whether the token's session is gone, revoked, expired or another user's.

    Claims are checked first: a signed token without the claims this API issues is invalid.
    """
    subject = claims.get("sub")
    user_id = int(subject) if isinstance(subject, str) and DECIMAL_ID.fullmatch(subject) else 0
    session_id = claims.get("sid")
    if not (
        _is_row_id(user_id)
        and _is_row_id(session_id)
        and isinstance(claims.get("jti"), str)
        and isinstance(claims.get("exp"), int)
        and claims.get("type") in TOKEN_TYPES
    ):
        raise Unauthorized("The token is missing required claims.", code="token_invalid")
    g.user_id = user_id  # for the request's log line
    live = db.session.scalar(
        select(AuthSession.id).where(
            AuthSession.id == session_id,
            AuthSession.user_id == user_id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > utcnow(),
        )
    )
    return live is None


def _is_row_id(value: object) -> bool:
    """Tell whether a claim holds a row id (a positive 32-bit integer, not a boolean)."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ROW_ID


def unauthorized(code: str, detail: str) -> Response:
    """Answer a 401 problem with the `Bearer` challenge."""
    return problem(401, code, detail, headers={"WWW-Authenticate": BEARER})


def normalize_authorization() -> None:
    """Hand Flask-JWT-Extended an `Authorization` header it can parse, or none.

    It matches the scheme case-sensitively, while RFC 9110 makes it case-insensitive, and it
    fails on stray commas. So `bearer x` becomes `Bearer x`; commas, which no token holds,
    become spaces (a malformed header: 401 `token_invalid`); another scheme is dropped
    (401 `token_missing`).
    """
    environ = request.environ
    value = environ.get("HTTP_AUTHORIZATION")
    if value is None:
        return
    scheme, _, credentials = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        del environ["HTTP_AUTHORIZATION"]
        return
    environ["HTTP_AUTHORIZATION"] = f"{BEARER} {credentials.replace(',', ' ').strip()}"


def register_auth(app: Flask) -> None:
    """Bind Flask-JWT-Extended to `app`, with the session check and the contract's 401s."""
    jwt.init_app(app)
    app.before_request(normalize_authorization)


jwt.token_in_blocklist_loader(session_is_revoked)
jwt.unauthorized_loader(lambda _reason: unauthorized("token_missing", "No bearer token was sent."))
jwt.invalid_token_loader(
    lambda _reason: unauthorized("token_invalid", "The token is invalid or of the wrong kind.")
)
jwt.expired_token_loader(
    lambda _header, _claims: unauthorized("token_expired", "The token has expired.")
)
jwt.revoked_token_loader(
    lambda _header, _claims: unauthorized("token_revoked", "The token's session has been revoked.")
)
