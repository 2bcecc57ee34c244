"""The development server's help, in process: the docs URL, one log line per request, and
configuration errors shown as one line by the `flask` command (subprocess runs of the same
are in test_entry_points.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from flask.cli import cli

from backend import config as config_module
from backend.app import create_app
from backend.config import ENV_FILE_VARIABLE, ENV_VARIABLES, ConfigError
from backend.database import dispose_engines
from tests.conftest import TEST_JWT_SECRET

REQUEST_LINE = '127.0.0.1 - - [04/Dec/2026 03:14:53] "%s" %s %s'


@pytest.fixture
def no_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Start from an empty environment and a project root of its own."""
    for name in (*ENV_VARIABLES, ENV_FILE_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(config_module, "PROJECT_ROOT", tmp_path)
    return tmp_path


@pytest.fixture
def werkzeug_log() -> Iterator[logging.Logger]:
    """Return werkzeug's logger, without the filters a test adds."""
    logger = logging.getLogger("werkzeug")
    before = list(logger.filters)
    yield logger
    logger.filters[:] = before


def create_under(command: str, database_url: str, **params: object) -> None:
    """Create an app as the `flask` command `command` would, with its parameters."""
    with click.Context(click.Command(command), info_name=command) as context:
        context.params = params
        app = create_app(
            {"APP_ENV": "testing", "DATABASE_URL": database_url, "JWT_SECRET_KEY": TEST_JWT_SECRET}
        )
    dispose_engines(app)


@pytest.mark.parametrize(
    ("cert", "host", "url"),
    [
        (None, "127.0.0.1", "http://127.0.0.1:5123/api/v1/docs"),
        ("adhoc", "0.0.0.0", "https://0.0.0.0:5123/api/v1/docs"),  # noqa: S104 (a flag's value)
    ],
)
def test_flask_run_prints_the_docs_url(
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    werkzeug_log: logging.Logger,
    cert: str | None,
    host: str,
    url: str,
) -> None:
    create_under("run", database_url, host=host, port=5123, cert=cert)
    assert capsys.readouterr().err == f" * TaskTracker API docs: {url}\n"


def test_flask_run_leaves_the_request_log_to_the_app(
    database_url: str, caplog: pytest.LogCaptureFixture, werkzeug_log: logging.Logger
) -> None:
    create_under("run", database_url, host="127.0.0.1", port=5123, cert=None)
    create_under("run", database_url, host="127.0.0.1", port=5123, cert=None)  # reloaded
    assert len(werkzeug_log.filters) == 1
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        werkzeug_log.info(REQUEST_LINE, "GET /api/v1/health HTTP/1.1", "200", "-")
        werkzeug_log.info(" * Running on http://127.0.0.1:5123")
        werkzeug_log.error("Error on request:")
    assert [r.getMessage() for r in caplog.records] == [
        " * Running on http://127.0.0.1:5123",
        "Error on request:",
    ]


def test_other_commands_print_nothing_and_keep_werkzeug_as_it_is(
    database_url: str, capsys: pytest.CaptureFixture[str], werkzeug_log: logging.Logger
) -> None:
    create_under("purge-expired", database_url)
    create_app(
        {"APP_ENV": "testing", "DATABASE_URL": database_url, "JWT_SECRET_KEY": TEST_JWT_SECRET}
    )  # no click context at all: gunicorn, tests
    assert capsys.readouterr().err == ""
    assert werkzeug_log.filters == []


@pytest.mark.usefixtures("no_settings")
@pytest.mark.parametrize("command", ["purge-expired", "routes"])
def test_a_flask_command_shows_a_config_error_as_one_line(command: str) -> None:
    result = CliRunner().invoke(
        cli,
        ["--app", "backend.app", command],
        env={"APP_ENV": "production", "FLASK_SKIP_DOTENV": "1"},
    )
    assert result.exit_code == 1
    assert result.stderr == (
        "tasktracker: configuration error: JWT_SECRET_KEY must be set (>= 32 characters) "
        "when APP_ENV=production\n"
    )
    assert result.stdout == ""


def test_a_config_error_is_a_click_error_with_one_line() -> None:
    error = ConfigError("LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got 'X'")
    assert isinstance(error, click.ClickException)
    assert error.exit_code == 1
    assert str(error) == error.message
    assert error.one_line() == f"tasktracker: configuration error: {error.message}"
