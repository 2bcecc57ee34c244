"""Property tests (GitHub issue 7, point 1): no input makes a 5xx.

Hypothesis drives every route of `app.url_map` with hostile bodies, query strings, path ids
and headers, and checks that the answer is below 500 and, when it is an error, an RFC 9457
problem whose `status` is the HTTP status. A last property checks that valid task bodies
round-trip. Examples are derandomized, so CI is reproducible; explore more locally with
`FUZZ_EXAMPLES=2000 FUZZ_RANDOM=1 uv run pytest tests/test_fuzz.py --no-cov` (`FUZZ_EXAMPLES`
scales every property; `FUZZ_RANDOM=1` draws new examples on each run).

Examples share one database per test (nothing is reset between them): later examples meet the
rows earlier ones created, as a long-running server would.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from backend.mail import wait_for_outbox
from tests.conftest import AppFactory, AuthActions, User, assert_problem

API = "/api/v1"
INT32_MAX = 2**31 - 1
JSON = "application/json"
PROBLEM_JSON = "application/problem+json"
PROBLEM_KEYS = ("type", "title", "status", "detail", "code")
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
PLACEHOLDER = re.compile(r"<(?:(\w+):)?(\w+)>")
# Routes that end the session of the token they are sent with: they act for a throwaway user
# with a fresh login per example, so the main user's token stays valid for the whole test.
SESSION_ENDING = {
    ("POST", f"{API}/auth/logout"),
    ("POST", f"{API}/auth/logout-all"),
    ("DELETE", f"{API}/auth/sessions/<id:session_id>"),
}


def examples(default: int) -> int:
    """Return how many examples a property runs: `FUZZ_EXAMPLES` scales every property."""
    return int(os.environ.get("FUZZ_EXAMPLES") or default)


def fuzz(default: int) -> settings:
    """Return reproducible Hypothesis settings for a property over function-scoped fixtures."""
    return settings(
        max_examples=examples(default),
        deadline=None,
        derandomize=os.environ.get("FUZZ_RANDOM") != "1",
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


# ------------------------------------------------------------------------------ strategies

# Every plane, with control characters, NUL and lone surrogates (no category is excluded).
ANY_CHAR = st.characters(exclude_categories=())
DATE_STRINGS = [
    "2026-12-01",
    "2026-02-30",
    "2026-13-01",
    "0000-01-01",
    "0001-01-01",
    "9999-12-31",
    "10000-01-01",
    "20261201",
    "2026-W48-3",
    " 2026-12-01 ",
]
TIME_STRINGS = [
    "2026-12-01T12:00:00Z",
    "2026-12-01t12:00:00z",
    "2026-12-01 12:00:00Z",
    "2026-12-01T12:00:00",
    "2026-12-01T12:00:00.123456789+05:30",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+00:01",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-00:01",
    "2026-12-01T24:00:00Z",
    "2026-12-01T12:00:60Z",
    "2026-12-01T12:00:00+99:99",
]
TRICKY_STRINGS = [
    "",
    " ",
    "\t\n\r ",
    "null",
    "none",
    "None",
    "true",
    "todo",
    "in_progress",
    "done",
    "DONE",
    "low",
    "medium",
    "high",
    "-created_at",
    "title,-title",
    *DATE_STRINGS,
    *TIME_STRINGS,
    "#1E90FF",
    "#GGGGGG",
    "#1e90ff ",
    "ada@example.com",
    "ADA@EXAMPLE.COM",
    "a@b",
    "@",
    "İ@example.com",
    "Other-Horse-10",  # valid for the policy; never the user's (DELETE /auth/me)
    "' OR 1=1 --",
    '"; DROP TABLE tasks; --',
    "%' --",
    "%",
    "_",
    "\\",
    "\\%",
    "NaN",
    "Infinity",
    "-0",
    "1e308",
    "0x10",
    "١٢٣",
    "\uff11\uff12",  # fullwidth digits
    "5_0",
    "9" * 30,
    "9" * 5000,
    "-1",
    "0",
    "2147483647",
    "2147483648",
    "\x00",
    "a\x00b",
    "\ud800",
    "\udfff",
    "a\ud800b",
    "\ud83d\ude00",
    "\U0001f600",
    "\U0010ffff",
    "\uffff",
    "\ufeff",
    "\u202e",
    "\u0085",
    "\u2028",
    "\u3000x\u3000",
    "ß" * 50,
    "ﬃ" * 50,
    "ΐ" * 50,
]
LENGTHS = [49, 50, 51, 100, 101, 128, 129, 199, 200, 201, 254, 255, 256, 10_000, 10_001, 100_000]
long_text = st.builds(
    lambda unit, count: unit * count,
    st.sampled_from(["a", "é", "\U0001f600", " ", "\x00", "\ud800", "İ", "ß", "%"]),
    st.sampled_from(LENGTHS),
)
padded_text = st.builds(
    lambda pad, core: pad + core + pad,
    st.sampled_from([" ", "\t", "\n", "\u3000", "\u00a0", "\x85", "\x1f", "\x0b"]),
    st.text(max_size=12),
)
wild_text = st.one_of(
    st.text(ANY_CHAR, max_size=40),
    st.sampled_from(TRICKY_STRINGS),
    long_text,
    padded_text,
)
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**200),
    st.integers(min_value=-(2**200), max_value=-(2**63) + 2),
    st.sampled_from([0, -1, 1, 2, 3, INT32_MAX, INT32_MAX + 1, 2**63, -(2**63) - 1, 10**30]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e308, -1e308, 5e-324, 1.0, 0.5, -0.0, 2.0**63, 1e16]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, wild_text)
FIELD_NAMES = [
    "title",
    "description",
    "status",
    "priority",
    "due_date",
    "category_id",
    "name",
    "color",
    "email",
    "password",
    "current_password",
    "new_password",
    "ids",
    "changes",
    "id",
    "user_id",
    "created_at",
    "updated_at",
    "completed_at",
    "task_count",
    "password_hash",
    "version",
    "name_key",
    "__proto__",
    "",
]
keys = st.one_of(st.sampled_from(FIELD_NAMES), wild_text)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)
    ),
    max_leaves=12,
)
json_objects = st.dictionaries(keys, json_values, max_size=6)


def nested(depth: int, kind: str) -> bytes:
    """Return JSON nested `depth` levels deep (built as text: `json.dumps` would recurse)."""
    if kind == "list":
        return b"[" * depth + b"]" * depth
    if kind == "object":
        return b'{"title":' * depth + b"1" + b"}" * depth
    return b'{"title": "t", "description": ' + b"[" * depth + b"]" * depth + b"}"


RAW_BODIES = [
    b"",
    b"{",
    b"}",
    b"null",
    b"[]",
    b'"title"',
    b"{'title': 'x'}",
    b'{"title": NaN}',
    b'{"title": "x", "title": 1}',
    b'{"category_id": Infinity}',
    b'{"title": "x"} trailing',
    b'{"title": 1' + b"0" * 5000 + b"}",
    b'{"ids": [1' + b"0" * 5000 + b"], " + b'"changes": {}}',
    b'{"title": "\\ud800\\udc00\\udc00"}',
    b'{"title": "\xff\xfe"}',
    b"\xef\xbb\xbf" + b'{"title": "bom"}',
    '{"title": "x"}'.encode("utf-16"),
    b'{"title": "a\x00b"}',
    b'{"title": "\\u0000"}',
]
raw_bodies = st.one_of(
    st.binary(max_size=64),
    st.sampled_from(RAW_BODIES),
    st.builds(nested, st.integers(1, 3000), st.sampled_from(["list", "object", "field"])),
)


def encode(value: Any) -> bytes:
    """Serialize as the server will read it: lone surrogates stay `\\udXXX` escapes."""
    return json.dumps(value, ensure_ascii=True).encode()


bodies = st.one_of(json_values.map(encode), json_objects.map(encode), raw_bodies)
OTHER_CONTENT_TYPES = [
    None,
    "",
    "application/json; charset=utf-8",
    "application/json; charset=latin-1",
    "application/JSON",
    "application/merge-patch+json",
    "application/problem+json",
    "application/json-patch+json",
    "text/plain",
    "text/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/json; boundary=\x7f",
    ";;;",
]
content_types = st.one_of(st.just(JSON), st.just(JSON), st.sampled_from(OTHER_CONTENT_TYPES))

# Values of the right shape often enough to reach the services and the database.
small_ids = st.one_of(st.integers(-2, 12), st.sampled_from([INT32_MAX, INT32_MAX + 1, 2**64]))
dates = st.dates().map(date.isoformat)
wide = st.one_of(wild_text, dates, numbers, st.none(), json_values)
wide_id = st.one_of(small_ids, wide)
TASK_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "description": st.one_of(st.text(ANY_CHAR, max_size=300), wide),
    "status": st.one_of(st.sampled_from(["todo", "in_progress", "done", " done "]), wide),
    "priority": st.one_of(st.sampled_from(["low", "medium", "high"]), wide),
    "due_date": st.one_of(dates, wide),
    "category_id": wide_id,
}
task_shaped = st.fixed_dictionaries(
    {"title": st.one_of(st.text(ANY_CHAR, min_size=1, max_size=210), wide)},
    optional=TASK_FIELDS,
)
task_changes = st.fixed_dictionaries({}, optional={"title": wide, **TASK_FIELDS})
category_shaped = st.fixed_dictionaries(
    {"name": st.one_of(st.text(ANY_CHAR, min_size=1, max_size=55), wide)},
    optional={
        "color": st.one_of(st.from_regex(r"#[0-9A-Fa-f]{6}", fullmatch=True), wide),
    },
)
emails = st.one_of(st.emails().map(str), wild_text)
passwords = st.one_of(st.text(ANY_CHAR, min_size=8, max_size=130), wild_text)
SHAPED_BODIES: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "POST tasks": task_shaped,
    "PUT tasks": task_shaped,
    "PATCH tasks": task_changes,
    "POST categories": category_shaped,
    "PUT categories": category_shaped,
    "PATCH categories": st.fixed_dictionaries(
        {}, optional={"name": wide, "color": st.one_of(st.just("#000000"), wide)}
    ),
    "PATCH bulk": st.fixed_dictionaries(
        {
            "ids": st.one_of(st.lists(wide_id, max_size=5), wide),
            "changes": st.one_of(task_changes, wide),
        }
    ),
    "POST register": st.fixed_dictionaries(
        {"email": emails, "password": passwords}, optional={"name": wide}
    ),
    "POST login": st.fixed_dictionaries({"email": emails, "password": passwords}),
    "PATCH me": st.fixed_dictionaries({}, optional={"name": wide}),
    "POST password": st.fixed_dictionaries(
        {"current_password": passwords, "new_password": passwords}
    ),
    "DELETE me": st.fixed_dictionaries({"password": passwords}),
    "POST password-reset": st.fixed_dictionaries({"email": emails}),
    "POST confirm": st.fixed_dictionaries(
        {"token": st.one_of(st.text(ANY_CHAR, max_size=60), wide), "new_password": passwords}
    ),
    "POST verify-email": st.fixed_dictionaries(
        {"token": st.one_of(st.text(ANY_CHAR, max_size=60), wide)}
    ),
}

# Query strings: each parameter with arbitrary or nearly-right values, repeated, garbled.
QUERY_PARAMETERS = [
    "status",
    "priority",
    "category_id",
    "due_before",
    "due_after",
    "updated_after",
    "q",
    "sort",
    "limit",
    "offset",
]
rfc3339_times = st.builds(
    lambda moment, sign, hours, minutes: (
        f"{moment.isoformat(timespec='microseconds')}{sign}{hours:02d}:{minutes:02d}"
    ),
    st.one_of(
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
        st.sampled_from([datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999)]),
    ),
    st.sampled_from(["+", "-"]),
    st.integers(0, 99),
    st.integers(0, 99),
)
short_text = st.one_of(
    st.text(ANY_CHAR, max_size=40),
    st.sampled_from(TRICKY_STRINGS),
    padded_text,
    st.builds(
        lambda unit, count: unit * count,
        st.sampled_from(["a", "\U0001f600", "%", "_", " "]),
        st.sampled_from([199, 200, 201, 300]),
    ),
)


def choices(*names: str) -> st.SearchStrategy[str]:
    """Return comma-separated lists of `names`, with stray spaces, blanks and unknown items."""
    item = st.one_of(
        st.sampled_from([*names, f"-{names[0]}", "", " ", "x", names[0].upper()]),
        st.sampled_from(names).map(lambda name: f" {name} "),
    )
    return st.lists(item, min_size=1, max_size=5).map(",".join)


NEAR_VALID: dict[str, st.SearchStrategy[str]] = {
    "status": choices("todo", "in_progress", "done"),
    "priority": choices("low", "medium", "high"),
    "category_id": st.one_of(small_ids.map(str), st.sampled_from(["none", "NONE", " 1", "1,2"])),
    "due_before": st.one_of(dates, st.sampled_from(DATE_STRINGS)),
    "due_after": st.one_of(dates, st.sampled_from(DATE_STRINGS)),
    "updated_after": st.one_of(rfc3339_times, st.sampled_from(TIME_STRINGS)),
    "q": short_text,
    "sort": choices("created_at", "updated_at", "due_date", "priority", "title"),
    "limit": st.one_of(st.integers(-5, 105).map(str), numbers.map(str)),
    "offset": st.one_of(st.integers(-5, 2**32).map(str), numbers.map(str)),
}
query_pairs = st.sampled_from(QUERY_PARAMETERS).flatmap(
    lambda name: st.tuples(st.just(name), st.one_of(NEAR_VALID[name], short_text))
)
GARBAGE_QUERY = ["%", "%zz", "%e2%82", "%ff%fe", "%00", "&&", "=", "==", "q", "q=%", "+", ";"]


def quote_value(value: str) -> str:
    """Percent-encode text as UTF-8; a lone surrogate becomes bytes that are not UTF-8."""
    return quote_from_bytes(value.encode("utf-8", "surrogatepass"), safe="")


def query_item(pair: tuple[str, str | None]) -> str:
    """Encode one `name=value` pair; a bare piece of garbage is sent as it is."""
    name, value = pair
    return name if value is None else f"{quote_value(name)}={quote_value(value)}"


query_strings = st.lists(
    st.one_of(
        query_pairs,
        query_pairs,
        st.tuples(short_text, short_text),
        st.sampled_from(GARBAGE_QUERY).map(lambda garbage: (garbage, None)),
    ).map(query_item),
    max_size=8,
).map("&".join)

# Path segments: ids of every odd form; only 1..2**31-1 in decimal can name a resource.
path_segments = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(
        [
            "0",
            "-1",
            "00",
            "0001",
            "2147483647",
            "2147483648",
            "9999999999",
            "99999999999",
            "1e3",
            "0x1",
            "1.0",
            "+1",
            " 1",
            "1 ",
            "abc",
            "\u0661",  # Arabic-Indic one
            "\uff11",
            "²",
            "null",
            "..",
            "%",
            "1;1",
            "/0",
            "1/",
        ]
    ),
    st.text(ANY_CHAR, min_size=1, max_size=20),
)
# Header values as a server hands them to WSGI: latin-1 text, without CR, LF or NUL.
header_text = st.one_of(
    st.text(
        st.characters(min_codepoint=1, max_codepoint=0xFF, exclude_characters="\r\n"),
        max_size=300,
    ),
    st.sampled_from(
        ["*", '"x"', 'W/"x"', '"', 'W/""', "*,*", '"a", W/"b", *', ", ,", "a" * 256, "a" * 255]
    ),
)
HEADER_NAMES = [
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
    "X-Request-ID",
    "Accept",
    "Accept-Encoding",
    "Origin",
    "Range",
    "If-Modified-Since",
    "X-Forwarded-For",
]


# ------------------------------------------------------------------------------ the world


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    """The app with a login limit that a few hundred examples cannot reach."""
    return make_app(AUTH_RATE_LIMIT="100000 per minute")


@dataclass(frozen=True)
class Route:
    """One method on one URL rule."""

    method: str
    rule: str

    @property
    def key(self) -> str:
        """Name the route's body shape, as `SHAPED_BODIES` keys it."""
        resource = self.rule.removeprefix(API).strip("/").split("/")
        if resource == ["tasks"] and self.method in {"PATCH", "DELETE"}:
            return f"{self.method} bulk"
        if resource[0] == "auth":
            return f"{self.method} {resource[-1]}"
        return f"{self.method} {resource[0]}"


