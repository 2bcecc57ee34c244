"""Account recovery and verified addresses: one-time tokens, mailed as links to the SPA.

A token is `secrets.token_urlsafe(32)` (256 random bits). Only its SHA-256 is stored, so the
database alone opens no account; a plain hash (no salt, no Argon2) is enough for a value that
random, and lets the token be looked up by its unique index. A token expires, works once, and
issuing one marks the user's older unused ones of the same purpose used: only the newest link
works. Mail goes out after the commit, in the background (backend/mail.py).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select, update

from backend.errors import Conflict, ValidationFailed
from backend.extensions import db
from backend.mail import require_mail, send_mail
from backend.models import AuthSession, OneTimeToken, TokenPurpose, User, utcnow
from backend.passwords import hash_password

# The SPA's pages a mailed link opens (under FRONTEND_URL), and each purpose's lifetime setting.
PAGES = {TokenPurpose.PASSWORD_RESET: "/reset-password", TokenPurpose.VERIFY_EMAIL: "/verify-email"}
LIFETIMES = {
    TokenPurpose.PASSWORD_RESET: "PASSWORD_RESET_EXPIRES",
    TokenPurpose.VERIFY_EMAIL: "EMAIL_VERIFY_EXPIRES",
}
BAD_LINK = "This link is invalid, was already used or has expired: ask for a new one."


def _new_token() -> tuple[str, str]:
    """Return a fresh token and the digest under which it is stored."""
    token = secrets.token_urlsafe(32)
    return token, _digest(token)


def _digest(token: str) -> str:
    """Return the SHA-256 (hex) of a token: the only form the database holds."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _invalid_token() -> ValidationFailed:
    """Return the 400 for a wrong, used or expired token."""
    return ValidationFailed.on("token", BAD_LINK)


def _store(user_id: int, purpose: TokenPurpose, digest: str) -> None:
    """Add a token, marking the user's older unused ones of `purpose` used (no commit)."""
    now = utcnow()
    db.session.execute(
        update(OneTimeToken)
        .where(
            OneTimeToken.user_id == user_id,
            OneTimeToken.purpose == purpose.value,
            OneTimeToken.used_at.is_(None),
        )
        .values(used_at=now)
    )
    lifetime = timedelta(seconds=current_app.config[LIFETIMES[purpose]])
    db.session.add(
        OneTimeToken(
            user_id=user_id,
            purpose=purpose.value,
            token_hash=digest,
            created_at=now,
            expires_at=now + lifetime,
        )
    )


def _mail_link(user: User, purpose: TokenPurpose, token: str) -> None:
    """Mail the user the SPA link that carries `token`."""
    config = current_app.config
    send_mail(
        user.email,
        purpose.value,
        name=user.name,
        link=f"{config['FRONTEND_URL']}{PAGES[purpose]}?token={token}",
        expires=describe_duration(config[LIFETIMES[purpose]]),
    )


def describe_duration(seconds: int) -> str:
    """Say a lifetime in words for a mail: `1 hour`, `48 hours`, `30 minutes`, `90 seconds`."""
    units = (("hour", 3600), ("minute", 60), ("second", 1))
    unit, size = next((unit, size) for unit, size in units if seconds % size == 0)
    count = seconds // size
    return f"{count} {unit}{'' if count == 1 else 's'}"


def request_password_reset(email: str) -> None:
    """Mail a reset link if `email` has an account; the caller answers the same either way.

    Both ways generate and hash a token and look the address up, so the time differs only by
    the token's insert; the mail itself goes out in the background.
    """
    require_mail()
    token, digest = _new_token()
    user = db.session.scalar(
        select(User).where(func.lower(User.email) == email.lower()).with_for_update()
    )
    if user is not None:
        _store(user.id, TokenPurpose.PASSWORD_RESET, digest)
    db.session.commit()
    if user is not None:
        _mail_link(user, TokenPurpose.PASSWORD_RESET, token)


def confirm_password_reset(token: str, new_password: str) -> None:
    """Set a new password with a mailed token and revoke every session of the user.

    A wrong, used or expired token is 400 on `token`. The token is spent by one conditional
    UPDATE, so two concurrent uses cannot both succeed. Following the link proves the address,
    so it also counts as verified.
    """
    now = utcnow()
    user_id = db.session.execute(
        update(OneTimeToken)
        .where(
            OneTimeToken.token_hash == _digest(token),
            OneTimeToken.purpose == TokenPurpose.PASSWORD_RESET.value,
            OneTimeToken.used_at.is_(None),
            OneTimeToken.expires_at > now,
        )
        .values(used_at=now)
        .returning(OneTimeToken.user_id)
    ).scalar_one_or_none()
    if user_id is None:
        raise _invalid_token()
    user = db.session.get_one(User, user_id)
    user.password_hash = hash_password(new_password)
    user.email_verified = True
    db.session.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    db.session.commit()


def _send_verification(user: User) -> None:
    """Issue a verification token for the user's address, commit, and mail the link."""
    token, digest = _new_token()
    _store(user.id, TokenPurpose.VERIFY_EMAIL, digest)
    db.session.commit()
    _mail_link(user, TokenPurpose.VERIFY_EMAIL, token)


def send_verification(user_id: int) -> None:
    """Mail a new user the link that verifies their address (registration calls it)."""
    _send_verification(db.session.get_one(User, user_id))


def resend_verification(user_id: int) -> None:
    """Mail a new verification link (older ones stop working); 409 once verified."""
    require_mail()
    user = db.session.get_one(User, user_id)
    if user.email_verified:
        raise Conflict("This e-mail address is already verified.", code="already_verified")
    _send_verification(user)


def verify_email(token: str) -> User:
    """Mark the address of the token's user verified and return the user.

    A wrong or expired token is 400 on `token`, and so is one replaced by a newer link before
    it was used. A link that already verified the address answers the user again until it
    expires: a page opened twice (or an SPA that sends the request twice) is not an error.
    """
    now = utcnow()
    row = db.session.scalar(
        select(OneTimeToken).where(
            OneTimeToken.token_hash == _digest(token),
            OneTimeToken.purpose == TokenPurpose.VERIFY_EMAIL.value,
            OneTimeToken.expires_at > now,
        )
    )
    if row is None:
        raise _invalid_token()
    user = db.session.get_one(User, row.user_id)
    if row.used_at is not None and not user.email_verified:
        raise _invalid_token()
    if row.used_at is None:
        row.used_at = now
        user.email_verified = True
    db.session.commit()
    return user
