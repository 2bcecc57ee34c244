"""The application factory."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from werkzeug.middleware.proxy_fix import ProxyFix

from backend.auth import init_password_hasher
from backend.cache import init_response_cache
from backend.commands import purge_expired
from backend.config import PROJECT_ROOT, load_config
from backend.errors import register_error_handlers
from backend.extensions import db, jwt, limiter
from backend.middleware import register_middleware
from backend.migrate import upgrade_database
from backend.models import casefold_or_null
from backend.routes import register_blueprints

# A pooled PostgreSQL connection idle for longer than this is pinged before use.
PING_AFTER_IDLE_SECONDS = 1.0


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app; `config` overrides the environment (tests pass settings here)."""
    app = Flask(__name__, instance_path=str(PROJECT_ROOT / "instance"), static_folder=None)
    app.config.update(load_config(config))
    # `/api/v1//tasks` is not `/api/v1/tasks`: a 404, not a redirect (an API answers, not moves).
    app.url_map.merge_slashes = False
    register_extensions(app)
    register_middleware(app)
    register_error_handlers(app)
    register_blueprints(app)
    register_commands(app)
    if app.config["PROXY_COUNT"]:
        count = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)
    if app.config["AUTO_MIGRATE"]:
        upgrade_database(app)
    return app


def register_extensions(app: Flask) -> None:
    """Bind the extension singletons to `app`."""
    db.init_app(app)
    jwt.init_app(app)
    limiter.init_app(app)
    # Only decorated routes are limited, and their decorator checks the limit itself; the
    # app-wide hook (for default limits, which this app has none of) would run on every request.
    app.before_request_funcs[None].remove(limiter._check_request_limit)
    init_password_hasher(app)
    init_response_cache(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_pragmas)
        else:
            event.listen(db.engine, "checkin", _note_checkin)
            event.listen(db.engine, "checkout", _ping_if_idle)


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


def register_commands(app: Flask) -> None:
    """Add the `flask` CLI commands."""
    app.cli.add_command(purge_expired)