@dataclass
class World:
    """A user with a task, a category and a session, and a throwaway user for logouts."""

    app: Flask
    client: FlaskClient
    auth: AuthActions
    user: User
    burner: User
    task_id: int
    category_id: int
    session_id: int

    @property
    def routes(self) -> list[Route]:
        """Every API route of the app, from its URL map."""
        return sorted(
            {
                Route(method, rule.rule)
                for rule in self.app.url_map.iter_rules()
                if rule.rule.startswith(API)
                for method in rule.methods or ()
                if method not in {"HEAD", "OPTIONS"}
            },
            key=lambda route: (route.rule, route.method),
        )

    def path(self, route: Route, segment: str | None = None) -> str:
        """Fill the route's placeholders with the world's ids, or with `segment`."""

        def fill(match: re.Match[str]) -> str:
            if segment is not None:
                return quote_value(segment)
            if match.group(1) == "path":
                return "swagger-ui.css"
            return str(
                {
                    "session_id": self.session_id,
                    "task_id": self.task_id,
                    "category_id": self.category_id,
                }[match.group(2)]
            )

        return PLACEHOLDER.sub(fill, route.rule)

    def headers(self, route: Route) -> dict[str, str]:
        """Return the bearer header to send to `route`."""
        if (route.method, route.rule) in SESSION_ENDING:
            tokens = self.auth.login(self.burner.email).get_json()
            return {"Authorization": f"Bearer {tokens['access_token']}"}
        return self.user.headers

    def send(
        self,
        route: Route,
        *,
        path: str | None = None,
        body: bytes | None = None,
        content_type: str | None = JSON,
        query_string: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request as the world's user and check that it is not a server error."""
        note(f"request: {route.method} {path or self.path(route)}?{query_string} {headers}")
        note(f"body ({content_type}): {body[:300] if body else body!r}")
        all_headers = {**self.headers(route), **(headers or {})}
        if body is not None and content_type is not None:
            all_headers["Content-Type"] = content_type
        response = self.client.open(
            path or self.path(route),
            method=route.method,
            data=body,
            query_string=query_string,
            headers=all_headers,
        )
        # A registration or reset queues a mail, whose composing draws from `random`: let it
        # finish before Hypothesis draws the next example (it must see its own draws only).
        wait_for_outbox()
        check_answer(response, f"{route.method} {path or route.rule}")
        return response


def check_answer(response: Any, request: str) -> None:
    """Assert a status below 500; an error must be a well-formed problem of that status."""
    text = response.get_data(as_text=True)
    response.close()  # the body is buffered now; a file response must release its file
    assert response.status_code < 500, f"{request} -> {response.status_code}: {text[:300]}"
    assert "Traceback" not in text
    # JSON in and out: only the docs page is HTML.
    assert response.mimetype != "text/html" or request.startswith(f"GET {API}/docs"), (
        f"{request} -> {response.status_code} {response.mimetype}: {text[:200]}"
    )
    request_id = response.headers.get("X-Request-ID", "")
    assert REQUEST_ID.fullmatch(request_id), request_id
    if response.status_code < 400:
        return
    assert response.mimetype == PROBLEM_JSON, f"{request} -> {response.status_code}: {text[:300]}"
    problem = response.get_json()
    assert isinstance(problem, dict)
    for key in PROBLEM_KEYS:
        assert key in problem, f"{request}: problem without {key}: {problem}"
    assert problem["status"] == response.status_code
    for key in ("type", "title", "detail", "code"):
        assert isinstance(problem[key], str)
        assert problem[key]
    if "errors" in problem:
        assert isinstance(problem["errors"], dict)


@pytest.fixture
def world(app: Flask, client: FlaskClient, auth: AuthActions, user: User) -> Iterator[World]:
    """Return the world; afterwards, the main user must still be logged in and answered."""
    category = user.post(f"{API}/categories", json={"name": "Fuzz"}).get_json()
    task = user.post(
        f"{API}/tasks", json={"title": "Fuzz", "category_id": category["id"]}
    ).get_json()
    sessions = user.get(f"{API}/auth/sessions").get_json()["items"]
    world = World(
        app=app,
        client=client,
        auth=auth,
        user=user,
        burner=auth.user(),
        task_id=task["id"],
        category_id=category["id"],
        session_id=sessions[0]["id"],
    )
    yield world
    # No example may have ended the main session: else later examples only met 401s.
    assert user.get(f"{API}/auth/me").status_code == 200


def test_the_world_reaches_every_route(world: World) -> None:
    routes = {(route.method, route.rule) for route in world.routes}
    assert ("PATCH", f"{API}/tasks") in routes
    assert ("DELETE", f"{API}/auth/sessions/<id:session_id>") in routes
    # Every route documented with a body has a shaped strategy, and every strategy a route.
    paths = world.client.get(f"{API}/openapi.json").get_json()["paths"]
    with_body = {
        Route(method, rule.rule).key
        for rule in world.app.url_map.iter_rules()
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
        if "requestBody"
        in paths.get(re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), {}).get(method.lower(), {})
    }
    assert with_body == set(SHAPED_BODIES)


