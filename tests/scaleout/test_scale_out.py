"""Scale-out: nginx balances two gunicorn instances that share one PostgreSQL and one redis.

Each instance runs as in production (APP_ENV=production, two sync workers, one JWT key,
PROXY_COUNT=1 behind nginx), nginx runs deploy/nginx.conf.template with the second instance in
its upstream.d/, and the test talks to nginx only, over real HTTP.  It shows that nothing a
client relies on lives in one process: tokens, logouts, rate-limit counters and If-Match races
all hold across instances, and the rate limits count each client address as nginx saw it.

Which instance answered is read from the instances' logs (each logs the request id nginx sends
and returns).  A keep-alive connection stays with one nginx worker, whose round-robin hands its
requests to A and B in turn, so consecutive requests on one `Client` alternate instances.

Runs only when TEST_DATABASE_URL names a PostgreSQL database and TEST_REDIS_URL a redis
server (`.ci/postgres.sh start` and `.ci/redis.sh start` print them), with nginx installed
(`.ci/nginx.sh install`); run it on its own, as `uv run pytest tests/scaleout --no-cov -q`
(the servers run in subprocesses: no coverage).
"""

from __future__ import annotations

import functools
import http.client
import itertools
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
# A second client address: Linux routes all of 127.0.0.0/8 to the loopback interface.
OTHER_CLIENT_ADDRESS = "127.0.0.2"
# Nothing in this test should make nginx log an error (a refused or broken upstream, ...).
NGINX_PATTERNS = (re.compile(r"\[(error|crit|alert|emerg)\]"),)


def assert_problem(reply: Reply, status: int, code: str) -> dict[str, Any]:
    """Assert an RFC 9457 problem response with `status` and `code`."""
    body = assert_status(reply, status)
    assert (reply.header("Content-Type") or "").startswith("application/problem+json")
    assert body["status"] == status
    assert body["code"] == code
    if status == 401:
        assert (reply.header("WWW-Authenticate") or "").startswith("Bearer")
    return body


# --------------------------------------------------------- the two instances and nginx
def healthy(reply: Reply) -> bool:
    """Tell whether a GET /health reply says the instance and its database are up."""
    return reply.status == 200 and reply.body == {"status": "ok", "database": "ok"}


@dataclass
class Cluster:
    """Instances A and B of the app, on one database and one redis, behind one nginx."""

    a: live.Gunicorn
    b: live.Gunicorn
    nginx: live.Nginx
    log_offsets: dict[str, int] = field(default_factory=dict)

    @property
    def instances(self) -> tuple[live.Gunicorn, live.Gunicorn]:
        """Return both instances."""
        return (self.a, self.b)

    def served_by(self, reply: Reply) -> live.Gunicorn:
        """Return the one instance that logged the request `reply` answers."""
        serving = [i for i in self.instances if i.served(reply)]
        assert len(serving) == 1, f"served by {[i.name for i in serving]}: {reply.headers}"
        return serving[0]

    def mark_logs(self) -> None:
        """Remember where each log ends now, so a test checks only what it caused."""
        self.log_offsets = {i.name: len(i.log()) for i in self.instances}
        self.log_offsets["nginx"] = len(self.nginx.log())

    def assert_no_server_errors(self) -> None:
        """Fail on any 5xx, traceback, gunicorn or nginx error logged since `mark_logs`."""
        for instance in self.instances:
            assert instance.process is not None
            assert instance.process.poll() is None, f"{instance.name} died"
            new = instance.log()[self.log_offsets.get(instance.name, 0) :]
            live.assert_clean_log(new, instance.name)
        assert self.nginx.process is not None
        assert self.nginx.process.poll() is None, "nginx died"
        new = self.nginx.log()[self.log_offsets.get("nginx", 0) :]
        live.assert_clean_log(new, "nginx", NGINX_PATTERNS)


def instance(name: str, home: Path) -> live.Gunicorn:
    """Return instance `name` (not started yet) on a free port, keeping its files in `home`."""
    return live.Gunicorn(f"instance {name}", free_port(), home, REQUEST_TIMEOUT)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Migrate the database, start A, B and nginx in front, and stop them after the module."""
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
            "PROXY_COUNT": "1",  # nginx appends the client's address to X-Forwarded-For
        },
    )
    a, b = instance("A", logs / "a"), instance("B", logs / "b")
    started = Cluster(a, b, live.Nginx(free_port(), [f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"]))
    try:
        for server in started.instances:
            server.start(env)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        for server in started.instances:
            server.wait_ready(deadline, healthy)
        started.nginx.start()
        started.nginx.wait_ready(deadline)
        yield started
    finally:
        try:
            started.nginx.stop()
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


class Client:
    """One keep-alive connection to nginx: its requests go to A and B in turn."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)

    def __enter__(self) -> Client:
        """Return the client, whose connection closes at the end of the `with` block."""
        return self

    def __exit__(self, *_exc: object) -> None:
        """Close the connection."""
        self.connection.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """Send one request on the connection and read the answer."""
        return live.exchange(
            self.connection, method, path, token=token, json_body=json_body, headers=headers
        )


