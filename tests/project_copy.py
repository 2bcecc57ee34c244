"""Run the project's own commands (`uv run flask …`, gunicorn, alembic) in a fresh copy of it.

A copy has no `.env`, no `instance/` and no database, as a fresh clone has; it shares this
checkout's virtual environment (`UV_PROJECT_ENVIRONMENT`, same lock) so that nothing is
installed. The environment is the caller's minus every TaskTracker and gunicorn setting.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

from backend.config import ENV_FILE_VARIABLE, ENV_VARIABLES
from tests.live import call

PROJECT_ROOT = Path(__file__).resolve().parent.parent
COPIED = ("backend", "migrations", "alembic.ini", "gunicorn.conf.py", "pyproject.toml", "uv.lock")
GUNICORN_VARIABLES = ("HOST", "PORT", "WEB_CONCURRENCY")
BASH = shutil.which("bash") or "/bin/bash"
# Generous: a cold `uv run` plus the app's import on a busy shared machine.
START_SECONDS = 90


def copy_project(target: Path) -> Path:
    """Copy what a clone holds to run the app into `target`; return it."""
    target.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "instance")
    for name in COPIED:
        source = PROJECT_ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=ignore)
        else:
            shutil.copy2(source, target / name)
    return target


def clean_environment(**settings: str) -> dict[str, str]:
    """Return this process's environment without app or gunicorn settings, plus `settings`."""
    dropped = {*ENV_VARIABLES, *GUNICORN_VARIABLES, ENV_FILE_VARIABLE, "VIRTUAL_ENV"}
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in dropped
        and not key.startswith(("GUNICORN_", "FLASK_", "COV_CORE_", "COVERAGE_", "TEST_"))
    }
    env.update(
        {
            "UV_PROJECT_ENVIRONMENT": str(PROJECT_ROOT / ".venv"),
            "UV_FROZEN": "1",
            "UV_PYTHON_DOWNLOADS": "never",
            "PYTHONUNBUFFERED": "1",
            **settings,
        }
    )
    return env


def run(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a shell command line as a reader would paste it; return its result."""
    return subprocess.run(  # noqa: S603 (a fixed shell, the command comes from the tests)
        [BASH, "-c", command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=START_SECONDS,
        check=False,
    )


def one_line_failure(result: subprocess.CompletedProcess[str]) -> str:
    """Assert that a command failed with exactly one line on stderr and none on stdout."""
    assert result.returncode != 0, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    return lines[0]


@dataclass
class Server:
    """A server command running in the background, its output in a file."""

    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]

    def log(self) -> str:
        """Return what the server printed so far (stdout and stderr)."""
        return self.log_path.read_text(errors="replace")

    def wait_healthy(self, port: int) -> None:
        """Poll GET /health on `port` until it answers 200, failing early if the server exits."""
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"exited with {self.process.returncode}:\n{self.log()}")
            with contextlib.suppress(OSError):
                if call(port, "GET", "/health", timeout=5).status == 200:
                    return
            time.sleep(0.2)
        pytest.fail(f"not healthy in {START_SECONDS} s:\n{self.log()}")

    def stop(self) -> None:
        """Stop the server's process group (SIGTERM, then SIGKILL) and close its log."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # workers left behind
        self.log_file.close()


@contextlib.contextmanager
def serving(command: str, cwd: Path, env: dict[str, str]) -> Iterator[Server]:
    """Start `command` in its own process group; stop it when the block ends."""
    log_path = cwd / "server.log"
    log_file = log_path.open("wb")
    process = subprocess.Popen(  # noqa: S603 (a fixed shell, the command comes from the tests)
        [BASH, "-c", f"exec {command}"],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = Server(process, log_path, log_file)
    try:
        yield server
    finally:
        server.stop()
