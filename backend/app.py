"""The application factory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from sqlalchemy import event
from werkzeug.middleware.proxy_fix import ProxyFix

from backend.auth import init_password_hasher
from backend.commands import purge_expired
from backend.config import PROJECT_ROOT, load_config
from backend.errors import register_error_handlers
from backend.extensions import db, jwt, limiter
from backend.middleware import register_middleware
from backend.migrate import upgrade_database
from backend.routes import register_blueprints


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app; `config` overrides the environment (tests pass settings here)."""
    app = Flask(__name__, instance_path=str(PROJECT_ROOT / "instance"))
    app.config.update(load_config(config))
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
    init_password_hasher(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_pragmas)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Enforce foreign keys and let several processes share the SQLite file."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA busy_timeout = 5000")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def register_commands(app: Flask) -> None:
    """Add the `flask` CLI commands."""
    app.cli.add_command(purge_expired)
