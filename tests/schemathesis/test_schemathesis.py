"""Schemathesis against the app's own OpenAPI document (GitHub issue 5, point 4).

Schemathesis reads `/api/v1/openapi.json` and, for every operation, sends the WSGI app
in-process the document's examples, its coverage cases (boundary values, each constraint
broken in turn, missing parameters, undeclared methods, wrong media types) and fuzzed
requests, valid ("positive") and invalid ("negative") alike. Every response must:

- not be a 5xx (`not_a_server_error`);
- have a status, `Content-Type`, headers and body the document declares for the operation
  (`status_code_conformance`, `content_type_conformance`, `response_headers_conformance`,
  `response_schema_conformance`);
- reject invalid input (`negative_data_rejection`): validation errors are 400, and
  401/403/404/409/412/413/415/422/429 are the contract's answers to some invalid requests
  (no token, another user's id, an unknown id, a duplicate, a stale `If-Match`, a reused
  `Idempotency-Key`...). Undeclared query parameters are exempt: the contract ignores them.

Each operation is its own test, on a freshly emptied database holding a logged-in user
(`Authorization: Bearer <access token>` goes on every request, except the negative cases
about the token itself) with one category and one task. Half of the valid values drawn for
path ids, `category_id`, `ids`, `email`, `password` and `current_password` are the real ones
(Schemathesis fuzz dictionaries), so valid requests also reach found rows and right
credentials, not only 404s and 401s.

Operations that end sessions (logout, logout-all, refresh, password change, session
revocation, account deletion) are tested like the others, but every generated request gets a
fresh login, so none of them spends a token another one relies on (`/auth/refresh` gets that
login's refresh token); after a deleted account the user signs up again, after a changed
password the next login uses the new one.

Runs only with `TEST_SCHEMATHESIS=1` (CI runs it as its own step, on SQLite and PostgreSQL):

    TEST_SCHEMATHESIS=1 uv run pytest tests/schemathesis --no-cov -rs

Examples are derandomized with a fixed seed, so every run sends the same requests. Explore
more with `SCHEMATHESIS_EXAMPLES=300` (fuzzed requests per operation, default 25) and
`SCHEMATHESIS_RANDOM=1` (new examples on each run; `SCHEMATHESIS_SEED=<n>` repeats one).
A failure prints the request as a `curl` command and the response.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from flask import Flask, Response
from flask.testing import FlaskClient
from hypothesis import HealthCheck, find, settings
from schemathesis import GenerationMode, HookContext
from schemathesis.core.failures import AcceptedNegativeData, FailureGroup, ServerError
from schemathesis.core.parameters import ParameterLocation
from schemathesis.openapi.checks import (
    JsonSchemaError,
    MissingHeaders,
    UndefinedContentType,
    UndefinedStatusCode,
)

from backend.app import create_app
from backend.mail import wait_for_outbox
from tests.conftest import PASSWORD, TEST_JWT_SECRET, AppFactory, AuthActions

ENABLED = os.environ.get("TEST_SCHEMATHESIS") == "1"
# Collected and reported as skipped without TEST_SCHEMATHESIS=1 (a module-level pytest.skip
# would collect nothing, and pytest exits 5 on that).
pytestmark = pytest.mark.skipif(
    not ENABLED, reason="Schemathesis run: set TEST_SCHEMATHESIS=1 (CI runs it as its own step)"
)

API = "/api/v1"
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES") or 25)
RANDOM = os.environ.get("SCHEMATHESIS_RANDOM") == "1"
_SEED = os.environ.get("SCHEMATHESIS_SEED")
# Derandomized runs draw the same examples every time; random ones a new seed unless given one.
SEED = int(_SEED) if _SEED else (None if RANDOM else 20261125)
# The fixture's user; a fresh database hands out id 1 to them, their session, category and task.
EMAIL = "schemathesis@example.com"
REAL_ID = 1
# Statuses the contract gives to some invalid requests; anything else (a 2xx above all) is a
# failure of `negative_data_rejection`.
NEGATIVE_STATUSES = ["400", "401", "403", "404", "409", "412", "413", "415", "422", "429"]
# Operations whose success ends the session (or all sessions) of the token they are sent with.
SESSION_ENDING = {
    ("POST", f"{API}/auth/logout"),
    ("POST", f"{API}/auth/logout-all"),
    ("POST", f"{API}/auth/refresh"),
    ("POST", f"{API}/auth/password"),
    ("DELETE", f"{API}/auth/me"),
    ("DELETE", f"{API}/auth/sessions/{{session_id}}"),
}


def half_the_time(dictionary: str) -> dict[str, Any]:
    """Bind a parameter to a dictionary: half of the valid values drawn for it come from there."""
    return {"dictionary": dictionary, "probability": 0.5}


CONFIG: dict[str, Any] = {
    **({"seed": SEED} if SEED is not None else {}),
    "generation": {
        "mode": "all",  # positive and negative
        "max-examples": EXAMPLES,
        "deterministic": not RANDOM,
        "database": "none",
    },
    "phases": {
        "examples": {"enabled": True},
        "coverage": {"enabled": True},
        "fuzzing": {"enabled": True},
    },
    "checks": {
        "enabled": False,
        "not_a_server_error": {"enabled": True},
        "status_code_conformance": {"enabled": True},
        "content_type_conformance": {"enabled": True},
        "response_headers_conformance": {"enabled": True},
        "response_schema_conformance": {"enabled": True},
        "negative_data_rejection": {"enabled": True, "expected-statuses": NEGATIVE_STATUSES},
    },
    # Real values, so that valid requests also reach found rows and right credentials. A
    # dictionary value is used only where it keeps the case's mode: never in a negative one.
    "dictionaries": {
        "ids": {"values": [REAL_ID]},
        "id_texts": {"values": [str(REAL_ID)]},  # the `category_id` filter is a string
        "emails": {"values": [EMAIL]},
        "passwords": {"values": [PASSWORD]},
    },
    "parameters": {
        "path.task_id": half_the_time("ids"),
        "path.category_id": half_the_time("ids"),
        "path.session_id": half_the_time("ids"),
        "query.category_id": half_the_time("id_texts"),
        "body.category_id": half_the_time("ids"),
        "body.ids[*]": half_the_time("ids"),
        "body.email": half_the_time("emails"),
        "body.password": half_the_time("passwords"),
        "body.current_password": half_the_time("passwords"),
    },
}
EXAMPLE_TIME = "2026-11-25T12:00:00.000000Z"


def load_schema() -> Any:
    """Load the OpenAPI document from an app of its own (serving it touches no database)."""
    app = create_app(
        {"APP_ENV": "testing", "DATABASE_URL": "sqlite://", "JWT_SECRET_KEY": TEST_JWT_SECRET}
    )
    config = schemathesis.Config.from_dict(CONFIG)
    schema = schemathesis.openapi.from_wsgi(f"{API}/openapi.json", app, config=config)
    schema.hook(filter_query)
    return schema


def filter_query(_: HookContext, query: dict[str, Any] | None) -> bool:
    """Leave out query strings with an object as a parameter's value.

    No client can send one: Schemathesis' WSGI transport sends the object's Python repr
    (`q={'a': 'b'}` as `q=%7B'a':+'b'%7D`), a valid search text that the app rightly
    accepts, and then reports it as accepted invalid data.
    """
    return not any(isinstance(value, dict) for value in (query or {}).values())


@dataclass
class Tokens:
    access: str
    refresh: str


class Api:
    """The app under test, with a user, their session, a category and a task (all id 1)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client: FlaskClient = app.test_client()
        self.auth = AuthActions(self.client)
        self.password = PASSWORD
        user = self.auth.user(EMAIL)
        self.tokens = Tokens(user.access_token, user.refresh_token)
        category = user.post(f"{API}/categories", json={"name": "Work"})
        task = user.post(f"{API}/tasks", json={"title": "Write report", "category_id": REAL_ID})
        ids = (user.id, category.get_json()["id"], task.get_json()["id"])
        assert ids == (REAL_ID, REAL_ID, REAL_ID), "the database was not emptied"

    def fresh_tokens(self) -> Tokens:
        """Log in again (a new session); sign up again if a request deleted the account."""
        response = self.auth.login(EMAIL, self.password)
        if response.status_code == 401:
            self.password = PASSWORD
            assert self.auth.register(EMAIL).status_code == 201
            response = self.auth.login(EMAIL)
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        return Tokens(body["access_token"], body["refresh_token"])

    def token_for(self, case: Any) -> str:
        """Return the bearer token to send `case` with."""
        if (case.method, case.path) not in SESSION_ENDING:
            return self.tokens.access
        tokens = self.fresh_tokens()
        return tokens.refresh if case.path == f"{API}/auth/refresh" else tokens.access

    def call_and_validate(self, case: Any) -> None:
        """Send `case` as the user and run the checks on the response."""
        token = self.token_for(case)
        if not case.operation.schema.is_security_param_negated(case):
            # A negative case about the token itself keeps its own (or none).
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
        response = case.call_and_validate(app=self.app)
        # A registration or reset queues a mail, whose composing draws from `random`: let it
        # finish before Hypothesis draws the next case.
        wait_for_outbox()
        if (case.method, case.path, response.status_code) == ("POST", f"{API}/auth/password", 204):
            self.password = case.body["new_password"]


