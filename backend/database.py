"""The database engine: per-connection settings for SQLite, and an idle-connection ping.

Every request works in one ORM session (`db.session`, Flask-SQLAlchemy's request scope): the
session check starts its transaction, a service that writes commits it once, and the session's
teardown rolls back whatever a read left open.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask
from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from backend.extensions import db
from backend.models import lower_or_null

# A pooled PostgreSQL connection idle for longer than this is pinged before use.
PING_AFTER_IDLE_SECONDS = 1.0


def init_database(app: Flask) -> None:
    """Bind Flask-SQLAlchemy to `app` and add the connection hooks its database needs."""
    db.init_app(app)
    with app.app_context():
        configure_engine(db.engine)


def configure_engine(engine: Engine) -> None:
    """Add the connection hooks each database needs."""
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        event.listen(engine, "checkin", _note_checkin)
        event.listen(engine, "checkout", _ping_if_idle)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Enforce foreign keys, let several processes share the file, add Unicode lower-casing."""
    dbapi_connection.create_function("tt_lower", 1, lower_or_null, deterministic=True)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA busy_timeout = 5000")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def _note_checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    """Remember when a connection went back to the pool."""
    record.info["checked_in"] = time.monotonic()


def _ping_if_idle(
    dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
) -> None:
    """Ping a connection that sat idle before handing it out; replace it if the ping fails.

    This is `pool_pre_ping` for connections idle longer than `PING_AFTER_IDLE_SECONDS`: a busy
    pool hands out connections used a moment ago and skips the round trip, while one that waited
    through a database restart is checked, and discarded (SQLAlchemy then connects anew) if dead.
    """
    if time.monotonic() - record.info.get("checked_in", 0.0) < PING_AFTER_IDLE_SECONDS:
        return
    try:
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT 1")
        cursor.close()
        dbapi_connection.rollback()
    except Exception as error:  # any failure means the connection is unusable
        raise DisconnectionError from error


def dispose_engines(app: Flask) -> None:
    """Close every pooled connection of the app's engine (tests, forked processes)."""
    with app.app_context():
        db.engine.dispose()
