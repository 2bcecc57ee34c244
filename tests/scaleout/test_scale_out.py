"""Scale-out: two gunicorn instances of the app share one PostgreSQL and one redis.

Each instance runs as in production (APP_ENV=production, two sync workers, one JWT key),
and the test talks to them over real HTTP.  It shows that nothing a client relies on lives
in one process: tokens, logouts, rate-limit counters and If-Match races all hold across
instances.

Runs only when TEST_DATABASE_URL names a PostgreSQL database and TEST_REDIS_URL a redis
server (`.ci/postgres.sh start` and `.ci/redis.sh start` print them); run it on its own, as
`uv run pytest tests/scaleout --no-cov -q` (the servers run in subprocesses: no coverage).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
import redis
from alembic import command

from backend.config import ENV_VARIABLES, PROJECT_ROOT
from backend.migrate import alembic_config

DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
REDIS_URL = os.environ.get("TEST_REDIS_URL", "").strip()

# Every test is collected and reported as skipped (exit 0) without the two servers; a
# module-level pytest.skip would collect nothing, and pytest exits 5 on that.
pytestmark = pytest.mark.skipif(
    not (DATABASE_URL.startswith("postgresql") and REDIS_URL.startswith(("redis://", "rediss://"))),
    reason="scale-out test needs TEST_DATABASE_URL (PostgreSQL) and TEST_REDIS_URL "
    "(redis://...): start them with .ci/postgres.sh start and .ci/redis.sh start",
)

PASSWORD = "Correct-Horse-9"
AUTH_LIMIT = 5
# Four workers import the app at once: ~7 s on two idle cores, 20+ s on a loaded machine.
STARTUP_TIMEOUT = 60.0
REQUEST_TIMEOUT = 15.0
# Lines in a server's log that mean a bug or a crash: a 5xx in the app's JSON request log,
# a traceback, or gunicorn reporting an error (a worker that failed to boot or timed out).
SERVER_ERROR_PATTERNS = (
    re.compile(r'"status": 5\d\d'),
    re.compile(r"Traceback \(most recent call last\)"),
    re.compile(r"\[(ERROR|CRITICAL)\]"),
    re.compile(r"WORKER TIMEOUT"),
)


# ------------------------------------------------------------------ HTTP over a real socket
@dataclass(frozen=True)
class Reply:
    """One HTTP response: status, headers (lower-cased names) and the decoded JSON body."""

    status: int
    headers: dict[str, str]
    body: Any
    raw: bytes = field(repr=False)

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
    headers: dict[str, str] | None = None,
) -> Reply:
    """Send one request to the instance on `port` (a fresh connection) and read the reply."""
    sent = {"Accept": "application/json", "Connection": "close", **(headers or {})}
    data = None
    if json_body is not None:
        data = json.dumps(json_body).encode()
        sent["Content-Type"] = "application/json"
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        connection.request(method, f"/api/v1{path}", body=data, headers=sent)
        response = connection.getresponse()
        raw = response.read()
        received = {name.lower(): value for name, value in response.getheaders()}
    finally:
        connection.close()
    body = json.loads(raw) if raw else None
    return Reply(response.status, received, body, raw)


def assert_status(reply: Reply, status: int) -> Any:
    """Assert the status (showing the body when it differs) and return the body."""
    assert reply.status == status, f"expected {status}, got {reply.status}: {reply.raw[:500]!r}"
    return reply.body


def assert_problem(reply: Reply, status: int, code: str) -> dict[str, Any]:
    """Assert an RFC 9457 problem response with `status` and `code`."""
    body = assert_status(reply, status)
    assert (reply.header("Content-Type") or "").startswith("application/problem+json")
    assert body["status"] == status
    assert body["code"] == code
    if status == 401:
        assert (reply.header("WWW-Authenticate") or "").startswith("Bearer")
    return body


# ---------------------------------------------------------------------- the two instances
def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Instance:
    """One gunicorn master (with its workers) serving the app on `port`."""

    name: str
    port: int
    home: Path  # its log and its gunicorn control socket
    process: subprocess.Popen[bytes] | None = None
    log_file: IO[bytes] | None = None
    terminating: bool = False

    def start(self, env: dict[str, str]) -> None:
        """Launch gunicorn as production would, logging to `home/gunicorn.log`."""
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
                # gunicorn >= 25 opens a control socket at $XDG_RUNTIME_DIR/gunicorn.ctl (else
                # ~/.gunicorn/gunicorn.ctl): one per instance, never one shared path.
                "XDG_RUNTIME_DIR": str(self.home),
            },
            stdin=subprocess.DEVNULL,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the workers go down with it
        )

    @property
    def log_path(self) -> Path:
        """Return the file gunicorn and the app log to."""
        return self.home / "gunicorn.log"

    def log(self) -> str:
        """Return everything the instance has logged so far."""
        return self.log_path.read_text(errors="replace")

    def wait_healthy(self, deadline: float) -> None:
        """Wait until GET /health answers 200, failing early if gunicorn exits."""
        assert self.process is not None
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"instance {self.name} exited with {self.process.returncode} at start-up:\n"
                    f"{self.log()[-4000:]}"
                )
            try:
                reply = call(self.port, "GET", "/health")
            except OSError as error:
                last = repr(error)
            else:
                if reply.status == 200 and reply.body == {"status": "ok", "database": "ok"}:
                    return
                last = f"{reply.status} {reply.raw[:200]!r}"
            time.sleep(0.1)
        pytest.fail(
            f"instance {self.name} not healthy after {STARTUP_TIMEOUT:.0f} s ({last}):\n"
            f"{self.log()[-4000:]}"
        )

    def terminate(self) -> None:
        """Ask gunicorn to shut down gracefully (SIGTERM), once."""
        if self.process is not None and self.process.poll() is None and not self.terminating:
            self.process.terminate()
            self.terminating = True

    def stop(self) -> None:
        """Stop gunicorn: SIGTERM (graceful), then SIGKILL to the whole group."""
        process = self.process
        if process is not None:
            self.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            # Workers left behind by a master that died abruptly.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        if self.log_file is not None:
            self.log_file.close()


@dataclass
class Cluster:
    """Instances A and B of the app, on one database and one redis."""

    a: Instance
    b: Instance
    log_offsets: dict[str, int] = field(default_factory=dict)

    @property
    def instances(self) -> tuple[Instance, Instance]:
        """Return both instances."""
        return (self.a, self.b)

    def mark_logs(self) -> None:
        """Remember where each log ends now, so a test checks only what it caused."""
        self.log_offsets = {i.name: len(i.log()) for i in self.instances}

    def assert_no_server_errors(self) -> None:
        """Fail on any 5xx, traceback or gunicorn error logged since `mark_logs`."""
        for instance in self.instances:
            assert instance.process is not None
            assert instance.process.poll() is None, f"instance {instance.name} died"
            new = instance.log()[self.log_offsets.get(instance.name, 0) :]
            bad = [
                line
                for line in new.splitlines()
                if any(pattern.search(line) for pattern in SERVER_ERROR_PATTERNS)
            ]
            assert not bad, f"instance {instance.name} logged errors:\n" + "\n".join(bad[:20])


def server_environment(secret: str) -> dict[str, str]:
    """Return the production environment both instances share (`.env` values neutralised)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ENV_VARIABLES
        and not key.startswith(("GUNICORN_", "COV_CORE_", "COVERAGE_"))
        and key not in {"WEB_CONCURRENCY", "HOST", "PORT"}
    }
    # An empty value wins over a developer's `.env` and means "the default".
    env.update(dict.fromkeys(ENV_VARIABLES, ""))
    env.update(
        {
            "APP_ENV": "production",
            "JWT_SECRET_KEY": secret,
            "DATABASE_URL": DATABASE_URL,
            "RATELIMIT_STORAGE_URI": REDIS_URL,
            "AUTH_RATE_LIMIT": f"{AUTH_LIMIT} per minute",
            "CORS_ORIGINS": "",
            "WEB_CONCURRENCY": "2",
            "GUNICORN_GRACEFUL_TIMEOUT": "5",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Migrate the database, start instances A and B, and stop them after the module."""
    command.upgrade(alembic_config(DATABASE_URL), "head")
    logs = tmp_path_factory.mktemp("scaleout")
    env = server_environment(secrets.token_urlsafe(36))  # 48 characters, shared by both
    a = Instance("A", free_port(), logs / "a")
    b = Instance("B", free_port(), logs / "b")
    started = Cluster(a, b)
    try:
        for instance in started.instances:
            instance.start(env)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        for instance in started.instances:
            instance.wait_healthy(deadline)
        yield started
    finally:
        for instance in started.instances:
            instance.terminate()  # both shut down at once
        for instance in started.instances:
            instance.stop()


def flush_redis() -> None:
    """Empty the redis database: every rate-limit counter starts from zero."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    finally:
        client.close()


@pytest.fixture(autouse=True)
def fresh_counters(cluster: Cluster) -> Iterator[None]:
    """Empty the redis database (rate-limit counters) and check the logs after the test."""
    flush_redis()
    cluster.mark_logs()
    yield
    cluster.assert_no_server_errors()


# ------------------------------------------------------------------------------- helpers
@dataclass(frozen=True)
class Account:
    """A registered user and the tokens of one login."""

    id: int
    email: str
    access_token: str
    refresh_token: str


def open_account(register_port: int, login_port: int) -> Account:
    """Register a new user through one instance and log in through another."""
    email = f"scale-{uuid.uuid4().hex}@example.com"
    registered = assert_status(
        call(
            register_port,
            "POST",
            "/auth/register",
            json_body={"email": email, "password": PASSWORD},
        ),
        201,
    )
    tokens = assert_status(
        call(login_port, "POST", "/auth/login", json_body={"email": email, "password": PASSWORD}),
        200,
    )
    return Account(registered["id"], email, tokens["access_token"], tokens["refresh_token"])


def remaining(reply: Reply) -> int:
    """Return `r` of the draft-09 `RateLimit` header."""
    match = re.fullmatch(r'"auth";r=(\d+);t=(\d+)', reply.header("RateLimit") or "")
    assert match, f"bad RateLimit header: {reply.header('RateLimit')!r}"
    return int(match.group(1))


# --------------------------------------------------------------------------------- tests
def test_instances_are_distinct_processes_on_one_database(cluster: Cluster):
    assert cluster.a.port != cluster.b.port
    assert cluster.a.process is not None
    assert cluster.b.process is not None
    assert cluster.a.process.pid != cluster.b.process.pid
    for instance in cluster.instances:
        reply = call(instance.port, "GET", "/health")
        assert assert_status(reply, 200) == {"status": "ok", "database": "ok"}
        # Production answers carry the request id and security headers, and no CORS.
        assert reply.header("X-Request-ID")
        assert reply.header("X-Content-Type-Options") == "nosniff"
        assert reply.header("Access-Control-Allow-Origin") is None


def test_token_issued_by_one_instance_works_on_the_other(cluster: Cluster):
    account = open_account(register_port=cluster.a.port, login_port=cluster.a.port)

    me = assert_status(call(cluster.b.port, "GET", "/auth/me", token=account.access_token), 200)
    assert me["id"] == account.id
    assert me["email"] == account.email

    # And back: a login on B is honoured by A.
    tokens = assert_status(
        call(
            cluster.b.port,
            "POST",
            "/auth/login",
            json_body={"email": account.email, "password": PASSWORD},
        ),
        200,
    )
    me = assert_status(call(cluster.a.port, "GET", "/auth/me", token=tokens["access_token"]), 200)
    assert me["id"] == account.id


def test_logout_through_one_instance_is_refused_by_the_other_at_once(cluster: Cluster):
    account = open_account(register_port=cluster.a.port, login_port=cluster.a.port)
    # B (both its workers, most likely) has accepted the token before the logout.
    for _ in range(4):
        assert_status(call(cluster.b.port, "GET", "/auth/me", token=account.access_token), 200)

    assert_status(call(cluster.a.port, "POST", "/auth/logout", token=account.access_token), 204)

    # No delay: the very next request on B is refused, and so is every later one, anywhere.
    for port in (cluster.b.port, cluster.b.port, cluster.b.port, cluster.a.port):
        assert_problem(
            call(port, "GET", "/auth/me", token=account.access_token), 401, "token_revoked"
        )
    assert_problem(
        call(cluster.b.port, "POST", "/auth/refresh", token=account.refresh_token),
        401,
        "token_revoked",
    )


def test_refresh_rotation_is_shared(cluster: Cluster):
    account = open_account(register_port=cluster.a.port, login_port=cluster.a.port)

    rotated = assert_status(
        call(cluster.b.port, "POST", "/auth/refresh", token=account.refresh_token), 200
    )
    assert_status(call(cluster.a.port, "GET", "/auth/me", token=rotated["access_token"]), 200)

    # The spent refresh token replayed on A revokes the whole session, on B too.
    assert_problem(
        call(cluster.a.port, "POST", "/auth/refresh", token=account.refresh_token),
        401,
        "token_revoked",
    )
    assert_problem(
        call(cluster.b.port, "GET", "/auth/me", token=rotated["access_token"]),
        401,
        "token_revoked",
    )


def test_login_rate_limit_is_counted_across_instances(cluster: Cluster):
    account = open_account(register_port=cluster.a.port, login_port=cluster.b.port)
    flush_redis()  # the login above must not count: start the window from zero
    credentials = {"email": account.email, "password": PASSWORD}
    ports = [cluster.a.port, cluster.b.port] * 3  # A B A B A | B: B's 3rd, A has seen 3

    for number, port in enumerate(ports[:AUTH_LIMIT], start=1):
        reply = call(port, "POST", "/auth/login", json_body=credentials)
        assert_status(reply, 200)
        assert reply.header("RateLimit-Policy") == f'"auth";q={AUTH_LIMIT};w=60'
        # One counter: each instance sees the other's requests in what remains.
        assert remaining(reply) == AUTH_LIMIT - number

    sixth = call(ports[AUTH_LIMIT], "POST", "/auth/login", json_body=credentials)
    assert ports[AUTH_LIMIT] == cluster.b.port
    assert_problem(sixth, 429, "rate_limited")
    retry_after = sixth.header("Retry-After")
    assert retry_after is not None
    assert retry_after.isdigit()
    assert 1 <= int(retry_after) <= 60
    assert remaining(sixth) == 0

    # Still limited on the other instance, whatever the credentials.
    seventh = call(
        cluster.a.port,
        "POST",
        "/auth/login",
        json_body={"email": account.email, "password": "Wrong-Horse-9"},
    )
    assert_problem(seventh, 429, "rate_limited")
    assert seventh.header("Retry-After")
    # Register has its own counter, still untouched since the flush.
    other = f"scale-{uuid.uuid4().hex}@example.com"
    assert_status(
        call(
            cluster.b.port,
            "POST",
            "/auth/register",
            json_body={"email": other, "password": PASSWORD},
        ),
        201,
    )


def test_if_match_race_across_instances_has_one_winner(cluster: Cluster):
    account = open_account(register_port=cluster.a.port, login_port=cluster.b.port)
    created = call(
        cluster.a.port, "POST", "/tasks", token=account.access_token, json_body={"title": "Race"}
    )
    task = assert_status(created, 201)
    etag = created.header("ETag")
    assert etag
    # Both instances compute the same ETag for the same row.
    fetched = call(cluster.b.port, "GET", f"/tasks/{task['id']}", token=account.access_token)
    assert_status(fetched, 200)
    assert fetched.header("ETag") == etag

    writers = 8
    barrier = threading.Barrier(writers)

    def patch(number: int) -> tuple[int, Reply]:
        port = (cluster.a.port, cluster.b.port)[number % 2]
        barrier.wait(timeout=REQUEST_TIMEOUT)
        reply = call(
            port,
            "PATCH",
            f"/tasks/{task['id']}",
            token=account.access_token,
            json_body={"title": f"Writer {number}"},
            headers={"If-Match": etag},
        )
        return number, reply

    with ThreadPoolExecutor(max_workers=writers) as pool:
        results = list(pool.map(patch, range(writers)))

    statuses = Counter(reply.status for _, reply in results)
    assert statuses == {200: 1, 412: writers - 1}, {n: r.status for n, r in results}
    winner, won = next((n, r) for n, r in results if r.status == 200)
    assert won.body["title"] == f"Writer {winner}"
    for _, reply in results:
        if reply.status == 412:
            assert_problem(reply, 412, "precondition_failed")

    # Both instances now serve the winner's write, with the winner's ETag.
    for port in (cluster.a.port, cluster.b.port):
        now = call(port, "GET", f"/tasks/{task['id']}", token=account.access_token)
        assert assert_status(now, 200)["title"] == f"Writer {winner}"
        assert now.header("ETag") == won.header("ETag")
        assert now.header("ETag") != etag
