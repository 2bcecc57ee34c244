"""Tokens and sessions: token issue, and the per-request token check."""

from __future__ import annotations

import math
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Literal, cast

import jwt as pyjwt
from flask import current_app, g, request
from flask_jwt_extended import create_access_token, create_refresh_token
from sqlalchemy import Table, bindparam, select

from backend.database import execute
from backend.errors import Unauthorized
from backend.models import AuthSession, User, utcnow

TokenKind = Literal["access", "refresh", "any"]
SessionCheck = Literal["check", "lock", "defer"]
BEARER_SCHEME = "bearer"
TOKEN_TYPES = ("access", "refresh")
DECIMAL_ID = re.compile(r"[0-9]{1,10}")
MAX_ROW_ID = 2**31 - 1


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
    # The user's data version and creation time, read with the session: together with the
    # user id they identify one state of the user's tasks and categories (see backend/cache.py).
    data_version: int = 0
    user_created_at: datetime | None = None


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


def authenticate(kind: TokenKind, *, session: SessionCheck = "check") -> Principal:
    """Verify the request's bearer token and its session; raise a 401 with the contract's code.

    `session` says how the session is checked: "check" reads it; "lock" reads it and locks the
    user's row, for a transaction that will write; "defer" leaves it to the request's one write
    statement, which writes only for a live session (`LIVE_USER`) and says so with
    `session_confirmed`. `confirm_session` checks a deferred session that was not confirmed.
    """
    token = _bearer_token()
    try:
        claims = _verified_claims(token, current_app.config["JWT_SECRET_KEY"])
    except pyjwt.InvalidTokenError:
        raise Unauthorized(_invalid_detail(kind), code="token_invalid") from None
    now = time.time()
    if not _before(claims.get("nbf", 0), now):
        raise Unauthorized(_invalid_detail(kind), code="token_invalid")
    if _before(claims.get("exp"), now):
        raise Unauthorized("The token has expired.", code="token_expired")
    principal = _principal(claims, kind)
    g.principal = principal
    g.user_id = principal.user_id
    g.session_live = False
    if session != "defer":
        principal = g.principal = _check_session(principal, lock_user=session == "lock")
    return principal


@lru_cache(maxsize=4096)
def _verified_claims(token: str, key: str) -> Mapping[str, Any]:
    """Check a token's HS256 signature and return its claims; times are checked per request.

    Verifying a signature is a pure function of the token and the key, so it is cached: a
    client sends the same access token for up to 15 minutes. Revocation is not cached (the
    session is read on every request), and an invalid token raises, which is never cached.
    """
    claims = pyjwt.decode(
        token,
        key,
        algorithms=["HS256"],
        options={"verify_exp": False, "verify_nbf": False, "require": ["exp", "sub", "jti"]},
    )
    return MappingProxyType(claims)


def _before(moment: object, now: float) -> bool:
    """Tell whether a numeric JWT time lies at or before `now` (a malformed time counts)."""
    if not isinstance(moment, int | float) or isinstance(moment, bool) or not math.isfinite(moment):
        return True
    return moment <= now


def _bearer_token() -> str:
    """Return the token of `Authorization: Bearer <token>` (the scheme in any case, RFC 9110)."""
    scheme, *credentials = request.headers.get("Authorization", "").split(None, 1) or [""]
    if scheme.lower() != BEARER_SCHEME:
        raise Unauthorized("No bearer token was sent.", code="token_missing")
    parts = credentials[0].split() if credentials else []
    if len(parts) != 1:
        raise Unauthorized(
            "The Authorization header must read: Bearer <token>.", code="token_invalid"
        )
    return parts[0]


def _invalid_detail(kind: TokenKind) -> str:
    """Explain an invalid token for the route's expected kind."""
    if kind == "refresh":
        return "A valid refresh token is required."
    return "A valid access token is required." if kind == "access" else "The token is invalid."


