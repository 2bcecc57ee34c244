"""nginx's own answers in the README's setup: problem+json like the app's, never gunicorn's HTML.

What nginx refuses itself (a malformed request, a body over 1 MiB, a line over 4 KiB, a method
the API does not have, too many requests in flight from one address, an unreachable gunicorn)
is an RFC 9457 body shaped like the app's; what gunicorn would refuse with an HTML page of its
own never reaches it; the app's own errors pass through byte for byte; `Server` names no
version.  Same opt-in as test_slow_clients.py.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import time
import uuid
from typing import Any

import pytest

from tests import live
from tests.live import Reply, assert_status
from tests.slowclient.deployment import HEALTHY, Deployment, requires_deployment

pytestmark = requires_deployment

REQUEST_TIMEOUT = 10.0
MIB = 1024 * 1024
PER_ADDRESS = 64  # limit_conn in the template
PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}
HOST = b"Host: 127.0.0.1\r\nConnection: close\r\n"


def send_raw(port: int, request: bytes) -> Reply:
    """Send `request` as given on a fresh connection and read the answer."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        raw = response.read()
        headers = {name.lower(): value for name, value in response.getheaders()}
    body = json.loads(raw) if raw.startswith(b"{") else None
    return Reply(response.status, headers, body, raw, time.monotonic() - started)


def assert_not_gunicorn(reply: Reply) -> None:
    """Assert nothing in the answer is gunicorn's page or names a server version."""
    assert reply.header("Server") == "nginx", reply.headers
    text = (reply.raw + repr(reply.headers).encode()).lower()
    for leak in (b"<html", b"gunicorn", b"werkzeug", b"python"):
        assert leak not in text, f"{leak!r} in {reply.headers} {reply.raw[:300]!r}"


def assert_nginx_problem(reply: Reply, status: int, code: str) -> dict[str, Any]:
    """Assert one of nginx's own problem+json answers, shaped exactly like the app's."""
    body = assert_status(reply, status)
    assert_not_gunicorn(reply)
    assert reply.header("Content-Type") == "application/problem+json"
    assert set(body) == PROBLEM_KEYS, body
    assert body["type"] == "about:blank"
    assert body["status"] == status
    assert body["code"] == code
    assert body["title"]
    assert body["detail"]
    assert re.fullmatch(r"[0-9a-f]{32}", reply.header("X-Request-ID") or "")
    assert reply.header("X-Content-Type-Options") == "nosniff"
    return body


def get(path: str, *extra_headers: bytes, method: bytes = b"GET") -> bytes:
    """Return the bytes of a request for `path` with extra header lines."""
    return (
        method
        + b" "
        + path.encode("latin-1")
        + b" HTTP/1.1\r\n"
        + HOST
        + b"".join(line + b"\r\n" for line in extra_headers)
        + b"\r\n"
    )


HEALTH = "/api/v1/health"
LONG_LINE = "/api/v1/health?" + "a" * (4095 - len("GET /api/v1/health? HTTP/1.1"))

# (request, status, code): what nginx answers itself.
REFUSED_BY_NGINX = {
    "no request line": (b"GARBAGE\r\n\r\n", 400, "validation_error"),
    "header without colon": (get(HEALTH, b"Bad Header"), 400, "validation_error"),
    "HTTP/2.0 in clear text": (b"GET / HTTP/2.0\r\n" + HOST + b"\r\n", 400, "validation_error"),
    "unknown transfer coding": (
        get(HEALTH, b"Transfer-Encoding: gzip", b"Content-Length: 2", method=b"POST"),
        400,
        "validation_error",
    ),
    # gunicorn answers the next four with an HTML page of its own (method, target, line length).
    "two-letter method": (get(HEALTH, method=b"AB"), 405, "method_not_allowed"),
    "26-letter method": (
        get(HEALTH, method=b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
        405,
        "method_not_allowed",
    ),
    "raw byte in the target": (
        get(HEALTH).replace(b"health", b"health\xff"),
        400,
        "validation_error",
    ),
    "request line of 4095 bytes": (get(LONG_LINE), 414, "validation_error"),
    "header line over 4 KiB": (get(HEALTH, b"X-Big: " + b"a" * 5000), 431, "validation_error"),
    "TRACE": (get(HEALTH, method=b"TRACE"), 405, "method_not_allowed"),
}
# Requests gunicorn alone refuses with HTML, which reach the app through nginx.
SERVED_BY_THE_APP = {
    "150 headers": get(HEALTH, *(b"X-Header-%d: x" % n for n in range(150))),
    "X-Forwarded-Ssl contradicting the scheme": get(HEALTH, b"X-Forwarded-Ssl: on"),
    "X-Forwarded-Protocol contradicting the scheme": get(HEALTH, b"X-Forwarded-Protocol: ssl"),
    "request line of 4094 bytes": get(LONG_LINE[:-1]),
}


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"), REFUSED_BY_NGINX.values(), ids=list(REFUSED_BY_NGINX)
)
def test_nginx_refuses_malformed_requests_as_problem_json(
    deployed: Deployment, request_bytes: bytes, status: int, code: str
):
    reply = send_raw(deployed.listen_port, request_bytes)
    assert_nginx_problem(reply, status, code)
    if status == 405:
        assert reply.header("Allow") == "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
    assert not deployed.served(reply)  # not a byte of it reached the app


@pytest.mark.parametrize("request_bytes", SERVED_BY_THE_APP.values(), ids=list(SERVED_BY_THE_APP))
def test_requests_gunicorn_would_refuse_with_html_reach_the_app(
    deployed: Deployment, request_bytes: bytes
):
    reply = send_raw(deployed.listen_port, request_bytes)
    assert_status(reply, 200)
    assert reply.raw.decode() == HEALTHY
    assert_not_gunicorn(reply)
    assert deployed.served(reply)


