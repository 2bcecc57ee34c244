"""Live-server plumbing for the tests that run the app under gunicorn and talk real HTTP."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from backend.config import ENV_VARIABLES, PROJECT_ROOT

PASSWORD = "Correct-Horse-9"
# Lines in a server's log that mean a bug or a crash: a 5xx in the app's JSON request log,
# a traceback, or gunicorn reporting an error (a worker that failed to boot or timed out).
SERVER_ERROR_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r'"status": 5\d\d'),
    re.compile(r"Traceback \(most recent call last\)"),
    re.compile(r"\[(ERROR|CRITICAL)\]"),
    re.compile(r"WORKER TIMEOUT"),
)


# ------------------------------------------------------------------ HTTP over a real socket
@dataclass(frozen=True)
class Reply:
    """One HTTP response, with lower-cased header names, its JSON body and how long it took."""

    status: int
    headers: dict[str, str]
    body: Any
    raw: bytes = field(repr=False)
    seconds: float

    def header(self, name: str) -> str | None:
        """Return a header's value, or None."""
        return self.headers.get(name.lower())


def exchange(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    *,
    token: str | None = None,
    json_body: Any = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """Send one request under /api/v1 on `connection` and read the whole answer."""
    sent = {"Accept": "application/json", **(headers or {})}
    data = None
    if json_body is not None:
        data = json.dumps(json_body).encode()
        sent["Content-Type"] = "application/json"
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    started = time.monotonic()
    connection.request(method, f"/api/v1{path}", body=data, headers=sent)
    response = connection.getresponse()
    raw = response.read()
    received = {name.lower(): value for name, value in response.getheaders()}
    seconds = time.monotonic() - started
    body = json.loads(raw) if raw else None
    return Reply(response.status, received, body, raw, seconds)


def call(
    port: int,
    method: str,
    path: str,
    *,
    timeout: float,
    token: str | None = None,
    json_body: Any = None,
    headers: dict[str, str] | None = None,
    source: str | None = None,
) -> Reply:
    """Send one request on a fresh connection (from `source`, if given); raise after `timeout`."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=timeout, source_address=(source, 0) if source else None
    )
    try:
        return exchange(
            connection,
            method,
            path,
            token=token,
            json_body=json_body,
            headers={"Connection": "close", **(headers or {})},
        )
    finally:
        connection.close()


def request_logged(log: str, reply: Reply) -> bool:
    """Tell whether the app's JSON `log` has the line of the request `reply` answers."""
    return f'"request_id": "{reply.header("X-Request-ID")}"' in log


def assert_status(reply: Reply, status: int) -> Any:
    """Assert the status (showing the body when it differs) and return the body."""
    assert reply.status == status, f"expected {status}, got {reply.status}: {reply.raw[:500]!r}"
    return reply.body


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ------------------------------------------------------------------------------ gunicorn
def children_of(pid: int) -> set[int]:
    """Return the ids of the live processes whose parent is `pid` (read from /proc)."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # pid (comm) state ppid ...; comm may hold spaces and parentheses.
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found.add(int(entry.name))
    return found


@dataclass
class Gunicorn:
    """One gunicorn master (with its workers) serving the app on `port`, logging to `home`."""

    name: str  # how failure messages call it
    port: int
    home: Path  # its log and its gunicorn control socket
    request_timeout: float
    process: subprocess.Popen[bytes] | None = None
    log_file: IO[bytes] | None = None
    terminating: bool = False

    def start(self, env: dict[str, str]) -> None:
        """Launch gunicorn as production would, logging to `home/gunicorn.log`."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_file = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "backend.app:create_app()",
                "-c",
                "gunicorn.conf.py",
            ],
            cwd=PROJECT_ROOT,
            env={
                **env,
                "GUNICORN_BIND": f"127.0.0.1:{self.port}",
                # gunicorn >= 25 opens a control socket at $XDG_RUNTIME_DIR/gunicorn.ctl (else
                # ~/.gunicorn/gunicorn.ctl): one per instance, never one shared path.
                "XDG_RUNTIME_DIR": str(self.home),
            },
            stdin=subprocess.DEVNULL,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the workers go down with it
        )

    @property
    def log_path(self) -> Path:
        """Return the file gunicorn and the app log to."""
        return self.home / "gunicorn.log"

    def log(self) -> str:
        """Return everything logged so far."""
        return self.log_path.read_text(errors="replace")

    @property
    def master_pid(self) -> int:
        """Return the master's process id."""
        assert self.process is not None
        return self.process.pid

    def served(self, reply: Reply) -> bool:
        """Tell whether this instance logged the request that `reply` answers."""
        return request_logged(self.log(), reply)

    def workers(self) -> set[int]:
        """Return the process ids of the master's live workers."""
        return children_of(self.master_pid)

    def wait_ready(self, deadline: float, ready: Callable[[Reply], bool]) -> None:
        """Poll GET /health until `ready(reply)`, failing early if gunicorn exits."""
        assert self.process is not None
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"{self.name} exited with {self.process.returncode} at start-up:\n"
                    f"{self.log()[-4000:]}"
                )
            try:
                reply = call(self.port, "GET", "/health", timeout=self.request_timeout)
            except OSError as error:
                last = repr(error)
            else:
                last = f"{reply.status} {reply.raw[:200]!r}"
                if ready(reply):
                    return
            time.sleep(0.1)
        pytest.fail(f"{self.name} not ready by the deadline ({last}):\n{self.log()[-4000:]}")

    def terminate(self) -> None:
        """Ask gunicorn to shut down gracefully (SIGTERM), once."""
        if self.process is not None and self.process.poll() is None and not self.terminating:
            self.process.terminate()
            self.terminating = True

    def stop(self) -> None:
        """Stop gunicorn: SIGTERM (graceful), then SIGKILL to the whole group; close the log."""
        process = self.process
        if process is not None:
            self.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            # Workers left behind by a master that died abruptly.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        if self.log_file is not None:
            self.log_file.close()


