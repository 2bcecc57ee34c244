"""A real browser as the API's client: a single-page app on another origin, through CORS.

A page served from `http://localhost:5173` (the usual dev-server origin) runs `spa.html`'s
JavaScript in headless Chromium, driven by Playwright.  It talks to the API on
`http://127.0.0.1:<port>` — another origin — with `fetch`: register, log in, categories and
tasks with the `Authorization` header, `Idempotency-Key`, paging by the `Link` header,
`If-None-Match`, `If-Match` on PATCH/PUT/DELETE, merge patch, errors (401, 404, 412, a 429
with `Retry-After`, and the 404 of a path no route matches).  Every one of those needs a CORS
preflight the API must allow, and every header the page reads must be exposed.  Pages from
origins not in `CORS_ORIGINS` are refused by the browser itself.

The API runs in a thread (werkzeug) on a SQLite file, configured as in production with
`CORS_ORIGINS=http://localhost:5173`; a recording WSGI wrapper shows what reached it.

Needs Debian's `chromium` (`.ci/browser-deps.sh` installs it): skipped when /usr/bin/chromium
is missing, unless TEST_BROWSER=1, which makes a missing browser a failure.  Port 5173 must be
free.  Run: `TEST_BROWSER=1 uv run pytest tests/browser --no-cov -q`.
"""

from __future__ import annotations

import errno
import os
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import pytest
from alembic import command
from playwright.sync_api import Browser, sync_playwright
from werkzeug.serving import BaseWSGIServer, make_server

from backend.app import create_app
from backend.config import ENV_VARIABLES
from backend.database import dispose_engines
from backend.extensions import limiter
from backend.migrate import alembic_config

CHROMIUM = Path("/usr/bin/chromium")
BROWSER_REQUIRED = os.environ.get("TEST_BROWSER", "").strip() == "1"
# Every test is collected and reported as skipped (exit 0) without a browser; a module-level
# pytest.skip would collect nothing, and pytest exits 5 on that.
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and not BROWSER_REQUIRED,
    reason=f"no browser at {CHROMIUM} (install it with .ci/browser-deps.sh; "
    "TEST_BROWSER=1 makes this a failure)",
)

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",  # we run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGE_PORT = 5173
ALLOWED_ORIGIN = f"http://localhost:{PAGE_PORT}"
# The same page server under its IP address is another origin, and not an allowed one.
SAME_SERVER_OTHER_ORIGIN = f"http://127.0.0.1:{PAGE_PORT}"
PAGE = (Path(__file__).parent / "spa.html").read_bytes()
TIMEOUT_MS = 20_000
PORT_WAIT = 15.0  # seconds to wait for port 5173 to become free
EXPOSED = {
    "etag",
    "link",
    "location",
    "retry-after",
    "x-request-id",
    "idempotent-replayed",
    "ratelimit",
    "ratelimit-policy",
}


# ------------------------------------------------------------------ the API, in a thread
@dataclass
class Seen:
    """One request that reached the API, and the status and headers it got."""

    method: str
    path: str
    origin: str | None
    preflight_method: str | None
    preflight_headers: str | None
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)


class Recorder:
    """WSGI wrapper that records every request and its response's status and headers."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app
        self.seen: list[Seen] = []
        self.lock = threading.Lock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        entry = Seen(
            method=environ["REQUEST_METHOD"],
            path=environ.get("PATH_INFO", ""),
            origin=environ.get("HTTP_ORIGIN"),
            preflight_method=environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD"),
            preflight_headers=environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS"),
        )
        with self.lock:
            self.seen.append(entry)

        def recording_start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            entry.status = int(status.split()[0])
            entry.headers = {name.lower(): value for name, value in headers}
            return start_response(status, headers, exc_info)

        return self.app(environ, recording_start_response)

    def from_origin(self, origin: str) -> list[Seen]:
        """Return the requests that came from `origin`, in order."""
        with self.lock:
            return [entry for entry in self.seen if entry.origin == origin]


@dataclass
class Api:
    """The API served over HTTP on 127.0.0.1."""

    base: str
    recorder: Recorder


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """Serve the app (production settings, SQLite, CORS for localhost:5173) in a thread."""
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'b.db'}"
    command.upgrade(alembic_config(url), "head")
    settings: dict[str, Any] = dict.fromkeys(ENV_VARIABLES, "")  # `.env` cannot leak in
    settings.update(
        {
            "APP_ENV": "production",
            "JWT_SECRET_KEY": secrets.token_urlsafe(36),
            "DATABASE_URL": url,
            "CORS_ORIGINS": ALLOWED_ORIGIN,
        }
    )
    app = create_app(settings)
    recorder = Recorder(app.wsgi_app)
    app.wsgi_app = recorder
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="api", daemon=True)
    thread.start()
    try:
        yield Api(f"http://127.0.0.1:{server.server_port}", recorder)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        dispose_engines(app)


# ---------------------------------------------------------------- the page, on two origins
class PageHandler(BaseHTTPRequestHandler):
    """Serve `spa.html` at `/` (whatever the query), nothing else."""

    def do_GET(self) -> None:
        if urlsplit(self.path).path != "/":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep quiet."""


