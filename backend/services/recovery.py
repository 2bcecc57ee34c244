"""Account recovery and verified addresses: one-time tokens, mailed as links to the SPA.

A token is `secrets.token_urlsafe(32)` (256 random bits). Only its SHA-256 is stored, so the
database alone opens no account; a plain hash (no salt, no Argon2) is enough for a value that
random, and lets the token be looked up by its unique index. A token expires, works once, and
issuing one marks the user's older unused ones of the same purpose used: only the newest link
works. Tokens are issued and mailed by the outbox thread (backend/mail.py), never on the
request path.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select, update

from backend.errors import Conflict, ValidationFailed
from backend.extensions import db
from backend.mail import in_background, require_mail, send_mail
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


def _mail_link(user_id: int, purpose: TokenPurpose) -> None:
    """Issue a token of `purpose` for the user, commit, and mail the link (an outbox job)."""
    user = db.session.get_one(User, user_id, with_for_update=True)
    token, digest = _new_token()
    _store(user.id, purpose, digest)
    db.session.commit()
    config = current_app.config
    send_mail(
        user.email,
        purpose.value,
        name=user.name,
        link=f"{config['FRONTEND_URL']}{PAGES[purpose]}?token={token}",
        expires=describe_duration(config[LIFETIMES[purpose]]),
    )


def _queue_link(user_id: int, purpose: TokenPurpose) -> None:
    """Have the outbox issue and mail a link of `purpose` to the user."""
    in_background(f"{purpose.value} mail", _mail_link, user_id, purpose)


def describe_duration(seconds: int) -> str:
    """Say a lifetime in words for a mail: `1 hour`, `48 hours`, `30 minutes`, `90 seconds`."""
    units = (("hour", 3600), ("minute", 60), ("second", 1))
    unit, size = next((unit, size) for unit, size in units if seconds % size == 0)
    count = seconds // size
    return f"{count} {unit}{'' if count == 1 else 's'}"


def request_password_reset(email: str) -> None:
    """Have a reset link mailed if `email` has an account; the caller answers the same either way.

    The request does the same whatever the address: it hands the address to the outbox, which
    looks it up and, for an account, issues and mails the token. Neither the answer nor its
    time tells whether the account exists, and a database or SMTP failure is only logged.
    """
    require_mail()
    in_background("password_reset mail", _mail_reset_if_account, email)


def _mail_reset_if_account(email: str) -> None:
    """Issue and mail a reset link if `email` has an account (an outbox job)."""
    user_id = db.session.scalar(select(User.id).where(func.lower(User.email) == email.lower()))
    if user_id is not None:
        _mail_link(user_id, TokenPurpose.PASSWORD_RESET)


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


def send_verification(user_id: int) -> None:
    """Have the link that verifies a new user's address mailed (registration calls it)."""
    _queue_link(user_id, TokenPurpose.VERIFY_EMAIL)


def resend_verification(user_id: int) -> None:
    """Have a new verification link mailed (older ones stop working); 409 once verified."""
    require_mail()
    if db.session.get_one(User, user_id).email_verified:
        raise Conflict("This e-mail address is already verified.", code="already_verified")
    _queue_link(user_id, TokenPurpose.VERIFY_EMAIL)


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
