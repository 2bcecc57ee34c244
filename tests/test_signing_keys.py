"""Signing keys: none from the source ever signs a token; development makes its own, once."""

from __future__ import annotations

import ast
import stat
import threading
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest
from flask import Flask

from backend import config as config_module
from backend.config import (
    ENV_FILE_VARIABLE,
    ENV_VARIABLES,
    ConfigError,
    development_secret,
    load_config,
    migration_database_url,
)
from backend.database import dispose_engines
from tests.conftest import AppFactory, AuthActions

BACKEND = Path(__file__).resolve().parent.parent / "backend"
STRONG_SECRET = "s" * 32
# The key that backend/config.py once shipped for development.
PUBLISHED_KEY = "development-only-key-never-use-in-production-0123456789"


@pytest.fixture(autouse=True)
def project_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Start from an empty environment and a project root of its own (no `.env`, no key)."""
    for name in (*ENV_VARIABLES, ENV_FILE_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(config_module, "PROJECT_ROOT", tmp_path)
    monkeypatch.setattr("backend.app.PROJECT_ROOT", tmp_path)
    return tmp_path


def key_file(root: Path) -> Path:
    """Return where development keeps its generated key."""
    return root / "instance" / "jwt-secret"


# --- development ---------------------------------------------------------------------------


def test_development_generates_a_private_key_once(project_root: Path) -> None:
    first = load_config()["JWT_SECRET_KEY"]
    path = key_file(project_root)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32
    assert path.read_text() == first
    assert load_config()["JWT_SECRET_KEY"] == first  # the next start signs with the same key
    assert [p.name for p in path.parent.iterdir()] == ["jwt-secret"]  # no temporary file left


def test_each_checkout_gets_its_own_key(project_root: Path, tmp_path_factory: Any) -> None:
    first = load_config()["JWT_SECRET_KEY"]
    other = tmp_path_factory.mktemp("other-clone")
    config_module.PROJECT_ROOT = other  # undone by the fixture's monkeypatch
    assert load_config()["JWT_SECRET_KEY"] != first


def test_processes_starting_at_once_share_one_key(project_root: Path) -> None:
    barrier = threading.Barrier(8)
    keys: list[str] = []

    def start() -> None:
        barrier.wait()
        keys.append(development_secret())

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 8
    assert set(keys) == {key_file(project_root).read_text()}


def test_development_on_postgresql_with_app_env_set_generates_a_key(project_root: Path) -> None:
    config = load_config({"APP_ENV": "development", "DATABASE_URL": "postgresql://u@db/x"})
    assert config["JWT_SECRET_KEY"] == key_file(project_root).read_text()


def test_a_key_file_others_can_read_is_refused(project_root: Path) -> None:
    load_config()
    key_file(project_root).chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_config()


def test_a_truncated_key_file_is_refused(project_root: Path) -> None:
    path = key_file(project_root)
    path.parent.mkdir()
    path.write_text("short")
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="delete it"):
        load_config()


def test_a_key_that_is_set_is_used_and_nothing_is_written(project_root: Path) -> None:
    assert load_config({"JWT_SECRET_KEY": STRONG_SECRET})["JWT_SECRET_KEY"] == STRONG_SECRET
    assert not key_file(project_root).exists()


# --- every other setup refuses --------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        pytest.param({"APP_ENV": "production"}, "APP_ENV=production", id="production"),
        pytest.param({"APP_ENV": "testing"}, "APP_ENV=testing", id="testing"),
        pytest.param(
            {"DATABASE_URL": "postgresql+psycopg://u@db/x"}, "APP_ENV is not set", id="no-app-env"
        ),
        pytest.param({"JWT_SECRET_KEY": "short"}, "at least 32", id="short-in-development"),
        pytest.param(
            {"APP_ENV": "production", "JWT_SECRET_KEY": "x" * 31}, "at least 32", id="31-chars"
        ),
    ],
)
def test_without_a_good_key_the_app_refuses_to_start(
    project_root: Path, overrides: dict[str, str], reason: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(overrides)
    message = caught.value.one_line()
    assert message.startswith("tasktracker: configuration error: JWT_SECRET_KEY")
    assert reason in message
    assert "\n" not in message
    assert not key_file(project_root).exists()


# --- no string of the source signs a token that a server accepts ----------------------------


def source_strings() -> set[str]:
    """Return every string constant in backend/ long enough to be a key a server would take."""
    found: set[str] = set()
    for path in BACKEND.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
    return {value for value in found if len(value.strip()) >= 32} | {PUBLISHED_KEY}


def forged_tokens(app: Flask) -> dict[str, str]:
    """Register and log in a user, then sign that user's access claims with each source string."""
    auth = AuthActions(app.test_client())
    token = auth.user().access_token
    genuine = app.test_client().get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert genuine.status_code == 200  # so a 401 below is the key's doing
    claims = pyjwt.decode(token, options={"verify_signature": False})
    return {key: pyjwt.encode(claims, key, algorithm="HS256") for key in source_strings()}


@pytest.mark.parametrize("app_env", ["development", "production"])
def test_no_string_in_the_source_signs_an_accepted_token(
    make_app: AppFactory, database_url: str, app_env: str
) -> None:
    overrides: dict[str, Any] = {"APP_ENV": app_env}
    if app_env == "development":
        overrides["JWT_SECRET_KEY"] = ""  # the generated key
    app = make_app(**overrides)
    tokens = forged_tokens(app)
    assert len(tokens) > 10
    client = app.test_client()
    accepted = [
        key
        for key, token in tokens.items()
        if client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code
        != 401
    ]
    assert accepted == []
    dispose_engines(app)


# --- the database URL -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://u:pw@db:5432/app", "postgresql+psycopg://u:pw@db:5432/app"),
        ("postgresql://u@db/app?sslmode=require", "postgresql+psycopg://u@db/app?sslmode=require"),
        ("postgresql+psycopg://u@db/app", "postgresql+psycopg://u@db/app"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_postgres_urls_without_a_driver_use_psycopg(given: str, used: str) -> None:
    config = load_config(
        {"APP_ENV": "production", "JWT_SECRET_KEY": STRONG_SECRET, "DATABASE_URL": given}
    )
    assert config["SQLALCHEMY_DATABASE_URI"] == used


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("mysql://u:hunter2@db/app", "got 'mysql'"),
        ("not a url hunter2", "not a database URL"),
    ],
)
def test_a_database_url_the_app_cannot_use_is_refused(url: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"DATABASE_URL": url})
    assert reason in caught.value.one_line()
    assert "hunter2" not in caught.value.one_line()


def test_migrations_read_only_the_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "production")  # no key: the app itself would refuse
    monkeypatch.setenv("LOG_LEVEL", "nonsense")
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db/app")
    assert migration_database_url() == "postgresql+psycopg://u@db/app"


def test_migrations_default_to_the_development_database(project_root: Path) -> None:
    assert migration_database_url() == f"sqlite:///{project_root / 'instance' / 'tasktracker.db'}"
