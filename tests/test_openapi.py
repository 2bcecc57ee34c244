"""The generated OpenAPI document and the offline docs page (issue "API documentation that
cannot drift", points 1 and 2)."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_schema_validator import OAS30ReadValidator, oas30_format_checker
from openapi_spec_validator import validate

from backend.schemas.fields import INT32_MAX
from tests.conftest import TASK_FIELDS, AuthActions, User, assert_problem

OPENAPI = "/api/v1/openapi.json"
DOCS = "/api/v1/docs"
PROBLEM_REF = "#/components/schemas/Problem"
TASK_WRITABLE = {"title", "description", "status", "priority", "due_date", "category_id"}
# Every route the contract lists, as (method, path template).
CONTRACT_ROUTES = [
    ("POST", "/api/v1/auth/register"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/auth/me"),
    ("GET", "/api/v1/tasks"),
    ("POST", "/api/v1/tasks"),
    ("GET", "/api/v1/tasks/{task_id}"),
    ("PUT", "/api/v1/tasks/{task_id}"),
    ("PATCH", "/api/v1/tasks/{task_id}"),
    ("DELETE", "/api/v1/tasks/{task_id}"),
    ("GET", "/api/v1/categories"),
    ("POST", "/api/v1/categories"),
    ("GET", "/api/v1/categories/{category_id}"),
    ("PUT", "/api/v1/categories/{category_id}"),
    ("PATCH", "/api/v1/categories/{category_id}"),
    ("DELETE", "/api/v1/categories/{category_id}"),
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/openapi.json"),
]
TASK_ITEM = "/api/v1/tasks/{task_id}"


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    response = client.get(OPENAPI)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def template(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


API_BLUEPRINTS = ("auth", "tasks", "categories", "service")


def api_routes(app: Flask) -> Iterator[tuple[str, str, str]]:
    """Yield (path template, method, endpoint) of every route of the API's blueprints."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in API_BLUEPRINTS:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield template(rule.rule), method, rule.endpoint


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        *_, kind, name = node["$ref"].split("/")
        node = document["components"][kind][name]
    return node


def operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return document["paths"][path][method.lower()]


def component(document: dict[str, Any], name: str) -> dict[str, Any]:
    return document["components"]["schemas"][name]


