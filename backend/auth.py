"""Tokens and sessions: password hashing, token issue, and the per-request token check."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

import jwt as pyjwt
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, current_app, g
from flask_jwt_extended import create_access_token, create_refresh_token, verify_jwt_in_request
from flask_jwt_extended.exceptions import (
    InvalidHeaderError,
    JWTExtendedException,
    NoAuthorizationError,
    RevokedTokenError,
)
from sqlalchemy import select

from backend.errors import Unauthorized
from backend.extensions import db
from backend.models import AuthSession, utcnow

TokenKind = Literal["access", "refresh", "any"]
HASHER_KEY = "tasktracker.password_hasher"
DUMMY_HASH_KEY = "tasktracker.dummy_hash"


@dataclass(frozen=True)
class TokenPair:
    """The tokens a login or a refresh hands out."""

    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 (a token type, not a secret)


@dataclass(frozen=True)
class Principal:
    """Who the current request acts for: the user and the session its token belongs to."""

    user_id: int
    session_id: int
    token_type: str
    jti: str


def init_password_hasher(app: Flask) -> None:
    """Create the Argon2id hasher from configuration, and a dummy hash for timing-safe logins."""
    hasher = PasswordHasher(
        time_cost=app.config["ARGON2_TIME_COST"],
        memory_cost=app.config["ARGON2_MEMORY_COST"],
        parallelism=app.config["ARGON2_PARALLELISM"],
        type=Type.ID,
    )
    app.extensions[HASHER_KEY] = hasher
    app.extensions[DUMMY_HASH_KEY] = hasher.hash(uuid.uuid4().hex)


def _hasher() -> PasswordHasher:
    """Return the app's password hasher."""
    return current_app.extensions[HASHER_KEY]


def hash_password(password: str) -> str:
    """Hash a password with Argon2id."""
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password; with no hash, spend the same time on a dummy one and fail."""
    candidate = password_hash or current_app.extensions[DUMMY_HASH_KEY]
    try:
        _hasher().verify(candidate, password)
    except (VerificationError, InvalidHashError):
        return False
    return password_hash is not None


def needs_rehash(password_hash: str) -> bool:
    """Tell whether a hash was made with other parameters than the configured ones."""
    return _hasher().check_needs_rehash(password_hash)


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


def authenticate(kind: TokenKind) -> Principal:
    """Verify the request's bearer token and its session; raise a 401 with the contract's code."""
    try:
        _header, claims = verify_jwt_in_request(
            refresh=kind == "refresh", verify_type=kind != "any"
        ) or ({}, {})
    except NoAuthorizationError:
        raise Unauthorized("No bearer token was sent.", code="token_missing") from None
    except pyjwt.ExpiredSignatureError:
        raise Unauthorized("The token has expired.", code="token_expired") from None
    except RevokedTokenError:  # pragma: no cover - no blocklist loader is registered
        raise Unauthorized("The token has been revoked.", code="token_revoked") from None
    except (InvalidHeaderError, JWTExtendedException, pyjwt.InvalidTokenError):
        raise Unauthorized(_invalid_detail(kind), code="token_invalid") from None
    principal = _principal(claims)
    _check_session(principal)
    g.principal = principal
    g.user_id = principal.user_id
    return principal


def _invalid_detail(kind: TokenKind) -> str:
    """Explain an invalid token for the route's expected kind."""
    if kind == "refresh":
        return "A valid refresh token is required."
    return "A valid access token is required." if kind == "access" else "The token is invalid."


def _principal(claims: dict[str, object]) -> Principal:
    """Read the claims this API relies on, refusing tokens that lack them."""
    subject, session_id, jti = claims.get("sub"), claims.get("sid"), claims.get("jti")
    token_type = claims.get("type")
    if not (
        isinstance(subject, str)
        and subject.isdecimal()
        and isinstance(session_id, int)
        and not isinstance(session_id, bool)
        and isinstance(jti, str)
        and isinstance(token_type, str)
    ):
        raise Unauthorized("The token is missing required claims.", code="token_invalid")
    return Principal(int(subject), session_id, token_type, jti)


def _check_session(principal: Principal) -> None:
    """Refuse tokens whose session is gone, revoked, expired or someone else's (one query)."""
    row = db.session.execute(
        select(AuthSession.user_id, AuthSession.revoked_at, AuthSession.expires_at).where(
            AuthSession.id == principal.session_id
        )
    ).one_or_none()
    if (
        row is None
        or row.user_id != principal.user_id
        or row.revoked_at is not None
        or row.expires_at <= utcnow()
    ):
        raise Unauthorized("The token's session has been revoked.", code="token_revoked")


def current_principal() -> Principal:
    """Return the principal that `authenticate` stored for this request."""
    return g.principal
