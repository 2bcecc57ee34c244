"""Alembic migrations build exactly the models' schema, both ways, on a fresh database."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, make_url, text

from backend import config as config_module
from backend.app import create_app
from backend.database import dispose_engines
from backend.extensions import db
from backend.migrate import alembic_config

EXPRESSION_INDEXES = {"uq_users_email_lower", "ix_tasks_user_title"}
TABLES = {"users", "auth_sessions", "categories", "tasks"}


@pytest.fixture
def fresh_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """Return the URL of an empty database of the test database's kind, dropped afterwards."""
    if not database_url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    base = make_url(database_url)
    name = f"{base.database}_mig"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def schema_differences(url: str) -> list[object]:
    """Compare the database at `url` with the models' metadata, as autogenerate would."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, db.metadata))
    finally:
        engine.dispose()


def index_names(url: str) -> set[str]:
    """Return the names of every index in the database at `url`, read from the catalog."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                query = "SELECT name FROM sqlite_master WHERE type = 'index'"
            else:
                query = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
            return set(connection.scalars(text(query)))
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_head_matches_the_models(fresh_url: str, is_postgres: bool) -> None:
    command.upgrade(alembic_config(fresh_url), "head")
    with warnings.catch_warnings():
        if not is_postgres:
            # SQLite cannot reflect expression indexes: SQLAlchemy warns that it skips them and
            # Alembic that it cannot compare them; they are checked in the catalog below. On
            # PostgreSQL they are reflected and compared, so no warning may occur there.
            warnings.simplefilter("ignore")
        differences = schema_differences(fresh_url)
    assert differences == []
    assert index_names(fresh_url) >= EXPRESSION_INDEXES


def test_expression_indexes_are_built_on_the_expressions(fresh_url: str, is_postgres: bool) -> None:
    command.upgrade(alembic_config(fresh_url), "head")
    engine = create_engine(fresh_url)
    try:
        with engine.connect() as connection:
            query = (
                "SELECT indexname, indexdef FROM pg_indexes WHERE indexname IN (:one, :two)"
                if is_postgres
                else "SELECT name, sql FROM sqlite_master WHERE name IN (:one, :two)"
            )
            one, two = sorted(EXPRESSION_INDEXES)
            rows = connection.execute(text(query), {"one": one, "two": two}).all()
            # Compare without spaces, parentheses and PostgreSQL's casts: `lower((email)::text)`.
            definitions = {name: re.sub(r"[()\s]|::text", "", sql.lower()) for name, sql in rows}
    finally:
        engine.dispose()
    assert set(definitions) == EXPRESSION_INDEXES
    assert definitions["uq_users_email_lower"].startswith("createuniqueindex")
    assert "loweremail" in definitions["uq_users_email_lower"]
    assert "user_id,lowertitle,id" in definitions["ix_tasks_user_title"]


def test_downgrade_to_base_and_upgrade_again(fresh_url: str) -> None:
    config = alembic_config(fresh_url)
    command.upgrade(config, "head")
    assert table_names(fresh_url) >= TABLES
    command.downgrade(config, "base")
    assert table_names(fresh_url) <= {"alembic_version"}
    command.upgrade(config, "head")
    assert table_names(fresh_url) >= TABLES
    assert index_names(fresh_url) >= EXPRESSION_INDEXES


def test_upgrade_is_idempotent(fresh_url: str) -> None:
    config = alembic_config(fresh_url)
    command.upgrade(config, "head")
    command.upgrade(config, "head")
    engine = create_engine(fresh_url)
    try:
        with engine.connect() as connection:
            versions = connection.scalars(text("SELECT version_num FROM alembic_version")).all()
    finally:
        engine.dispose()
    assert len(versions) == 1


def test_development_app_migrates_its_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("APP_ENV", "DATABASE_URL", "CORS_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(config_module, "PROJECT_ROOT", tmp_path)  # no .env; default DB in tmp
    monkeypatch.setattr("backend.app.PROJECT_ROOT", tmp_path)  # instance dir (migration lock)
    database = tmp_path / "dev.db"
    url = f"sqlite:///{database}"
    app = create_app(
        {
            "APP_ENV": "development",
            "DATABASE_URL": url,
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_COST": 1024,
        }
    )
    try:
        assert app.config["AUTO_MIGRATE"] is True
        assert database.exists()
        assert table_names(url) >= TABLES
        response = app.test_client().get("/api/v1/health")
        assert response.status_code == 200
        assert response.get_json() == {"status": "ok", "database": "ok"}
        register = app.test_client().post(
            "/api/v1/auth/register",
            json={"email": "dev@example.com", "password": "Correct-Horse-9"},
        )
        assert register.status_code == 201
    finally:
        dispose_engines(app)
    # A second start finds the schema current and keeps the data.
    again = create_app({"APP_ENV": "development", "DATABASE_URL": url})
    try:
        with again.app_context():
            assert db.session.scalar(text("SELECT count(*) FROM users")) == 1
    finally:
        with again.app_context():
            db.session.remove()
        dispose_engines(again)


def test_development_app_migrates_the_default_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("APP_ENV", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(config_module, "PROJECT_ROOT", tmp_path)
    monkeypatch.setattr("backend.app.PROJECT_ROOT", tmp_path)
    app = create_app()
    try:
        assert Path(app.instance_path) == tmp_path / "instance"
        assert (tmp_path / "instance" / "tasktracker.db").exists()
        assert app.test_client().get("/api/v1/health").status_code == 200
    finally:
        dispose_engines(app)
