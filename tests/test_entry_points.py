"""Every way of starting the project, run as a newcomer types it, in a fresh copy of it.

A configuration mistake ends each of them with one line and a non-zero status; the good
paths print what a newcomer needs (the docs URL, the migrations applied).
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from tests.live import call, free_port
from tests.project_copy import (
    PROJECT_ROOT,
    clean_environment,
    copy_project,
    one_line_failure,
    run,
    serving,
)

FLASK_RUN = "uv run flask --app backend.app run"
GUNICORN = 'uv run gunicorn "backend.app:create_app()"'
ALEMBIC_UPGRADE = "uv run alembic upgrade head"
PURGE = "uv run flask --app backend.app purge-expired"
MISSING_KEY = "tasktracker: configuration error: JWT_SECRET_KEY must be set"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Return a fresh copy of the project (no `.env`, no `instance/`)."""
    return copy_project(tmp_path / "tasktracker")


# --- a configuration error: one line, no traceback, status 1 -------------------------------


@pytest.mark.parametrize("command", [FLASK_RUN, GUNICORN, PURGE])
def test_production_without_a_key_refuses_to_start_in_one_line(project: Path, command: str) -> None:
    env = clean_environment(APP_ENV="production", FLASK_RUN_PORT=str(free_port()))
    line = one_line_failure(run(command, project, env))
    assert line.startswith(MISSING_KEY)
    assert not (project / "instance" / "jwt-secret").exists()


@pytest.mark.parametrize("command", [FLASK_RUN, GUNICORN, PURGE, ALEMBIC_UPGRADE])
def test_a_bad_database_url_is_one_line_everywhere(project: Path, command: str) -> None:
    env = clean_environment(DATABASE_URL="mysql://root:hunter2@db/app")
    line = one_line_failure(run(command, project, env))
    assert line == (
        "tasktracker: configuration error: DATABASE_URL must name SQLite or PostgreSQL, got 'mysql'"
    )


def test_a_mistake_in_the_env_file_is_one_line_under_gunicorn(project: Path) -> None:
    (project / ".env").write_text("APP_ENV=staging\n")
    line = one_line_failure(run(GUNICORN, project, clean_environment()))
    assert line.startswith("tasktracker: configuration error: APP_ENV must be one of")


# --- alembic ---------------------------------------------------------------------------------


def test_alembic_needs_only_the_database_url_and_says_what_it_applied(project: Path) -> None:
    database = project / "release.db"
    env = clean_environment(APP_ENV="production", DATABASE_URL=f"sqlite:///{database}")
    first = run(ALEMBIC_UPGRADE, project, env)
    assert first.returncode == 0, first.stderr
    applied = re.findall(r"Running upgrade (\S*) ?-> (\S+),", first.stderr)
    revisions = list((project / "migrations" / "versions").glob("*.py"))
    assert len(applied) == len(revisions) >= 4
    assert applied[0][0] == ""  # from the empty database
    assert database.exists()
    again = run(ALEMBIC_UPGRADE, project, env)
    assert again.returncode == 0, again.stderr
    assert "Running upgrade" not in again.stderr


def test_alembic_takes_a_postgres_url_as_a_hosting_provider_writes_it(project: Path) -> None:
    """`postgres://` is read as psycopg 3: the failure is the (absent) server, not the URL."""
    port = free_port()
    env = clean_environment(DATABASE_URL=f"postgres://nobody@127.0.0.1:{port}/none")
    result = run(ALEMBIC_UPGRADE, project, env)
    assert result.returncode != 0
    assert "psycopg.OperationalError" in result.stderr
    assert "NoSuchModuleError" not in result.stderr


# --- the development server ----------------------------------------------------------------


def test_flask_run_prints_the_docs_url_and_logs_each_request_once(project: Path) -> None:
    port = free_port()
    env = clean_environment(FLASK_RUN_PORT=str(port))
    with serving(FLASK_RUN, project, env) as server:
        server.wait_healthy(port)
        health = call(port, "GET", "/health", timeout=10).raw.decode().strip()
        assert call(port, "GET", "/no-such-page", timeout=10).status == 404
        log = server.log()
    assert f"answers\n`{health}`" in (PROJECT_ROOT / "README.md").read_text()  # as curl prints it
    assert f" * TaskTracker API docs: http://127.0.0.1:{port}/api/v1/docs" in log
    assert f" * Running on http://127.0.0.1:{port}" in log  # werkzeug's banner stays
    assert log.count("path=/api/v1/no-such-page") == 1  # the app's line
    assert "GET /api/v1/no-such-page" not in log  # werkzeug's own line is gone
    key = project / "instance" / "jwt-secret"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


# --- gunicorn reads .env ---------------------------------------------------------------------


@pytest.mark.parametrize("where", ["project", "TASKTRACKER_ENV_FILE"])
def test_gunicorn_reads_the_env_file_and_the_environment_wins(
    project: Path, tmp_path: Path, where: str
) -> None:
    port = free_port()
    settings = f"GUNICORN_BIND=127.0.0.1:{port}\nWEB_CONCURRENCY=3\nLOG_LEVEL=debug\n"
    env = clean_environment(WEB_CONCURRENCY="1")
    if where == "project":
        (project / ".env").write_text(settings)
    else:
        elsewhere = tmp_path / "deploy.env"
        elsewhere.write_text(settings)
        env["TASKTRACKER_ENV_FILE"] = str(elsewhere)
    with serving(GUNICORN, project, env) as server:
        server.wait_healthy(port)
        log = server.log()
    # LOG_LEVEL=debug (from the file) makes gunicorn print its settings first.
    assert re.search(r"^\s+workers: 1$", log, re.MULTILINE), log
    assert f"Listening at: http://127.0.0.1:{port}" in log
    assert log.count("Booting worker") == 1


@pytest.mark.parametrize(
    ("workers", "storage", "warned"),
    [("2", "memory://", True), ("1", "memory://", False), ("2", "redis://127.0.0.1:1/0", False)],
)
def test_gunicorn_warns_when_limits_are_counted_per_process(
    project: Path, workers: str, storage: str, warned: bool
) -> None:
    env = clean_environment(
        APP_ENV="production",
        JWT_SECRET_KEY="k" * 40,
        DATABASE_URL=f"sqlite:///{project / 'check.db'}",
        WEB_CONCURRENCY=workers,
        RATELIMIT_STORAGE_URI=storage,
    )
    checked = run(f"{GUNICORN} --check-config", project, env)
    assert checked.returncode == 0, checked.stderr
    assert ("rate limits are counted per process" in checked.stderr) is warned
