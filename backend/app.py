"""The application factory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.serving import is_running_from_reloader

from backend.auth import register_auth
from backend.commands import purge_expired
from backend.config import PROJECT_ROOT, load_config
from backend.database import init_database
from backend.errors import register_error_handlers
from backend.extensions import limiter
from backend.http import register_http
from backend.mail import init_mail
from backend.metrics import init_metrics
from backend.middleware import quiet_development_server, register_middleware
from backend.migrate import upgrade_database
from backend.passwords import init_password_hasher
from backend.routes import register_blueprints


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app; `config` overrides the environment (tests pass settings here)."""
    app = Flask(__name__, instance_path=str(PROJECT_ROOT / "instance"), static_folder=None)
    app.config.update(load_config(config))
    # `/api/v1//tasks` is not `/api/v1/tasks`: a 404, not a redirect (an API answers, not moves).
    app.url_map.merge_slashes = False
    register_extensions(app)
    register_middleware(app)
    init_metrics(app)
    register_error_handlers(app)
    register_http(app)
    register_blueprints(app)
    register_commands(app)
    if app.config["PROXY_COUNT"]:
        count = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)
    if app.config["AUTO_MIGRATE"]:
        upgrade_database(app)
    announce_development_server()
    return app


def announce_development_server() -> None:
    """Under `flask run`, print where the API docs are and leave the request log to the app."""
    context = click.get_current_context(silent=True)
    if context is None or context.info_name != "run":
        return
    quiet_development_server()
    if not is_running_from_reloader():  # the reloader's serving child starts after this line
        scheme = "https" if context.params.get("cert") else "http"
        host, port = context.params["host"], context.params["port"]
        click.echo(f" * TaskTracker API docs: {scheme}://{host}:{port}/api/v1/docs", err=True)


def register_extensions(app: Flask) -> None:
    """Bind the extension singletons to `app`."""
    init_database(app)
    register_auth(app)
    limiter.init_app(app)
    # Only decorated routes are limited, and their decorator checks the limit itself; the
    # app-wide hook (for default limits, which this app has none of) would run on every request.
    # Flask-Limiter installs no hook at all when RATELIMIT_ENABLED is false.
    hooks = app.before_request_funcs.get(None, [])
    if limiter._check_request_limit in hooks:
        hooks.remove(limiter._check_request_limit)
    init_password_hasher(app)
    init_mail(app)


def register_commands(app: Flask) -> None:
    """Add the `flask` CLI commands."""
    app.cli.add_command(purge_expired)
