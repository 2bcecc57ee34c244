"""Database outage: the app under gunicorn answers 503 while PostgreSQL is down, then recovers.

The test owns a throw-away PostgreSQL server (`.ci/postgres.sh start` with a private TMPDIR,
so it never touches the server CI runs the suite on), runs the app under gunicorn as
production does (two sync workers), stops the server with `pg_ctl stop -m fast` keeping its
data, and restarts it on the same port.  While the database is down every request that needs
it answers a prompt 503 `service_unavailable`; once it is back, the very same gunicorn
processes serve again — no restart — with the same tokens and data.

Runs only when TEST_OUTAGE=1 (it starts servers and takes ~15 s); run it on its own, as
`TEST_OUTAGE=1 uv run pytest tests/outage --no-cov -q` (as root, or as a user that may run
PostgreSQL).
"""

from __future__ import annotations

import functools
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from alembic import command

from backend.config import PROJECT_ROOT
from backend.migrate import alembic_config
from tests import live
from tests.live import PASSWORD, Gunicorn, Reply, assert_status, free_port, server_environment

# Every test is collected and reported as skipped (exit 0) unless asked for; a module-level
# pytest.skip would collect nothing, and pytest exits 5 on that.
pytestmark = pytest.mark.skipif(
    os.environ.get("TEST_OUTAGE", "").strip() != "1",
    reason="database outage test: set TEST_OUTAGE=1 (starts its own PostgreSQL and gunicorn)",
)

POSTGRES_SCRIPT = PROJECT_ROOT / ".ci" / "postgres.sh"
BASH = shutil.which("bash") or "/bin/bash"
RUNUSER = shutil.which("runuser") or "/usr/sbin/runuser"
PG_OS_USER = "tasktracker-pg"  # the OS user .ci/postgres.sh runs the server as (when root)
WORKERS = 2
STARTUP_TIMEOUT = 60.0  # two workers importing the app on a busy machine
REQUEST_TIMEOUT = 10.0  # no request may hang: a client gives up after this
OUTAGE_ANSWER_WITHIN = 5.0  # a request during the outage is answered (503) this fast
RECOVERY_WITHIN = 10.0  # health is 200 again this soon after the database is back
# The outage itself logs 503s and [ERROR] lines; anything worse is a bug.
SERVER_ERROR_PATTERNS = (
    re.compile(r'"status": 500'),
    re.compile(r"Traceback \(most recent call last\)"),
    re.compile(r"\[CRITICAL\]"),
    re.compile(r"WORKER TIMEOUT"),
)

call = functools.partial(live.call, timeout=REQUEST_TIMEOUT)


def assert_unavailable(reply: Reply) -> None:
    """Assert a prompt 503 `service_unavailable` problem that leaks nothing."""
    body = assert_status(reply, 503)
    assert reply.seconds < OUTAGE_ANSWER_WITHIN, f"503 took {reply.seconds:.2f} s"
    assert (reply.header("Content-Type") or "").startswith("application/problem+json")
    assert body["status"] == 503
    assert body["code"] == "service_unavailable"
    assert body["title"] == "Service Unavailable"
    assert reply.header("X-Request-ID")
    text = reply.raw.decode(errors="replace").lower()
    for leak in ("psycopg", "operationalerror", "sqlalchemy", "traceback", "127.0.0.1"):
        assert leak not in text, f"the 503 body leaks {leak!r}: {reply.raw[:500]!r}"