def serve_page(port: int) -> ThreadingHTTPServer:
    """Serve the page on 127.0.0.1:`port` in a thread; fail clearly if the port stays taken.

    A busy port is retried for a few seconds: another run of this module may be finishing.
    """
    deadline = time.monotonic() + PORT_WAIT
    while True:
        try:
            server = ThreadingHTTPServer(("127.0.0.1", port), PageHandler)
            break
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            if time.monotonic() > deadline:
                pytest.fail(
                    f"port {port} on 127.0.0.1 is taken (a dev server?): the browser test serves "
                    f"its page from {ALLOWED_ORIGIN}, the origin CORS_ORIGINS allows; stop "
                    "whatever listens there and run again"
                )
            time.sleep(0.5)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name=f"page-{port}", daemon=True).start()
    return server


@dataclass
class Pages:
    """The page's allowed origin and two disallowed ones."""

    allowed: str
    disallowed: dict[str, str]


@pytest.fixture(scope="module")
def pages() -> Iterator[Pages]:
    """Serve the page on 127.0.0.1:5173 (as localhost:5173 and 127.0.0.1:5173) and elsewhere."""
    servers = [serve_page(PAGE_PORT)]
    try:
        servers.append(serve_page(0))
        other = f"http://127.0.0.1:{servers[1].server_port}"
        yield Pages(
            ALLOWED_ORIGIN,
            {"same-server-by-ip": SAME_SERVER_OTHER_ORIGIN, "other-port": other},
        )
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


