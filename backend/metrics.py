"""`GET /metrics`: Prometheus counts and latencies of requests, and the database pools' state.

Answered only when `METRICS_TOKEN` is set and the request carries it as a bearer token;
otherwise `/metrics` is an unknown path like any other (404 problem+json, from the router).

Under gunicorn, every worker writes its values to files in `PROMETHEUS_MULTIPROC_DIR`
(`gunicorn.conf.py` names and empties that directory in the master before any worker starts,
since prometheus_client chooses its value store when it is first imported), and a scrape
answered by any worker sums them all. Without that variable (`flask run`, tests) the values
live in the app's own registry.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from flask import Flask, Response, current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool

from backend.extensions import db

METRICS_PATH = "/metrics"
METRICS_KEY = "tasktracker.metrics"
# Label values come from the route table and from these fixed names, never from what a client
# sent, so the number of series stays bounded whatever the paths and methods of requests.
UNMATCHED_ROUTE = "<unmatched>"
OTHER_METHOD = "<other>"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
REQUEST_LABELS = ("method", "route", "status")


# The pool gauges: name, help text, and how to read the value from a pool.
POOL_GAUGES: tuple[tuple[str, str, Callable[[QueuePool], int]], ...] = (
    ("tasktracker_db_pool_size", "Connections each pool keeps (its pool_size).", QueuePool.size),
    ("tasktracker_db_pool_checked_out", "Connections in use by requests.", QueuePool.checkedout),
    ("tasktracker_db_pool_checked_in", "Open connections idle in the pool.", QueuePool.checkedin),
    (
        "tasktracker_db_pool_overflow",
        "Open connections beyond pool_size (max_overflow caps them).",
        lambda pool: max(0, pool.overflow()),
    ),
)


@dataclass
class PoolGauges:
    """The gauges of one pool (a QueuePool), and the values they were last set to."""

    engine: Engine
    children: list[Gauge]
    last: tuple[int, ...] = ()

    def refresh(self) -> None:
        """Set the gauges from the pool as it is now; write nothing when nothing changed."""
        pool = cast(QueuePool, self.engine.pool)  # read each time: dispose() replaces it
        now = tuple(read(pool) for _name, _text, read in POOL_GAUGES)
        if now != self.last:
            for child, value in zip(self.children, now, strict=True):
                child.set(value)
            self.last = now


@dataclass(frozen=True)
class Metrics:
    """One app's metrics, and the registry that a scrape reads."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    pools: list[PoolGauges]

    def refresh_pools(self) -> None:
        """Set the pool gauges from this process's pools as they are now."""
        for pool in self.pools:
            pool.refresh()


def multiprocess_mode() -> bool:
    """Tell whether prometheus_client keeps its values in files that processes share.

    It does when PROMETHEUS_MULTIPROC_DIR was set as it was imported (its documented switch,
    which gunicorn.conf.py sets); the variable is prometheus_client's, not an app setting.
    """
    return "PROMETHEUS_MULTIPROC_DIR" in os.environ


def build_metrics(app: Flask) -> Metrics:
    """Create the metrics of `app`, and the registry that a scrape of it reads."""
    registry = CollectorRegistry()
    shared = multiprocess_mode()
    if shared:
        # Each worker's values are in the files, which the scrape sums; the metric objects are
        # left out of the registry (that would add the answering worker's values a second time).
        MultiProcessCollector(registry)
    owner = None if shared else registry
    with app.app_context():
        engines = {"transaction": db.engine}
    gauges = [
        # livesum: summed over the live workers; a dead worker's values leave with it.
        Gauge(name, text, ["pool"], registry=owner, multiprocess_mode="livesum")
        for name, text, _read in POOL_GAUGES
    ]
    pools = [
        PoolGauges(engine, [gauge.labels(pool=name) for gauge in gauges])
        for name, engine in engines.items()
        if isinstance(engine.pool, QueuePool)  # NullPool and the like keep no connections
    ]
    return Metrics(
        registry=registry,
        requests=Counter(
            "tasktracker_http_requests",
            "HTTP requests answered, by method, route template and status.",
            REQUEST_LABELS,
            registry=owner,
        ),
        latency=Histogram(
            "tasktracker_http_request_duration_seconds",
            "Seconds from the first request hook to the response, by method, route and status.",
            REQUEST_LABELS,
            registry=owner,
        ),
        pools=pools,
    )


def _metrics() -> Metrics:
    """Return the current app's metrics."""
    return current_app.extensions[METRICS_KEY]


def authorized(token: str) -> bool:
    """Tell whether the request carries `Authorization: Bearer <token>`, in constant time."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        credentials.strip().encode(), token.encode()
    )


def start_clock() -> None:
    """Start the request's clock."""
    g.metrics_started = time.perf_counter()


def answer_scrape() -> Response | None:
    """Answer `GET /metrics` when it carries the token; leave any other request to the router."""
    token = current_app.config["METRICS_TOKEN"]
    if (
        not token
        or request.path != METRICS_PATH
        or request.method not in ("GET", "HEAD")
        or not authorized(token)
    ):
        # Routing goes on, and answers /metrics with the 404 of any unknown path.
        return None
    metrics = _metrics()
    metrics.refresh_pools()
    g.metrics_route = METRICS_PATH
    return Response(generate_latest(metrics.registry), content_type=CONTENT_TYPE_PLAIN_0_0_4)


def record_request(response: Response) -> Response:
    """Count the request and its duration; refresh the pool gauges once the response is sent."""
    metrics = _metrics()
    rule = request.url_rule
    route = g.get("metrics_route") or (rule.rule if rule is not None else UNMATCHED_ROUTE)
    method = request.method if request.method in KNOWN_METHODS else OTHER_METHOD
    labels = (method, route, str(response.status_code))
    metrics.requests.labels(*labels).inc()
    metrics.latency.labels(*labels).observe(time.perf_counter() - g.metrics_started)
    # Only after the response is closed has the request given back its connections (the
    # session goes back in the app context's teardown).
    response.call_on_close(metrics.refresh_pools)
    return response


def init_metrics(app: Flask) -> None:
    """Create the app's metrics and install the hooks that record them and answer `/metrics`."""
    app.extensions[METRICS_KEY] = build_metrics(app)
    # The clock starts before every other hook and stops after every other one (Flask runs
    # after-request hooks in reverse); the scrape is answered after the request id is set.
    app.before_request_funcs.setdefault(None, []).insert(0, start_clock)
    app.after_request_funcs.setdefault(None, []).insert(0, record_request)
    app.before_request(answer_scrape)
