"""docs/API_DOCUMENTATION.md cannot drift: every example in it is run against the app.

The examples run in document order, as one scenario, on a fresh app with an empty database and
the default rate limit (`10 per minute`, so that the `RateLimit` headers shown are the real
ones). The format of the examples is described in `tests/docs_examples.py`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from backend.config import ENV_VARIABLES
from tests.conftest import AppFactory
from tests.docs_examples import (
    BASE_URL,
    Example,
    FormatError,
    Outcome,
    Request,
    json_differences,
    parse_curl,
    parse_examples,
    render,
    response_problems,
    run_examples,
    value_matches,
)

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "API_DOCUMENTATION.md"
TEXT = DOCUMENT.read_text(encoding="utf-8")
try:
    EXAMPLES, FORMAT_ERROR = parse_examples(TEXT), ""
except FormatError as error:  # reported by the first test rather than as a collection error
    EXAMPLES, FORMAT_ERROR = [], str(error)
SKIPPED = [example for example in EXAMPLES if example.skip]
ERROR_ROW = re.compile(r"^\| (\d{3}) \| `([a-z_]+)` \|", re.MULTILINE)
CONFIG_ROW = re.compile(r"^\| (`[A-Z0-9_]+`(?:, `[A-Z0-9_]+`)*) \|", re.MULTILINE)


def make_sender(client: FlaskClient):
    """Return a function that sends a documented request through the test client."""

    def send(request: Request) -> tuple[int, list[tuple[str, str]], str]:
        headers = list(request.headers)
        has_type = any(name.lower() == "content-type" for name, _ in headers)
        if request.curl and request.body and not has_type:
            # What curl itself sends with -d and no Content-Type.
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))
        response = client.open(
            request.target,
            method=request.method,
            headers=headers,
            data=request.body.encode(),
            base_url=BASE_URL,
        )
        return response.status_code, list(response.headers.items()), response.get_data(as_text=True)

    return send


def report(outcome: Outcome) -> str:
    """Explain one failed example, with the response the app really gave."""
    problems = "\n".join(f"  - {problem}" for problem in outcome.problems)
    actual = render(outcome.status, outcome.headers, outcome.body) if outcome.status else "(none)"
    return f"{outcome.example.label}\n{problems}\n  the app answered:\n{actual}\n"


@pytest.fixture
def docs_app(make_app: AppFactory) -> Flask:
    """Return an app with the documented defaults the examples rely on."""
    return make_app(AUTH_RATE_LIMIT="10 per minute", CORS_ORIGINS="http://localhost:5173")


def test_the_document_has_examples_of_every_kind():
    assert not FORMAT_ERROR, f"{DOCUMENT.name} breaks the example format: {FORMAT_ERROR}"
    assert len(EXAMPLES) >= 100
    assert any(example.request.curl for example in EXAMPLES)
    assert any(example.captures for example in EXAMPLES)
    assert {example.expected.status for example in EXAMPLES} >= {
        200,
        201,
        204,
        304,
        400,
        401,
        403,
        404,
        405,
        409,
        412,
        429,
    }


def test_every_documented_example_matches_the_app(docs_app: Flask):
    outcomes = list(run_examples(EXAMPLES, make_sender(docs_app.test_client())))
    assert len(outcomes) == len(EXAMPLES) - len(SKIPPED)
    failures = [report(outcome) for outcome in outcomes if outcome.problems]
    assert not failures, (
        f"{len(failures)} example(s) of {DOCUMENT.name} no longer match the API "
        "(later failures may follow from the first):\n\n" + "\n".join(failures)
    )


if SKIPPED:  # each example marked `<!-- skip: reason -->` shows up as a skipped test

    @pytest.mark.parametrize("example", SKIPPED, ids=lambda example: example.label)
    def test_skipped_example(example: Example):
        pytest.skip(example.skip or "skipped")


def test_every_route_has_a_checked_example(docs_app: Flask):
    checked = [
        (example.request.method, example.request.target.split("?")[0])
        for example in EXAMPLES
        if not example.skip
    ]
    missing = []
    for rule in docs_app.url_map.iter_rules():
        path = str(rule)
        if not path.startswith("/api/v1/") or "<path:" in path or path.endswith(".js"):
            continue
        pattern = re.compile(re.sub(r"<id:\w+>", "[0-9]+", re.escape(path)) + "$")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if not any(verb == method and pattern.match(target) for verb, target in checked):
                missing.append(f"{method} {path}")
    assert not missing, f"routes without a checked example in {DOCUMENT.name}: {missing}"


def test_every_error_code_shown_is_in_the_error_table():
    table = {(int(status), code) for status, code in ERROR_ROW.findall(TEXT)}
    assert len(table) >= 20
    shown = set()
    for example in EXAMPLES:
        match = re.search(r'"code": "([a-z_]+)"', example.expected.body)
        if match and example.expected.status >= 400:
            shown.add((example.expected.status, match.group(1)))
    assert shown, "no error example found"
    assert shown <= table, f"error codes missing from the table: {sorted(shown - table)}"


def test_the_configuration_table_lists_every_setting():
    documented = {name.strip("` ") for row in CONFIG_ROW.findall(TEXT) for name in row.split(",")}
    assert set(ENV_VARIABLES) <= documented, sorted(set(ENV_VARIABLES) - documented)


# ---------------------------------------------------------------- the checker can fail


@pytest.mark.parametrize(
    ("documented", "actual", "header", "matches"),
    [
        ("2026-11-25T12:00:00.000000Z", "2031-01-02T03:04:05.678901Z", "", True),
        ("2026-11-25T12:00:00.000000Z", "2026-11-25T12:00:00Z", "", False),
        ('"0123456789abcdef0123456789abcdef"', '"ffffffffffffffffffffffffffffffff"', "ETag", True),
        ('"0123456789abcdef0123456789abcdef"', 'W/"abc"', "ETag", False),
        ("eyJhbGciOi…", "eyJhbGciOiJIUzI1NiJ9.x.y", "", True),
        ("eyJhbGciOi…", "abc", "", False),
        ('"auth";r=7;t=60', '"auth";r=7;t=12', "RateLimit", True),
        ('"auth";r=7;t=60', '"auth";r=6;t=60', "RateLimit", False),
        ("60", "59", "Retry-After", True),
        ("GET, POST", "POST, GET", "Allow", True),
        ("GET, POST", "GET", "Allow", False),
        ("/api/v1/tasks/1", "/api/v1/tasks/2", "Location", False),
    ],
)
def test_value_matching(documented: str, actual: str, header: str, matches: bool):
    assert value_matches(documented, actual, header=header) is matches


@pytest.mark.parametrize(
    ("documented", "actual", "complaint"),
    [
        ({"id": 1}, {"id": 2}, "body.id: expected 1, got 2"),
        ({"id": 1}, {"id": 1, "extra": True}, "undocumented keys ['extra']"),
        ({"id": 1, "…": "…"}, {"name": "x"}, "missing keys ['id']"),
        ({"done": True}, {"done": 1}, "body.done: expected true, got 1"),
        ({"items": [1, 2]}, {"items": [1]}, "expected 2 items, got 1"),
        ({"at": None}, {"at": "2026-11-25T12:00:00.000000Z"}, "expected null"),
    ],
)
def test_json_differences_are_reported(documented: object, actual: object, complaint: str):
    problems = json_differences(documented, actual)
    assert any(complaint in problem for problem in problems), problems


def test_json_with_open_objects_and_shapes_matches():
    documented = {"id": 1, "created_at": "2026-11-25T12:00:00.000000Z", "…": "…"}
    actual = {"id": 1, "created_at": "2030-01-01T00:00:00.000001Z", "title": "x"}
    assert json_differences(documented, actual) == []


def test_a_response_is_compared_on_status_headers_and_body():
    [example] = parse_examples(
        "```http\nGET /api/v1/health\n```\n\n```http\nHTTP/1.1 200 OK\nX-Test: {{value}}\n\n"
        '{"status": "ok"}\n```\n'
    )
    expected = example.expected
    assert (
        response_problems(expected, 200, [("X-Test", "a")], '{"status": "ok"}', {"value": "a"})
        == []
    )
    problems = response_problems(expected, 503, [], '{"status": "down"}', {"value": "a"})
    assert problems == [
        "status: expected 200, got 503",
        "header X-Test: missing",
        'body.status: expected "ok", got "down"',
    ]


@pytest.mark.parametrize(
    ("document", "complaint"),
    [
        ("```http\nGET /api/v1/health\n```\n", "must be followed by its response"),
        ("```http\nHTTP/1.1 200 OK\n```\n", "without a request"),
        ("```http\nGET /x\n```\n\ntext\n\n```http\nHTTP/1.1 200 OK\n```\n", "followed by"),
        ("```http\nFETCH /x\n```\n\n```http\nHTTP/1.1 200 OK\n```\n", "not a request line"),
        ("```http\nGET /x\n```\n\n```http\nHTTP/1.1 200 OK\n```\n<!-- nope: x -->\n", "unknown"),
        ("```http\nGET /x\n```\n\n```http\nHTTP/1.1 200 OK\n```\n<!-- capture: a -->\n", "capture"),
        ("```http\nGET /x\n", "never closed"),
    ],
)
def test_broken_examples_are_refused(document: str, complaint: str):
    with pytest.raises(FormatError, match=complaint):
        parse_examples(document)


def test_curl_commands_are_parsed_like_curl():
    request = parse_curl(
        "curl -i -X PATCH http://localhost:5000/api/v1/tasks/1 \\\n"
        '  -H "Authorization: Bearer $ACCESS" \\\n'
        '  -d \'{"status": "done"}\''
    )
    assert request == Request(
        "PATCH",
        "/api/v1/tasks/1",
        (("Authorization", "Bearer $ACCESS"),),
        '{"status": "done"}',
        curl=True,
    )
    with pytest.raises(FormatError, match="must start with"):
        parse_curl("curl https://example.com/api/v1/tasks")
