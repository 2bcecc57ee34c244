"""Summarize py-spy samples of a gunicorn worker: where a request's time goes, by part.

`bench/run` with `BENCH_PROFILE=1` records every app worker with `py-spy record --format raw`
(collapsed stacks: `frame;frame;... count` per line) during scenarios a and d, then calls

    python bench/profile_summary.py FILE [FILE ...]

which prints one Markdown table: each part's share of the workers' samples. A sample counts for
the first part, in the order of PARTS, that any of its frames matches. py-spy leaves out samples
of a worker idle in `accept`, but it does sample a worker blocked in a socket read: the waiting
parts come first, so that the others are time spent computing.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

# (part, frames): a frame is "path" (any function in a file whose path contains it) or
# "path:function". A sample counts for the first part, in this order, that any of its frames
# matches: waiting comes first, so the other parts are time spent computing.
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("waiting for PostgreSQL (round trips)", ("psycopg/connection.py:Connection.wait",)),
    ("gunicorn: closing the socket (waiting for the client)", ("gunicorn/util.py:close_graceful",)),
    ("session check (query)", ("backend/auth.py:session_is_revoked",)),
    (
        "JWT: decode and verify the token",
        ("flask_jwt_extended/view_decorators.py:verify_jwt_in_request", "jwt/"),
    ),
    ("task and category services (SQLAlchemy, psycopg)", ("backend/services/",)),
    ("connection checkout and return", ("sqlalchemy/pool/",)),
    ("query and body parsing, validation", ("webargs/", "backend/http.py:read_json_object")),
    ("serialization: dump, JSON", ("flask_smorest/response.py", "marshmallow/", "flask/json/")),
    ("request hooks: request id, log line, headers", ("backend/middleware.py",)),
    ("Flask and werkzeug (routing, request, response)", ("flask/", "werkzeug/")),
    # Last: what is left of a worker's samples is gunicorn's own work.
    ("gunicorn (HTTP parsing, socket I/O)", ("gunicorn",)),
)
FRAME = re.compile(r"(?P<function>.*) \((?P<path>.*?)(?::\d+)?\)$")


def frames_of(stack: str) -> list[tuple[str, str]]:
    """Return a collapsed stack's frames as (path, function) pairs."""
    found = (FRAME.match(frame) for frame in stack.split(";"))
    return [(match["path"], match["function"]) for match in found if match]


def matches(frame: tuple[str, str], needle: str) -> bool:
    """Tell whether `frame` is the one `needle` ("path" or "path:function") names."""
    path, function = frame
    where, _, name = needle.partition(":")
    return where in path and (not name or function == name or function.endswith(f".{name}"))


def part_of(stack: str) -> str | None:
    """Return the part a collapsed stack belongs to (None: not a gunicorn worker's stack)."""
    frames = frames_of(stack)
    for part, needles in PARTS:
        if any(matches(frame, needle) for frame in frames for needle in needles):
            return part
    return None


def summarize(paths: list[Path]) -> Counter[str]:
    """Count the samples of each part in py-spy's raw (collapsed) output files."""
    counts: Counter[str] = Counter()
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            part = part_of(stack)
            if part is not None and count.isdigit():
                counts[part] += int(count)
    return counts


def main(argv: list[str]) -> int:
    """Print the table for the files named in `argv`."""
    counts = summarize([Path(name) for name in argv])
    total = sum(counts.values())
    if not total:
        print("no samples inside a request", file=sys.stderr)
        return 1
    print("| part | share of samples |\n|---|---:|")
    for part, count in counts.most_common():
        print(f"| {part} | {count / total:.1%} |")
    print(f"\n{total:,} samples.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