def _principal(claims: Mapping[str, Any], kind: TokenKind) -> Principal:
    """Read the claims this API relies on, refusing tokens that lack them or are of another kind."""
    subject, session_id, jti = claims.get("sub"), claims.get("sid"), claims.get("jti")
    token_type = claims.get("type", "access")  # Flask-JWT-Extended's default
    user_id = int(subject) if isinstance(subject, str) and DECIMAL_ID.fullmatch(subject) else None
    if not (
        _is_id(user_id)
        and _is_id(session_id)
        and isinstance(jti, str)
        and token_type in TOKEN_TYPES
    ):
        raise Unauthorized("The token is missing required claims.", code="token_invalid")
    if kind != "any" and token_type != kind:
        raise Unauthorized(_invalid_detail(kind), code="token_invalid")
    return Principal(cast(int, user_id), cast(int, session_id), str(token_type), cast(str, jti))


def _is_id(value: object) -> bool:
    """Tell whether a claim holds a row id (a positive 32-bit integer, not a boolean)."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ROW_ID


SESSIONS = cast(Table, AuthSession.__table__)
USERS = cast(Table, User.__table__)
SESSION_AND_USER = SESSIONS.join(USERS, USERS.c.id == SESSIONS.c.user_id)
# A live session of the user: not revoked, not expired. Bound: session_id, owner_id, now.
LIVE_SESSION = (
    SESSIONS.c.id == bindparam("session_id"),
    SESSIONS.c.user_id == bindparam("owner_id"),
    SESSIONS.c.revoked_at.is_(None),
    SESSIONS.c.expires_at > bindparam("now", type_=SESSIONS.c.expires_at.type),
)
SESSION_CHECK = (
    select(USERS.c.data_version, USERS.c.created_at)
    .select_from(SESSION_AND_USER)
    .where(*LIVE_SESSION)
)
# Every write of a user's data locks the user's row before any other row: here, for a
# transaction, or first thing in a single-statement write (`LIVE_USER`). Concurrent writes of
# one user then take their locks in one order (user, then tasks, counters), so cannot deadlock.
SESSION_CHECK_FOR_WRITE = SESSION_CHECK.with_for_update(of=USERS, key_share=True)
# The user's id if the session is live, locking the user's row: the guard a single-statement
# write selects its user through, which checks the session in the statement itself.
LIVE_USER = (
    select(USERS.c.id)
    .select_from(SESSION_AND_USER)
    .where(*LIVE_SESSION)
    .with_for_update(of=USERS, key_share=True)
)


def session_parameters(principal: Principal) -> dict[str, Any]:
    """Return the bound values of `LIVE_SESSION` for the principal, now."""
    return {"session_id": principal.session_id, "owner_id": principal.user_id, "now": utcnow()}


def _check_session(principal: Principal, *, lock_user: bool) -> Principal:
    """Refuse tokens whose session is gone, revoked, expired or someone else's (one query).

    Return the principal with the user's data version. With `lock_user`, the user's row stays
    locked for the rest of the transaction.
    """
    statement = SESSION_CHECK_FOR_WRITE if lock_user else SESSION_CHECK
    row = execute(statement, session_parameters(principal)).one_or_none()
    if row is None:
        raise Unauthorized("The token's session has been revoked.", code="token_revoked")
    g.session_live = True
    return Principal(
        principal.user_id,
        principal.session_id,
        principal.token_type,
        principal.jti,
        data_version=row.data_version,
        user_created_at=row.created_at,
    )


def session_confirmed() -> None:
    """Note that a statement guarded by `LIVE_USER` found the request's session live."""
    g.session_live = True


def confirm_session() -> None:
    """Check the request's session now if it was deferred and not confirmed (401 if not live)."""
    if "principal" in g and not g.session_live:
        _check_session(g.principal, lock_user=False)


def current_principal() -> Principal:
    """Return the principal that `authenticate` stored for this request."""
    return g.principal
