"""Gunicorn settings for TaskTracker; every value can be overridden from the environment.

Run: uv run gunicorn "backend.app:create_app()"   (gunicorn reads this file from the working
directory). The `.env` file is read first, as the app reads it: a variable set in the real
environment wins. The app's configuration is checked here, once, before any worker starts: a
mistake prints one line and gunicorn exits with status 1 (instead of a traceback per worker).
"""

import multiprocessing
import os
import sys

from dotenv import load_dotenv

from backend.config import ConfigError, env_file, load_config

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
    "LOG_LEVEL",
)

load_dotenv(env_file(), override=False)
try:
    load_config()
except ConfigError as error:
    sys.exit(error.one_line())

bind = os.environ.get(
    "GUNICORN_BIND", f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
)
# Requests mostly wait on PostgreSQL, so two workers per core keep the cores busy.
workers = int(os.environ.get("WEB_CONCURRENCY", str(multiprocessing.cpu_count() * 2)))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
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
