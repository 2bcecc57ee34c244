"""gunicorn's own error answers are problem+json and echo nothing of the request."""

from __future__ import annotations

import json
import socket

import pytest
from gunicorn import util

from backend import gunicorn_errors


@pytest.mark.parametrize(
    ("status", "reason", "code"),
    [
        (400, "Bad Request", "validation_error"),
        (414, "URI Too Long", "uri_too_long"),
        (431, "Request Header Fields Too Large", "request_header_fields_too_large"),
        (500, "Internal Server Error", "internal_error"),
    ],
)
def test_write_problem_answers_problem_json(status: int, reason: str, code: str) -> None:
    server, client = socket.socketpair()
    with server, client:
        gunicorn_errors.write_problem(server, status, reason, "Invalid header '<script>'")
        server.shutdown(socket.SHUT_WR)
        raw = b"".join(iter(lambda: client.recv(65536), b""))
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} {reason}\r\n".encode())
    assert b"Content-Type: application/problem+json" in head
    assert b"Content-Length: %d" % len(body) in head
    problem = json.loads(body)
    assert problem["status"] == status
    assert problem["code"] == code
    assert b"script" not in raw  # nothing the client sent comes back


def test_install_replaces_gunicorns_html_page() -> None:
    original = util.write_error
    try:
        gunicorn_errors.install()
        assert util.write_error is gunicorn_errors.write_problem
    finally:
        util.write_error = original
