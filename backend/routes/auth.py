"""Authentication and account routes: register, log in, tokens, sessions, the current user."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_jwt_extended import jwt_required

from backend.auth import TokenPair, current_jti, current_session_id, current_user_id
from backend.docs import header_refs
from backend.extensions import limiter
from backend.http import Blueprint
from backend.models import User
from backend.schemas.account import (
    AccountDeleteSchema,
    PasswordChangeSchema,
    ProfilePatchSchema,
    SessionListSchema,
)
from backend.schemas.auth import LoginSchema, RegisterSchema, TokenPairSchema, UserSchema
from backend.services import accounts, users

bp = Blueprint("auth", __name__, description="Accounts, sessions and tokens.")
RATE_LIMITED = header_refs("RateLimit", "RateLimit-Policy")
PUBLIC: list[dict[str, list[str]]] = []


def auth_rate_limit() -> str:
    """Return the configured limit on login and register per client address."""
    return current_app.config["AUTH_RATE_LIMIT"]


def password_check_rate_limit() -> str:
    """Return the configured limit on password checks (other than login) per user."""
    return current_app.config["PASSWORD_CHECK_RATE_LIMIT"]


def user_key() -> str:
    """Count a rate limit per user (the request's verified token names them)."""
    return f"user:{current_user_id()}"


# One counter per user for every check of the password outside login: a stolen access token
# must not brute-force it through POST /auth/password and DELETE /auth/me.
password_checks = limiter.shared_limit(password_check_rate_limit, "password", key_func=user_key)


@bp.post("/auth/register")  # type: ignore[arg-type] (flask-smorest serializes the user)
@limiter.limit(auth_rate_limit)
@bp.arguments(RegisterSchema)
@bp.response(201, UserSchema, headers=RATE_LIMITED)
@bp.problems(409, 413, 415, 429)
@bp.doc(security=PUBLIC)
def register(body: dict[str, Any]) -> User:
    """Register an account."""
    return users.register_user(**body)


@bp.post("/auth/login")  # type: ignore[arg-type] (flask-smorest serializes the pair)
@limiter.limit(auth_rate_limit)
@bp.arguments(LoginSchema)
@bp.response(200, TokenPairSchema, headers=RATE_LIMITED)
@bp.problems(401, 413, 415, 429)
@bp.doc(security=PUBLIC)
def login(body: dict[str, Any]) -> TokenPair:
    """Log in: open a session and get its tokens."""
    return users.log_in(body["email"], body["password"])


@bp.post("/auth/refresh")
@jwt_required(refresh=True)
@bp.response(200, TokenPairSchema)
@bp.problems(401)
@bp.doc(
    description="Send the **refresh** token as the bearer token. The token used is spent; "
    "using it again revokes the whole session."
)
def refresh() -> TokenPair:
    """Rotate the refresh token: get a new token pair."""
    return users.refresh_session(current_user_id(), current_session_id(), current_jti())


@bp.post("/auth/logout")
@jwt_required(verify_type=False)
@bp.response(204)
@bp.problems(401)
@bp.doc(
    description="Send the access or the refresh token of the session to revoke; the refresh "
    "token works when the access token has expired."
)
def logout() -> None:
    """Log out: revoke this session."""
    users.revoke_session(current_session_id())


@bp.get("/auth/me")
@jwt_required()
@bp.response(200, UserSchema)
@bp.problems(401)
def me() -> User:
    """Get the current user."""
    return users.get_user(current_user_id())


@bp.patch("/auth/me")
@jwt_required()
@bp.arguments(ProfilePatchSchema)
@bp.response(200, UserSchema)
@bp.problems(401, 413, 415)
@bp.doc(description="Also accepts `Content-Type: application/merge-patch+json` (RFC 7396).")
def update_me(body: dict[str, Any]) -> User:
    """Change your name."""
    return accounts.rename_user(current_user_id(), body)


@bp.get("/auth/sessions")
@jwt_required()
@bp.response(200, SessionListSchema)
@bp.problems(401)
def list_sessions() -> dict[str, list[accounts.SessionView]]:
    """List your open sessions."""
    return accounts.list_sessions(current_user_id(), current_session_id())


@bp.delete("/auth/sessions/<id:session_id>")
@jwt_required()
@bp.response(204)
@bp.problems(401, 403, 404)
def revoke_session(session_id: int) -> None:
    """Revoke one of your sessions."""
    accounts.revoke_user_session(current_user_id(), session_id)


@bp.post("/auth/logout-all")
@jwt_required()
@bp.response(204)
@bp.problems(401)
def logout_all() -> None:
    """Log out everywhere: revoke all your sessions."""
    accounts.log_out_everywhere(current_user_id())


@bp.post("/auth/password")
@jwt_required()
@password_checks
@bp.arguments(PasswordChangeSchema)
@bp.response(204, headers=RATE_LIMITED)
@bp.problems(401, 413, 415, 429)
def change_password(body: dict[str, str]) -> None:
    """Change your password (other sessions are revoked)."""
    accounts.change_password(
        current_user_id(), current_session_id(), body["current_password"], body["new_password"]
    )


@bp.delete("/auth/me")
@jwt_required()
@password_checks
@bp.arguments(AccountDeleteSchema)
@bp.response(204, headers=RATE_LIMITED)
@bp.problems(401, 413, 415, 429)
def delete_me(body: dict[str, str]) -> None:
    """Delete your account and all its data."""
    accounts.delete_account(current_user_id(), body["password"])
