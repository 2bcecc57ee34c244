"""bench/profile_summary.py: py-spy's collapsed stacks sorted into the parts of a request."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.profile_summary import main, part_of, summarize

WORKER = (
    "<module> (gunicorn:10);SyncWorker.run (gunicorn/workers/sync.py:132);"
    "SyncWorker.handle_request (gunicorn/workers/sync.py:184)"
)
WRAPPER = "Flask.wsgi_app (flask/app.py:1511);decorator (flask_jwt_extended/view_decorators.py:167)"
EXECUTE = (
    "execute (sqlalchemy/orm/session.py:2365);Connection.execute (sqlalchemy/engine/base.py:1494)"
)


@pytest.mark.parametrize(
    ("frames", "part"),
    [
        (
            f"{WRAPPER};session_is_revoked (backend/auth.py:88);{EXECUTE};"
            "Connection.wait (psycopg/connection.py:495)",
            "waiting for PostgreSQL (round trips)",
        ),
        (f"{WRAPPER};session_is_revoked (backend/auth.py:88);{EXECUTE}", "session check (query)"),
        (f"{WRAPPER};verify_jwt_in_request (flask_jwt_extended/view_decorators.py:94)", "JWT"),
        (f"{WRAPPER};update_task (backend/services/tasks.py:130);{EXECUTE}", "task and category"),
        (f"{WRAPPER};wrapper (flask_smorest/response.py:103)", "serialization"),
        (f"{WRAPPER};parse (webargs/core.py:80)", "query and body parsing"),
        ("Flask.full_dispatch_request (flask/app.py:917)", "Flask and werkzeug"),
        ("finish_response (backend/middleware.py:140)", "request hooks"),
        ("_checkout (sqlalchemy/pool/base.py:60)", "connection checkout"),
        ("somewhere (elsewhere.py:1)", "gunicorn (HTTP parsing, socket I/O)"),
    ],
)
def test_a_sample_counts_for_the_first_part_it_matches(frames: str, part: str):
    found = part_of(f"{WORKER};{frames}")
    assert found is not None
    assert found.startswith(part)


def test_samples_outside_gunicorn_are_left_out():
    assert part_of("<module> (script.py:1);main (script.py:5)") is None


def test_the_table_shares_add_up(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    raw = tmp_path / "worker.txt"
    raw.write_text(
        f"{WORKER};{WRAPPER};parse (webargs/core.py:80) 3\n"
        f"{WORKER};finish_response (backend/middleware.py:140) 1\n"
        "<module> (script.py:1);main (script.py:5) 50\n"
    )
    assert sum(summarize([raw]).values()) == 4
    assert main([str(raw)]) == 0
    table = capsys.readouterr().out
    assert "| query and body parsing, validation | 75.0% |" in table
    assert "| request hooks: request id, log line, headers | 25.0% |" in table


def test_no_samples_is_an_error(tmp_path: Path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert main([str(empty)]) == 1
