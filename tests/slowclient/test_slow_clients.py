"""Slow clients against the README's production setup: nginx in front of gunicorn's sync workers.

A sync worker serves one connection at a time, so two clients that send a request slowly take a
two-worker gunicorn down for everyone (the first test shows it, straight to gunicorn).  Through
nginx, twenty such clients — ten trickling their headers, ten their body, one piece every 5 s
for 30 s — delay nobody: ten ordinary requests made meanwhile each answer in under a second.
nginx cuts the header tricklers after client_header_timeout (they reconnect at once), holds the
body tricklers in its buffers, and passes none of them to gunicorn.

Runs only when TEST_SLOWCLIENT=1, with TEST_DATABASE_URL naming a PostgreSQL database and nginx
installed (`.ci/nginx.sh install`); ~1 minute: `TEST_SLOWCLIENT=1 TEST_DATABASE_URL=... uv run
pytest tests/slowclient --no-cov -q`.
"""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass

import pytest

from tests import live
from tests.live import assert_status
from tests.slowclient.deployment import HEALTHY, WORKERS, Deployment, requires_deployment

pytestmark = requires_deployment

SLOW_CLIENTS = 20  # half trickle their headers, half their body
TRICKLE_EVERY = 5.0  # seconds between two pieces of a slow request
TRICKLE_FOR = 30.0
ORDINARY_REQUESTS = 10
ANSWER_WITHIN = 1.0  # each ordinary request, while the slow clients are at it
REQUEST_TIMEOUT = 10.0
LOGIN_LINE = (
    b"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
)


@dataclass
class SlowClient:
    """A login request sent slowly: its start, then one more piece every TRICKLE_EVERY seconds.

    A header trickler never ends its headers (one more header line each time); a body trickler
    sends complete headers announcing 1 KiB of body, then one byte of it each time.  When the
    server closes the connection, it connects again and starts over.
    """

    port: int
    trickles_body: bool
    sock: socket.socket | None = None
    connections: int = 0
    pieces: int = 0

    def connect(self) -> None:
        """Open a connection and send the start of the request."""
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=REQUEST_TIMEOUT)
        self.connections += 1
        start = LOGIN_LINE + (b"Content-Length: 1024\r\n\r\n{" if self.trickles_body else b"")
        self.sock.sendall(start)

    def trickle(self) -> None:
        """Send one more piece; start over on a new connection if the server closed this one."""
        assert self.sock is not None
        piece = b" " if self.trickles_body else b"X-Slow-%d: x\r\n" % self.pieces
        # The server never answers a request it has not received: readable means closed.
        readable, _, _ = select.select([self.sock], [], [], 0)
        try:
            if readable:
                raise ConnectionResetError
            self.sock.sendall(piece)
        except OSError:
            self.close()
            self.connect()
        else:
            self.pieces += 1

    def close(self) -> None:
        """Close the connection, if open."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def healthy_within(port: int, seconds: float) -> None:
    """Assert that GET /health on `port` answers 200 healthy within `seconds`."""
    reply = live.call(port, "GET", "/health", timeout=REQUEST_TIMEOUT)
    assert reply.raw.decode() == HEALTHY, reply.raw[:300]
    assert assert_status(reply, 200)
    assert reply.seconds < seconds, f"health took {reply.seconds:.2f} s"


def test_without_nginx_two_slow_clients_take_gunicorn_down(deployed: Deployment):
    assert len(deployed.workers()) == WORKERS
    slow = [SlowClient(deployed.port, trickles_body=False) for _ in range(WORKERS)]
    try:
        for client in slow:
            client.connect()
        # Each worker has taken one slow client and waits for the rest of its headers.
        with pytest.raises(TimeoutError):
            live.call(deployed.port, "GET", "/health", timeout=ANSWER_WITHIN)
    finally:
        for client in slow:
            client.close()
    healthy_within(deployed.port, REQUEST_TIMEOUT)  # free again once they have gone


def test_twenty_slow_clients_delay_nobody_through_nginx(deployed: Deployment):
    port = deployed.listen_port
    app_log_start = len(deployed.log())
    access_log_start = len(deployed.nginx_log("access.log"))
    slow = [SlowClient(port, trickles_body=n % 2 == 1) for n in range(SLOW_CLIENTS)]
    timings: list[float] = []
    try:
        started = time.monotonic()
        for client in slow:
            client.connect()
        next_trickle = started + TRICKLE_EVERY
        # The ordinary requests are spread over the window, the first once all are connected.
        spacing = (TRICKLE_FOR - 3.0) / ORDINARY_REQUESTS
        next_request = started + 1.5
        end = started + TRICKLE_FOR
        while (now := time.monotonic()) < end:
            if now >= next_trickle:
                for client in slow:
                    client.trickle()
                next_trickle += TRICKLE_EVERY
            if now >= next_request and len(timings) < ORDINARY_REQUESTS:
                reply = live.call(port, "GET", "/health", timeout=REQUEST_TIMEOUT)
                assert reply.raw.decode() == HEALTHY, reply.raw[:300]
                timings.append(reply.seconds)
                next_request += spacing
            time.sleep(max(0.0, min(next_trickle, next_request, end) - time.monotonic()))
    finally:
        for client in slow:
            client.close()

    assert len(timings) == ORDINARY_REQUESTS
    assert max(timings) < ANSWER_WITHIN, [f"{t:.3f}" for t in timings]
    header_tricklers = [c for c in slow if not c.trickles_body]
    body_tricklers = [c for c in slow if c.trickles_body]
    # nginx cut every header trickler after client_header_timeout (10 s); it came back at once.
    assert all(c.connections >= 2 for c in header_tricklers), [c.connections for c in slow]
    assert deployed.nginx_log("access.log")[access_log_start:].count(" 408 ") >= len(
        header_tricklers
    )
    # A byte every 5 s is within client_body_timeout: the body tricklers held on all along,
    # and sent what they meant to.
    assert all(c.connections == 1 for c in body_tricklers), [c.connections for c in slow]
    assert all(c.pieces >= TRICKLE_FOR // TRICKLE_EVERY - 1 for c in body_tricklers)
    # None of the slow requests reached gunicorn, not even once their clients had gone.
    healthy_within(port, ANSWER_WITHIN)
    assert "/api/v1/auth/login" not in deployed.log()[app_log_start:]
    live.assert_clean_log(deployed.log()[app_log_start:], "gunicorn")
    live.assert_clean_log(deployed.nginx_log(), "nginx", live.NGINX_ERROR_PATTERNS)
