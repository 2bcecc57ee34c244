"""`flask` CLI commands for operators."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import delete

from backend.extensions import db
from backend.models import AuthSession, OneTimeToken, utcnow
from backend.services.idempotency import purge_expired as purge_expired_keys


def purge_expired_rows() -> tuple[int, int, int]:
    """Delete expired or revoked sessions, expired idempotency keys and expired mailed tokens.

    Return the three counts.
    """
    now = utcnow()
    result = db.session.execute(
        delete(AuthSession).where(
            (AuthSession.expires_at <= now) | AuthSession.revoked_at.is_not(None)
        )
    )
    keys = purge_expired_keys()
    tokens = db.session.execute(delete(OneTimeToken).where(OneTimeToken.expires_at <= now))
    db.session.commit()
    return result.rowcount, keys, tokens.rowcount  # type: ignore[attr-defined]


@click.command("purge-expired")
@with_appcontext
def purge_expired() -> None:
    """Delete expired and revoked sessions, expired idempotency keys and mailed tokens (daily)."""
    sessions, keys, tokens = purge_expired_rows()
    click.echo(
        f"purged {sessions} expired or revoked sessions, {keys} expired idempotency keys"
        f" and {tokens} expired one-time tokens"
    )
