"""Accounts and sessions: register, log in, refresh, log out."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from backend.auth import TokenPair, issue_tokens, new_jti
from backend.errors import Conflict, Unauthorized
from backend.extensions import db
from backend.models import AuthSession, User, utcnow
from backend.passwords import hash_password, needs_rehash
from backend.passwords import verify_password as password_matches
from backend.services.recovery import send_verification

INVALID_CREDENTIALS = "The email or password is incorrect."


def register_user(email: str, password: str, name: str | None = None) -> User:
    """Create an account and have its address's verification link mailed.

    A taken email (in any case) is 409 `email_taken`.
    """
    user = User(email=email, password_hash=hash_password(password), name=name)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("An account with this email already exists.", code="email_taken") from None
    send_verification(user.id)
    return user


def log_in(email: str, password: str) -> TokenPair:
    """Check credentials and open a session; any failure is the same 401."""
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.lower()))
    if not password_matches(user.password_hash if user else None, password) or user is None:
        raise Unauthorized(INVALID_CREDENTIALS, code="invalid_credentials")
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return _open_session(user.id)


def _open_session(user_id: int) -> TokenPair:
    """Create a session row and sign its tokens, in one commit."""
    jti, now = new_jti(), utcnow()
    session = AuthSession(
        user_id=user_id,
        refresh_jti=jti,
        created_at=now,
        last_used_at=now,
        expires_at=now + _refresh_lifetime(),
    )
    db.session.add(session)
    db.session.flush()
    tokens = issue_tokens(user_id, session.id, jti)
    db.session.commit()
    return tokens


def _refresh_lifetime() -> timedelta:
    """Return how long a refresh token (and so an idle session) lives."""
    return timedelta(seconds=current_app.config["JWT_REFRESH_TOKEN_EXPIRES"])


def refresh_session(user_id: int, session_id: int, jti: str) -> TokenPair:
    """Rotate the session's refresh token; a spent one revokes the whole session."""
    successor, now = new_jti(), utcnow()
    rotated = db.session.execute(
        update(AuthSession)
        .where(
            AuthSession.id == session_id,
            AuthSession.refresh_jti == jti,
            AuthSession.revoked_at.is_(None),
        )
        .values(refresh_jti=successor, last_used_at=now, expires_at=now + _refresh_lifetime())
    )
    if rotated.rowcount != 1:  # type: ignore[attr-defined]
        revoke_session(session_id)
        raise Unauthorized(
            "This refresh token was already used: the session has been revoked.",
            code="token_revoked",
        )
    tokens = issue_tokens(user_id, session_id, successor)
    db.session.commit()
    return tokens


def revoke_session(session_id: int) -> None:
    """Revoke one session, so that every token of it is refused from now on."""
    db.session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    db.session.commit()


def get_user(user_id: int) -> User:
    """Return the user a verified token names; a deleted account's token is revoked."""
    user = db.session.get(User, user_id)
    if user is None:
        raise Unauthorized("The token's account no longer exists.", code="token_revoked")
    return user
