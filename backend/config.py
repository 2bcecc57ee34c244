"""Settings, read from the environment (and a `.env` file) in this one module."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import stat
import tempfile
from collections.abc import Mapping
from email.utils import parseaddr
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import click
from dotenv import dotenv_values
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS = ("development", "testing", "production")
# Names the `.env` file to read instead of the project root's (tests, several local setups).
ENV_FILE_VARIABLE = "TASKTRACKER_ENV_FILE"
# Development allows a dev server on any local port (Vite's 5173/5174, 4173, Angular's 4200, …).
DEV_CORS_ORIGIN = re.compile(r"http://(localhost|127\.0\.0\.1)(:\d{1,5})?\Z")
MIN_SECRET_LENGTH = 32
# Where development keeps the signing key it generated, under the instance folder.
DEV_KEY_FILE = "jwt-secret"
# Schemes that name PostgreSQL without a driver (Heroku, Render, libpq): psycopg 3 serves them.
POSTGRES_SCHEMES = ("postgres://", "postgresql://")
# Overrides with these names are read like the environment; any other override is a raw Flask key.
ENV_VARIABLES = frozenset(
    {
        "APP_ENV",
        "DATABASE_URL",
        "JWT_SECRET_KEY",
        "JWT_ACCESS_TOKEN_EXPIRES",
        "JWT_REFRESH_TOKEN_EXPIRES",
        "CORS_ORIGINS",
        "AUTH_RATE_LIMIT",
        "PASSWORD_CHECK_RATE_LIMIT",
        "RATELIMIT_STORAGE_URI",
        "RATELIMIT_ENABLED",
        "PROXY_COUNT",
        "LOG_LEVEL",
        "LOG_JSON",
        "ARGON2_TIME_COST",
        "ARGON2_MEMORY_COST",
        "ARGON2_PARALLELISM",
        "METRICS_TOKEN",
        "MAIL_SERVER",
        "MAIL_PORT",
        "MAIL_USE_TLS",
        "MAIL_USE_SSL",
        "MAIL_USERNAME",
        "MAIL_PASSWORD",
        "MAIL_DEFAULT_SENDER",
        "MAIL_TIMEOUT",
        "FRONTEND_URL",
        "PASSWORD_RESET_EXPIRES",
        "EMAIL_VERIFY_EXPIRES",
    }
)
DEFAULT_MAIL_SENDER = "TaskTracker <no-reply@localhost>"
DEFAULT_FRONTEND_URL = "http://localhost:5173"


class ConfigError(click.ClickException):
    """The configuration cannot run: the message is a one-line reason.

    It is a `click.ClickException`, so every `flask` command (`run`, `purge-expired`, …) shows it
    as the one line of `one_line()` and exits with status 1, without a traceback.
    """

    def one_line(self) -> str:
        """Return the line shown to the operator."""
        return f"tasktracker: configuration error: {self.message}"

    def show(self, file: IO[Any] | None = None) -> None:
        """Print `one_line()` to stderr (click calls this)."""
        click.echo(self.one_line(), file=file, err=file is None)


def env_file() -> Path:
    """Return the `.env` file to read: `$TASKTRACKER_ENV_FILE`, else the project root's."""
    return Path(os.environ.get(ENV_FILE_VARIABLE) or PROJECT_ROOT / ".env")


