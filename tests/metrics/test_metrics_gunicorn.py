"""GET /metrics under gunicorn: the counts of every worker, summed, from zero at each start.

The app runs as production does (APP_ENV=production, sync workers, here on a SQLite file) and
the test talks to it over real HTTP. It checks that a scrape, whichever worker answers it,
shows the requests of all workers (prometheus_client's multiprocess files), that gunicorn
empties the metrics directory before the first worker starts, that a dead worker's gauges
leave with it while its counts stay, and that each gunicorn master has its own directory.

Runs only when TEST_METRICS=1 (it starts gunicorn three times, ~30 s); run it on its own, as
`TEST_METRICS=1 uv run pytest tests/metrics --no-cov -q` (the servers run in subprocesses).
"""

from __future__ import annotations

import functools
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic import command
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from backend.migrate import alembic_config
from tests import live
from tests.live import Gunicorn, assert_status, free_port, server_environment

# Every test is collected and reported as skipped (exit 0) unless asked for; a module-level
# pytest.skip would collect nothing, and pytest exits 5 on that.
pytestmark = pytest.mark.skipif(
    os.environ.get("TEST_METRICS", "").strip() != "1",
    reason="metrics under gunicorn: set TEST_METRICS=1 (starts gunicorn with several workers)",
)

# Workers import the app at once: ~7 s on two idle cores, 20+ s on a loaded machine.
STARTUP_TIMEOUT = 60.0
REQUEST_TIMEOUT = 15.0
WORKERS = 3
REQUESTS = 60
TOKEN = secrets.token_urlsafe(36)
HEALTH = ("GET", "/api/v1/health", "200")
STALE_COUNT = 1000

call = functools.partial(live.call, timeout=REQUEST_TIMEOUT)


# ------------------------------------------------------------------------------- scraping
def scrape(port: int) -> dict[str, list[Sample]]:
    """GET /metrics with the token; return the samples by metric family name."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        connection.request(
            "GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}", "Connection": "close"}
        )
        response = connection.getresponse()
        text = response.read().decode()
    finally:
        connection.close()
    assert response.status == 200, f"scrape answered {response.status}: {text[:300]}"
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def series(samples: list[Sample], name: str) -> dict[tuple[str, str, str], float]:
    """Return the samples called `name` by (method, route, status)."""
    return {
        (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
        for s in samples
        if s.name == name
    }


def gauge(samples: dict[str, list[Sample]], name: str, pool: str) -> float:
    """Return the value of one pool gauge (0 when no worker has reported it yet)."""
    return sum(s.value for s in samples.get(name, []) if s.labels["pool"] == pool)


def wait_for_scrape(server: Gunicorn, deadline: float) -> None:
    """Poll /metrics (not /health, which would be counted) until it answers."""
    assert server.process is not None
    last = "no answer"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"{server.name} exited at start-up:\n{server.log()[-4000:]}")
        try:
            scrape(server.port)
        except (OSError, AssertionError) as error:
            last = repr(error)
        else:
            return
        time.sleep(0.1)
    pytest.fail(f"{server.name} not ready by the deadline ({last}):\n{server.log()[-4000:]}")


def health_counts_by_worker(directory: Path) -> dict[int, float]:
    """Return each worker's own count of GET /health 200, read from its counter file."""
    counts: dict[int, float] = {}
    for path in directory.glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        for metric in MultiProcessCollector.merge([str(path)]):
            total = series(metric.samples, "tasktracker_http_requests_total").get(HEALTH, 0.0)
            if total:
                counts[pid] = total
    return counts


def hold_worker(port: int) -> socket.socket:
    """Open a connection and send a request without the blank line that ends its headers."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT)
    connection.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    return connection


def release_worker(connection: socket.socket) -> bytes:
    """Finish the held request; return the whole response."""
    try:
        connection.sendall(b"Connection: close\r\n\r\n")
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    finally:
        connection.close()
    return b"".join(chunks)


def write_stale_files(directory: Path) -> list[Path]:
    """Leave the files a crashed earlier run would: a large count and a live gauge."""
    directory.mkdir(parents=True)
    script = (
        "from prometheus_client import Counter, Gauge\n"
        "c = Counter('tasktracker_http_requests', 'stale', ['method', 'route', 'status'])\n"
        f"c.labels(*{HEALTH!r}).inc({STALE_COUNT})\n"
        "g = Gauge('tasktracker_db_pool_size', 'stale', ['pool'], multiprocess_mode='livesum')\n"
        "g.labels(pool='transaction').set(99)\n"
    )
    subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, "-c", script],
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)},
        check=True,
    )
    stale = sorted(directory.glob("*.db"))
    assert len(stale) == 2, stale
    return stale


# ------------------------------------------------------------------------------ the server
@dataclass
class Served:
    """A running gunicorn with several workers, and the metrics directory it was given."""

    server: Gunicorn
    directory: Path
    stale: list[Path]


def migrated_sqlite(home: Path) -> str:
    """Return the URL of a new SQLite file migrated to the newest schema."""
    url = f"sqlite:///{home / 'metrics.db'}"
    command.upgrade(alembic_config(url), "head")
    return url


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Start gunicorn with WORKERS workers on a metrics directory that holds stale files."""
    home = tmp_path_factory.mktemp("metrics")
    directory = home / "multiproc"
    stale = write_stale_files(directory)
    env = server_environment(
        migrated_sqlite(home),
        secret=secrets.token_urlsafe(36),
        workers=WORKERS,
        extra={"METRICS_TOKEN": TOKEN, "PROMETHEUS_MULTIPROC_DIR": str(directory)},
    )
    server = Gunicorn("gunicorn", free_port(), home / "gunicorn", REQUEST_TIMEOUT)
    try:
        server.start(env)
        wait_for_scrape(server, time.monotonic() + STARTUP_TIMEOUT)
        yield Served(server, directory, stale)
    finally:
        server.stop()
    live.assert_clean_log(server.log(), server.name)


