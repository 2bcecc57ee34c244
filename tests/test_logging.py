"""Log lines: RFC 3339 times, the request id as a field, and no line a request can forge."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from flask import Flask

from backend import config as config_module
from backend.app import create_app
from backend.database import dispose_engines
from tests.conftest import TEST_JWT_SECRET, AppFactory, AuthActions
from tests.test_middleware import app_logs

RFC3339_MICROSECONDS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
MOMENT = datetime(2026, 12, 4, 3, 14, 53, 123456, tzinfo=UTC)


def boom_app(make_app: AppFactory, **overrides: str) -> Flask:
    """Return an app with a route that fails with a message holding a line break."""
    app = make_app(**overrides)

    def boom() -> str:
        raise ZeroDivisionError("first line\n2026-01-01T00:00:00.000000Z INFO forged")

    app.add_url_rule("/api/v1/_boom", "boom", boom)
    return app


@pytest.mark.parametrize("log_json", ["true", "false"])
def test_log_times_are_rfc3339_with_microseconds_and_z(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture, log_json: str
) -> None:
    app = make_app(LOG_JSON=log_json)
    with app_logs(caplog) as output, time_machine.travel(MOMENT, tick=False):
        app.test_client().get("/api/v1/health")
    (line,) = output.getvalue().splitlines()
    stamp = json.loads(line)["time"] if log_json == "true" else line.split(" ", 1)[0]
    assert stamp == "2026-12-04T03:14:53.123456Z"


def test_text_error_lines_carry_the_request_id_as_a_field(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = boom_app(make_app, LOG_JSON="false")
    with app_logs(caplog) as output:
        app.test_client().get("/api/v1/_boom", headers={"X-Request-ID": "trace-9"})
    (error,) = [line for line in output.getvalue().splitlines() if "tasktracker.errors" in line]
    assert RFC3339_MICROSECONDS.fullmatch(error.split(" ", 1)[0])
    assert error.endswith("ERROR tasktracker.errors unhandled error request_id=trace-9")
    (record,) = [r for r in caplog.records if r.name == "tasktracker.errors"]
    assert record.fields == {"request_id": "trace-9"}  # type: ignore[attr-defined]


def test_a_traceback_follows_its_line_indented_and_cannot_forge_one(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = boom_app(make_app, LOG_JSON="false")
    with app_logs(caplog) as output:
        app.test_client().get("/api/v1/_boom")
    lines = output.getvalue().splitlines()
    records = [line for line in lines if not line.startswith("  ")]
    assert [line.split(" ")[2] for line in records] == ["tasktracker.errors", "tasktracker.request"]
    trace = [line for line in lines if line.startswith("  ")]
    assert trace[0] == "  Traceback (most recent call last):"
    # The message's own line break stays inside the indented traceback: no record starts there.
    assert trace[-2:] == [
        "  ZeroDivisionError: first line",
        "  2026-01-01T00:00:00.000000Z INFO forged",
    ]


@pytest.mark.parametrize(
    ("path", "escaped"),
    [
        ("/api/v1/x%0a2026-12-04T00:00:00.000000Z%20INFO%20forged", "/api/v1/x\\n2026-12-04"),
        ("/api/v1/x%0d%0aforged", "/api/v1/x\\r\\nforged"),
        ("/api/v1/x%1b[31mred", "/api/v1/x\\x1b[31mred"),
        ("/api/v1/x%e2%80%a8forged", "/api/v1/x\\u2028forged"),
        ("/api/v1/x%c2%85forged", "/api/v1/x\\x85forged"),
        ("/api/v1/x%09tab", "/api/v1/x\\ttab"),
    ],
)
def test_text_log_lines_escape_control_characters(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture, path: str, escaped: str
) -> None:
    app = make_app(LOG_JSON="false")
    with app_logs(caplog) as output:
        assert app.test_client().get(path).status_code == 404
    (line,) = output.getvalue().splitlines()
    assert f"path={escaped}" in line
    assert "\u2028" not in line
    assert "\x85" not in line


def test_json_log_lines_keep_the_exact_path(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(LOG_JSON="true")
    with app_logs(caplog) as output:
        app.test_client().get("/api/v1/x%0aforged")
    (line,) = output.getvalue().splitlines()
    assert json.loads(line)["path"] == "/api/v1/x\nforged"


def test_lines_outside_a_request_have_no_request_id(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    with app_logs(caplog) as output:
        logging.getLogger("tasktracker.test").warning("outside")
    (line,) = output.getvalue().splitlines()
    assert line.endswith("WARNING tasktracker.test outside")


def test_an_unmigrated_database_says_so_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Troubleshooting entry of the README: 503 on every call, `no such table` in the log."""
    monkeypatch.setattr(config_module, "PROJECT_ROOT", tmp_path)  # no .env file
    app = create_app(
        {
            "APP_ENV": "production",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}",
            "JWT_SECRET_KEY": TEST_JWT_SECRET,
            "LOG_JSON": "true",
        }
    )
    try:
        with app_logs(caplog) as output:
            response = AuthActions(app.test_client()).register("new@example.com")
        assert response.status_code == 503
        entries = [json.loads(line) for line in output.getvalue().splitlines()]
        errors = [entry["message"] for entry in entries if entry["logger"] == "tasktracker.errors"]
        assert errors == ["database unavailable: OperationalError: no such table: users"]
    finally:
        dispose_engines(app)
