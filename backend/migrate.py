"""Apply Alembic migrations from the app (development SQLite start-up, and tests)."""

from __future__ import annotations

import fcntl
from pathlib import Path

from alembic import command
from alembic.config import Config
from flask import Flask

from backend.config import PROJECT_ROOT


def alembic_config(database_url: str) -> Config:
    """Return the project's Alembic configuration aimed at `database_url`."""
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    return config


def upgrade_database(app: Flask) -> None:
    """Bring the app's database to the newest schema; several processes may call it at once."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    lock_path = Path(app.instance_path) / ".migrate.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            command.upgrade(alembic_config(url), "head")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
