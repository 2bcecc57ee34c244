"""Session and account routes: list and revoke sessions, log out everywhere, manage the account."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from backend.auth import current_principal
from backend.http import Endpoint, endpoint
from backend.models import User
from backend.schemas.account import (
    AccountDeleteSchema,
    PasswordChangeSchema,
    ProfilePatchSchema,
    SessionListSchema,
)
from backend.schemas.auth import UserSchema
from backend.services import accounts

bp = Blueprint("account", __name__)
BODY_ERRORS = (400, 401, 413, 415)


@bp.get("/auth/sessions")
@endpoint(Endpoint(summary="List your open sessions", response=SessionListSchema(), errors=(401,)))
def list_sessions() -> dict[str, list[accounts.SessionView]]:
    """Return the user's open sessions."""
    return accounts.list_sessions(current_principal())


@bp.delete("/auth/sessions/<id:session_id>")
@endpoint(Endpoint(summary="Revoke one of your sessions", status=204, errors=(401, 403, 404)))
def revoke_session(session_id: int) -> None:
    """Revoke a session of the user."""
    accounts.revoke_user_session(current_principal(), session_id)


@bp.post("/auth/logout-all")
@endpoint(
    Endpoint(summary="Log out everywhere: revoke all your sessions", status=204, errors=(401,))
)
def logout_all() -> None:
    """Revoke every session of the user."""
    accounts.log_out_everywhere(current_principal())


@bp.patch("/auth/me")
@endpoint(
    Endpoint(
        summary="Change your name",
        body=ProfilePatchSchema(),
        partial=True,
        response=UserSchema(),
        errors=BODY_ERRORS,
    )
)
def update_me(body: dict[str, Any]) -> User:
    """Change the user's display name."""
    return accounts.rename_user(current_principal(), body)


@bp.post("/auth/password")
@endpoint(
    Endpoint(
        summary="Change your password (other sessions are revoked)",
        body=PasswordChangeSchema(),
        status=204,
        errors=BODY_ERRORS,
    )
)
def change_password(body: dict[str, str]) -> None:
    """Change the password, keeping only this session."""
    accounts.change_password(current_principal(), body["current_password"], body["new_password"])


@bp.delete("/auth/me")
@endpoint(
    Endpoint(
        summary="Delete your account and all its data",
        body=AccountDeleteSchema(),
        status=204,
        errors=BODY_ERRORS,
    )
)
def delete_me(body: dict[str, str]) -> None:
    """Delete the account after checking the password."""
    accounts.delete_account(current_principal(), body["password"])