# ---------------------------------------------------------------------------------- tests
def test_counts_start_from_zero_and_sum_over_workers(served: Served) -> None:
    """Stale files are gone at start; N requests spread over workers scrape as exactly N."""
    assert not any(path.exists() for path in served.stale)
    before = scrape(served.server.port)
    assert HEALTH not in series(
        before["tasktracker_http_requests"], "tasktracker_http_requests_total"
    )
    assert gauge(before, "tasktracker_db_pool_size", "transaction") < 99  # the stale gauge left

    # A sync worker serves one connection at a time, and one that is quick takes the whole
    # queue: requests whose headers are left unfinished hold all workers but one, so that
    # (at least) WORKERS - 1 other workers serve one request each when they are finished.
    held = [hold_worker(served.server.port) for _ in range(WORKERS - 1)]
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        replies = list(
            pool.map(
                lambda _: call(served.server.port, "GET", "/health"), range(REQUESTS - len(held))
            )
        )
    for reply in replies:
        assert_status(reply, 200)
    for connection in held:
        assert release_worker(connection).startswith(b"HTTP/1.1 200 ")
    by_worker = health_counts_by_worker(served.directory)
    assert sum(by_worker.values()) == REQUESTS
    assert len(by_worker) >= 2, f"all requests went to one worker: {by_worker}"
    assert set(by_worker) <= served.server.workers()

    # Whichever worker answers the scrape, it shows the sum of all of them.
    for _ in range(2 * WORKERS):
        samples = scrape(served.server.port)
        requests = samples["tasktracker_http_requests"]
        assert series(requests, "tasktracker_http_requests_total")[HEALTH] == REQUESTS
        latency = samples["tasktracker_http_request_duration_seconds"]
        count = "tasktracker_http_request_duration_seconds_count"
        assert series(latency, count)[HEALTH] == REQUESTS
        infinite = [
            s
            for s in latency
            if s.name.endswith("_bucket")
            and s.labels["le"] == "+Inf"
            and s.labels["route"] == HEALTH[1]
        ]
        assert [s.value for s in infinite] == [REQUESTS]
        # Pool gauges are summed over the workers that have served; none is in use now.
        size = gauge(samples, "tasktracker_db_pool_size", "transaction")
        assert size >= 5 * len(by_worker)
        assert size % 5 == 0  # SQLite: a QueuePool of 5 in each worker
        assert gauge(samples, "tasktracker_db_pool_checked_out", "transaction") == 0


def test_hidden_without_the_token_under_gunicorn(served: Served) -> None:
    """Without the token, /metrics is the 404 of an unknown path here too."""
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        connection = http.client.HTTPConnection("127.0.0.1", served.server.port, timeout=15)
        try:
            connection.request("GET", "/metrics", headers=headers)
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        assert response.status == 404
        assert response.getheader("Content-Type") == "application/problem+json"
        assert json.loads(body)["code"] == "not_found"


def test_a_dead_workers_gauges_leave_and_its_counts_stay(served: Served) -> None:
    """When a worker exits, gunicorn drops its live gauges; the totals do not go down."""
    before = scrape(served.server.port)
    total = series(before["tasktracker_http_requests"], "tasktracker_http_requests_total")[HEALTH]
    by_worker = health_counts_by_worker(served.directory)
    victim = max(by_worker, key=by_worker.__getitem__)
    gauges = served.directory / f"gauge_livesum_{victim}.db"
    assert gauges.exists()
    os.kill(victim, signal.SIGTERM)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while (
        gauges.exists() or len(served.server.workers()) < WORKERS
    ) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not gauges.exists(), "child_exit did not drop the dead worker's gauges"
    after = scrape(served.server.port)
    assert (
        series(after["tasktracker_http_requests"], "tasktracker_http_requests_total")[HEALTH]
        == total
    )
    assert victim not in served.server.workers()


def test_each_master_has_its_own_directory_removed_at_exit(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Without PROMETHEUS_MULTIPROC_DIR, two instances on one machine count apart."""
    home = tmp_path_factory.mktemp("metrics-default")
    temp = home / "tmp"  # gunicorn.conf.py makes its directory under TMPDIR
    temp.mkdir()
    env = server_environment(
        migrated_sqlite(home),
        secret=secrets.token_urlsafe(36),
        workers=1,
        extra={"METRICS_TOKEN": TOKEN, "TMPDIR": str(temp)},
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    servers = [
        Gunicorn(f"instance {name}", free_port(), home / name, REQUEST_TIMEOUT) for name in "ab"
    ]
    try:
        for server in servers:
            server.start(env)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        for server in servers:
            wait_for_scrape(server, deadline)
        made = sorted(temp.glob("tasktracker-metrics-*"))
        assert [path.name.split("-")[2] for path in made] == sorted(
            str(server.master_pid) for server in servers
        )
        assert_status(call(servers[0].port, "GET", "/health"), 200)
        counts = [
            series(scrape(s.port)["tasktracker_http_requests"], "tasktracker_http_requests_total")
            for s in servers
        ]
        assert counts[0][HEALTH] == 1
        assert HEALTH not in counts[1]
    finally:
        for server in servers:
            server.stop()
    assert list(temp.glob("tasktracker-metrics-*")) == []
    for server in servers:
        live.assert_clean_log(server.log(), server.name)
