"""Migration 0005 rewrites stored addresses into the normal form that login now looks up."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from backend.migrate import alembic_config
from tests.conftest import PASSWORD, AppFactory, AuthActions
from tests.test_migrations import fresh_url
from tests.test_normal_forms import old_hash

__all__ = ["fresh_url"]  # the fixture, imported from the migration tests

# Stored by 0004's app -> stored after 0005 (the ids say which row is which).
ROWS = {
    1: ("user@xn--exmple-cua.com", "user@exämple.com"),  # punycode domain
    2: ("cafe\u0301@example.com", "café@example.com"),  # local part not in NFC
    3: ("box@xn--bcher-kva.example.com", "box@bücher.example.com"),
    4: ("twin@exämple.com", "twin@exämple.com"),  # already normal
    5: ("twin@xn--exmple-cua.com", "twin@xn--exmple-cua.com"),  # its normal form is taken
    6: ("old@localhost", "old@localhost"),  # not valid today: kept, and still logs in
    7: ("plain@example.com", "plain@example.com"),
}


def stored_emails(url: str) -> dict[int, str]:
    """Return every user's stored address by id."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT id, email FROM users ORDER BY id")).all()
    finally:
        engine.dispose()
    return {row.id: row.email for row in rows}


def insert_users(url: str) -> None:
    """Insert the users of `ROWS` as the previous release stored them."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            for user_id, (email, _normal) in ROWS.items():
                connection.execute(
                    text(
                        "INSERT INTO users (id, email, password_hash, created_at) "
                        "VALUES (:id, :email, :hash, :now)"
                    ),
                    {
                        "id": user_id,
                        "email": email,
                        "hash": old_hash(PASSWORD),
                        "now": datetime.now(UTC),
                    },
                )
    finally:
        engine.dispose()


def test_upgrade_normalizes_stored_addresses(
    fresh_url: str, make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    config = alembic_config(fresh_url)
    command.upgrade(config, "0004_user_data_version")
    insert_users(fresh_url)
    caplog.set_level("WARNING")
    command.upgrade(config, "head")
    assert stored_emails(fresh_url) == {user_id: normal for user_id, (_, normal) in ROWS.items()}
    assert "User 5 keeps 'twin@xn--exmple-cua.com'" in caplog.text

    auth = AuthActions(make_app(DATABASE_URL=fresh_url).test_client())
    for typed in (
        "user@xn--exmple-cua.com",
        "USER@EXÄMPLE.COM",
        "café@example.com",
        "old@localhost",
    ):
        assert auth.login(typed).status_code == 200, typed

    # Downgrade keeps the normal forms, which the previous release reads as well.
    command.downgrade(config, "0004_user_data_version")
    assert stored_emails(fresh_url) == {user_id: normal for user_id, (_, normal) in ROWS.items()}
    command.upgrade(config, "head")


def test_upgrade_as_sql_leaves_the_rows_to_an_online_run(
    fresh_url: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    config = alembic_config(fresh_url)
    command.upgrade(config, "0004_user_data_version")
    caplog.set_level("WARNING")
    command.upgrade(config, "0004_user_data_version:0005_normalize_emails", sql=True)
    assert "run it online" in caplog.text
    assert "UPDATE users SET email" not in capsys.readouterr().out