@pytest.fixture
def client(cluster: Cluster) -> Iterator[Client]:
    """Return a keep-alive client of nginx, closed after the test."""
    with Client(cluster.nginx.port) as opened:
        yield opened


# ------------------------------------------------------------------------------- helpers
call = functools.partial(live.call, timeout=REQUEST_TIMEOUT)


def open_account(client: Client) -> tuple[Account, Reply]:
    """Register a new user and log in through nginx; return the account and the login reply."""
    email = f"scale-{uuid.uuid4().hex}@example.com"
    credentials = {"email": email, "password": PASSWORD}
    registered = assert_status(client.call("POST", "/auth/register", json_body=credentials), 201)
    login = client.call("POST", "/auth/login", json_body=credentials)
    tokens = assert_status(login, 200)
    account = Account(registered["id"], email, tokens["access_token"], tokens["refresh_token"])
    return account, login


def remaining(reply: Reply) -> int:
    """Return `r` of the draft-09 `RateLimit` header."""
    match = re.fullmatch(r'"auth";r=(\d+);t=(\d+)', reply.header("RateLimit") or "")
    assert match, f"bad RateLimit header: {reply.header('RateLimit')!r}"
    return int(match.group(1))


# --------------------------------------------------------------------------------- tests
def test_two_instances_behind_one_nginx(cluster: Cluster, client: Client):
    assert cluster.a.port != cluster.b.port
    assert cluster.a.master_pid != cluster.b.master_pid
    replies = [client.call("GET", "/health") for _ in range(4)]
    for reply in replies:
        assert assert_status(reply, 200) == {"status": "ok", "database": "ok"}
        # Production answers carry the request id and security headers, and no CORS; the
        # Server header is nginx's, without a version, and never gunicorn's.
        assert reply.header("X-Request-ID")
        assert reply.header("X-Content-Type-Options") == "nosniff"
        assert reply.header("Access-Control-Allow-Origin") is None
        assert reply.header("Server") == "nginx"
    served = [cluster.served_by(r) for r in replies]
    assert all(one is not next_one for one, next_one in itertools.pairwise(served)), served

    # A well-formed X-Request-ID of the client's reaches the app and comes back.
    request_id = f"scale-{uuid.uuid4().hex}"
    reply = client.call("GET", "/health", headers={"X-Request-ID": request_id})
    assert reply.header("X-Request-ID") == request_id
    assert cluster.served_by(reply).log().count(request_id) == 1


def test_token_issued_by_one_instance_works_on_the_other(cluster: Cluster, client: Client):
    account, login = open_account(client)
    issuers = set()
    for _ in range(2):  # a login on each instance, each honoured by the other
        issuer = cluster.served_by(login)
        issuers.add(issuer.name)
        # The other instance, then the issuer: after these two, the next login goes elsewhere.
        checks = [client.call("GET", "/auth/me", token=login.body["access_token"]) for _ in "ab"]
        for me in checks:
            assert assert_status(me, 200)["id"] == account.id
            assert me.body["email"] == account.email
        assert cluster.served_by(checks[0]) is not issuer
        login = client.call(
            "POST", "/auth/login", json_body={"email": account.email, "password": PASSWORD}
        )
        assert_status(login, 200)
    assert issuers == {"instance A", "instance B"}


def test_logout_through_one_instance_is_refused_by_the_other_at_once(
    cluster: Cluster, client: Client
):
    account, _ = open_account(client)
    # Both instances accept the token before the logout.
    accepted = [client.call("GET", "/auth/me", token=account.access_token) for _ in range(4)]
    for reply in accepted:
        assert_status(reply, 200)
    assert {cluster.served_by(r).name for r in accepted} == {"instance A", "instance B"}

    logout = client.call("POST", "/auth/logout", token=account.access_token)
    assert_status(logout, 204)

    # No delay: the very next request, on the other instance, is refused, and so is every
    # later one, on either.
    refused = [client.call("GET", "/auth/me", token=account.access_token) for _ in range(4)]
    for reply in refused:
        assert_problem(reply, 401, "token_revoked")
    assert cluster.served_by(refused[0]) is not cluster.served_by(logout)
    assert {cluster.served_by(r).name for r in refused} == {"instance A", "instance B"}
    assert_problem(
        client.call("POST", "/auth/refresh", token=account.refresh_token), 401, "token_revoked"
    )