def _environment(overrides: Mapping[str, Any] | None) -> dict[str, str]:
    """Merge `.env`, the process environment and explicit overrides, later ones winning."""
    merged: dict[str, str] = {
        key: value for key, value in dotenv_values(env_file()).items() if value is not None
    }
    merged.update(os.environ)
    for key, value in (overrides or {}).items():
        merged[key] = str(value)
    return merged


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    """Read a positive integer setting or fail with a one-line reason."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {value}")
    return value


def _origins(raw: str) -> list[str | re.Pattern[str]]:
    """Split a comma-separated origin list, dropping blanks and trailing slashes."""
    return [origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip()]


def _default_origins(production: bool) -> list[str | re.Pattern[str]]:
    """Return the origins allowed without `CORS_ORIGINS`: none in production, local ones else."""
    return [] if production else [DEV_CORS_ORIGIN]


def instance_path() -> Path:
    """Return the instance folder: the development database and key live there."""
    return PROJECT_ROOT / "instance"


def default_database_url() -> str:
    """Return the SQLite URL used when `DATABASE_URL` is not set."""
    return f"sqlite:///{instance_path() / 'tasktracker.db'}"


def _database_url(env: Mapping[str, str]) -> str:
    """Read `DATABASE_URL` (default: the SQLite file); `postgres://` means psycopg 3."""
    url = env.get("DATABASE_URL", "").strip() or default_database_url()
    for scheme in POSTGRES_SCHEMES:
        if url.startswith(scheme):
            url = "postgresql+psycopg://" + url.removeprefix(scheme)
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        raise ConfigError(
            "DATABASE_URL is not a database URL (expected sqlite:///… or postgresql://…)"
        ) from None
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(f"DATABASE_URL must name SQLite or PostgreSQL, got {backend!r}")
    return url


def migration_database_url() -> str:
    """Return the database URL for `alembic`: it reads `DATABASE_URL` and nothing else."""
    return _database_url(_environment(None))


def development_secret() -> str:
    """Return development's signing key, generated at the first start and kept in `instance/`.

    Several processes (gunicorn workers, the reloader) may start at once: the key is written
    to a private (0600) temporary file and published by `os.link`, which fails if another
    process won, so every process reads the same complete key.
    """
    folder = instance_path()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / DEV_KEY_FILE
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=f".{DEV_KEY_FILE}.")
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(48))
        with contextlib.suppress(FileExistsError):  # an earlier or a concurrent start won
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(f"{path} is open to other users (mode {mode:o}): chmod 600 it")
    secret = path.read_text().strip()
    if len(secret) < MIN_SECRET_LENGTH:
        raise ConfigError(f"{path} holds no key of 32 characters or more: delete it")
    return secret


def _signing_key(env: Mapping[str, str], app_env: str, database_url: str) -> str:
    """Return the JWT key: `JWT_SECRET_KEY`, or in development one generated for this machine.

    Without `APP_ENV`, a server database means a deployment that forgot its settings: it gets
    no generated key (each machine would sign with its own) but refuses to start.
    """
    secret = env.get("JWT_SECRET_KEY", "").strip()
    if len(secret) >= MIN_SECRET_LENGTH:
        return secret
    if secret:
        raise ConfigError(f"JWT_SECRET_KEY must be at least {MIN_SECRET_LENGTH} characters long")
    if app_env != "development":
        raise ConfigError(f"JWT_SECRET_KEY must be set (>= 32 characters) when APP_ENV={app_env}")
    if not env.get("APP_ENV", "").strip() and not database_url.startswith("sqlite"):
        raise ConfigError(
            "JWT_SECRET_KEY is not set and APP_ENV is not set: set JWT_SECRET_KEY (>= 32 "
            "characters), or APP_ENV=development for a generated development key"
        )
    return development_secret()


def load_config(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Build the Flask configuration from the environment; `overrides` win (tests use them)."""
    env = _environment(overrides)
    app_env = env.get("APP_ENV", "development").strip() or "development"
    if app_env not in ENVIRONMENTS:
        raise ConfigError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}, got {app_env!r}")
    production = app_env == "production"
    database_url = _database_url(env)
    cors = env.get("CORS_ORIGINS")

    config: dict[str, Any] = {
        "APP_ENV": app_env,
        "TESTING": app_env == "testing",
        "DEBUG": False,
        "PROPAGATE_EXCEPTIONS": False,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(database_url),
        "JWT_SECRET_KEY": _signing_key(env, app_env, database_url),
        "JWT_ALGORITHM": "HS256",
        "JWT_DECODE_ALGORITHMS": ["HS256"],
        "JWT_ACCESS_TOKEN_EXPIRES": _positive_int(env, "JWT_ACCESS_TOKEN_EXPIRES", 900),
        "JWT_REFRESH_TOKEN_EXPIRES": _positive_int(env, "JWT_REFRESH_TOKEN_EXPIRES", 2_592_000),
        "JWT_TOKEN_LOCATION": ["headers"],
        "CORS_ORIGINS": _origins(cors) if cors is not None else _default_origins(production),
        "AUTH_RATE_LIMIT": env.get("AUTH_RATE_LIMIT", "").strip() or "10 per minute",
        "PASSWORD_CHECK_RATE_LIMIT": (
            env.get("PASSWORD_CHECK_RATE_LIMIT", "").strip() or "5 per minute"
        ),
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI", "").strip() or "memory://",
        "RATELIMIT_ENABLED": env.get("RATELIMIT_ENABLED", "true").lower() != "false",
        "RATELIMIT_HEADERS_ENABLED": False,
        # An unreachable counter store must not lock people out: limits fail open, logged.
        "RATELIMIT_SWALLOW_ERRORS": True,
        "PROXY_COUNT": _non_negative_int(env, "PROXY_COUNT"),
        "LOG_LEVEL": _log_level(env),
        "LOG_JSON": production or env.get("LOG_JSON", "").lower() == "true",
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "ARGON2_TIME_COST": _positive_int(env, "ARGON2_TIME_COST", 2),
        "ARGON2_MEMORY_COST": _positive_int(env, "ARGON2_MEMORY_COST", 19_456),
        "ARGON2_PARALLELISM": _positive_int(env, "ARGON2_PARALLELISM", 1),
        "AUTO_MIGRATE": app_env == "development" and database_url.startswith("sqlite"),
        "METRICS_TOKEN": _metrics_token(env),
        **mail_settings(env),
    }
    for key, value in (overrides or {}).items():
        if key not in ENV_VARIABLES:
            config[key] = value
    return config


