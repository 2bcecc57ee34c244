"""Authentication routes: register, log in, refresh, log out, and the current user."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app

from backend.auth import current_principal
from backend.extensions import limiter
from backend.http import Endpoint, endpoint
from backend.models import User
from backend.schemas.auth import LoginSchema, RegisterSchema, TokenPairSchema, UserSchema
from backend.services import users

bp = Blueprint("auth", __name__)
user_schema = UserSchema()
token_pair_schema = TokenPairSchema()


def auth_rate_limit() -> str:
    """Return the configured limit on login and register per client address."""
    return current_app.config["AUTH_RATE_LIMIT"]


@bp.post("/auth/register")
@limiter.limit(auth_rate_limit)
@endpoint(
    Endpoint(
        summary="Register an account",
        auth=None,
        body=RegisterSchema(),
        response=user_schema,
        status=201,
        errors=(400, 409, 413, 415, 429),
        rate_limited=True,
    )
)
def register(body: dict[str, Any]) -> User:
    """Create an account."""
    return users.register_user(**body)


@bp.post("/auth/login")
@limiter.limit(auth_rate_limit)
@endpoint(
    Endpoint(
        summary="Log in: open a session and get its tokens",
        auth=None,
        body=LoginSchema(),
        response=token_pair_schema,
        errors=(400, 401, 413, 415, 429),
        rate_limited=True,
    )
)
def login(body: dict[str, Any]) -> users.TokenPair:
    """Exchange credentials for a token pair."""
    return users.log_in(body["email"], body["password"])


@bp.post("/auth/refresh")
@endpoint(
    Endpoint(
        summary="Rotate the refresh token: get a new token pair",
        auth="refresh",
        response=token_pair_schema,
        errors=(401,),
        description="Send the refresh token as the bearer token. The token used is spent; "
        "using it again revokes the whole session.",
    )
)
def refresh() -> users.TokenPair:
    """Rotate the session's tokens."""
    return users.refresh_session(current_principal())


@bp.post("/auth/logout")
@endpoint(
    Endpoint(
        summary="Log out: revoke this session",
        auth="any",
        status=204,
        errors=(401,),
        description="Send the access or the refresh token of the session to revoke.",
    )
)
def logout() -> None:
    """Revoke the current session."""
    users.revoke_session(current_principal().session_id)


@bp.get("/auth/me")
@endpoint(Endpoint(summary="The current user", response=user_schema, errors=(401,)))
def me() -> User:
    """Return the user the access token belongs to."""
    return users.get_user(current_principal().user_id)
