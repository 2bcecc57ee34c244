"""gunicorn's own error answers (a request it cannot parse) as problem+json, echoing nothing.

gunicorn answers a malformed request itself, before the app sees it, with an HTML page that
repeats what it could not parse (`gunicorn.util.write_error`). It has no setting for that
page, so `gunicorn.conf.py` puts `write_problem` in its place: the same status, the app's
problem shape and codes, a fixed detail. nginx in front refuses most such requests itself;
this covers what it passes on (a header value with a control character, for instance).
"""

from __future__ import annotations

import json
from typing import Any

from gunicorn import util

from backend.errors import CODES_BY_STATUS, title_for

DETAIL = "The request is malformed: it could not be read as HTTP."


def write_problem(sock: Any, status_int: int, reason: str, _mesg: str) -> None:
    """Write gunicorn's error answer as RFC 9457 problem+json; the client's input is not echoed."""
    code = CODES_BY_STATUS.get(status_int, reason.lower().replace(" ", "_"))
    body = (
        json.dumps(
            {
                "type": "about:blank",
                "title": title_for(status_int),
                "status": status_int,
                "detail": DETAIL if status_int < 500 else "An unexpected error occurred.",
                "code": code,
            },
            separators=(",", ":"),
        ).encode()
        + b"\n"
    )
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/problem+json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


def install() -> None:
    """Make gunicorn's workers write `write_problem` instead of their HTML error page."""
    util.write_error = write_problem
