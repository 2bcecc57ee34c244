"""Alembic environment: the target is the models' metadata, the URL the app's configuration."""

from __future__ import annotations

from typing import Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import create_engine, pool

from backend.config import load_config
from backend.extensions import db
from backend.models import UTCDateTime

config = context.config
target_metadata = db.metadata
import backend.models  # noqa: F401, E402 (every model on the metadata, for autogenerate)


def render_item(type_: str, obj: object, _context: AutogenContext) -> str | Literal[False]:
    """Render the models' UTC timestamp type as a plain timezone-aware DateTime."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def database_url() -> str:
    """Return the URL given by the caller (tests, the app) or by the app's configuration."""
    return config.attributes.get("database_url") or load_config()["SQLALCHEMY_DATABASE_URI"]


def run_migrations_offline() -> None:
    """Emit the migration SQL without a database connection."""
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations over a connection."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection: object) -> None:
    """Configure the context on `connection` and run the migrations in one transaction."""
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