# ------------------------------------------------------------------------------ properties


@fuzz(700)
@given(data=st.data())
def test_any_body_on_any_route_is_never_a_server_error(world: World, data: st.DataObject) -> None:
    route = data.draw(st.sampled_from(world.routes), label="route")
    body = data.draw(bodies, label="body")
    content_type = data.draw(content_types, label="content_type")
    world.send(route, body=body, content_type=content_type)


@fuzz(700)
@given(data=st.data())
def test_shaped_bodies_with_wide_values_are_never_a_server_error(
    world: World, data: st.DataObject
) -> None:
    routes = [route for route in world.routes if route.key in SHAPED_BODIES]
    route = data.draw(st.sampled_from(routes), label="route")
    body = data.draw(SHAPED_BODIES[route.key], label="body")
    unknown = data.draw(st.dictionaries(keys, scalars, max_size=2), label="unknown fields")
    content_type = data.draw(
        st.sampled_from([JSON, "application/merge-patch+json"]), label="content_type"
    )
    world.send(route, body=encode({**unknown, **body}), content_type=content_type)


LISTING = [("GET", "tasks"), ("DELETE", "tasks"), ("GET", "categories")]


@fuzz(600)
@given(data=st.data())
def test_query_strings_are_never_a_server_error(world: World, data: st.DataObject) -> None:
    listing = [Route(method, f"{API}/{plural}") for method, plural in LISTING]
    route = data.draw(
        st.one_of(st.sampled_from(listing), st.sampled_from(world.routes)), label="route"
    )
    query = data.draw(query_strings, label="query")
    body = encode({"ids": [world.task_id], "changes": {}}) if route.key == "PATCH bulk" else None
    world.send(route, query_string=query, body=body)