def test_header_value_with_a_control_character(deployed: Deployment):
    """nginx passes it on; gunicorn's own answer is problem+json too, echoing nothing."""
    reply = send_raw(deployed.listen_port, get(HEALTH, b"X-Test: \x01"))
    assert_not_gunicorn(reply)
    body = assert_status(reply, 400)
    assert reply.header("Content-Type") == "application/problem+json"
    assert body["code"] == "validation_error"
    assert "X-Test" not in reply.raw.decode("latin-1")


def test_body_over_1_mib_is_refused_by_nginx(deployed: Deployment):
    port = deployed.listen_port
    login = "/api/v1/auth/login"
    too_large = b"{" + b" " * MIB + b"}"
    announced = get(
        login, b"Content-Type: application/json", b"Content-Length: %d" % (MIB + 2), method=b"POST"
    )
    body = assert_nginx_problem(send_raw(port, announced), 413, "payload_too_large")
    assert body["title"] == "Content Too Large"
    assert body["detail"] == "The request body is larger than 1 MiB."
    # Sent chunked, without a length: refused all the same once 1 MiB has come.
    chunked = get(
        login, b"Content-Type: application/json", b"Transfer-Encoding: chunked", method=b"POST"
    )
    chunked += b"%x\r\n%s\r\n0\r\n\r\n" % (len(too_large), too_large)
    assert_nginx_problem(send_raw(port, chunked), 413, "payload_too_large")
    # Exactly 1 MiB is the app's to judge (it accepts up to that size too).
    padding = MIB - len(json.dumps({"email": "", "password": ""}).encode())
    exact = json.dumps({"email": "a" * padding, "password": ""}).encode()
    assert len(exact) == MIB
    reply = send_raw(port, announced.replace(b"%d" % (MIB + 2), b"%d" % MIB) + exact)
    assert reply.status != 413
    assert deployed.served(reply)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/no-such-route", None),
        ("DELETE", "/health", None),
        ("POST", "/auth/register", {"email": "not an address"}),
        ("GET", "/auth/me", None),
    ],
)
def test_the_apps_own_errors_pass_through_unchanged(
    deployed: Deployment, method: str, path: str, body: Any
):
    request_id = f"through-{uuid.uuid4().hex}"
    answers = [
        live.call(
            port,
            method,
            path,
            json_body=body,
            headers={"X-Request-ID": request_id},
            timeout=REQUEST_TIMEOUT,
        )
        for port in (deployed.port, deployed.listen_port)
    ]
    direct, proxied = answers
    assert 400 <= proxied.status < 500
    assert proxied.status == direct.status
    assert proxied.raw == direct.raw
    for name in ("Content-Type", "Allow", "WWW-Authenticate", "X-Request-ID"):
        assert proxied.header(name) == direct.header(name), name
    assert proxied.header("Server") == "nginx"


def test_request_ids_are_shared_by_nginx_and_the_app(deployed: Deployment):
    port = deployed.listen_port
    # None sent: nginx makes one, the app adopts it, both log it.
    reply = live.call(port, "GET", "/health", timeout=REQUEST_TIMEOUT)
    request_id = reply.header("X-Request-ID") or ""
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert deployed.served(reply)
    assert f"request_id={request_id}" in deployed.nginx_log("access.log")
    # A well-formed one of the client's is kept; a malformed one is replaced.
    kept = live.call(
        port, "GET", "/health", headers={"X-Request-ID": "client-1.2_3"}, timeout=REQUEST_TIMEOUT
    )
    assert kept.header("X-Request-ID") == "client-1.2_3"
    replaced = live.call(
        port, "GET", "/health", headers={"X-Request-ID": "bad id!"}, timeout=REQUEST_TIMEOUT
    )
    assert re.fullmatch(r"[0-9a-f]{32}", replaced.header("X-Request-ID") or "")


def test_requests_in_flight_are_limited_per_client_address(deployed: Deployment):
    port = deployed.listen_port
    pending = get(
        "/api/v1/auth/login",
        b"Content-Type: application/json",
        b"Content-Length: 2",
        method=b"POST",
    )
    held: list[socket.socket] = []
    try:
        for _ in range(PER_ADDRESS):  # each waits for its body, inside nginx
            sock = socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT)
            held.append(sock)
            sock.sendall(pending)
        # Health answers until nginx has read all their headers, then it is one too many.
        deadline = time.monotonic() + REQUEST_TIMEOUT
        while (refused := send_raw(port, get(HEALTH))).status == 200:
            assert time.monotonic() < deadline, "never limited"
        assert_nginx_problem(refused, 429, "rate_limited")
        assert refused.header("Retry-After") == "10"
        # Another address is not affected.
        other = live.call(port, "GET", "/health", source="127.0.0.2", timeout=REQUEST_TIMEOUT)
        assert other.raw.decode() == HEALTHY
    finally:
        for sock in held:
            sock.close()
    assert live.call(port, "GET", "/health", timeout=REQUEST_TIMEOUT).raw.decode() == HEALTHY


def test_unreachable_gunicorn_is_a_502_problem():
    nginx = live.Nginx(live.free_port(), [f"127.0.0.1:{live.free_port()}"])  # nothing listens
    try:
        nginx.start()
        nginx.wait_ready(time.monotonic() + 30)
        reply = live.call(nginx.port, "GET", "/health", timeout=REQUEST_TIMEOUT)
        body = assert_nginx_problem(reply, 502, "service_unavailable")
        assert body["title"] == "Bad Gateway"
        assert "connect() failed" in nginx.log()  # the reason stays in nginx's log
    finally:
        nginx.stop()
