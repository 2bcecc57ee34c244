"""Sessions and account: list and revoke sessions, change name or password, delete the account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update

from backend.errors import Unauthorized, ValidationFailed
from backend.extensions import db
from backend.models import AuthSession, User, utcnow
from backend.passwords import hash_password, policy_errors, verify_password
from backend.services.common import get_owned

CONFIRMATION_FAILED = "The password is incorrect."


@dataclass(frozen=True)
class SessionView:
    """An open session as the user sees it."""

    id: int
    created_at: datetime
    last_used_at: datetime
    current: bool


def list_sessions(user_id: int, current_session_id: int) -> dict[str, list[SessionView]]:
    """Return the user's open sessions, most recently used first."""
    rows = db.session.scalars(
        select(AuthSession)
        .where(
            AuthSession.user_id == user_id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > utcnow(),
        )
        .order_by(AuthSession.last_used_at.desc(), AuthSession.id.desc())
    ).all()
    items = [
        SessionView(row.id, row.created_at, row.last_used_at, row.id == current_session_id)
        for row in rows
    ]
    return {"items": items}


def _revoke(*conditions: object) -> None:
    """Revoke the open sessions matching `conditions` (commit is the caller's)."""
    db.session.execute(
        update(AuthSession)
        .where(AuthSession.revoked_at.is_(None), *conditions)  # type: ignore[arg-type]
        .values(revoked_at=utcnow())
    )


def revoke_user_session(user_id: int, session_id: int) -> None:
    """Revoke one of the user's sessions (404 if unknown, 403 if another user's)."""
    get_owned(AuthSession, "Session", user_id, session_id)
    _revoke(AuthSession.id == session_id)
    db.session.commit()


def log_out_everywhere(user_id: int) -> None:
    """Revoke every session of the user, this one included."""
    _revoke(AuthSession.user_id == user_id)
    db.session.commit()


def rename_user(user_id: int, fields: dict[str, str | None]) -> User:
    """Change the user's display name."""
    user = db.session.get_one(User, user_id)
    if "name" in fields:
        user.name = fields["name"]
    db.session.commit()
    return user


def _confirm_password(user: User, password: str) -> None:
    """Raise 401 `invalid_credentials` unless `password` is the user's."""
    if not verify_password(user.password_hash, password):
        raise Unauthorized(CONFIRMATION_FAILED, code="invalid_credentials")


def change_password(
    user_id: int, current_session_id: int, current_password: str, new_password: str
) -> None:
    """Change the password and revoke every other session of the user."""
    user = db.session.get_one(User, user_id)
    broken = policy_errors(new_password, user.email)  # the schema cannot know the address
    if broken:
        raise ValidationFailed(errors={"new_password": broken})
    _confirm_password(user, current_password)
    user.password_hash = hash_password(new_password)
    _revoke(AuthSession.user_id == user.id, AuthSession.id != current_session_id)
    db.session.commit()


def delete_account(user_id: int, password: str) -> None:
    """Delete the user and, by cascade, their sessions, categories and tasks."""
    user = db.session.get_one(User, user_id)
    _confirm_password(user, password)
    db.session.execute(delete(User).where(User.id == user.id))
    db.session.commit()