def test_refresh_rotation_is_shared(cluster: Cluster, client: Client):
    account, _ = open_account(client)

    refresh = client.call("POST", "/auth/refresh", token=account.refresh_token)
    rotated = assert_status(refresh, 200)
    me = client.call("GET", "/auth/me", token=rotated["access_token"])
    assert_status(me, 200)
    assert cluster.served_by(me) is not cluster.served_by(refresh)

    # The spent refresh token replayed on one instance revokes the whole session, on the
    # other too.
    replay = client.call("POST", "/auth/refresh", token=account.refresh_token)
    assert_problem(replay, 401, "token_revoked")
    after = client.call("GET", "/auth/me", token=rotated["access_token"])
    assert_problem(after, 401, "token_revoked")
    assert cluster.served_by(after) is not cluster.served_by(replay)


def test_login_rate_limit_is_shared_and_counts_the_client_address(cluster: Cluster, client: Client):
    account, _ = open_account(client)
    flush_redis()  # the login above must not count: start the window from zero
    credentials = {"email": account.email, "password": PASSWORD}

    logins = [client.call("POST", "/auth/login", json_body=credentials) for _ in range(AUTH_LIMIT)]
    for number, reply in enumerate(logins, start=1):
        assert_status(reply, 200)
        assert reply.header("RateLimit-Policy") == f'"auth";q={AUTH_LIMIT};w=60'
        # One counter: each instance sees the other's requests in what remains.
        assert remaining(reply) == AUTH_LIMIT - number
    assert {cluster.served_by(r).name for r in logins} == {"instance A", "instance B"}

    sixth = client.call("POST", "/auth/login", json_body=credentials)
    assert_problem(sixth, 429, "rate_limited")
    retry_after = sixth.header("Retry-After")
    assert retry_after is not None
    assert retry_after.isdigit()
    assert 1 <= int(retry_after) <= 60
    assert remaining(sixth) == 0

    # Still limited on the other instance, whatever the credentials, and a forged
    # X-Forwarded-For does not help: the app trusts only the address nginx appends.
    seventh = client.call(
        "POST",
        "/auth/login",
        json_body={"email": account.email, "password": "Wrong-Horse-9"},
        headers={"X-Forwarded-For": "203.0.113.7"},
    )
    assert_problem(seventh, 429, "rate_limited")
    assert seventh.header("Retry-After")
    assert cluster.served_by(seventh) is not cluster.served_by(sixth)

    # Another client address has its own counter: the app sees the client, not nginx.
    elsewhere = call(
        cluster.nginx.port,
        "POST",
        "/auth/login",
        json_body=credentials,
        source=OTHER_CLIENT_ADDRESS,
    )
    assert_status(elsewhere, 200)
    assert remaining(elsewhere) == AUTH_LIMIT - 1

    # Register has its own counter, still untouched since the flush.
    other = f"scale-{uuid.uuid4().hex}@example.com"
    assert_status(
        client.call("POST", "/auth/register", json_body={"email": other, "password": PASSWORD}),
        201,
    )


def test_if_match_race_across_instances_has_one_winner(cluster: Cluster, client: Client):
    account, _ = open_account(client)
    created = client.call("POST", "/tasks", token=account.access_token, json_body={"title": "Race"})
    task = assert_status(created, 201)
    etag = created.header("ETag")
    assert etag
    # Both instances compute the same ETag for the same row.
    fetched = client.call("GET", f"/tasks/{task['id']}", token=account.access_token)
    assert_status(fetched, 200)
    assert fetched.header("ETag") == etag
    assert cluster.served_by(fetched) is not cluster.served_by(created)

    # More writers than nginx has workers: one worker takes two of them at least, and a worker
    # hands consecutive requests to A and B in turn, so both instances take part in the race.
    writers = max(8, len(cluster.nginx.workers()) + 1)
    barrier = threading.Barrier(writers)

    def patch(number: int) -> tuple[int, Reply]:
        barrier.wait(timeout=REQUEST_TIMEOUT)
        reply = call(
            cluster.nginx.port,
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
    assert {cluster.served_by(r).name for _, r in results} == {"instance A", "instance B"}
    winner, won = next((n, r) for n, r in results if r.status == 200)
    assert won.body["title"] == f"Writer {winner}"
    for _, reply in results:
        if reply.status == 412:
            assert_problem(reply, 412, "precondition_failed")

    # Both instances now serve the winner's write, with the winner's ETag.  (A new connection:
    # nginx may have closed the first one, idle during the race, after keepalive_timeout.)
    with Client(cluster.nginx.port) as after:
        now = [after.call("GET", f"/tasks/{task['id']}", token=account.access_token) for _ in "ab"]
    assert {cluster.served_by(r).name for r in now} == {"instance A", "instance B"}
    for reply in now:
        assert assert_status(reply, 200)["title"] == f"Writer {winner}"
        assert reply.header("ETag") == won.header("ETag")
        assert reply.header("ETag") != etag
