"""Gunicorn settings for TaskTracker; every value can be overridden from the environment.

Run: uv run gunicorn "backend.app:create_app()"   (gunicorn reads this file from the working
directory). The `.env` file is read first, as the app reads it: a variable set in the real
environment wins. The app's configuration is checked here, once, before any worker starts: a
mistake prints one line and gunicorn exits with status 1 (instead of a traceback per worker).
"""

import multiprocessing
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

from backend.config import ConfigError, env_file, load_config
from backend.gunicorn_errors import install as install_problem_pages

# Every variable this file reads (tests check that .env.example and the README list them).
ENV_VARIABLES = (
    "GUNICORN_BIND",
    "HOST",
    "PORT",
    "WEB_CONCURRENCY",
    "GUNICORN_THREADS",
    "GUNICORN_TIMEOUT",
    "GUNICORN_GRACEFUL_TIMEOUT",
    "GUNICORN_KEEPALIVE",
    "GUNICORN_MAX_REQUESTS",
    "GUNICORN_MAX_REQUESTS_JITTER",
    "GUNICORN_CONTROL_SOCKET",
    "PROMETHEUS_MULTIPROC_DIR",
    "LOG_LEVEL",
)

# gunicorn's own answers to requests it cannot parse are problem+json, not its HTML page.
install_problem_pages()
load_dotenv(env_file(), override=False)
try:
    settings = load_config()
except ConfigError as error:
    sys.exit(error.one_line())

bind = os.environ.get(
    "GUNICORN_BIND", f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
)
# Requests mostly wait on PostgreSQL, so two workers per core keep the cores busy.
workers = int(os.environ.get("WEB_CONCURRENCY", str(multiprocessing.cpu_count() * 2)))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
if (
    settings["APP_ENV"] == "production"
    and settings["RATELIMIT_STORAGE_URI"].startswith("memory://")
    and workers > 1
):
    print(
        f"tasktracker: warning: rate limits are counted per process ({workers} workers, "
        "RATELIMIT_STORAGE_URI=memory://): set it to redis://host:port/n to count them together",
        file=sys.stderr,
    )
worker_class = "gthread" if threads > 1 else "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "0"))
# The app logs one structured line per request itself: no second access log.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Trust X-Forwarded-* only through the app's PROXY_COUNT setting, not gunicorn's.
forwarded_allow_ips = "127.0.0.1"
# gunicorn's control socket defaults to one path per host, which several instances would share
# (and delete for each other): it is off unless GUNICORN_CONTROL_SOCKET names a path.
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]


# ---------------------------------------------------------- Prometheus metrics (GET /metrics)
# Every worker writes its metric values to files in PROMETHEUS_MULTIPROC_DIR and a scrape sums
# them (backend/metrics.py). prometheus_client chooses that file store when it is first
# imported, so the variable is set here, in the master, before any worker imports the app.
# Unless the operator names a directory, each gunicorn master makes its own (two instances on
# one machine never share one), and removes it when it exits.
_METRICS_DIR_MADE_HERE = "TASKTRACKER_METRICS_DIR_MADE"  # what this master (or its reload) made
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.environ[_METRICS_DIR_MADE_HERE] = tempfile.mkdtemp(
        prefix=f"tasktracker-metrics-{os.getpid()}-"
    )


def on_starting(_server: object) -> None:
    """Empty the metrics directory before the first worker starts: old counts must not add up."""
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def child_exit(_server: object, worker: Any) -> None:
    """Drop a dead worker's live gauges (its counts stay: totals never go backwards)."""
    from prometheus_client import multiprocess  # imported after the variable is set

    multiprocess.mark_process_dead(worker.pid)


def on_exit(_server: object) -> None:
    """Remove the metrics directory this master made."""
    made = os.environ.get(_METRICS_DIR_MADE_HERE)
    if made and made == os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        shutil.rmtree(made, ignore_errors=True)