@fuzz(600)
@given(
    listing=st.sampled_from(LISTING),
    parameters=st.fixed_dictionaries(
        {},
        optional={name: st.one_of(values, short_text) for name, values in NEAR_VALID.items()},
    ),
)
def test_list_parameters_are_never_a_server_error(
    world: World, listing: tuple[str, str], parameters: dict[str, str]
) -> None:
    method, plural = listing
    query = "&".join(query_item(pair) for pair in parameters.items())
    response = world.send(Route(method, f"{API}/{plural}"), query_string=query)
    if response.status_code == 400:
        named = set(response.get_json().get("errors", {}))
        # A 400 names a parameter that was sent (or, for a bulk delete, the missing filter).
        assert named <= {*parameters, "status"}, (named, parameters)


@fuzz(400)
@given(data=st.data())
def test_odd_path_ids_are_404_unless_they_can_name_a_row(world: World, data: st.DataObject) -> None:
    items = [route for route in world.routes if "<" in route.rule]
    route = data.draw(st.sampled_from(items), label="route")
    segment = data.draw(path_segments, label="segment")
    # A valid body: the id alone decides the answer.
    fields = {"name": "x"} if "/categories/" in route.rule else {"title": "x"}
    body = encode(fields) if route.method in {"PUT", "PATCH"} else None
    response = world.send(route, path=world.path(route, segment), body=body)
    if not (re.fullmatch(r"[0-9]{1,10}", segment) and 1 <= int(segment) <= INT32_MAX):
        assert_problem(response, 404, "not_found")


