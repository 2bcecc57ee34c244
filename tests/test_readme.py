"""Every command in the README's shell blocks is run, as written, by a test or by `.ci/run`.

`RUN_BY` names, for each command, the file that runs it and the text in that file that does;
a command the README gains without an entry here fails, and so does an entry whose evidence
is gone from its file. Extend `RUN_BY` when a section gains a command (and make it run).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHELL_FENCE = re.compile(r"^```(?:bash|sh|shell|console)\s*\n(.*?)^```", re.DOTALL | re.MULTILINE)
COMMENT = re.compile(r"\s+#\s.*$")

# command as the README writes it -> (file that runs it, texts of that file that run it)
RUN_BY: dict[str, tuple[str, tuple[str, ...]]] = {
    "pip install uv": (".ci/run", ("python3 -m pip install --quiet uv",)),
    "uv run flask --app backend.app run": (
        "tests/test_entry_points.py",
        ('FLASK_RUN = "uv run flask --app backend.app run"', "serving(FLASK_RUN,"),
    ),
    "uv run pytest": (".ci/run", ("PYTEST_CMD=(uv run pytest)",)),
    "uv run pytest --cov-fail-under=95": (
        ".ci/run",
        ("FULL_PYTEST_CMD=(uv run pytest --cov-fail-under=95)", 'run_pytest "SQLite"'),
    ),
    'TEST_DATABASE_URL="$(bash .ci/postgres.sh start)" uv run pytest --cov-fail-under=95': (
        ".ci/run",
        (
            'pg_url="$(bash "$ROOT/.ci/postgres.sh" start)"',
            'run_pytest "PostgreSQL" TEST_DATABASE_URL="$pg_url"',
        ),
    ),
    "bash .ci/run": (".ci/run", ("the only thing CI runs (`bash .ci/run`",)),
}
# Commands CI does not run, each with the reason.
NOT_RUN = {
    "bench/run": "the benchmark: 4 minutes with wrk on a quiet machine, its numbers read by people",
}


def readme_commands(text: str) -> list[str]:
    """Return the commands of the shell blocks: comments dropped, continued lines joined."""
    commands: list[str] = []
    for block in SHELL_FENCE.findall(text):
        joined = re.sub(r"\s*\\\n\s*", " ", block)
        for line in joined.splitlines():
            command = COMMENT.sub("", line).strip()
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


README = (ROOT / "README.md").read_text()
COMMANDS = readme_commands(README)
# The Deploying section's blocks are run whole, as written, by the slow-client suite.
DEPLOYING = readme_commands(README.split("\n## Deploying\n", 1)[1].split("\n## ", 1)[0])
DEPLOYING_RUNNER = (
    "tests/slowclient/deployment.py",
    ('section = text.split("\\n## Deploying\\n", 1)', "deploying_blocks()"),
)


def test_the_readme_has_commands() -> None:
    assert "uv run flask --app backend.app run" in COMMANDS
    assert len(COMMANDS) >= 5


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_is_run_by_a_test_or_ci(command: str) -> None:
    if command in NOT_RUN:
        pytest.skip(f"not run in CI: {NOT_RUN[command]}")
    runner = DEPLOYING_RUNNER if command in DEPLOYING else RUN_BY.get(command)
    assert runner, f"nothing runs {command!r}: run it in a test or .ci/run, list it"
    path, evidence = runner
    source = (ROOT / path).read_text()
    for text in evidence:
        assert text in source, f"{path} no longer runs {command!r} ({text!r} is gone)"


def test_every_listed_command_is_still_in_the_readme() -> None:
    assert set(RUN_BY) | set(NOT_RUN) <= set(COMMANDS)


def test_ci_runs_the_deploying_commands() -> None:
    assert DEPLOYING, "the Deploying section lost its commands"
    assert "tests/slowclient" in (ROOT / ".ci/run").read_text()


def test_comments_and_continuations_are_read_as_a_shell_would() -> None:
    text = "```bash\nuv run a   # says a\n# only a comment\nuv run b \\\n  --flag\n```\n"
    assert readme_commands(text) == ["uv run a", "uv run b --flag"]