# -------------------------------------------------------------------------- the browser
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Launch headless Chromium through Playwright once for the module."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"TEST_BROWSER=1 but there is no browser at {CHROMIUM}: run .ci/browser-deps.sh"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def run_page(browser: Browser, origin: str, api: Api, mode: str) -> dict[str, Any]:
    """Open the page from `origin` in a fresh context and return its `window.__results`."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(f"{origin}/?{urlencode({'api': api.base, 'mode': mode})}")
        page.wait_for_function("() => window.__results !== undefined")
        results = page.evaluate("() => window.__results")
    finally:
        context.close()
    assert results["origin"] == origin
    assert results["ok"], f"the page failed: {results.get('error')}"
    return results["steps"]


@pytest.fixture(autouse=True)
def fresh_state(api: Api) -> None:
    """Forget the requests and the rate-limit counts of earlier tests."""
    with api.recorder.lock:
        api.recorder.seen.clear()
    limiter.reset()


# --------------------------------------------------------------------------------- tests
def assert_reply(step: dict[str, Any], status: int) -> Any:
    """Assert what the page saw: the status, and a request id it could read."""
    assert step["status"] == status, step
    assert step["headers"]["x-request-id"], step
    return step["body"]


def assert_problem(step: dict[str, Any], status: int, code: str) -> None:
    """Assert a problem+json error the page could read in full."""
    body = assert_reply(step, status)
    assert step["headers"]["content-type"].startswith("application/problem+json")
    assert body["status"] == status
    assert body["code"] == code


def test_spa_on_an_allowed_origin_uses_the_whole_api(browser: Browser, pages: Pages, api: Api):
    started = time.monotonic()
    steps = run_page(browser, pages.allowed, api, "spa")

    user = assert_reply(steps["register"], 201)
    assert user["name"] == "Browser"
    tokens = assert_reply(steps["login"], 200)
    assert tokens["token_type"] == "Bearer"
    # Rate-limit headers are exposed to the page (both auth routes are limited).
    for step in (steps["register"], steps["login"]):
        assert step["headers"]["ratelimit-policy"] == '"auth";q=10;w=60'
        assert step["headers"]["ratelimit"].startswith('"auth";r=')
    assert assert_reply(steps["me"], 200)["id"] == user["id"]

    category = assert_reply(steps["category"], 201)
    assert steps["category"]["headers"]["location"].endswith(f"/api/v1/categories/{category['id']}")
    assert steps["category"]["headers"]["etag"]
    for step in steps["created"]:
        task = assert_reply(step, 201)
        assert task["category_id"] == category["id"]
        assert step["headers"]["location"].endswith(f"/api/v1/tasks/{task['id']}")
        assert step["headers"]["etag"].startswith('"')

    # Idempotency-Key passes the preflight; the replay is visible to the page.
    keyed = assert_reply(steps["keyed"], 201)
    assert steps["keyed"]["headers"]["idempotent-replayed"] is None
    assert assert_reply(steps["replayed"], 201) == keyed
    assert steps["replayed"]["headers"]["idempotent-replayed"] == "true"
    assert steps["replayed"]["headers"]["location"] == steps["keyed"]["headers"]["location"]
    assert steps["replayed"]["headers"]["etag"] == steps["keyed"]["headers"]["etag"]

    # Paging through the Link header: the page read it and followed `next`.
    first = assert_reply(steps["firstPage"], 200)
    assert [task["title"] for task in first["items"]] == ["Alpha", "Bravo"]
    assert first["total"] == 3
    links = steps["firstLinks"]
    assert set(links) == {"first", "last", "next"}
    assert links["next"].startswith(f"{api.base}/api/v1/tasks?")
    assert f"category_id={category['id']}" in links["next"]
    second = assert_reply(steps["secondPage"], 200)
    assert [task["title"] for task in second["items"]] == ["Charlie"]
    assert second["offset"] == 2

    # Conditional requests: If-None-Match, then If-Match on PATCH, PUT and DELETE.
    etag = steps["fetched"]["headers"]["etag"]
    assert assert_reply(steps["fetched"], 200)["title"] == "Alpha"
    assert steps["notModified"]["status"] == 304
    assert steps["notModified"]["body"] is None
    patched = assert_reply(steps["patched"], 200)
    assert patched["status"] == "done"
    assert patched["completed_at"]
    assert steps["patched"]["headers"]["etag"] not in (None, etag)
    assert_problem(steps["stale"], 412, "precondition_failed")
    merged = assert_reply(steps["mergePatched"], 200)
    assert merged["description"] == "Merged"
    assert merged["due_date"] is None
    replaced = assert_reply(steps["replaced"], 200)
    assert replaced["title"] == "Alpha 2"
    assert replaced["status"] == "todo"  # PUT: omitted fields return to their defaults
    assert steps["deleted"]["status"] == 204
    assert steps["deleted"]["headers"]["x-request-id"]
    assert_problem(steps["gone"], 404, "not_found")

    # Errors reach the page too (they carry CORS headers); WWW-Authenticate is not exposed.
    assert_problem(steps["noToken"], 401, "token_missing")
    assert steps["logout"]["status"] == 204
    assert_problem(steps["revoked"], 401, "token_revoked")

    # The browser enforced CORS: the page saw exactly the exposed headers and the safelisted
    # ones, never X-Content-Type-Options or Referrer-Policy, which every response carries.
    for step in (steps["category"], steps["firstPage"], steps["replayed"], steps["login"]):
        assert step["headers"]["x-content-type-options"] is None
        assert step["headers"]["referrer-policy"] is None
        assert step["headers"]["www-authenticate"] is None
        visible = set(step["visible"])
        assert visible - {"cache-control", "content-length", "content-type"} <= EXPOSED, visible
    assert time.monotonic() - started < 30


def test_api_answers_the_preflights_the_spa_needs(browser: Browser, pages: Pages, api: Api):
    run_page(browser, pages.allowed, api, "spa")
    seen = api.recorder.from_origin(ALLOWED_ORIGIN)
    preflights = [entry for entry in seen if entry.method == "OPTIONS"]
    assert preflights, "the browser sent no preflight"
    for entry in preflights:
        assert entry.status in (200, 204), entry
        assert entry.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
        assert entry.preflight_method is not None
        assert entry.preflight_method in entry.headers["access-control-allow-methods"]
        allowed = {
            h.strip().lower() for h in entry.headers["access-control-allow-headers"].split(",")
        }
        asked = {h.strip().lower() for h in (entry.preflight_headers or "").split(",") if h.strip()}
        assert asked <= allowed, entry
        assert "access-control-allow-credentials" not in entry.headers

    def preflight(method: str, header: str) -> bool:
        return any(
            entry.preflight_method == method and header in (entry.preflight_headers or "")
            for entry in preflights
        )

    # Each kind of request the SPA made needed (and got) its preflight.
    assert preflight("POST", "content-type")  # JSON register / login
    assert preflight("GET", "authorization")
    assert preflight("POST", "idempotency-key")
    assert preflight("GET", "if-none-match")
    assert preflight("PATCH", "if-match")
    assert preflight("PUT", "if-match")
    assert preflight("DELETE", "if-match")

    # Every actual response to the page named its origin and exposed the headers.
    actual = [entry for entry in seen if entry.method != "OPTIONS"]
    assert len(actual) >= 20
    for entry in actual:
        assert entry.headers.get("access-control-allow-origin") == ALLOWED_ORIGIN, entry
        exposed = {
            h.strip().lower() for h in entry.headers["access-control-expose-headers"].split(",")
        }
        assert exposed == EXPOSED, entry


@pytest.mark.parametrize("which", ["same-server-by-ip", "other-port"])
def test_page_on_a_disallowed_origin_is_refused_by_the_browser(
    browser: Browser, pages: Pages, api: Api, which: str
):
    origin = pages.disallowed[which]
    steps = run_page(browser, origin, api, "blocked")

    # The page's fetches fail as network errors: it reads nothing of the answers.
    for name in ("simple", "preflighted"):
        assert steps[name]["blocked"], steps[name]
        assert steps[name]["name"] == "TypeError", steps[name]

    seen = api.recorder.from_origin(origin)
    # The simple GET reached the API, whose answer named no origin: the browser withheld it.
    health = [entry for entry in seen if entry.path == "/api/v1/health"]
    assert [entry.method for entry in health] == ["GET"]
    assert health[0].status == 200
    # The preflight of the JSON POST was refused, so the POST itself was never sent.
    register = [entry for entry in seen if entry.path == "/api/v1/auth/register"]
    assert [entry.method for entry in register] == ["OPTIONS"]
    for entry in seen:
        assert not any(name.startswith("access-control-") for name in entry.headers), entry


def test_rate_limited_answer_is_readable_with_retry_after(browser: Browser, pages: Pages, api: Api):
    replies = run_page(browser, pages.allowed, api, "limited")["replies"]

    # The default limit (10 a minute): ten refused bodies, then the 429, all read by the page.
    assert [reply["status"] for reply in replies] == [400] * 10 + [429]
    for number, reply in enumerate(replies[:-1], start=1):
        assert_problem(reply, 400, "validation_error")
        assert reply["headers"]["ratelimit"].startswith(f'"auth";r={10 - number};t=')
    limited = replies[-1]
    assert_problem(limited, 429, "rate_limited")
    retry_after = limited["headers"]["retry-after"]
    assert retry_after is not None
    assert retry_after.isdigit()
    assert 1 <= int(retry_after) <= 60
    assert limited["headers"]["ratelimit-policy"] == '"auth";q=10;w=60'
    assert limited["headers"]["ratelimit"].startswith('"auth";r=0;t=')


def test_spa_reads_404_for_a_path_no_route_matches(browser: Browser, pages: Pages, api: Api):
    # The contract's 404 for a non-integer or out-of-range id, or no route at all, must reach
    # a browser client as a readable problem, like every other 4xx: the preflight those
    # requests need (they carry Authorization) has to succeed even where no route matches.
    steps = run_page(browser, pages.allowed, api, "unrouted")
    failures = {name: step["error"] for name, step in steps.items() if step.get("blocked")}
    assert not failures, f"the browser saw network errors instead of 404s: {failures}"
    for step in steps.values():
        assert_problem(step, 404, "not_found")
    for entry in api.recorder.from_origin(ALLOWED_ORIGIN):
        if entry.method == "OPTIONS":
            assert 200 <= entry.status < 300, f"preflight of {entry.path} answered {entry.status}"