@fuzz(400)
@given(data=st.data())
def test_odd_headers_are_never_a_server_error(world: World, data: st.DataObject) -> None:
    collection = data.draw(st.sampled_from(["tasks", "categories"]), label="collection")
    placeholder = "<id:task_id>" if collection == "tasks" else "<id:category_id>"
    item = f"{API}/{collection}/{placeholder}"
    route = data.draw(
        st.sampled_from(
            [
                Route("POST", f"{API}/{collection}"),
                Route("GET", f"{API}/{collection}"),
                Route("GET", item),
                Route("PUT", item),
                Route("PATCH", item),
                Route("DELETE", item),
            ]
        ),
        label="route",
    )
    headers = data.draw(
        st.dictionaries(st.sampled_from(HEADER_NAMES), header_text, min_size=1, max_size=4),
        label="headers",
    )
    content_type = data.draw(content_types, label="content_type")
    name = data.draw(st.text("abcdefghij", min_size=8, max_size=8), label="name")
    body = encode({"title": name} if collection == "tasks" else {"name": name})
    # A fresh target each time: a DELETE with `If-Match: *` may remove it.
    target = world.user.post(f"{API}/{collection}", json=json.loads(body)).get_json()
    path = item.replace(placeholder, str(target.get("id", 0)))
    response = world.send(
        route,
        path=path if "<" in route.rule else None,
        body=body if route.method in {"POST", "PUT", "PATCH"} else None,
        content_type=content_type,
        headers=headers,
    )
    sent_id = headers.get("X-Request-ID")
    if sent_id is not None and REQUEST_ID.fullmatch(sent_id):
        assert response.headers["X-Request-ID"] == sent_id
    else:
        assert response.headers["X-Request-ID"] != sent_id


