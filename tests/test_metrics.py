"""GET /metrics in one process: hidden without its token, Prometheus text with it.

Under gunicorn, with values summed over workers, see tests/metrics/test_metrics_gunicorn.py.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from sqlalchemy.pool import NullPool

from backend.config import ConfigError, engine_options, load_config
from tests.conftest import AppFactory, User

TOKEN = "metrics-token-" + "m" * 32
SCRAPE = {"Authorization": f"Bearer {TOKEN}"}
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
REQUESTS = "tasktracker_http_requests"
LATENCY = "tasktracker_http_request_duration_seconds"
POOL_GAUGES = (
    "tasktracker_db_pool_size",
    "tasktracker_db_pool_checked_out",
    "tasktracker_db_pool_checked_in",
    "tasktracker_db_pool_overflow",
)


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    """Return the app with a metrics token (overrides conftest's `app`, so `user` uses it)."""
    return make_app(METRICS_TOKEN=TOKEN)


def scrape(client: FlaskClient) -> dict[str, list[Sample]]:
    """GET /metrics with the token and return its samples by metric family name."""
    response = client.get("/metrics", headers=SCRAPE)
    assert response.status_code == 200, response.get_data(as_text=True)
    text = response.get_data(as_text=True)
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def request_counts(samples: dict[str, list[Sample]]) -> dict[tuple[str, str, str], float]:
    """Return the request counter by (method, route, status)."""
    return {
        (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
        for s in samples[REQUESTS]
        if s.name == f"{REQUESTS}_total"
    }


def template(app: Flask, method: str, path: str) -> str:
    """Return the route template that `path` matches (the label its requests carry)."""
    rule, _ = app.url_map.bind("localhost").match(path, method=method, return_rule=True)
    return rule.rule


def unknown_path_answer(client: FlaskClient) -> tuple[int, str | None, Any]:
    """Return status, content type and body of a path that no route has."""
    response = client.get(f"/no-such-path-{uuid.uuid4().hex}")
    return response.status_code, response.content_type, response.get_json()


# ------------------------------------------------------------------ hidden without the token
@pytest.mark.parametrize(
    ("configured", "method", "path", "authorization"),
    [
        ("", "GET", "/metrics", None),
        ("", "GET", "/metrics", f"Bearer {TOKEN}"),
        ("", "GET", "/metrics", "Bearer "),
        (TOKEN, "GET", "/metrics", None),
        (TOKEN, "GET", "/metrics", "Bearer wrong-token"),
        (TOKEN, "GET", "/metrics", f"Bearer {TOKEN}x"),
        (TOKEN, "GET", "/metrics", f"Basic {TOKEN}"),
        (TOKEN, "GET", "/metrics", TOKEN),
        (TOKEN, "POST", "/metrics", f"Bearer {TOKEN}"),
        (TOKEN, "DELETE", "/metrics", f"Bearer {TOKEN}"),
        (TOKEN, "GET", "/metrics/", f"Bearer {TOKEN}"),
        (TOKEN, "GET", "/api/v1/metrics", f"Bearer {TOKEN}"),
    ],
)
def test_metrics_is_an_unknown_path_without_its_token(
    make_app: AppFactory, configured: str, method: str, path: str, authorization: str | None
) -> None:
    """No token configured, none sent, a wrong one or another method: the 404 of any path."""
    client = make_app(METRICS_TOKEN=configured).test_client()
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = client.open(path, method=method, headers=headers)
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
    assert response.get_json()["code"] == "not_found"
    assert (404, response.content_type, response.get_json()) == unknown_path_answer(client)
    assert "WWW-Authenticate" not in response.headers
    assert "Allow" not in response.headers


def test_metrics_headers_are_those_of_an_unknown_path(client: FlaskClient) -> None:
    """The 404 of /metrics carries the same headers as that of any unknown path."""
    hidden = client.get("/metrics", headers={"Authorization": "Bearer wrong"})
    unknown = client.get("/nothing-here")
    assert sorted(hidden.headers.keys()) == sorted(unknown.headers.keys())
    assert hidden.get_data() == unknown.get_data()


def test_metrics_is_not_in_the_openapi_document(client: FlaskClient) -> None:
    """The scrape endpoint is for operators: the API's document does not mention it."""
    document = client.get("/api/v1/openapi.json").get_data(as_text=True)
    assert "/metrics" not in document


@pytest.mark.parametrize("token", ["", "   "])
def test_blank_metrics_token_turns_metrics_off(token: str) -> None:
    """A blank METRICS_TOKEN means no metrics."""
    assert (
        load_config({"APP_ENV": "testing", "JWT_SECRET_KEY": "k" * 40, "METRICS_TOKEN": token})[
            "METRICS_TOKEN"
        ]
        == ""
    )


def test_short_metrics_token_is_refused() -> None:
    """A token short enough to guess is refused at start, with a one-line reason."""
    with pytest.raises(ConfigError, match="METRICS_TOKEN must be at least 32 characters"):
        load_config({"APP_ENV": "testing", "JWT_SECRET_KEY": "k" * 40, "METRICS_TOKEN": "t" * 31})
    assert load_config(
        {"APP_ENV": "testing", "JWT_SECRET_KEY": "k" * 40, "METRICS_TOKEN": "t" * 32}
    )["METRICS_TOKEN"]


# ------------------------------------------------------------------------ with the token
def test_scrape_answers_prometheus_text(client: FlaskClient) -> None:
    """With the token, /metrics answers the Prometheus text format, never cached."""
    response = client.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == PROMETHEUS_TEXT
    assert response.headers["Cache-Control"] == "no-store"
    assert "# TYPE tasktracker_http_requests_total counter" in response.get_data(as_text=True)


def test_head_scrape_answers_without_a_body(client: FlaskClient) -> None:
    """HEAD /metrics with the token answers 200 like GET, with no body."""
    response = client.head("/metrics", headers=SCRAPE)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == PROMETHEUS_TEXT
    assert response.get_data() == b""


def test_requests_are_counted_by_method_route_template_and_status(
    app: Flask, client: FlaskClient, user: User
) -> None:
    """Each answered request adds one to its (method, route template, status) series."""
    before = request_counts(scrape(client))
    created = user.post("/api/v1/tasks", json={"title": "counted"})
    assert created.status_code == 201
    task_id = created.get_json()["id"]
    assert user.get(f"/api/v1/tasks/{task_id}").status_code == 200
    assert user.get(f"/api/v1/tasks/{task_id + 1000}").status_code == 404
    assert client.get("/api/v1/tasks").status_code == 401
    assert client.get("/api/v1/health").status_code == 200
    assert client.get("/api/v1/health").status_code == 200
    assert client.delete("/api/v1/health").status_code == 405
    assert client.get("/no/such/route").status_code == 404
    after = request_counts(scrape(client))

    moved = {key: after[key] - before.get(key, 0.0) for key in after}
    item = template(app, "GET", f"/api/v1/tasks/{task_id}")
    assert "<" in item  # a template, not the path that was asked for
    expected = {
        ("POST", "/api/v1/tasks", "201"): 1.0,
        ("GET", item, "200"): 1.0,
        ("GET", item, "404"): 1.0,
        ("GET", "/api/v1/tasks", "401"): 1.0,
        ("GET", "/api/v1/health", "200"): 2.0,
        ("DELETE", "<unmatched>", "405"): 1.0,
        ("GET", "<unmatched>", "404"): 1.0,
        ("GET", "/metrics", "200"): 1.0,  # the first scrape, counted once it was answered
    }
    assert {key: value for key, value in moved.items() if value} == expected


def test_latency_histogram_has_buckets_per_series(client: FlaskClient) -> None:
    """The latency histogram has cumulative buckets up to +Inf, as many as the requests."""
    for _ in range(3):
        assert client.get("/api/v1/health").status_code == 200
    samples = scrape(client)[LATENCY]
    health = {"method": "GET", "route": "/api/v1/health", "status": "200"}
    series = [s for s in samples if all(s.labels.get(k) == v for k, v in health.items())]
    buckets = [s for s in series if s.name == f"{LATENCY}_bucket"]
    assert len(buckets) > 5
    assert buckets[-1].labels["le"] == "+Inf"
    assert buckets[-1].value == 3.0
    values = [b.value for b in buckets]
    assert values == sorted(values)  # cumulative
    (count,) = [s.value for s in series if s.name == f"{LATENCY}_count"]
    assert count == 3.0
    (total,) = [s.value for s in series if s.name == f"{LATENCY}_sum"]
    assert total >= 0.0


def test_unknown_paths_and_methods_share_one_series(client: FlaskClient) -> None:
    """Whatever paths and methods clients send, unknown ones add no series (bounded labels)."""
    paths = [f"/probe-{uuid.uuid4().hex}/{n}" for n in range(25)]
    for path in paths:
        assert client.get(path).status_code == 404
        assert client.open(path, method=f"X{uuid.uuid4().hex[:8].upper()}").status_code == 404
    samples = scrape(client)
    counts = request_counts(samples)
    assert counts[("GET", "<unmatched>", "404")] == 25.0
    assert counts[("<other>", "<unmatched>", "404")] == 25.0
    text = repr(samples)
    assert "probe-" not in text
    assert not any(
        s.labels["method"].startswith("X") for s in samples[REQUESTS] if "method" in s.labels
    )


def test_pool_gauges_show_the_pool(client: FlaskClient, database_url: str) -> None:
    """The pool shows its size and connections, read now."""
    assert client.get("/api/v1/health").status_code == 200
    samples = scrape(client)
    size = engine_options(database_url).get("pool_size", 5)  # SQLAlchemy's default: 5
    for name in POOL_GAUGES:
        by_pool = {s.labels["pool"]: s.value for s in samples[name]}
        assert set(by_pool) == {"transaction"}, name
        if name == "tasktracker_db_pool_size":
            assert by_pool == {"transaction": size}
        if name == "tasktracker_db_pool_checked_out":
            assert by_pool == {"transaction": 0.0}  # nothing in flight
    idle = {s.labels["pool"]: s.value for s in samples["tasktracker_db_pool_checked_in"]}
    assert sum(idle.values()) >= 1.0  # /health opened a connection and gave it back


def test_pools_without_a_size_have_no_gauges(make_app: AppFactory, database_url: str) -> None:
    """A pool that keeps no connections (NullPool) has nothing to show."""
    options = {"connect_args": engine_options(database_url)["connect_args"], "poolclass": NullPool}
    app = make_app(METRICS_TOKEN=TOKEN, SQLALCHEMY_ENGINE_OPTIONS=options)
    client = app.test_client()
    assert client.get("/api/v1/health").status_code == 200
    samples = scrape(client)
    for name in POOL_GAUGES:
        assert samples[name] == [], name