def _metrics_token(env: Mapping[str, str]) -> str:
    """Read the bearer token of `GET /metrics` (empty: no metrics), refusing a guessable one."""
    token = env.get("METRICS_TOKEN", "").strip()
    if token and len(token) < MIN_SECRET_LENGTH:
        raise ConfigError(f"METRICS_TOKEN must be at least {MIN_SECRET_LENGTH} characters")
    return token


def _log_level(env: Mapping[str, str]) -> str:
    """Read the log level name (default INFO), refusing names `logging` does not know."""
    level = env.get("LOG_LEVEL", "").strip().upper() or "INFO"
    if level not in logging.getLevelNamesMapping():
        raise ConfigError(
            f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {level!r}"
        )
    return level


def _non_negative_int(env: Mapping[str, str], name: str, default: int = 0) -> int:
    """Read a count that may be zero."""
    raw = env.get(name, "").strip() or str(default)
    if not raw.isdigit():
        raise ConfigError(f"{name} must be a whole number >= 0, got {raw!r}")
    return int(raw)


def _flag(env: Mapping[str, str], name: str) -> bool:
    """Read an on/off setting (`true` or `false`, off when unset) or fail with a one-line reason."""
    raw = env.get(name, "").strip().lower() or "false"
    if raw not in ("true", "false"):
        raise ConfigError(f"{name} must be true or false, got {raw!r}")
    return raw == "true"


def _frontend_url(env: Mapping[str, str]) -> str:
    """Read the SPA's base URL (links in mails start with it), without a trailing slash."""
    raw = env.get("FRONTEND_URL", "").strip() or DEFAULT_FRONTEND_URL
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(
            f"FRONTEND_URL must be an http(s) URL like {DEFAULT_FRONTEND_URL}, got {raw!r}"
        )
    return raw.rstrip("/")


def mail_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """Read the SMTP settings (flask-mailman's keys) and the lifetimes of mailed links."""
    port = _positive_int(env, "MAIL_PORT", 587)
    if port > 65535:
        raise ConfigError(f"MAIL_PORT must be a TCP port (1-65535), got {port}")
    use_tls, use_ssl = _flag(env, "MAIL_USE_TLS"), _flag(env, "MAIL_USE_SSL")
    if use_tls and use_ssl:
        raise ConfigError(
            "MAIL_USE_TLS (STARTTLS) and MAIL_USE_SSL (TLS from the start) exclude each other"
        )
    sender = env.get("MAIL_DEFAULT_SENDER", "").strip() or DEFAULT_MAIL_SENDER
    if "@" not in parseaddr(sender)[1]:
        raise ConfigError(
            f"MAIL_DEFAULT_SENDER must be an address like {DEFAULT_MAIL_SENDER!r}, got {sender!r}"
        )
    return {
        "MAIL_SERVER": env.get("MAIL_SERVER", "").strip() or None,
        "MAIL_PORT": port,
        "MAIL_USE_TLS": use_tls,
        "MAIL_USE_SSL": use_ssl,
        # flask-mailman logs in (SMTP AUTH) only when both are set.
        "MAIL_USERNAME": env.get("MAIL_USERNAME", "").strip() or None,
        "MAIL_PASSWORD": env.get("MAIL_PASSWORD", "") or None,
        "MAIL_DEFAULT_SENDER": sender,
        "MAIL_TIMEOUT": _positive_int(env, "MAIL_TIMEOUT", 5),
        # flask-mailman would pick its in-memory backend under TESTING; mail here is real SMTP.
        "MAIL_BACKEND": "smtp",
        "FRONTEND_URL": _frontend_url(env),
        "PASSWORD_RESET_EXPIRES": _positive_int(env, "PASSWORD_RESET_EXPIRES", 3600),
        "EMAIL_VERIFY_EXPIRES": _positive_int(env, "EMAIL_VERIFY_EXPIRES", 172_800),
    }


def engine_options(database_url: str) -> dict[str, Any]:
    """Return SQLAlchemy engine options for the database behind `database_url`."""
    if database_url.startswith("postgresql"):
        return {
            # No pool_pre_ping: backend.database pings only connections that sat idle (one round
            # trip saved per request under load; see docs/PERFORMANCE.md).
            "pool_size": 10,
            "max_overflow": 5,
            "pool_timeout": 5,
            "pool_recycle": 1800,
            "connect_args": {
                "connect_timeout": 3,
                "options": "-c statement_timeout=5000 -c lock_timeout=3000",
                # A server that stops answering mid-connection is noticed within seconds.
                "keepalives": 1,
                "keepalives_idle": 5,
                "keepalives_interval": 2,
                "keepalives_count": 2,
                "tcp_user_timeout": 5000,
            },
        }
    return {"connect_args": {"timeout": 5}}