# Tokens are fuzzed as headers too: anything but a live bearer token is a 401 problem.
@fuzz(200)
@given(data=st.data())
def test_garbage_authorization_is_401(world: World, data: st.DataObject) -> None:
    protected = [
        route
        for route in world.routes
        if route.key
        not in {
            "POST register",
            "POST login",
            "POST password-reset",
            "POST confirm",
            "POST verify-email",
        }
        and route.rule != API
        and not route.rule.startswith((f"{API}/health", f"{API}/openapi", f"{API}/docs"))
    ]
    route = data.draw(st.sampled_from(protected), label="route")
    value = data.draw(
        st.one_of(
            header_text,
            header_text.map(lambda text: f"Bearer {text}"),
            st.sampled_from(
                [
                    "Bearer",
                    "Bearer ",
                    "bearer a.b.c",
                    "Bearer a.b.c",
                    "Bearer ..",
                    "Bearer eyJhbGciOiJub25lIn0.e30.",
                    "Basic dXNlcjpwYXNz",
                ]
            ),
        ),
        label="authorization",
    )
    response = world.client.open(
        world.path(route), method=route.method, headers={"Authorization": value}
    )
    check_answer(response, f"{route.method} {route.rule}")
    assert response.status_code == 401
    assert response.get_json()["code"] in {"token_missing", "token_invalid"}


