"""The README's production setup, brought up by running its Deploying commands as written.

The Deploying section of README.md holds two ```bash blocks: the first migrates, starts
gunicorn in the background and nginx in front of it, and waits for health through nginx; the
second stops both.  `start` runs the first in bash (cwd: the checkout), with DATABASE_URL,
JWT_SECRET_KEY, the ports and RUN_DIR in the environment the commands read; `stop` runs the
second.  gunicorn stays in the process group of that bash, nginx daemonizes: both are found
again through the pid files the commands write under RUN_DIR.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from backend.config import PROJECT_ROOT
from tests import live

DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
# Every test is collected and reported as skipped (exit 0) unless asked for; a module-level
# pytest.skip would collect nothing, and pytest exits 5 on that.
requires_deployment = pytest.mark.skipif(
    os.environ.get("TEST_SLOWCLIENT", "").strip() != "1"
    or not DATABASE_URL.startswith("postgresql"),
    reason="slow-client test: set TEST_SLOWCLIENT=1 and TEST_DATABASE_URL (PostgreSQL; "
    "its schema is migrated) to run the README's nginx + gunicorn setup (needs nginx)",
)

BASH = shutil.which("bash") or "/bin/bash"
WORKERS = 2  # production settings: sync workers, WEB_CONCURRENCY=2
STARTUP_TIMEOUT = 120.0  # migrations, two workers importing the app, curl's retries
STOP_TIMEOUT = 15.0
HEALTHY = '{"status":"ok","database":"ok"}\n'  # Flask ends JSON bodies with a newline


def deploying_blocks() -> tuple[str, str]:
    """Return the two ```bash blocks of the README's Deploying section: start, then stop."""
    text = (PROJECT_ROOT / "README.md").read_text()
    section = text.split("\n## Deploying\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```bash\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)
    assert len(blocks) == 2, f"the Deploying section should hold 2 bash blocks: {blocks}"
    return blocks[0], blocks[1]


def read_pid(path: Path) -> int:
    """Return the process id in a pid file, or 0 when the file is missing or empty."""
    with contextlib.suppress(FileNotFoundError, ValueError):
        return int(path.read_text().strip())
    return 0


def alive(pid: int) -> bool:
    """Tell whether process `pid` runs (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass
class Deployment:
    """nginx on `listen_port` in front of gunicorn on `port`, as the README starts them."""

    run_dir: Path  # RUN_DIR: nginx's prefix, its logs and both pid files
    port: int
    listen_port: int
    env: dict[str, str]
    output: Path  # what the start block printed, then gunicorn's log (same file)
    shell: subprocess.Popen[bytes] | None = None

    def run(self, block: str, name: str) -> subprocess.Popen[bytes]:
        """Start `block` in bash -e, in the checkout, printing to `output`."""
        with self.output.open("ab") as out:
            out.write(f"\n--- {name}\n".encode())
            out.flush()
            return subprocess.Popen(  # noqa: S603 (bash running the README's own commands)
                [BASH, "-e", "-c", block],
                cwd=PROJECT_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # gunicorn stays in this group: killpg as a last resort
            )

    def log(self) -> str:
        """Return the start block's output and gunicorn's log so far."""
        return self.output.read_text(errors="replace")

    def served(self, reply: live.Reply) -> bool:
        """Tell whether the app logged the request that `reply` answers."""
        return live.request_logged(self.log(), reply)

    def nginx_log(self, name: str = "error.log") -> str:
        """Return one of nginx's logs under RUN_DIR (error.log or access.log)."""
        path = self.run_dir / name
        return path.read_text(errors="replace") if path.exists() else ""

    @property
    def gunicorn_pid(self) -> int:
        """Return gunicorn's master process id (from its --pid file), 0 if none."""
        return read_pid(self.run_dir / "gunicorn.pid")

    @property
    def nginx_pid(self) -> int:
        """Return nginx's master process id (from nginx.pid), 0 if none."""
        return read_pid(self.run_dir / "nginx.pid")

    def workers(self) -> set[int]:
        """Return the process ids of gunicorn's workers."""
        return live.children_of(self.gunicorn_pid)

    def start(self) -> None:
        """Run the start block; fail unless it printed health and all workers booted."""
        self.shell = self.run(deploying_blocks()[0], "start")
        try:
            rc = self.shell.wait(timeout=STARTUP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the README's start commands hung:\n{self.log()[-4000:]}")
        assert rc == 0, f"the README's start commands failed ({rc}):\n{self.log()[-4000:]}"
        assert HEALTHY in self.log(), self.log()[-4000:]
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.log().count("Booting worker") == WORKERS and len(self.workers()) == WORKERS:
                return
            time.sleep(0.1)
        pytest.fail(f"gunicorn's {WORKERS} workers did not boot:\n{self.log()[-4000:]}")

    def stop(self) -> None:
        """Run the stop block, then check that nginx and gunicorn are gone (kill them if not)."""
        left: list[str] = []
        pids = {"gunicorn": self.gunicorn_pid, "nginx": self.nginx_pid}
        try:
            stopping = self.run(deploying_blocks()[1], "stop")
            rc = stopping.wait(timeout=STOP_TIMEOUT)
            assert rc == 0, f"the README's stop commands failed ({rc}):\n{self.log()[-4000:]}"
            deadline = time.monotonic() + STOP_TIMEOUT
            while any(alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            for name, pid in pids.items():
                if pid and alive(pid):
                    left.append(name)
                    os.kill(pid, signal.SIGKILL)
            if self.shell is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.shell.pid, signal.SIGKILL)  # gunicorn's workers, if orphaned
            shutil.rmtree(self.run_dir, ignore_errors=True)
        assert not left, f"still running after the README's stop commands: {left}"


def deployment(database_url: str) -> Deployment:
    """Return the README's setup on `database_url` (not started), in a fresh RUN_DIR."""
    # Not pytest's tmp_path: nginx's workers (nobody, when run as root) must enter RUN_DIR.
    run_dir = Path(tempfile.mkdtemp(prefix="tasktracker-deploy-"))
    run_dir.chmod(0o755)
    port, listen_port = live.free_port(), live.free_port()
    env = live.server_environment(
        database_url,
        secret=secrets.token_urlsafe(36),
        workers=WORKERS,
        extra={"PORT": str(port), "LISTEN_PORT": str(listen_port), "RUN_DIR": str(run_dir)},
    )
    return Deployment(run_dir, port, listen_port, env, run_dir / "shell.log")
