"""`flask` CLI commands for operators."""

from __future__ import annotations

import click
from sqlalchemy import delete

from backend.extensions import db
from backend.models import AuthSession, utcnow


def purge_expired_rows() -> int:
    """Delete sessions that expired or were revoked; return how many rows went."""
    now = utcnow()
    result = db.session.execute(
        delete(AuthSession).where(
            (AuthSession.expires_at <= now) | AuthSession.revoked_at.is_not(None)
        )
    )
    db.session.commit()
    return result.rowcount  # type: ignore[attr-defined]


@click.command("purge-expired")
def purge_expired() -> None:
    """Delete expired and revoked sessions (run it daily, e.g. from cron)."""
    click.echo(f"purged {purge_expired_rows()} expired or revoked sessions")