# ------------------------------------------------------------------------------ round trip

VALID_CHAR = st.characters(exclude_categories=("Cc", "Cs"))
valid_titles = st.text(VALID_CHAR, min_size=1, max_size=200).filter(
    lambda title: 1 <= len(title.strip()) <= 200
)
valid_descriptions = st.one_of(
    st.none(),
    st.text(st.one_of(VALID_CHAR, st.sampled_from("\n\r\t")), max_size=300),
)


@fuzz(200)
@given(
    title=st.one_of(valid_titles, valid_titles.map(lambda title: f"  {title}\t")),
    description=valid_descriptions,
    status=st.sampled_from(["todo", "in_progress", "done"]),
    priority=st.sampled_from(["low", "medium", "high"]),
    due_date=st.one_of(st.none(), st.dates()),
    categorized=st.booleans(),
)
def test_valid_task_bodies_round_trip(
    world: World,
    title: str,
    description: str | None,
    status: str,
    priority: str,
    due_date: date | None,
    categorized: bool,
) -> None:
    sent = {
        "title": title,
        "description": description,
        "status": status,
        "priority": priority,
        "due_date": due_date.isoformat() if due_date else None,
        "category_id": world.category_id if categorized else None,
    }
    created = world.user.post(f"{API}/tasks", data=encode(sent), content_type=JSON)
    assert created.status_code == 201, created.get_json()
    expected = {
        **sent,
        "title": title.strip(),
        "description": (description or "").strip() or None,
    }
    fetched = world.user.get(f"{API}/tasks/{created.get_json()['id']}").get_json()
    for body in (created.get_json(), fetched):
        assert {key: body[key] for key in expected} == expected
        assert (body["completed_at"] is not None) == (status == "done")