# --------------------------------------------------------------------------------- nginx
NGINX_TEMPLATE = PROJECT_ROOT / "deploy" / "nginx.conf.template"
# Lines in nginx's error log that mean it is broken (errors and warnings are what clients cause).
NGINX_ERROR_PATTERNS: tuple[re.Pattern[str], ...] = (re.compile(r"\[(alert|crit|emerg)\]"),)


def installed(program: str) -> str:
    """Return the path of `program` (also looked for in /usr/sbin), or fail the test."""
    found = shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin")
    if found is None:
        pytest.fail(f"{program} is not installed: run `bash .ci/nginx.sh install` (as root)")
    return found


def render_nginx_config(listen_port: int, upstream: str) -> str:
    """Return deploy/nginx.conf.template filled in by envsubst, as the README does it."""
    return subprocess.run(  # noqa: S603 (envsubst with fixed arguments)
        [installed("envsubst"), "${LISTEN_PORT} ${UPSTREAM}"],
        input=NGINX_TEMPLATE.read_text(),
        env={"LISTEN_PORT": str(listen_port), "UPSTREAM": upstream, "PATH": os.defpath},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout


@dataclass
class Nginx:
    """nginx running deploy/nginx.conf.template on `port` in front of `upstreams` (host:port).

    The first upstream is the template's ${UPSTREAM}; the others go to upstream.d/, which the
    template includes in its upstream block.  Its files live in a directory of its own under
    /tmp: started as root, nginx's workers run as nobody, who must be able to walk into it.
    """

    port: int
    upstreams: list[str]
    home: Path | None = None  # made by start()
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Render the configuration and start nginx in the foreground (daemon off)."""
        home = self.home = Path(tempfile.mkdtemp(prefix="tasktracker-nginx-"))
        home.chmod(0o755)
        (home / "nginx.conf").write_text(render_nginx_config(self.port, self.upstreams[0]))
        (home / "upstream.d").mkdir()
        for number, upstream in enumerate(self.upstreams[1:], start=2):
            (home / "upstream.d" / f"{number}.conf").write_text(f"server {upstream};\n")
        with (home / "stderr.log").open("wb") as stderr:
            self.process = subprocess.Popen(  # noqa: S603 (nginx with fixed arguments)
                [installed("nginx"), *self.arguments, "-g", "daemon off;"],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def arguments(self) -> list[str]:
        """Return the `-p DIR/ -c DIR/nginx.conf` arguments of this nginx."""
        assert self.home is not None
        return ["-p", f"{self.home}/", "-c", str(self.home / "nginx.conf")]

    def workers(self) -> set[int]:
        """Return the process ids of nginx's worker processes."""
        assert self.process is not None
        return children_of(self.process.pid)

    def log(self, name: str = "error.log") -> str:
        """Return one of nginx's logs (error.log, access.log or stderr.log), empty if missing."""
        path = self.home / name if self.home is not None else None
        return path.read_text(errors="replace") if path is not None and path.exists() else ""

    def wait_ready(self, deadline: float) -> None:
        """Wait until nginx accepts connections, failing early if it exits."""
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"nginx exited with {self.process.returncode} at start-up:\n"
                    f"{self.log('stderr.log')}{self.log()}"
                )
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.settimeout(1)
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        pytest.fail(f"nginx not listening on {self.port} by the deadline:\n{self.log()}")

    def stop(self) -> None:
        """Stop nginx (graceful SIGQUIT, then SIGKILL to its group) and delete its files."""
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGQUIT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if self.home is not None:  # never started: nothing to delete
            shutil.rmtree(self.home, ignore_errors=True)