@pytest.fixture
def api(make_app: AppFactory) -> Api:
    return Api(make_app(AUTH_RATE_LIMIT="1000000 per minute"))


def broken_app(status: int, mimetype: str, body: str, headers: dict[str, str]) -> Flask:
    """Return an app that answers every request with the given response."""
    app = Flask(__name__)

    @app.route("/<path:_>", methods=["GET", "POST"])
    def answer(_: str) -> Response:
        return Response(body, status=status, mimetype=mimetype, headers=headers)

    return app


PROBLEM_500 = json.dumps(
    {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "Something went wrong.",
        "code": "internal_error",
    }
)
REQUEST_ID = {"X-Request-ID": "a1"}
HEALTHY = json.dumps({"status": "ok", "database": "ok"})
# Answers to `GET /health` that break one check each.
BROKEN = {
    "not_a_server_error": (500, "application/problem+json", PROBLEM_500, REQUEST_ID, ServerError),
    "status_code_conformance": (418, "application/json", HEALTHY, REQUEST_ID, UndefinedStatusCode),
    "content_type_conformance": (200, "text/plain", "ok", REQUEST_ID, UndefinedContentType),
    "response_headers_conformance": (200, "application/json", HEALTHY, {}, MissingHeaders),
    "response_schema_conformance": (
        200,
        "application/json",
        '{"status": "fine"}',
        REQUEST_ID,
        JsonSchemaError,
    ),
}