# ------------------------------------------------------------------------------ found by fuzzing

TIME_OVERFLOWS = [
    "9999-12-31T23:59:59-00:01",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+00:01",
    "0001-01-01T00:00:00+23:59",
]


@pytest.mark.parametrize("moment", TIME_OVERFLOWS)
def test_updated_after_beyond_the_calendar_in_utc_is_400(world: World, moment: str) -> None:
    """A valid RFC 3339 time whose UTC instant falls outside years 1-9999."""
    response = world.user.get(f"{API}/tasks", query_string={"updated_after": moment})
    body = assert_problem(response, 400, "validation_error")
    assert "updated_after" in body["errors"]


@pytest.mark.parametrize("depth", [1_000, 100_000])
@pytest.mark.parametrize("kind", ["list", "object", "field"])
def test_deeply_nested_bodies_are_400(world: World, depth: int, kind: str) -> None:
    response = world.user.post(f"{API}/tasks", data=nested(depth, kind), content_type=JSON)
    check_answer(response, "POST /tasks")
    assert response.status_code == 400


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_category_filter_of_thousands_of_digits_is_400(world: World, method: str) -> None:
    """Python refuses to read an int of more than 4300 digits: that is the client's mistake."""
    response = world.user.request(method, f"{API}/tasks", query_string={"category_id": "9" * 5000})
    body = assert_problem(response, 400, "validation_error")
    assert "category_id" in body["errors"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"{API}//tasks"),
        ("DELETE", f"{API}/tasks//1"),
        ("DELETE", f"{API}/auth/sessions//0"),
        ("POST", f"{API}//auth/login"),
    ],
)
def test_paths_with_doubled_slashes_are_404_problems(world: World, method: str, path: str) -> None:
    """No such route: not werkzeug's HTML "Redirecting..." page (a 308 to the merged path)."""
    response = world.user.request(method, path)
    assert response.mimetype != "text/html", response.get_data(as_text=True)[:100]
    assert_problem(response, 404, "not_found")
