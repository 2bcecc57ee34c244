"""What the OpenAPI document says beyond what flask-smorest derives from routes and schemas.

flask-smorest writes each operation from its decorators; this module adds, through apispec's
own extension points, what holds across operations: the shared headers and problem responses,
the bearer security scheme, the rules the project's own Marshmallow fields enforce (an apispec
attribute function), and `X-Request-ID` on every response (an apispec plugin). It also serves
Swagger UI's files from the installed `swagger-ui-bundle` package, so the docs page loads
nothing from a CDN, under a content security policy that names its one inline script.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Sequence
from http import HTTPStatus
from typing import Any

from apispec import APISpec, BasePlugin
from flask import Blueprint, Flask, Response, request, send_from_directory
from marshmallow import fields
from swagger_ui_bundle import swagger_ui_path

from backend.errors import NotFound
from backend.extensions import api
from backend.http import PROBLEM_JSON
from backend.passwords import PASSWORD_MAX, PASSWORD_MIN
from backend.schemas.auth import password_policy
from backend.schemas.common import ProblemSchema
from backend.schemas.fields import (
    PRIORITY_RANKS,
    CleanString,
    CommaSeparated,
    Password,
    PriorityField,
    UTCTime,
)
from backend.schemas.tasks import SORT_KEYS, CategoryFilter, SortField

BEARER = "bearerAuth"
EXAMPLE_TIME = "2026-11-25T12:00:00.000000Z"
PASSWORD_RULES = (
    f"{PASSWORD_MIN}-{PASSWORD_MAX} characters with at least one uppercase letter, one digit "
    "and one symbol (a character that is neither a letter, a digit nor whitespace); not one of "
    "the 10,000 most common passwords, and not containing the e-mail's local part (4 or more "
    "characters); compared after NFKC normalization, never trimmed."
)
DESCRIPTION = """\
The REST API behind the TaskTracker single-page app. Every path starts with `/api/v1`.

- **JSON** (UTF-8) in and out. A request with a body must send `Content-Type: application/json`
  (PATCH also takes `application/merge-patch+json`); unknown body fields are refused.
- **Authentication**: `POST /api/v1/auth/login` returns an access token (short-lived) and a
  refresh token (long-lived). Send the access token as `Authorization: Bearer <token>`;
  `POST /api/v1/auth/refresh` takes the refresh token instead and rotates both.
- **Errors** are RFC 9457 problem details (`application/problem+json`) with a stable `code`;
  validation errors name each bad field or parameter in `errors`. Every 401 carries
  `WWW-Authenticate: Bearer`.
- **Times** are RFC 3339 in UTC with a `Z`, to the microsecond; dates are `YYYY-MM-DD`.
- **Lists** are pages (`limit`, `offset`) with the count of every match in `total` and an
  RFC 8288 `Link` header.
- **Concurrency**: single resources carry an `ETag`; `If-None-Match` answers 304 and
  `If-Match` on PUT, PATCH and DELETE answers 412 when the resource has changed.