# Loaded at import: Schemathesis makes one test per operation at collection time.
SCHEMA = load_schema() if ENABLED else None


def for_each_operation() -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Return Schemathesis' parametrization over the document's operations (none when off)."""
    return SCHEMA.parametrize() if SCHEMA is not None else lambda test: test


@pytest.fixture
def schema() -> Any:
    assert SCHEMA is not None
    return SCHEMA


@for_each_operation()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_api(case: Any, api: Api) -> None:
    api.call_and_validate(case)


@pytest.mark.parametrize("check", BROKEN)
def test_each_check_catches_a_broken_response(schema: Any, check: str) -> None:
    *answer, failure = BROKEN[check]
    case = schema[f"{API}/health"]["GET"].Case()
    with pytest.raises(FailureGroup) as caught:
        case.call_and_validate(app=broken_app(*answer))
    assert failure in {type(error) for error in caught.value.exceptions}


def test_accepting_invalid_data_is_caught(schema: Any) -> None:
    operation = schema[f"{API}/categories"]["POST"]
    case = find(
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        lambda case: case.meta.phase.data.parameter_location == ParameterLocation.BODY,
        settings=settings(database=None, derandomize=True),
    )
    category = {
        "id": 1,
        "name": "Work",
        "color": None,
        "task_count": 0,
        "created_at": EXAMPLE_TIME,
        "updated_at": EXAMPLE_TIME,
    }
    headers = {**REQUEST_ID, "Location": f"{API}/categories/1", "ETag": '"e"'}
    app = broken_app(201, "application/json", json.dumps(category), headers)
    with pytest.raises(FailureGroup) as caught:
        case.call_and_validate(app=app)
    assert {type(error) for error in caught.value.exceptions} == {AcceptedNegativeData}
