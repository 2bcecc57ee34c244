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

import functools
import os
import re
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from alembic import command

from backend.migrate import alembic_config
from tests import live
from tests.live import PASSWORD, Account, Reply, assert_status, free_port, server_environment

DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
REDIS_URL = os.environ.get("TEST_REDIS_URL", "").strip()

# Every test is collected and reported as skipped (exit 0) without the two servers; a
# module-level pytest.skip would collect nothing, and pytest exits 5 on that.
pytestmark = pytest.mark.skipif(
    not (DATABASE_URL.startswith("postgresql") and REDIS_URL.startswith(("redis://", "rediss://"))),
    reason="scale-out test needs TEST_DATABASE_URL (PostgreSQL) and TEST_REDIS_URL "
    "(redis://...): start them with .ci/postgres.sh start and .ci/redis.sh start",
)

AUTH_LIMIT = 5
# Four workers import the app at once: ~7 s on two idle cores, 20+ s on a loaded machine.
STARTUP_TIMEOUT = 60.0
REQUEST_TIMEOUT = 15.0
WORKERS = 2

call = functools.partial(live.call, timeout=REQUEST_TIMEOUT)


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
def healthy(reply: Reply) -> bool:
    """Tell whether a GET /health reply says the instance and its database are up."""
    return reply.status == 200 and reply.body == {"status": "ok", "database": "ok"}


@dataclass
class Cluster:
    """Instances A and B of the app, on one database and one redis."""

    a: live.Gunicorn
    b: live.Gunicorn
    log_offsets: dict[str, int] = field(default_factory=dict)

    @property
    def instances(self) -> tuple[live.Gunicorn, live.Gunicorn]:
        """Return both instances."""
        return (self.a, self.b)

    def mark_logs(self) -> None:
        """Remember where each log ends now, so a test checks only what it caused."""
        self.log_offsets = {i.name: len(i.log()) for i in self.instances}

    def assert_no_server_errors(self) -> None:
        """Fail on any 5xx, traceback or gunicorn error logged since `mark_logs`."""
        for instance in self.instances:
            assert instance.process is not None
            assert instance.process.poll() is None, f"{instance.name} died"
            new = instance.log()[self.log_offsets.get(instance.name, 0) :]
            live.assert_clean_log(new, instance.name)


def instance(name: str, home: Path) -> live.Gunicorn:
    """Return instance `name` (not started yet) on a free port, keeping its files in `home`."""
    return live.Gunicorn(f"instance {name}", free_port(), home, REQUEST_TIMEOUT)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Migrate the database, start instances A and B, and stop them after the module."""
    command.upgrade(alembic_config(DATABASE_URL), "head")
    logs = tmp_path_factory.mktemp("scaleout")
    env = server_environment(
        DATABASE_URL,
        secret=secrets.token_urlsafe(36),  # 48 characters, shared by both
        workers=WORKERS,
        extra={
            "RATELIMIT_STORAGE_URI": REDIS_URL,
            "AUTH_RATE_LIMIT": f"{AUTH_LIMIT} per minute",
            "CORS_ORIGINS": "",
        },
    )
    started = Cluster(instance("A", logs / "a"), instance("B", logs / "b"))
    try:
        for server in started.instances:
            server.start(env)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        for server in started.instances:
            server.wait_ready(deadline, healthy)
        yield started
    finally:
        for server in started.instances:
            server.terminate()  # both shut down at once
        for server in started.instances:
            server.stop()


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
def open_account(register_port: int, login_port: int) -> Account:
    """Register a new user through one instance and log in through another."""
    return live.open_account(register_port, login_port, prefix="scale", timeout=REQUEST_TIMEOUT)


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