- Every response carries `X-Request-ID` (the client's own value when well-formed).
"""
SECURITY_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "An access token from `POST /api/v1/auth/login` or `/auth/refresh`. "
    "`POST /api/v1/auth/refresh` takes the refresh token instead.",
}
HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "The request's id: the client's own `X-Request-ID` when it is 1-128 "
        "characters of `A-Z a-z 0-9 . _ -`, else a new one.",
        "required": True,
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,128}$"},
    },
    "ETag": {
        "description": "The entity tag of the resource as returned; send it back in "
        "`If-Match` or `If-None-Match`.",
        "required": True,
        "schema": {"type": "string", "example": '"3"'},
    },
    "Location": {
        "description": "The URL of the created resource.",
        "required": True,
        "schema": {"type": "string", "format": "uri-reference"},
    },
    "Link": {
        "description": "RFC 8288 links to the `first` and `last` pages, plus `prev` and "
        "`next` when they exist; each keeps the request's filters and sort.",
        "required": True,
        "schema": {"type": "string"},
    },
    "RateLimit-Policy": {
        "description": "The limit (draft-ietf-httpapi-ratelimit-headers-09), "
        'e.g. `"auth";q=10;w=60`.',
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": 'What is left of the limit and when it resets, e.g. `"auth";r=7;t=42`.',
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored response to an earlier request with the "
        "same `Idempotency-Key`.",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "WWW-Authenticate": {
        "description": "The authentication challenge: `Bearer`.",
        "required": True,
        "schema": {"type": "string", "pattern": "^Bearer"},
    },
}
PROBLEM_HEADERS = {
    401: ("WWW-Authenticate",),
    429: ("Retry-After", "RateLimit", "RateLimit-Policy"),
    503: ("Retry-After",),
}
PARAMETERS: dict[str, dict[str, Any]] = {
    "IfMatch": {
        "in": "header",
        "name": "If-Match",
        "required": False,
        "description": "Change the resource only if its current `ETag` is one of these "
        "(or `*`); otherwise 412 and nothing changes.",
        "schema": {"type": "string"},
    },
    "IfNoneMatch": {
        "in": "header",
        "name": "If-None-Match",
        "required": False,
        "description": "Answer 304 without a body when the resource's current `ETag` is one "
        "of these.",
        "schema": {"type": "string"},
    },
    "IdempotencyKey": {
        "in": "header",
        "name": "Idempotency-Key",
        "required": False,
        "description": "Makes the create safe to retry: within 24 hours, the same key with the "
        "same body gets the first response again (with `Idempotent-Replayed: true`) and creates "
        "nothing; with a different body, 422; while the first is in flight, 409.",
        "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"},
    },
}
# The whitespace `CleanString` trims (Python's, less the control characters it refuses).
TRIMMED = r"[\t\n\r \u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"


def header_refs(*names: str) -> dict[str, dict[str, str]]:
    """Return references to the shared response headers `names`."""
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def parameter_ref(name: str) -> dict[str, str]:
    """Return a reference to one of the shared `PARAMETERS`."""
    return {"$ref": f"#/components/parameters/{name}"}


def _char_class(codepoints: Iterable[int]) -> str:
    """Write code points as the body of a regex character class, in escaped ranges."""
    ranges: list[list[int]] = []
    for point in sorted(codepoints):
        if ranges and ranges[-1][1] == point - 1:
            ranges[-1][1] = point
        else:
            ranges.append([point, point])
    return "".join(
        f"\\u{low:04X}" if low == high else f"\\u{low:04X}-\\u{high:04X}" for low, high in ranges
    )


def text_pattern(allowed: frozenset[str] = frozenset(), *, nonblank: bool = False) -> str:
    """Return the pattern of a string without control characters, and with text if `nonblank`."""
    controls = [*range(0x00, 0x20), *range(0x7F, 0xA0)]
    forbidden = _char_class(point for point in controls if chr(point) not in allowed)
    if not nonblank:
        return f"^[^{forbidden}]*$"
    return f"^[^{forbidden}]*[^\\s{forbidden}][^{forbidden}]*$"


def list_pattern(items: Sequence[str]) -> str:
    """Return the pattern of a comma-separated list of `items` (each one a regex)."""
    item = rf"\s*(?:{'|'.join(items)})\s*"
    return f"^{item}(?:,{item})*$"


def field2contract(_converter: Any, field: fields.Field, ret: dict[str, Any], **_: Any) -> dict:
    """Document the rules the project's own fields enforce beyond their type (apispec hook)."""
    if isinstance(field, PriorityField):
        return {"type": "string", "enum": [*PRIORITY_RANKS, *([None] if field.allow_none else [])]}
    if isinstance(field, CommaSeparated):
        return {
            "type": "string",
            "pattern": list_pattern([re.escape(choice) for choice in field.choices]),
            "example": ",".join(field.choices[:2]),
        }
    if isinstance(field, SortField):
        keys = [f"-?{re.escape(key)}" for key in SORT_KEYS]
        return {"type": "string", "pattern": list_pattern(keys), "example": "-priority,due_date"}
    if isinstance(field, CategoryFilter):
        return {"type": "string", "pattern": "^(?:none|0*[1-9][0-9]{0,9})$", "example": "none"}
    if isinstance(field, UTCTime) and "example" not in ret:
        return {"example": EXAMPLE_TIME}
    if isinstance(field, CleanString):
        return _clean_string_rules(field, ret)
    if isinstance(field, Password):
        rules: dict[str, Any] = {"pattern": text_pattern()}
        if password_policy in field.validators:
            rules.update(minLength=PASSWORD_MIN, maxLength=PASSWORD_MAX, description=PASSWORD_RULES)
        return rules
    return {}


def _clean_string_rules(field: CleanString, ret: dict[str, Any]) -> dict[str, Any]:
    """Document a trimmed string: no control characters; text, unless empty means null."""
    if field.allow_none:
        ret.pop("minLength", None)  # an empty string is stored as null, not refused
    if "pattern" in ret:  # its own validator's pattern, applied after trimming
        inner = ret["pattern"].removeprefix("^").removesuffix("$")
        optional = "?" if field.allow_none else ""
        return {"pattern": f"^{TRIMMED}*(?:{inner}){optional}{TRIMMED}*$"}
    return {"pattern": text_pattern(field.allowed, nonblank=not field.allow_none)}


class EveryOperationPlugin(BasePlugin):
    """Document what every operation has: `X-Request-ID` on each response, and a 500."""

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **_: Any
    ) -> None:
        """Add the header to each response written in place, and the 500 problem response."""
        for operation in (operations or {}).values():
            responses = operation.setdefault("responses", {})
            for response in responses.values():
                if isinstance(response, dict) and "$ref" not in response:
                    response.setdefault("headers", {}).update(header_refs("X-Request-ID"))
            responses.setdefault(500, "INTERNAL_SERVER_ERROR")


