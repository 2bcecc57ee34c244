"""`flask` CLI commands for operators."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import delete

from backend.extensions import db
from backend.models import AuthSession, utcnow
from backend.services.idempotency import purge_expired as purge_expired_keys


def purge_expired_rows() -> tuple[int, int]:
    """Delete expired or revoked sessions and expired idempotency keys; return both counts."""
    now = utcnow()
    result = db.session.execute(
        delete(AuthSession).where(
            (AuthSession.expires_at <= now) | AuthSession.revoked_at.is_not(None)
        )
    )
    keys = purge_expired_keys()
    db.session.commit()
    return result.rowcount, keys  # type: ignore[attr-defined]


@click.command("purge-expired")
@with_appcontext
def purge_expired() -> None:
    """Delete expired and revoked sessions and expired idempotency keys (run it daily)."""
    sessions, keys = purge_expired_rows()
    click.echo(f"purged {sessions} expired or revoked sessions and {keys} expired idempotency keys")
