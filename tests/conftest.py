"""Fixtures: a migrated database per run, emptied before each test; `app` → `client` → users.

The suite runs on SQLite by default and on PostgreSQL when `TEST_DATABASE_URL` is set.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, text

from backend.app import create_app
from backend.database import dispose_engines
from backend.extensions import db
from backend.mail import wait_for_outbox
from backend.migrate import alembic_config
from tests.smtp import SMTPServer

PASSWORD = "Correct-Horse-9"
# Every setup but development needs a key of its own: the suite makes one per run.
TEST_JWT_SECRET = secrets.token_urlsafe(32)
# Cheap Argon2 parameters keep the suite fast; the production ones are tested on their own.
CHEAP_ARGON2 = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 1024, "ARGON2_PARALLELISM": 1}
# The fields of a task, as the API shows one.
TASK_FIELDS = frozenset(
    {
        "id",
        "title",
        "description",
        "status",
        "priority",
        "due_date",
        "category_id",
        "created_at",
        "updated_at",
        "completed_at",
    }
)
TABLES = (
    "one_time_tokens",
    "idempotency_keys",
    "tasks",
    "task_counters",
    "categories",
    "auth_sessions",
    "users",
)
_emails = itertools.count(1)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Return the test database URL, migrated to the newest schema once per run."""
    url = os.environ.get("TEST_DATABASE_URL") or (
        f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    )
    engine = create_engine(url)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    command.upgrade(alembic_config(url), "head")
    return url


@pytest.fixture
def is_postgres(database_url: str) -> bool:
    """Tell whether this run is on PostgreSQL."""
    return database_url.startswith("postgresql")


def _empty_tables(url: str) -> None:
    """Delete every row (and reset ids) so that each test starts from an empty database."""
    engine = create_engine(url)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        else:
            for table in TABLES:
                connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608 (fixed names)
            connection.execute(text("DELETE FROM sqlite_sequence"))
    engine.dispose()


AppFactory = Callable[..., Flask]


@pytest.fixture
def make_app(database_url: str, tmp_path: Path) -> Iterator[AppFactory]:
    """Return a factory of apps on the test database; settings override the defaults."""
    _empty_tables(database_url)
    apps: list[Flask] = []

    def factory(**overrides: Any) -> Flask:
        settings: dict[str, Any] = {
            "APP_ENV": "testing",
            "DATABASE_URL": database_url,
            "JWT_SECRET_KEY": TEST_JWT_SECRET,
            "AUTH_RATE_LIMIT": "1000 per minute",
            "PASSWORD_CHECK_RATE_LIMIT": "1000 per minute",
            "RATELIMIT_STORAGE_URI": "memory://",
            "CORS_ORIGINS": "http://localhost:5173",
            **CHEAP_ARGON2,
            **overrides,
        }
        app = create_app(settings)
        app.instance_path = str(tmp_path / "instance")
        apps.append(app)
        return app

    yield factory
    wait_for_outbox()  # registration queues a mail: let it finish before the engines go
    for app in apps:
        dispose_engines(app)


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    """Return the app with the test defaults."""
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Return a test client of `app`."""
    return app.test_client()


@dataclass
class User:
    """A registered, logged-in user and the headers that act as them."""

    id: int
    email: str
    password: str
    access_token: str
    refresh_token: str
    client: FlaskClient = field(repr=False)

    @property
    def headers(self) -> dict[str, str]:
        """Return the `Authorization` header with the access token."""
        return {"Authorization": f"Bearer {self.access_token}"}

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request as this user (extra headers are merged with the token)."""
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        """GET as this user."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        """POST as this user."""
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        """PUT as this user."""
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        """PATCH as this user."""
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        """DELETE as this user."""
        return self.request("DELETE", path, **kwargs)


class AuthActions:
    """Register and log in users through the API, as the frontend would."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def register(self, email: str | None = None, password: str = PASSWORD, **extra: Any) -> Any:
        """POST /auth/register and return the response."""
        email = email or f"user{next(_emails)}@example.com"
        return self.client.post(
            "/api/v1/auth/register", json={"email": email, "password": password, **extra}
        )

    def login(self, email: str, password: str = PASSWORD) -> Any:
        """POST /auth/login and return the response."""
        return self.client.post("/api/v1/auth/login", json={"email": email, "password": password})

    def user(self, email: str | None = None, password: str = PASSWORD) -> User:
        """Register and log in a new user."""
        email = email or f"user{next(_emails)}@example.com"
        registered = self.register(email, password)
        assert registered.status_code == 201, registered.get_json()
        tokens = self.login(email, password).get_json()
        return User(
            id=registered.get_json()["id"],
            email=email,
            password=password,
            access_token=tokens["access_token"],
            refresh_token=tokens["refresh_token"],
            client=self.client,
        )


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    """Return the auth helper bound to `client`."""
    return AuthActions(client)


@pytest.fixture
def user(auth: AuthActions) -> User:
    """Return a logged-in user."""
    return auth.user()


@pytest.fixture
def other_user(auth: AuthActions) -> User:
    """Return a second logged-in user, for isolation tests."""
    return auth.user()


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """Assert an RFC 9457 problem response with `status` and `code`; return its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == "about:blank"
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    if status == 401:
        assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")
    return body


@contextmanager
def recorded_statements(app: Flask) -> Iterator[list[str]]:
    """Collect the SQL statements `app` sends while the block runs."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    wait_for_outbox()  # a mail job queued earlier (registration) must not be recorded
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def make_task(user: User, title: str = "Task", **fields: Any) -> dict[str, Any]:
    """Create a task as `user` (201 expected) and return it."""
    response = user.post("/api/v1/tasks", json={"title": title, **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def make_category(user: User, name: str = "Work", **fields: Any) -> dict[str, Any]:
    """Create a category as `user` (201 expected) and return it."""
    response = user.post("/api/v1/categories", json={"name": name, **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    """Return a real SMTP server (aiosmtpd on 127.0.0.1) that keeps what it receives."""
    server = SMTPServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mail_app(make_app: AppFactory, smtp_server: SMTPServer) -> Flask:
    """Return the test app, sending its mail by SMTP to `smtp_server`."""
    return make_app(**smtp_server.settings)