def server_environment(
    database_url: str,
    *,
    secret: str,
    workers: int,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Return a production environment in which a developer's `.env` cannot leak."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ENV_VARIABLES
        and not key.startswith(("GUNICORN_", "COV_CORE_", "COVERAGE_"))
        and key not in {"WEB_CONCURRENCY", "HOST", "PORT"}
    }
    # An empty value wins over a developer's `.env` and means "the default".
    env.update(dict.fromkeys(ENV_VARIABLES, ""))
    env.update(
        {
            "APP_ENV": "production",
            "JWT_SECRET_KEY": secret,
            "DATABASE_URL": database_url,
            "WEB_CONCURRENCY": str(workers),
            "GUNICORN_GRACEFUL_TIMEOUT": "5",
            "PYTHONUNBUFFERED": "1",
            **(extra or {}),
        }
    )
    return env


def assert_clean_log(
    text: str, name: str, patterns: tuple[re.Pattern[str], ...] = SERVER_ERROR_PATTERNS
) -> None:
    """Fail if any line of a server's log matches one of `patterns`."""
    bad = [line for line in text.splitlines() if any(p.search(line) for p in patterns)]
    assert not bad, f"{name} logged errors:\n" + "\n".join(bad[:20])


# ------------------------------------------------------------------------------- accounts
@dataclass(frozen=True)
class Account:
    """A registered user and the tokens of one login."""

    id: int
    email: str
    access_token: str
    refresh_token: str


def open_account(register_port: int, login_port: int, *, prefix: str, timeout: float) -> Account:
    """Register a new user through one instance and log in through another (or the same)."""
    email = f"{prefix}-{uuid.uuid4().hex}@example.com"
    credentials = {"email": email, "password": PASSWORD}
    registered = assert_status(
        call(register_port, "POST", "/auth/register", json_body=credentials, timeout=timeout),
        201,
    )
    tokens = assert_status(
        call(login_port, "POST", "/auth/login", json_body=credentials, timeout=timeout), 200
    )
    return Account(registered["id"], email, tokens["access_token"], tokens["refresh_token"])