def body_schema(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    content = operation(document, method, path)["requestBody"]["content"]
    return resolve(document, content["application/json"]["schema"])


def assert_matches_document(
    document: dict[str, Any], method: str, path: str, response: Any
) -> None:
    """Check a real response against what the document says of its status."""
    responses = operation(document, method, path)["responses"]
    status = str(response.status_code)
    assert status in responses, f"{method} {path} answered undocumented {status}"
    documented = resolve(document, responses[status])
    for name, header in documented.get("headers", {}).items():
        header = resolve(document, header)
        value = response.headers.get(name)
        if header.get("required"):
            assert value is not None, f"{method} {path} {status} lacks {name}"
        pattern = header["schema"].get("pattern")
        if value is not None and pattern:
            assert re.search(pattern, value), (name, value)
    content = documented.get("content")
    if not content:
        assert response.get_data() == b""
        return
    assert response.mimetype in content
    schema = {**content[response.mimetype]["schema"], "components": document["components"]}
    validator = OAS30ReadValidator(schema, format_checker=oas30_format_checker)
    errors = [error.message for error in validator.iter_errors(response.get_json())]
    assert not errors, (method, path, status, errors)


# The document as a whole


def test_document_is_valid_openapi_3(document: dict[str, Any]):
    validate(document)
    assert document["openapi"] == "3.0.3"
    assert document["info"]["title"] == "TaskTracker API"
    assert document["info"]["version"] == "1.0.0"
    assert document["servers"] == [
        {"url": "/", "description": document["servers"][0]["description"]}
    ]


def test_every_route_of_the_contract_is_documented(document: dict[str, Any]):
    documented = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    assert set(CONTRACT_ROUTES) <= documented


def test_every_api_route_and_no_other_is_documented(app: Flask, document: dict[str, Any]):
    expected = {(method, path) for path, method, _ in api_routes(app)}
    expected.add(("GET", OPENAPI))
    documented = {(method, path) for method, path, _op in operations(document)}
    assert documented == expected
    assert not any(path.startswith(DOCS) for _, path in documented)


def test_operation_ids_are_the_endpoint_names(app: Flask, document: dict[str, Any]):
    ids = [op["operationId"] for _method, _path, op in operations(document)]
    assert len(ids) == len(set(ids))
    for _path, _method, endpoint in api_routes(app):
        assert endpoint.replace(".", "_") in ids


def test_tags_group_routes_by_resource(document: dict[str, Any]):
    assert [tag["name"] for tag in document["tags"]][:4] == [
        "auth",
        "tasks",
        "categories",
        "service",
    ]
    assert operation(document, "POST", "/api/v1/auth/login")["tags"] == ["auth"]
    assert operation(document, "GET", "/api/v1/tasks")["tags"] == ["tasks"]
    assert operation(document, "GET", "/api/v1/health")["tags"] == ["service"]


# Each operation


PUBLIC = {
    ("GET", "/api/v1"),
    ("POST", "/api/v1/auth/register"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/password-reset"),
    ("POST", "/api/v1/auth/password-reset/confirm"),
    ("POST", "/api/v1/auth/verify-email"),
    ("GET", "/api/v1/health"),
    ("GET", OPENAPI),
}


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Yield (method, path, operation) of every operation of the document."""
    for path, item in document["paths"].items():
        for method, op in item.items():
            if method != "parameters":
                yield method.upper(), path, op


def test_each_operation_documents_its_success_and_errors(document: dict[str, Any]):
    for method, path, op in operations(document):
        responses = op["responses"]
        successes = [status for status in responses if int(status) < 300]
        assert len(successes) == 1, (method, path)
        success = resolve(document, responses[successes[0]])
        if successes[0] == "204":
            assert "content" not in success, (method, path)
        else:
            assert list(success["content"]) == ["application/json"], (method, path)
        errors = {500}
        if op.get("security", document["security"]):
            errors.add(401)
        if "requestBody" in op:
            errors |= {400, 413, 415}
        if any(param.get("in") == "query" for param in op.get("parameters", [])):
            errors.add(400)
        assert errors <= {int(status) for status in responses}, (method, path)
        for status, response in responses.items():
            response = resolve(document, response)
            assert "X-Request-ID" in response["headers"], (method, path, status)
            if int(status) < 400:
                continue
            assert response["content"] == {
                "application/problem+json": {"schema": {"$ref": PROBLEM_REF}}
            }
            if status == "401":
                assert resolve(document, response["headers"]["WWW-Authenticate"])["required"]
            if status == "429":
                assert resolve(document, response["headers"]["Retry-After"])["required"]


def test_security_is_bearer_except_on_public_routes(document: dict[str, Any]):
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": document["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    assert document["security"] == [{"bearerAuth": []}]
    for method, path, op in operations(document):
        expected = [] if (method, path) in PUBLIC else [{"bearerAuth": []}]
        assert op.get("security", document["security"]) == expected, (method, path)
    assert "refresh** token" in operation(document, "POST", "/api/v1/auth/refresh")["description"]


def test_path_parameters_are_bounded_integers(document: dict[str, Any]):
    seen = 0
    for path, item in document["paths"].items():
        names = re.findall(r"{(\w+)}", path)
        params = [p for p in item.get("parameters", []) if p.get("in") == "path"]
        assert [p["name"] for p in params] == names, path
        for param in params:
            assert param["required"] is True
            assert param["schema"] == {"type": "integer", "minimum": 1, "maximum": INT32_MAX}
            seen += 1
    assert seen >= 3


def test_request_bodies_refuse_unknown_fields_and_hide_read_only_ones(document: dict[str, Any]):
    bodies = 0
    for path, item in document["paths"].items():
        for method, op in item.items():
            if "requestBody" not in op:
                continue
            bodies += 1
            content = op["requestBody"]["content"]
            # One media type: generators choke on two (merge patch is in the description).
            assert set(content) == {"application/json"}, (method, path)
            if method == "patch":
                assert "merge-patch+json" in op["description"], path
            for media in content.values():
                assert "$ref" in media["schema"]
                schema = resolve(document, media["schema"])
                assert schema["additionalProperties"] is False, (method, path)
                assert not any(p.get("readOnly") for p in schema["properties"].values())
    assert bodies >= 8


def test_task_schemas_for_output_create_and_patch(document: dict[str, Any]):
    task = component(document, "Task")
    assert set(task["properties"]) == TASK_FIELDS
    assert set(task["required"]) == TASK_FIELDS
    props = task["properties"]
    assert {name for name, p in props.items() if p.get("nullable")} == {
        "description",
        "due_date",
        "category_id",
        "completed_at",
    }
    assert props["priority"]["type"] == "string"
    assert props["priority"]["enum"] == ["low", "medium", "high"]
    assert props["status"]["enum"] == ["todo", "in_progress", "done"]
    assert props["due_date"]["format"] == "date"
    for name in ("created_at", "updated_at", "completed_at"):
        assert props[name]["format"] == "date-time"
        assert props[name]["readOnly"] is True
    created = body_schema(document, "POST", "/api/v1/tasks")
    assert created["properties"]["title"]["minLength"] == 1
    assert created["properties"]["title"]["maxLength"] == 200
    assert body_schema(document, "PUT", TASK_ITEM) == created
    assert set(created["properties"]) == TASK_WRITABLE
    assert created["required"] == ["title"]
    assert created["properties"]["priority"]["default"] == "medium"
    assert created["properties"]["status"]["default"] == "todo"

    patch = body_schema(document, "PATCH", TASK_ITEM)
    assert set(patch["properties"]) == TASK_WRITABLE
    assert "required" not in patch
    assert not any("default" in p for p in patch["properties"].values())


def test_category_and_user_schemas(document: dict[str, Any]):
    category = component(document, "Category")
    assert set(category["properties"]) == {
        "id",
        "name",
        "color",
        "task_count",
        "created_at",
        "updated_at",
    }
    assert category["properties"]["color"]["nullable"] is True
    created = body_schema(document, "POST", "/api/v1/categories")
    assert set(created["properties"]) == {"name", "color"}
    assert created["required"] == ["name"]
    assert "required" not in body_schema(document, "PATCH", "/api/v1/categories/{category_id}")
    user = component(document, "User")
    assert set(user["properties"]) == {"id", "email", "name", "email_verified", "created_at"}
    register = body_schema(document, "POST", "/api/v1/auth/register")
    password = register["properties"]["password"]
    assert password["writeOnly"] is True
    assert (password["minLength"], password["maxLength"]) == (8, 128)
    assert "uppercase" in password["description"]
    assert set(register["required"]) == {"email", "password"}
    assert (
        "minLength"
        not in body_schema(document, "POST", "/api/v1/auth/login")["properties"]["password"]
    )


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("Ada", True),
        ("", True),
        ("   ", True),
        ("x" * 100, True),
        ("x" * 101, False),
        ("A\x00", False),
    ],
)
def test_nullable_string_rules_agree_with_the_server(
    auth: AuthActions, document: dict[str, Any], name: str, valid: bool
):
    schema = body_schema(document, "POST", "/api/v1/auth/register")["properties"]["name"]
    assert schema["nullable"] is True
    assert "minLength" not in schema  # empty means null
    documented = bool(re.search(schema["pattern"], name)) and len(name) <= schema["maxLength"]
    assert documented is valid
    response = auth.register(name=name)
    assert response.status_code == (201 if valid else 400), response.get_json()
    if valid and not name.strip():
        assert response.get_json()["name"] is None


def test_list_tasks_query_parameters(document: dict[str, Any]):
    params = {p["name"]: p for p in operation(document, "GET", "/api/v1/tasks")["parameters"]}
    assert set(params) == {
        "status",
        "priority",
        "category_id",
        "due_before",
        "due_after",
        "q",
        "sort",
        "limit",
        "offset",
        "updated_after",
    }
    assert all(p["in"] == "query" and p["required"] is False for p in params.values())
    assert params["limit"]["schema"] == {
        "type": "integer",
        "default": 20,
        "minimum": 1,
        "maximum": 100,
    }
    assert params["offset"]["schema"]["minimum"] == 0
    assert params["due_before"]["schema"]["format"] == "date"
    assert params["due_after"]["schema"]["format"] == "date"
    assert params["updated_after"]["schema"]["format"] == "date-time"
    for name in ("status", "priority", "sort", "category_id"):
        assert params[name]["schema"]["type"] == "string"
        assert params[name]["description"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("status", "todo"),
        ("status", "todo,in_progress"),
        ("status", "todo, done"),
        ("status", "bogus"),
        ("status", "todo,"),
        ("status", ""),
        ("priority", "high,low"),
        ("priority", "urgent"),
        ("sort", "title"),
        ("sort", "-priority,due_date"),
        ("sort", "- title"),
        ("sort", "size"),
        ("sort", "title,,due_date"),
        ("category_id", "none"),
        ("category_id", "abc"),
        ("category_id", "0"),
        ("category_id", "-1"),
        ("q", "report"),
        ("q", "   "),
        ("q", "a\x01b"),
        ("limit", "100"),
    ],
)
def test_query_patterns_agree_with_the_server(
    user: User, document: dict[str, Any], name: str, value: str
):
    params = {p["name"]: p for p in operation(document, "GET", "/api/v1/tasks")["parameters"]}
    schema = params[name]["schema"]
    documented_valid = "pattern" not in schema or bool(re.search(schema["pattern"], value))
    response = user.get("/api/v1/tasks", query_string={name: value})
    assert response.status_code in {200, 400}
    assert (response.status_code == 200) is documented_valid, response.get_json()


@pytest.mark.parametrize(
    ("field", "value", "valid"),
    [
        ("title", "Write report", True),
        ("title", "  padded  ", True),
        ("title", "   ", False),
        ("title", "tab\tinside", False),
        ("description", "line\nbreak\tand tab", True),
        ("description", "bell\x07", False),
    ],
)
def test_string_patterns_agree_with_the_server(
    user: User, document: dict[str, Any], field: str, value: str, valid: bool
):
    schema = body_schema(document, "POST", "/api/v1/tasks")["properties"][field]
    assert bool(re.search(schema["pattern"], value)) is valid
    body = {"title": "Task", field: value}
    response = user.post("/api/v1/tasks", json=body)
    assert response.status_code == (201 if valid else 400), response.get_json()


def test_headers_and_conditional_requests_are_documented(document: dict[str, Any]):
    def headers(method: str, path: str, status: str) -> dict[str, Any]:
        response = resolve(document, operation(document, method, path)["responses"][status])
        return {name: resolve(document, h) for name, h in response["headers"].items()}

    def parameters(method: str, path: str) -> set[str]:
        params = operation(document, method, path).get("parameters", [])
        return {resolve(document, p)["name"] for p in params}

    created = headers("POST", "/api/v1/tasks", "201")
    assert created["Location"]["required"]
    assert created["ETag"]["required"]
    assert headers("GET", "/api/v1/tasks", "200")["Link"]["required"]
    assert "ETag" in headers("GET", TASK_ITEM, "200")
    assert set(headers("GET", TASK_ITEM, "304")) == {"X-Request-ID", "ETag"}
    assert "If-None-Match" in parameters("GET", TASK_ITEM)
    for method in ("PUT", "PATCH", "DELETE"):
        assert "If-Match" in parameters(method, TASK_ITEM)
        assert "412" in operation(document, method, TASK_ITEM)["responses"]
    for path in ("/api/v1/auth/login", "/api/v1/auth/register"):
        success = "201" if path.endswith("register") else "200"
        assert {"RateLimit", "RateLimit-Policy"} <= set(headers("POST", path, success))
        assert headers("POST", path, "429")["Retry-After"]["required"]
    assert "Idempotency-Key" in parameters("POST", "/api/v1/tasks")
    assert {"409", "422"} <= set(operation(document, "POST", "/api/v1/tasks")["responses"])


# Real responses against the document


def test_auth_responses_match_the_document(client: FlaskClient, auth: AuthActions, document):
    registered = auth.register("doc@example.com", name="Ada")
    assert_matches_document(document, "POST", "/api/v1/auth/register", registered)
    assert_matches_document(
        document, "POST", "/api/v1/auth/register", auth.register("doc@example.com")
    )
    logged_in = auth.login("doc@example.com")
    assert_matches_document(document, "POST", "/api/v1/auth/login", logged_in)
    tokens = logged_in.get_json()
    wrong = auth.login("doc@example.com", "Wrong-Horse-9")
    assert_matches_document(document, "POST", "/api/v1/auth/login", wrong)
    me = client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert_matches_document(document, "GET", "/api/v1/auth/me", me)
    assert_matches_document(document, "GET", "/api/v1/auth/me", client.get("/api/v1/auth/me"))
    refreshed = client.post(
        "/api/v1/auth/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
    )
    assert_matches_document(document, "POST", "/api/v1/auth/refresh", refreshed)
    logout = client.post(
        "/api/v1/auth/logout",
        headers={"Authorization": f"Bearer {refreshed.get_json()['access_token']}"},
    )
    assert_matches_document(document, "POST", "/api/v1/auth/logout", logout)
    assert_matches_document(document, "GET", "/api/v1/health", client.get("/api/v1/health"))


def test_task_responses_match_the_document(user: User, document: dict[str, Any]):
    category = user.post("/api/v1/categories", json={"name": "Work", "color": "#1E90FF"})
    assert_matches_document(document, "POST", "/api/v1/categories", category)
    created = user.post(
        "/api/v1/tasks",
        json={"title": "Write", "due_date": "2026-12-01", "category_id": category.get_json()["id"]},
    )
    assert_matches_document(document, "POST", "/api/v1/tasks", created)
    path = created.headers["Location"]
    got = user.get(path)
    assert_matches_document(document, "GET", TASK_ITEM, got)
    not_modified = user.get(path, headers={"If-None-Match": got.headers["ETag"]})
    assert not_modified.status_code == 304
    assert_matches_document(document, "GET", TASK_ITEM, not_modified)
    patched = user.patch(
        path,
        data='{"status": "done", "description": null}',
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert_matches_document(document, "PATCH", TASK_ITEM, patched)
    assert patched.get_json()["completed_at"] is not None
    stale = user.put(path, json={"title": "Again"}, headers={"If-Match": got.headers["ETag"]})
    assert_problem(stale, 412, "precondition_failed")
    assert_matches_document(document, "PUT", TASK_ITEM, stale)
    assert_matches_document(document, "PUT", TASK_ITEM, user.put(path, json={"title": "Again"}))
    page = user.get("/api/v1/tasks", query_string={"limit": 1, "sort": "-priority"})
    assert_matches_document(document, "GET", "/api/v1/tasks", page)
    assert page.get_json()["items"]
    categories = user.get("/api/v1/categories")
    assert_matches_document(document, "GET", "/api/v1/categories", categories)
    assert_matches_document(document, "DELETE", TASK_ITEM, user.delete(path))
    assert_matches_document(document, "GET", TASK_ITEM, user.get(path))


def test_error_responses_match_the_document(user: User, document: dict[str, Any]):
    invalid = user.post("/api/v1/tasks", json={"title": "", "id": 5, "priority": "urgent"})
    body = assert_problem(invalid, 400, "validation_error")
    assert set(body["errors"]) == {"title", "id", "priority"}
    assert_matches_document(document, "POST", "/api/v1/tasks", invalid)
    not_json = user.post("/api/v1/tasks", data="{", headers={"Content-Type": "application/json"})
    assert_matches_document(document, "POST", "/api/v1/tasks", not_json)
    text = user.post("/api/v1/tasks", data="title", headers={"Content-Type": "text/plain"})
    assert_problem(text, 415, "unsupported_media_type")
    assert_matches_document(document, "POST", "/api/v1/tasks", text)
    bad_query = user.get("/api/v1/tasks", query_string={"limit": "0"})
    assert_matches_document(document, "GET", "/api/v1/tasks", bad_query)
    assert_matches_document(document, "GET", TASK_ITEM, user.get("/api/v1/tasks/99999"))


# The docs page


def test_docs_page_is_swagger_ui_served_offline(client: FlaskClient):
    response = client.get(DOCS)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "swagger-ui" in page
    assert "http://" not in page
    assert "https://" not in page
    # The one inline script (flask-smorest's starter) is allowed by its hash, and only it.
    inline = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    policy = response.headers["Content-Security-Policy"]
    assert f"script-src 'self' 'sha256-{digest}';" in policy
    assert "default-src 'none'" in policy
    urls = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert len(urls) >= 3
    kinds = {"js": "javascript", "css": "text/css", "png": "image/png"}
    for url in urls:
        assert url.startswith(f"{DOCS}/"), url
        with client.get(url) as asset:  # a file response: close it
            assert asset.status_code == 200, url
            assert kinds[url.rsplit(".", 1)[-1]] in asset.content_type, (url, asset.content_type)
            assert asset.get_data()


def test_docs_assets_are_the_bundle_and_cacheable(client: FlaskClient):
    with client.get(f"{DOCS}/assets/swagger-ui-bundle.js") as bundle:
        assert bundle.status_code == 200
        assert b"SwaggerUIBundle" in bundle.get_data()
        assert "max-age=86400" in bundle.headers["Cache-Control"]
        assert "no-store" not in bundle.headers["Cache-Control"]
        assert "X-Request-ID" in bundle.headers


@pytest.mark.parametrize(
    "name", ["index.html", "oauth2-redirect.html", "swagger-ui.js", "nope.js", "..%2F__init__.py"]
)
def test_docs_serve_only_swagger_ui_assets(client: FlaskClient, name: str):
    assert_problem(client.get(f"{DOCS}/assets/{name}"), 404, "not_found")
