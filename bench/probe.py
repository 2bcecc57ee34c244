"""Scenario r, the memory probe: read one page a fixed number of times, over a few connections.

    uv run python bench/probe.py URL TOKEN COUNT CONNECTIONS TIMEOUT DEADLINE RESULT_FILE

GETs URL (on 127.0.0.1 only) COUNT times with `Authorization: Bearer TOKEN`, CONNECTIONS
requests at a time; "{n}" in URL becomes the request's number (1 to COUNT), so that with
`&probe{n}=1` every query string is new. Each request may take TIMEOUT seconds, the whole probe
DEADLINE seconds: then it stops, and reports the requests it made.  Writes RESULT_FILE with the
fields scenario.lua's done() writes, so that bench/report.py reads it like a wrk run, and
prints a summary line.  Exit status 1 only when it could not run at all.

`bench/run` then compares every gunicorn worker's RSS before and after.  Stdlib only, and
deliberately not wrk: wrk runs for a time, this makes an exact number of distinct requests.
"""

from __future__ import annotations

import http.client
import itertools
import json
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit


@dataclass
class Tally:
    """What the probe's connections saw, merged under a lock."""

    latencies_us: list[float] = field(default_factory=list)
    bytes: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    socket_errors: Counter[str] = field(default_factory=Counter)
    first_non2xx: str = ""


def error_kind(error: Exception) -> str:
    """Name a failed request's error as wrk does: connect, read or timeout."""
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, ConnectionRefusedError):
        return "connect"
    return "read"


def run(url: str, token: str, count: int, connections: int, timeout: float, deadline: float):
    """Make the requests; return the tally and the seconds they took."""
    parts = urlsplit(url)
    if parts.hostname != "127.0.0.1" or parts.port is None:
        raise SystemExit(f"probe: only http://127.0.0.1:PORT/... URLs, got {url}")
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = {"Authorization": f"Bearer {token}"}
    numbers = itertools.count(1)
    lock = threading.Lock()
    tally = Tally()
    started = time.perf_counter()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", parts.port, timeout=timeout)
        while time.perf_counter() - started < deadline:
            with lock:
                number = next(numbers)
            if number > count:
                break
            sent = time.perf_counter()
            try:
                connection.request("GET", target.replace("{n}", str(number)), headers=headers)
                response = connection.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                with lock:
                    tally.socket_errors[error_kind(error)] += 1
                continue
            elapsed_us = (time.perf_counter() - sent) * 1e6
            with lock:
                tally.latencies_us.append(elapsed_us)
                tally.bytes += len(body)
                if not 200 <= response.status < 300:
                    tally.statuses[str(response.status)] += 1
                    if not tally.first_non2xx:
                        tally.first_non2xx = (
                            f"{response.status} {body[:500].decode(errors='replace')}"
                        )
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally, time.perf_counter() - started


def percentile(ordered: list[float], share: float) -> float:
    """The value below which `share` percent of the sorted values lie (0 when there are none)."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(len(ordered) * share / 100))]


def results(tally: Tally, seconds: float) -> dict[str, object]:
    """The fields scenario.lua's done() writes."""
    ordered = sorted(tally.latencies_us)
    requests = len(ordered)
    return {
        "duration_us": round(seconds * 1e6),
        "requests": requests,
        "bytes": tally.bytes,
        "rps": round(requests / seconds, 2) if seconds else 0.0,
        "latency_us": {
            "mean": round(sum(ordered) / requests, 1) if requests else 0.0,
            "p50": round(percentile(ordered, 50)),
            "p90": round(percentile(ordered, 90)),
            "p99": round(percentile(ordered, 99)),
            "max": round(ordered[-1]) if ordered else 0,
        },
        "socket_errors": {
            kind: tally.socket_errors[kind] for kind in ("connect", "read", "write", "timeout")
        },
        "wrk_status_errors": 0,
        "non2xx": sum(tally.statuses.values()),
        "non2xx_by_status": dict(tally.statuses),
        "first_non2xx": tally.first_non2xx,
    }


def main(argv: list[str]) -> int:
    """Run the probe and write its results."""
    if len(argv) != 7:
        print(__doc__, file=sys.stderr)
        return 1
    url, token, count, connections, timeout, deadline, result_file = argv
    tally, seconds = run(url, token, int(count), int(connections), float(timeout), float(deadline))
    summary = results(tally, seconds)
    Path(result_file).write_text(json.dumps(summary) + "\n")
    print(
        f"probe: {summary['requests']} of {count} requests in {seconds:.1f} s"
        f" ({summary['rps']} req/s), {summary['bytes']:,} bytes, {summary['non2xx']} non-2xx,"
        f" {sum(tally.socket_errors.values())} socket errors"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