def register_components(spec: APISpec) -> None:
    """Add the shared schemas, headers, parameters, problem responses and security scheme."""
    spec.components.schema("Problem", schema=ProblemSchema)
    spec.components.security_scheme(BEARER, SECURITY_SCHEME)
    for name, header in HEADERS.items():
        spec.components.header(name, header)
    for name, parameter in PARAMETERS.items():
        spec.components.parameter(name, parameter["in"], parameter)
    for status in HTTPStatus:
        if status < 400:
            continue
        spec.components.response(
            status.name,
            {
                "description": status.phrase,
                "headers": header_refs("X-Request-ID", *PROBLEM_HEADERS.get(status, ())),
                "content": {PROBLEM_JSON: {"schema": "Problem"}},
            },
            lazy=True,
        )
    spec.components.response(
        "NOT_MODIFIED",
        {"description": "Not Modified", "headers": header_refs("X-Request-ID", "ETag")},
        lazy=True,
    )


# The offline documentation page: Swagger UI from the `swagger-ui-bundle` package.
DOCS_ASSETS = frozenset(
    {
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "index.css",
        "favicon-16x16.png",
        "favicon-32x32.png",
    }
)
DOCS_ASSET_MAX_AGE = 24 * 60 * 60
INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)
assets = Blueprint("docs_assets", __name__)


@assets.get("/docs/assets/<path:filename>")
def docs_asset(filename: str) -> Response:
    """Serve one of Swagger UI's own files from the installed `swagger-ui-bundle` package."""
    if filename not in DOCS_ASSETS:
        raise NotFound
    return send_from_directory(str(swagger_ui_path), filename, max_age=DOCS_ASSET_MAX_AGE)


def docs_page_policy(response: Response) -> Response:
    """Give the docs page a content security policy allowing only its own files and script."""
    if request.endpoint != "api-docs.openapi_swagger_ui":
        return response
    scripts = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in INLINE_SCRIPT.findall(response.get_data())
    )
    response.headers["Content-Security-Policy"] = "; ".join(
        (
            "default-src 'none'",
            f"script-src 'self' {scripts}",
            "style-src 'self' 'unsafe-inline'",  # Swagger UI sets style attributes
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        )
    )
    return response


def register_docs(app: Flask, prefix: str) -> None:
    """Bind flask-smorest's Api, with this module's additions, before any route is registered."""
    app.config.update(
        API_TITLE="TaskTracker API",
        API_VERSION="1.0.0",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=prefix,
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL=f"{prefix}/docs/assets/",
        OPENAPI_SWAGGER_UI_CONFIG={"deepLinking": True, "validatorUrl": None},
    )
    api.init_app(
        app,
        spec_kwargs={
            "info": {"description": DESCRIPTION},
            "servers": [{"url": "/", "description": "This server; every path starts /api/v1."}],
            "security": [{BEARER: []}],
            "extra_plugins": [EveryOperationPlugin()],
        },
    )
    api.ma_plugin.converter.add_attribute_function(field2contract)  # type: ignore[union-attr]
    register_components(api.spec)  # type: ignore[arg-type]
    api.spec.path(  # type: ignore[union-attr]
        rule=next(app.url_map.iter_rules("api-docs.openapi_json")),
        operations={
            "get": {
                "summary": "This OpenAPI document",
                "operationId": "service_openapi_document",
                "tags": ["service"],
                "security": [],
                "responses": {
                    200: {
                        "description": "The OpenAPI 3 document.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    )
    app.register_blueprint(assets, url_prefix=prefix)
    app.after_request(docs_page_policy)
