"""The database: engine settings, and the connection a request works on.

A request works either in a transaction (the ORM session, `db.session`: what most writes use)
or in autocommit (reads, and routes whose writes are single statements: see
`backend.http.Endpoint.autocommit`). Autocommit requests take a connection from a second
engine whose connections are always in autocommit: no BEGIN, COMMIT or ROLLBACK round trips,
and no isolation level switched on each checkout and back on each return. `execute`, `commit`
and `rollback` act on whichever the request has; the ORM session of an autocommit request
works on its connection too (`backend.extensions.RequestSession`), so a request never holds two.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import Connection, CursorResult, Engine, Executable, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from backend.extensions import db
from backend.models import casefold_or_null

AUTOCOMMIT_ENGINE_KEY = "tasktracker.autocommit_engine"
# A pooled PostgreSQL connection idle for longer than this is pinged before use.
PING_AFTER_IDLE_SECONDS = 1.0


def init_database(app: Flask) -> None:
    """Configure the app's engine, and create its autocommit engine beside it."""
    app.teardown_appcontext(release_connection)  # runs after the session's own teardown
    db.init_app(app)
    with app.app_context():
        engine = db.engine
        autocommit = create_engine(
            engine.url,
            isolation_level="AUTOCOMMIT",
            pool_reset_on_return=None,  # nothing to roll back in autocommit
            **app.config["SQLALCHEMY_ENGINE_OPTIONS"],
        )
    for each in (engine, autocommit):
        configure_engine(each)
    app.extensions[AUTOCOMMIT_ENGINE_KEY] = autocommit


def configure_engine(engine: Engine) -> None:
    """Add the connection hooks each database needs."""
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        event.listen(engine, "checkin", _note_checkin)
        event.listen(engine, "checkout", _ping_if_idle)


def use_autocommit() -> None:
    """Run the rest of the request in autocommit, on a connection of the autocommit engine."""
    g.autocommit_connection = current_app.extensions[AUTOCOMMIT_ENGINE_KEY].connect()


def connection() -> Connection:
    """Return the request's connection: its autocommit one, or the session's (in a transaction)."""
    autocommit = g.get("autocommit_connection")
    return autocommit if autocommit is not None else db.session.connection()


def execute(
    statement: Executable, parameters: Mapping[str, Any] | None = None
) -> CursorResult[Any]:
    """Run a Core statement on the request's connection."""
    return connection().execute(statement, parameters)


def commit() -> None:
    """Commit the request's transaction (in autocommit, each statement committed itself)."""
    if g.get("autocommit_connection") is None:
        db.session.commit()


def rollback() -> None:
    """Roll the request's transaction back (in autocommit, there is none)."""
    if g.get("autocommit_connection") is None:
        db.session.rollback()


def release_connection(_error: BaseException | None = None) -> None:
    """Return the request's autocommit connection to its pool."""
    autocommit = g.pop("autocommit_connection", None)
    if autocommit is not None:
        autocommit.close()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Enforce foreign keys, let several processes share the file, add Unicode case folding."""
    dbapi_connection.create_function("tt_casefold", 1, casefold_or_null, deterministic=True)
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
    """Close every pooled connection of the app's two engines (tests, forked processes)."""
    with app.app_context():
        db.engine.dispose()
    app.extensions[AUTOCOMMIT_ENGINE_KEY].dispose()