# ------------------------------------------------------------- the throw-away PostgreSQL
@dataclass
class Postgres:
    """A PostgreSQL server of `.ci/postgres.sh`, under a private TMPDIR of its own."""

    tmpdir: Path
    url: str = ""
    bindir: Path = Path()
    datadir: Path = Path()
    port: int = 0

    def _script(self, action: str) -> str:
        """Run `.ci/postgres.sh <action>` with the private TMPDIR; return its stdout."""
        done = subprocess.run(  # noqa: S603 (our own script, fixed arguments)
            [BASH, str(POSTGRES_SCRIPT), action],
            env={**os.environ, "TMPDIR": str(self.tmpdir)},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f".ci/postgres.sh {action} failed ({done.returncode}):\n{done.stderr}")
        return done.stdout

    @property
    def base(self) -> Path:
        """Return the directory the script keeps this server's files in."""
        return Path(self.datadir).parent

    def create(self) -> None:
        """Start a fresh server and read where it lives from the script's state file."""
        self.url = self._script("start").strip().splitlines()[-1]
        states = list(self.tmpdir.glob("tasktracker-ci-pg-*/state"))
        assert len(states) == 1, f"expected one state file under {self.tmpdir}: {states}"
        state = dict(
            line.split("=", 1) for line in states[0].read_text().splitlines() if "=" in line
        )
        self.bindir = Path(state["PGBIN"])
        self.datadir = Path(state["PGDATA"])
        self.port = int(state["PORT"])
        assert self.url == state["URL"]
        assert f":{self.port}/" in self.url

    def pg_ctl(self, *args: str) -> None:
        """Run pg_ctl on the data directory, as the server's OS user when we are root."""
        argv = [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), *args]
        if os.geteuid() == 0:
            argv = [RUNUSER, "-u", PG_OS_USER, "--", *argv]
        # cwd: the server's user may not be allowed into ours.
        done = subprocess.run(  # noqa: S603 (pg_ctl of the script's server, fixed arguments)
            argv,
            cwd=self.base,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"pg_ctl {' '.join(args)} failed:\n{done.stdout}{done.stderr}"

    def stop_server(self) -> None:
        """Stop the server (fast shutdown: open connections are cut), keeping its data."""
        self.pg_ctl("stop", "-m", "fast", "-w", "-t", "30")

    def start_server(self) -> None:
        """Start the stopped server again, on the same port with the same data."""
        self.pg_ctl("start", "-w", "-t", "30", "-l", str(self.base / "postgres.log"))

    def accepts_connections(self) -> bool:
        """Tell whether something listens on the server's port."""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(1)
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def destroy(self) -> None:
        """Stop the server and delete its files (the script's `stop`), then the TMPDIR."""
        try:
            self._script("stop")
        finally:
            shutil.rmtree(self.tmpdir, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    """Start a private PostgreSQL server, migrated; destroy it after the module."""
    # Not pytest's tmp_path: the server's OS user must be able to walk into the directory.
    tmpdir = Path(tempfile.mkdtemp(prefix="tasktracker-outage-"))
    tmpdir.chmod(0o755)
    server = Postgres(tmpdir)
    try:
        server.create()
        command.upgrade(alembic_config(server.url), "head")
        yield server
    finally:
        server.destroy()


# ------------------------------------------------------------------------------ gunicorn
@pytest.fixture(scope="module")
def gunicorn(postgres: Postgres) -> Iterator[Gunicorn]:
    """Serve the app on the private database; stop gunicorn after the module."""
    home = Path(tempfile.mkdtemp(prefix="tasktracker-outage-gunicorn-"))
    server = Gunicorn("gunicorn", free_port(), home, REQUEST_TIMEOUT)

    def ready(reply: Reply) -> bool:
        """Tell whether health is 200 and all workers have booted."""
        booted = server.log().count("Booting worker")
        return reply.status == 200 and booted == WORKERS and len(server.workers()) == WORKERS

    try:
        server.start(
            server_environment(
                postgres.url,
                secret=secrets.token_urlsafe(36),  # 48 characters
                workers=WORKERS,
            )
        )
        server.wait_ready(time.monotonic() + STARTUP_TIMEOUT, ready)
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(home, ignore_errors=True)


# ---------------------------------------------------------------------------------- test
@dataclass(frozen=True)
class Owner:
    """A registered, logged-in user and one task of theirs."""

    account: live.Account
    task: dict[str, Any]
    etag: str

    @property
    def email(self) -> str:
        """Return the user's email."""
        return self.account.email

    @property
    def token(self) -> str:
        """Return the user's access token."""
        return self.account.access_token


def open_account(port: int) -> Owner:
    """Register, log in and create a task, over HTTP."""
    account = live.open_account(port, port, prefix="outage", timeout=REQUEST_TIMEOUT)
    created = call(
        port,
        "POST",
        "/tasks",
        token=account.access_token,
        json_body={"title": "Survive the outage"},
    )
    task = assert_status(created, 201)
    etag = created.header("ETag")
    assert etag
    return Owner(account, task, etag)


def assert_clean_log(server: Gunicorn) -> None:
    """Fail on a 500, a traceback, a timed-out worker or a worker booted after start-up."""
    text = server.log()
    live.assert_clean_log(text, server.name, SERVER_ERROR_PATTERNS)
    assert text.count("Booting worker") == WORKERS, "a worker was restarted:\n" + text[-4000:]


def test_outage_answers_503_quickly_and_the_same_processes_recover(
    postgres: Postgres, gunicorn: Gunicorn
):
    port = gunicorn.port
    account = open_account(port)
    master = gunicorn.master_pid
    workers = gunicorn.workers()
    assert len(workers) == WORKERS
    # Enough requests that both workers most likely hold pooled connections, soon dead.
    for _ in range(8):
        assert_status(call(port, "GET", "/tasks", token=account.token), 200)

    # ------------------------------------------------------------------ the outage
    postgres.stop_server()
    assert not postgres.accepts_connections()

    for _ in range(4):  # likely both workers, each with its pool of dead connections
        assert_unavailable(call(port, "GET", "/health"))
        assert_unavailable(call(port, "GET", "/tasks", token=account.token))
    assert_unavailable(call(port, "GET", f"/tasks/{account.task['id']}", token=account.token))
    assert_unavailable(call(port, "GET", "/auth/me", token=account.token))
    # A write and a login are 503 too: never a 401 or a 409 that blames the client.
    assert_unavailable(call(port, "POST", "/tasks", token=account.token, json_body={"title": "X"}))
    assert_unavailable(
        call(port, "POST", "/auth/login", json_body={"email": account.email, "password": PASSWORD})
    )
    # Requests that need no database still work.
    assert_status(call(port, "GET", "/openapi.json"), 200)

    # ------------------------------------------------------------------ the recovery
    postgres.start_server()
    back = time.monotonic()
    last: Reply | None = None
    while time.monotonic() - back < RECOVERY_WITHIN:
        last = call(port, "GET", "/health")
        if last.status == 200:
            break
        assert_unavailable(last)  # until then, still a clean 503
        time.sleep(0.2)
    assert last is not None
    assert last.status == 200, f"not healthy {RECOVERY_WITHIN:.0f} s after the restart"
    assert last.body == {"status": "ok", "database": "ok"}

    # Once healthy, every request succeeds: no worker hands out a dead pooled connection.
    for _ in range(8):
        assert_status(call(port, "GET", "/health"), 200)
        page = assert_status(call(port, "GET", "/tasks", token=account.token), 200)
        # The task survived, and the 503'd POST created nothing.
        assert [task["id"] for task in page["items"]] == [account.task["id"]]
        assert page["total"] == 1
    me = assert_status(call(port, "GET", "/auth/me", token=account.token), 200)
    assert me["email"] == account.email
    fetched = call(port, "GET", f"/tasks/{account.task['id']}", token=account.token)
    assert assert_status(fetched, 200) == account.task
    assert fetched.header("ETag") == account.etag
    created = call(port, "POST", "/tasks", token=account.token, json_body={"title": "After"})
    assert assert_status(created, 201)["title"] == "After"

    # The same processes served throughout: nothing was restarted.
    assert gunicorn.process is not None
    assert gunicorn.process.poll() is None
    assert gunicorn.master_pid == master
    assert gunicorn.workers() == workers
    assert_clean_log(gunicorn)
