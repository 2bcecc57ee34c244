"""Every setting the code reads is listed in `.env.example` and in the README's table.

The lists come from the code: `backend.config.ENV_VARIABLES` (checked against the names that
`load_config` really reads) and the `os.environ` reads of `gunicorn.conf.py`. A setting added
without its documentation fails here.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from backend.config import ENV_FILE_VARIABLE, ENV_VARIABLES

ROOT = Path(__file__).resolve().parent.parent
NAME = re.compile(r"[A-Z][A-Z0-9_]+")


def tree_of(relative: str) -> ast.Module:
    """Parse one of the project's Python files."""
    return ast.parse((ROOT / relative).read_text())


def names_read_from(tree: ast.Module, mapping: str) -> set[str]:
    """Return the names a module looks up in `mapping` (`env.get("X")`, `f(env, "X")`, `env["X"]`).

    `mapping` is a name (`env`) or a dotted one (`os.environ`).
    """

    def is_mapping(node: ast.AST) -> bool:
        return ast.unparse(node) == mapping

    found: set[str] = set()
    for node in ast.walk(tree):
        candidates: Sequence[ast.AST] = []
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "get" and is_mapping(func.value):
                candidates = node.args[:1]
            elif node.args and is_mapping(node.args[0]):
                candidates = node.args[1:2]  # a helper that takes (env, "NAME", …)
        elif isinstance(node, ast.Subscript) and is_mapping(node.value):
            candidates = [node.slice]
        for candidate in candidates:
            if isinstance(candidate, ast.Constant) and isinstance(candidate.value, str):
                found.add(candidate.value)
    return {name for name in found if NAME.fullmatch(name)}


def gunicorn_variables() -> set[str]:
    """Return the variables gunicorn.conf.py reads from the environment."""
    return names_read_from(tree_of("gunicorn.conf.py"), "os.environ")


def every_setting() -> set[str]:
    """Return every setting an operator can give."""
    return set(ENV_VARIABLES) | gunicorn_variables()


def env_example_names() -> set[str]:
    """Return the names `.env.example` sets or shows commented out (`NAME=` or `# NAME=`)."""
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))


def readme_table_names() -> set[str]:
    """Return the names in the first column of the README's configuration table."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row)}


def test_config_declares_every_variable_it_reads() -> None:
    read = names_read_from(tree_of("backend/config.py"), "env")
    assert read, "no reads found: the parser no longer matches backend/config.py"
    assert read <= set(ENV_VARIABLES), read - set(ENV_VARIABLES)
    assert set(ENV_VARIABLES) <= read, set(ENV_VARIABLES) - read  # none declared but unused


def test_gunicorn_reads_the_variables_it_declares() -> None:
    (declared,) = [
        node.value
        for node in tree_of("gunicorn.conf.py").body
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "ENV_VARIABLES"
    ]
    assert set(ast.literal_eval(declared)) == gunicorn_variables()
    assert {"GUNICORN_BIND", "WEB_CONCURRENCY", "GUNICORN_THREADS"} <= gunicorn_variables()


@pytest.mark.parametrize("name", sorted(every_setting()))
def test_setting_is_in_env_example(name: str) -> None:
    assert name in env_example_names()


@pytest.mark.parametrize("name", sorted(every_setting() | {ENV_FILE_VARIABLE}))
def test_setting_is_in_the_readme_table(name: str) -> None:
    assert name in readme_table_names()


def test_the_lists_name_nothing_the_code_does_not_read() -> None:
    assert env_example_names() <= every_setting()
    assert readme_table_names() <= every_setting() | {ENV_FILE_VARIABLE}
