"""`flask purge-expired`: the daily clean-up of dead sessions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import select

from backend.extensions import db
from backend.models import AuthSession, IdempotencyRecord, User


def _session(user: User, *, expires_in: timedelta, revoked: bool = False) -> AuthSession:
    now = datetime.now(UTC)
    row = AuthSession(
        user_id=user.id,
        refresh_jti="0" * 36,
        expires_at=now + expires_in,
        revoked_at=now if revoked else None,
    )
    db.session.add(row)
    return row


def test_purge_expired_deletes_expired_and_revoked_sessions_only(app: Flask) -> None:
    with app.app_context():
        user = User(email="purge@example.com", password_hash="hash")
        db.session.add(user)
        db.session.flush()
        live = _session(user, expires_in=timedelta(days=1))
        _session(user, expires_in=timedelta(seconds=-1))
        _session(user, expires_in=timedelta(days=-30))
        _session(user, expires_in=timedelta(days=1), revoked=True)
        _session(user, expires_in=timedelta(days=-1), revoked=True)
        db.session.commit()
        live_id = live.id

    result = app.test_cli_runner().invoke(args=["purge-expired"])

    assert result.exit_code == 0, result.output
    assert "purged 4 expired or revoked sessions" in result.output
    with app.app_context():
        remaining = db.session.scalars(select(AuthSession.id)).all()
        assert remaining == [live_id]
        assert db.session.scalar(select(User.email)) == "purge@example.com"


def test_purge_expired_deletes_expired_idempotency_keys_only(app: Flask) -> None:
    now = datetime.now(UTC)
    with app.app_context():
        user = User(email="keys@example.com", password_hash="hash")
        db.session.add(user)
        db.session.flush()
        for key, expires_at in (
            ("live", now + timedelta(hours=1)),
            ("old", now - timedelta(seconds=1)),
        ):
            db.session.add(
                IdempotencyRecord(
                    user_id=user.id,
                    route="tasks.create_task",
                    key=key,
                    request_hash="0" * 64,
                    expires_at=expires_at,
                )
            )
        db.session.commit()

    result = app.test_cli_runner().invoke(args=["purge-expired"])

    assert result.exit_code == 0, result.output
    assert "1 expired idempotency keys" in result.output
    with app.app_context():
        assert db.session.scalars(select(IdempotencyRecord.key)).all() == ["live"]


def test_purge_expired_with_nothing_to_purge(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["purge-expired"])
    assert result.exit_code == 0, result.output
    assert "purged 0 expired or revoked sessions" in result.output


def test_purge_expired_is_listed_in_the_cli(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["--help"])
    assert "purge-expired" in result.output
