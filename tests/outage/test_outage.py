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

import contextlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
from alembic import command

from backend.config import ENV_VARIABLES, PROJECT_ROOT
from backend.migrate import alembic_config

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
PASSWORD = "Correct-Horse-9"
WORKERS = 2
STARTUP_TIMEOUT = 60.0  # two workers importing the app on a busy machine
REQUEST_TIMEOUT = 10.0  # no request may hang: a client gives up after this
OUTAGE_ANSWER_WITHIN = 5.0  # a request during the outage is answered (503) this fast
RECOVERY_WITHIN = 10.0  # health is 200 again this soon after the database is back
SERVER_ERROR_PATTERNS = (
    re.compile(r'"status": 500'),
    re.compile(r"Traceback \(most recent call last\)"),
    re.compile(r"\[CRITICAL\]"),
    re.compile(r"WORKER TIMEOUT"),
)


# ------------------------------------------------------------------ HTTP over a real socket
@dataclass(frozen=True)
class Reply:
    """One HTTP response, with lower-cased header names, its JSON body and how long it took."""

    status: int
    headers: dict[str, str]
    body: Any
    raw: bytes = field(repr=False)
    seconds: float

    def header(self, name: str) -> str | None:
        """Return a header's value, or None."""
        return self.headers.get(name.lower())


def call(
    port: int,
    method: str,
    path: str,
    *,
    token: str | None = None,
    json_body: Any = None,
) -> Reply:
    """Send one request on a fresh connection; raise if no answer comes within 10 s."""
    sent = {"Accept": "application/json", "Connection": "close"}
    data = None
    if json_body is not None:
        data = json.dumps(json_body).encode()
        sent["Content-Type"] = "application/json"
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        connection.request(method, f"/api/v1{path}", body=data, headers=sent)
        response = connection.getresponse()
        raw = response.read()
        received = {name.lower(): value for name, value in response.getheaders()}
    finally:
        connection.close()
    seconds = time.monotonic() - started
    body = json.loads(raw) if raw else None
    return Reply(response.status, received, body, raw, seconds)


def assert_status(reply: Reply, status: int) -> Any:
    """Assert the status (showing the body when it differs) and return the body."""
    assert reply.status == status, f"expected {status}, got {reply.status}: {reply.raw[:500]!r}"
    return reply.body


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


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
def children_of(pid: int) -> set[int]:
    """Return the ids of the live processes whose parent is `pid` (read from /proc)."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # pid (comm) state ppid ...; comm may hold spaces and parentheses.
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found.add(int(entry.name))
    return found


@dataclass
class Gunicorn:
    """The app served by gunicorn as in production, logging to `home/gunicorn.log`."""

    home: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    log_file: IO[bytes] | None = None

    def start(self, env: dict[str, str]) -> None:
        """Launch the gunicorn master, in its own process group."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_file = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "backend.app:create_app()",
                "-c",
                "gunicorn.conf.py",
            ],
            cwd=PROJECT_ROOT,
            env={
                **env,
                "GUNICORN_BIND": f"127.0.0.1:{self.port}",
                "XDG_RUNTIME_DIR": str(self.home),
            },
            stdin=subprocess.DEVNULL,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def log_path(self) -> Path:
        """Return the file gunicorn and the app log to."""
        return self.home / "gunicorn.log"

    def log(self) -> str:
        """Return everything logged so far."""
        return self.log_path.read_text(errors="replace")

    @property
    def master_pid(self) -> int:
        """Return the master's process id."""
        assert self.process is not None
        return self.process.pid

    def workers(self) -> set[int]:
        """Return the process ids of the master's live workers."""
        return children_of(self.master_pid)

    def wait_ready(self) -> None:
        """Wait for health 200 and all workers booted, failing early if gunicorn exits."""
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"gunicorn exited with {self.process.returncode}:\n{self.log()[-4000:]}"
                )
            try:
                reply = call(self.port, "GET", "/health")
            except OSError as error:
                last = repr(error)
            else:
                last = f"{reply.status} {reply.raw[:200]!r}"
                booted = self.log().count("Booting worker")
                if reply.status == 200 and booted == WORKERS and len(self.workers()) == WORKERS:
                    return
            time.sleep(0.1)
        pytest.fail(f"gunicorn not ready after {STARTUP_TIMEOUT:.0f} s ({last}):\n{self.log()}")

    def stop(self) -> None:
        """SIGTERM the master, then SIGKILL the whole group; close the log."""
        process = self.process
        if process is not None:
            if process.poll() is None:
                process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # workers a dead master left behind
        if self.log_file is not None:
            self.log_file.close()


def server_environment(database_url: str) -> dict[str, str]:
    """Return a production environment in which a developer's `.env` cannot leak."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ENV_VARIABLES
        and not key.startswith(("GUNICORN_", "COV_CORE_", "COVERAGE_"))
        and key not in {"WEB_CONCURRENCY", "HOST", "PORT"}
    }
    env.update(dict.fromkeys(ENV_VARIABLES, ""))  # empty wins over `.env`: the default
    env.update(
        {
            "APP_ENV": "production",
            "JWT_SECRET_KEY": secrets.token_urlsafe(36),  # 48 characters
            "DATABASE_URL": database_url,
            "WEB_CONCURRENCY": str(WORKERS),
            "GUNICORN_GRACEFUL_TIMEOUT": "5",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@pytest.fixture(scope="module")
def gunicorn(postgres: Postgres) -> Iterator[Gunicorn]:
    """Serve the app on the private database; stop gunicorn after the module."""
    home = Path(tempfile.mkdtemp(prefix="tasktracker-outage-gunicorn-"))
    server = Gunicorn(home, free_port())
    try:
        server.start(server_environment(postgres.url))
        server.wait_ready()
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(home, ignore_errors=True)


# ---------------------------------------------------------------------------------- test
@dataclass(frozen=True)
class Account:
    """A registered, logged-in user and one task of theirs."""

    email: str
    token: str
    task: dict[str, Any]
    etag: str


def open_account(port: int) -> Account:
    """Register, log in and create a task, over HTTP."""
    email = f"outage-{uuid.uuid4().hex}@example.com"
    credentials = {"email": email, "password": PASSWORD}
    assert_status(call(port, "POST", "/auth/register", json_body=credentials), 201)
    token = assert_status(call(port, "POST", "/auth/login", json_body=credentials), 200)[
        "access_token"
    ]
    created = call(port, "POST", "/tasks", token=token, json_body={"title": "Survive the outage"})
    task = assert_status(created, 201)
    etag = created.header("ETag")
    assert etag
    return Account(email, token, task, etag)


def assert_clean_log(server: Gunicorn) -> None:
    """Fail on a 500, a traceback, a timed-out worker or a worker booted after start-up."""
    text = server.log()
    bad = [
        line
        for line in text.splitlines()
        if any(pattern.search(line) for pattern in SERVER_ERROR_PATTERNS)
    ]
    assert not bad, "gunicorn logged errors:\n" + "\n".join(bad[:20])
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
