"""The OpenAPI 3 document, generated from the routes' `Endpoint` specs and their schemas.

Nothing is described twice: the paths come from the URL map; parameters, bodies, responses
and headers from each view's `Endpoint`; every schema from the Marshmallow schema that
validates or dumps it. Each schema gives up to three components, one per use: the output
(`Task`: every dumped field, all present), the input of POST and PUT (`TaskInput`: the loaded
fields, unknown ones refused) and the input of PATCH (`TaskPatch`: the same, none required).

The module also renders the offline Swagger UI page that displays the document.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from http import HTTPStatus
from typing import Any, Literal, cast

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin, resolver
from apispec.ext.marshmallow.common import make_schema_key, resolve_schema_instance
from apispec.ext.marshmallow.openapi import OpenAPIConverter
from flask import Flask, current_app
from markupsafe import escape
from marshmallow import RAISE, Schema, fields
from werkzeug.routing import Rule

from backend.errors import PROBLEM_JSON
from backend.http import JSON, MERGE_PATCH, Endpoint
from backend.schemas.auth import PASSWORD_MAX, PASSWORD_MIN, password_policy
from backend.schemas.bulk import PartialNested
from backend.schemas.common import ProblemSchema
from backend.schemas.fields import (
    INT32_MAX,
    PRIORITY_RANKS,
    CleanString,
    CommaSeparated,
    Password,
    PriorityField,
    UTCTime,
)
from backend.schemas.tasks import SORT_KEYS, CategoryFilter, SortField

OPENAPI_VERSION = "3.0.3"
CACHE_KEY = "tasktracker.openapi"
DOCUMENT_ENDPOINT = "service.openapi_document"
BEARER = "bearerAuth"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
PATH_VARIABLE = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
# Flask's path converters (the app's `id`, Werkzeug's own) as parameter schemas.
PATH_CONVERTERS: dict[str | None, dict[str, Any]] = {
    "id": {
        "description": "The resource's id.",
        "schema": {"type": "integer", "minimum": 1, "maximum": INT32_MAX},
    },
    "int": {"schema": {"type": "integer", "minimum": 0}},
    "uuid": {"schema": {"type": "string", "format": "uuid"}},
}
PASSWORD_RULES = (
    f"{PASSWORD_MIN}-{PASSWORD_MAX} characters with at least one uppercase letter, one digit "
    "and one symbol (a character that is neither a letter nor a digit); never trimmed."
)
EXAMPLE_TIME = "2026-11-25T12:00:00.000000Z"

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

TAGS = {
    "auth": "Accounts, sessions and tokens.",
    "tasks": "The user's tasks: list with filters, sort and pages; create, read, change, delete.",
    "categories": "The user's categories for tasks.",
    "service": "Health and this documentation.",
}

AUTH_NOTES = {
    "access": "Needs an access token: `Authorization: Bearer <access_token>`.",
    "refresh": "Needs the **refresh** token, not the access token: "
    "`Authorization: Bearer <refresh_token>`. An access token here is 401 `token_invalid`.",
    "any": "Takes the session's access token or its refresh token.",
}

# Status → (component name, description); each becomes a shared problem+json response.
ERRORS: dict[int, tuple[str, str]] = {
    400: (
        "BadRequest",
        "`validation_error`: a body field or query parameter is missing, of the wrong type, "
        "out of range or unknown; `errors` maps each to its messages. `invalid_json`: the "
        "body does not parse as JSON.",
    ),
    401: (
        "Unauthorized",
        "`token_missing`, `token_invalid`, `token_expired` or `token_revoked`; "
        "`invalid_credentials` for a wrong email or password at login.",
    ),
    403: ("Forbidden", "`forbidden`: the resource exists but belongs to another user."),
    404: ("NotFound", "`not_found`: no such resource."),
    409: (
        "Conflict",
        "`email_taken` or `category_exists` (uniqueness), or `idempotency_key_in_use`.",
    ),
    412: (
        "PreconditionFailed",
        "`precondition_failed`: `If-Match` does not match the current `ETag`; nothing changed.",
    ),
    413: ("PayloadTooLarge", "`payload_too_large`: the body is larger than 1 MiB."),
    415: (
        "UnsupportedMediaType",
        "`unsupported_media_type`: the body is not sent as `application/json` "
        "(or, for PATCH, `application/merge-patch+json`).",
    ),
    422: (
        "UnprocessableContent",
        "`idempotency_key_reused`: the `Idempotency-Key` was used with a different body.",
    ),
    429: ("TooManyRequests", "`rate_limited`: too many requests; retry after `Retry-After`."),
    500: ("InternalServerError", "`internal_error`: a bug; never with details."),
    503: ("ServiceUnavailable", "`service_unavailable`: the database is unreachable."),
}
ERROR_HEADERS = {
    401: ("WWW-Authenticate",),
    429: ("Retry-After", "RateLimit", "RateLimit-Policy"),
}

HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "The request's id: the client's own `X-Request-ID` when it is 1-128 "
        "characters of `A-Z a-z 0-9 . _ -`, else a new one.",
        "required": True,
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,128}$"},
    },
    "ETag": {
        "description": "The strong entity tag of the resource as returned; send it back in "
        "`If-Match` or `If-None-Match`.",
        "required": True,
        "schema": {"type": "string", "example": '"5d41402abc4b2a76b9719d911017c592"'},
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
        "description": "The authentication challenge: `Bearer`, with the error when a token "
        "was sent.",
        "required": True,
        "schema": {"type": "string", "pattern": "^Bearer"},
    },
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
    "IdempotencyKey": {
        "in": "header",
        "name": "Idempotency-Key",
        "required": False,
        "description": "Makes the create safe to retry: within 24 hours, the same key with the "
        "same body gets the first response again (with `Idempotent-Replayed: true`) and creates "
        "nothing; with a different body, 422; while the first is in flight, 409.",
        "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"},
    },
    "IfNoneMatch": {
        "in": "header",
        "name": "If-None-Match",
        "required": False,
        "description": "Answer 304 without a body when the resource's current `ETag` is one "
        "of these.",
        "schema": {"type": "string"},
    },
}

SECURITY_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "An access token from `POST /api/v1/auth/login` or `/auth/refresh`. "
    "`POST /api/v1/auth/refresh` takes the refresh token instead.",
}

Use = Literal["output", "input", "patch"]
SUFFIXES: dict[Use, str] = {"output": "", "input": "Input", "patch": "Patch"}


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


# The whitespace `CleanString` trims (Python's, less the control characters it refuses).
TRIMMED = r"[\t\n\r \u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"


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


class Converter(OpenAPIConverter):
    """apispec's converter with the project's fields, and one component per schema and use."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Create the converter; its field mapping is its own, not apispec's global one."""
        super().__init__(*args, **kwargs)
        self.field_mapping = dict(self.field_mapping)
        self.use: Use = "output"
        self.names: dict[tuple[Any, ...], str] = {}

    def init_attribute_functions(self) -> None:
        """Run the built-in field converters, then the one for the project's own fields."""
        super().init_attribute_functions()
        self.attribute_functions.append(self.field2contract)

    def field2contract(self, field: fields.Field, ret: dict[str, Any], **_: Any) -> dict[str, Any]:
        """Document the rules the project's own fields enforce beyond their type."""
        if isinstance(field, PriorityField):
            return {"enum": [*PRIORITY_RANKS, *([None] if field.allow_none else [])]}
        if isinstance(field, CommaSeparated):
            return {
                "pattern": list_pattern([re.escape(choice) for choice in field.choices]),
                "example": ",".join(field.choices[:2]),
            }
        if isinstance(field, SortField):
            keys = [f"-?{re.escape(key)}" for key in SORT_KEYS]
            return {"pattern": list_pattern(keys), "example": "-priority,due_date"}
        if isinstance(field, CategoryFilter):
            return {"pattern": "^(?:none|0*[1-9][0-9]{0,9})$", "example": "none"}
        if isinstance(field, UTCTime) and "example" not in ret:
            return {"example": EXAMPLE_TIME}
        if isinstance(field, CleanString):
            return self.clean_string_rules(field, ret)
        if isinstance(field, Password):
            return self.password_rules(field)
        return {}

    @staticmethod
    def clean_string_rules(field: CleanString, ret: dict[str, Any]) -> dict[str, Any]:
        """Document a trimmed string: no control characters; text, unless empty means null."""
        if field.allow_none:
            ret.pop("minLength", None)  # an empty string is stored as null, not refused
        if "pattern" in ret:  # its own validator's pattern, applied after trimming
            inner = ret["pattern"].removeprefix("^").removesuffix("$")
            optional = "?" if field.allow_none else ""
            return {"pattern": f"^{TRIMMED}*(?:{inner}){optional}{TRIMMED}*$"}
        return {"pattern": text_pattern(field.allowed, nonblank=not field.allow_none)}

    @staticmethod
    def password_rules(field: Password) -> dict[str, Any]:
        """Document a password: no control characters; a new one follows the policy too."""
        rules: dict[str, Any] = {"pattern": text_pattern()}
        if password_policy in field.validators:
            rules.update(minLength=PASSWORD_MIN, maxLength=PASSWORD_MAX, description=PASSWORD_RULES)
        return rules

    def component(self, schema: Schema, use: Use) -> dict[str, str]:
        """Register the component of `schema` for `use` once; return a reference to it."""
        key = (*make_schema_key(schema)[:-1], use)
        if key not in self.names:
            base, suffix = resolver(type(schema)), SUFFIXES[use]
            base = base.removesuffix(suffix)  # `ProfilePatch` as a patch stays `ProfilePatch`
            name, taken, count = base + suffix, set(self.names.values()), 1
            while name in taken:
                count += 1
                name = f"{base}{count}{suffix}"
            self.names[key] = name
            outer, self.use = self.use, use
            try:
                body = self.object_schema(schema, use)
            finally:
                self.use = outer
            self.spec.components.schema(name, component=body)
        return self.spec.components.get_ref("schema", self.names[key])

    def object_schema(self, schema: Schema, use: Use) -> dict[str, Any]:
        """Return the JSON schema of `schema` as output, as input, or as partial input."""
        output = use == "output"
        chosen = schema.dump_fields if output else schema.load_fields
        body = self.fields2jsonschema(chosen, partial=use == "patch")
        if use != "input":
            for prop in body["properties"].values():
                prop.pop("default", None)  # defaults fill omitted fields of POST and PUT only
        if output and body["properties"]:
            body["required"] = sorted(body["properties"])  # a dump writes every field
        body["additionalProperties"] = not output and schema.unknown != RAISE
        return body

    def nested2properties(self, field: fields.Field, ret: dict[str, Any]) -> dict[str, Any]:
        """Refer to a nested schema's component; one loaded as a partial update is a patch."""
        if isinstance(field, PartialNested) and self.use == "input":
            self.use = "patch"
            try:
                return super().nested2properties(field, ret)
            finally:
                self.use = "input"
        return super().nested2properties(field, ret)

    def resolve_nested_schema(self, schema: Any) -> dict[str, Any]:
        """Refer to a nested schema's component for the use being written."""
        instance = resolve_schema_instance(schema)
        use: Use = "patch" if self.use == "input" and instance.partial is True else self.use
        ref = self.component(instance, use)
        if getattr(instance, "many", False):
            return {"type": "array", "items": ref}
        return ref


class Plugin(MarshmallowPlugin):
    """The Marshmallow plugin, with the project's converter."""

    Converter = Converter


class DocumentBuilder:
    """Write the OpenAPI document of an app's routes."""

    def __init__(self, app: Flask) -> None:
        """Start an empty document for `app`."""
        self.app = app
        self.plugin = Plugin()
        self.spec = APISpec(
            title="TaskTracker API",
            version="1.0.0",
            openapi_version=OPENAPI_VERSION,
            plugins=[self.plugin],
            info={"description": DESCRIPTION},
            servers=[{"url": "/", "description": "This server; every path starts /api/v1."}],
        )
        for field_cls in (PriorityField, CommaSeparated, SortField, CategoryFilter):
            self.plugin.map_to_openapi_type(field_cls, "string", None)
        self.converter = cast(Converter, self.plugin.converter)
        components = self.spec.components
        components.security_scheme(BEARER, SECURITY_SCHEME)
        for name, header in HEADERS.items():
            components.header(name, header)
        for name, parameter in PARAMETERS.items():
            components.parameter(name, parameter["in"], parameter)
        components.schema("Problem", schema=ProblemSchema)
        self.responses: set[int] = set()

    def build(self) -> dict[str, Any]:
        """Document every route that has an `Endpoint`, plus this document's own route."""
        tags: set[str] = set()
        for rule in sorted(self.app.url_map.iter_rules(), key=lambda rule: rule.rule):
            view = self.app.view_functions[rule.endpoint]
            spec: Endpoint | None = getattr(view, "endpoint_spec", None)
            tag = self.tag(rule)
            if spec is not None:
                for method in (method for method in METHODS if method in (rule.methods or ())):
                    operation = self.operation(rule, method, spec, tag)
                    self.spec.path(path=self.path(rule), operations={method.lower(): operation})
                    tags.add(tag)
            elif rule.endpoint == DOCUMENT_ENDPOINT:
                self.spec.path(path=self.path(rule), operations={"get": self.document_operation()})
                tags.add(tag)
        for tag in [*(tag for tag in TAGS if tag in tags), *sorted(tags - TAGS.keys())]:
            self.spec.tag({"name": tag, **({"description": TAGS[tag]} if tag in TAGS else {})})
        return self.spec.to_dict()

    @staticmethod
    def tag(rule: Rule) -> str:
        """Group a route with its resource (`/auth/...`, `/tasks...`), else with its blueprint."""
        blueprint = rule.endpoint.partition(".")[0]
        return next((segment for segment in rule.rule.split("/") if segment in TAGS), blueprint)

    @staticmethod
    def path(rule: Rule) -> str:
        """Turn a Flask rule (`/tasks/<id:resource_id>`) into a path template (`/tasks/{...}`)."""
        return PATH_VARIABLE.sub(lambda match: "{" + match["name"] + "}", rule.rule)

    @staticmethod
    def path_parameters(rule: Rule) -> list[dict[str, Any]]:
        """Return the path parameters of `rule`, typed by their converter."""
        return [
            {
                "in": "path",
                "name": match["name"],
                "required": True,
                **PATH_CONVERTERS.get(match["converter"], {"schema": {"type": "string"}}),
            }
            for match in PATH_VARIABLE.finditer(rule.rule)
        ]

    def header(self, name: str) -> dict[str, str]:
        """Refer to a shared header."""
        return self.spec.components.get_ref("header", name)

    def headers(self, *names: str) -> dict[str, dict[str, str]]:
        """Return the headers of a response: `X-Request-ID` and `names`."""
        return {name: self.header(name) for name in ("X-Request-ID", *names)}

    def error(self, status: int) -> dict[str, str]:
        """Refer to the shared problem+json response of `status`, registering it once."""
        name, description = ERRORS.get(status, (f"Problem{status}", HTTPStatus(status).phrase))
        if status not in self.responses:
            self.responses.add(status)
            self.spec.components.response(
                name,
                {
                    "description": f"{HTTPStatus(status).phrase}: {description}",
                    "headers": self.headers(*ERROR_HEADERS.get(status, ())),
                    "content": {
                        PROBLEM_JSON: {"schema": self.spec.components.get_ref("schema", "Problem")}
                    },
                },
            )
        return self.spec.components.get_ref("response", name)

    def operation(self, rule: Rule, method: str, spec: Endpoint, tag: str) -> dict[str, Any]:
        """Return the operation of `method` on `rule`, as its `Endpoint` describes it."""
        operation: dict[str, Any] = {
            "operationId": rule.endpoint.replace(".", "_"),
            "summary": spec.summary,
            "tags": [tag],
            "security": [{BEARER: []}] if spec.auth is not None else [],
        }
        description = " ".join(
            note for note in (spec.description, AUTH_NOTES.get(spec.auth or "")) if note
        )
        if description:
            operation["description"] = description
        parameters: list[dict[str, Any] | str] = [*self.path_parameters(rule)]
        if spec.query is not None:
            parameters += self.converter.schema2parameters(spec.query, location="query")
        if spec.idempotent:
            parameters.append("IdempotencyKey")
        if spec.etag and method == "GET":
            parameters.append("IfNoneMatch")  # apispec turns a name into a $ref
        if spec.if_match:
            parameters.append("IfMatch")
        if parameters:
            operation["parameters"] = parameters
        if spec.body is not None:
            body = self.converter.component(spec.body, "patch" if spec.partial else "input")
            media_types = (JSON, MERGE_PATCH) if method == "PATCH" else (JSON,)
            operation["requestBody"] = {
                "required": True,
                "content": {media_type: {"schema": body} for media_type in media_types},
            }
        operation["responses"] = self.responses_of(method, spec)
        return operation

    def responses_of(self, method: str, spec: Endpoint) -> dict[str, Any]:
        """Return the success response, 304 where it applies, and every error response."""
        names = [
            name
            for name, present in (
                ("Location", spec.location),
                ("ETag", spec.etag),
                ("Link", spec.links),
                ("RateLimit", spec.rate_limited),
                ("RateLimit-Policy", spec.rate_limited),
                ("Idempotent-Replayed", spec.idempotent),
            )
            if present
        ]
        success: dict[str, Any] = {
            "description": HTTPStatus(spec.status).phrase,
            "headers": self.headers(*names),
        }
        if spec.response is not None and spec.status != HTTPStatus.NO_CONTENT:
            success["content"] = {
                JSON: {"schema": self.converter.component(spec.response, "output")}
            }
        responses: dict[str, Any] = {str(spec.status): success}
        if spec.etag and method == "GET":
            responses["304"] = {
                "description": "Not Modified: the resource still has an `ETag` of `If-None-Match`.",
                "headers": self.headers("ETag"),
            }
        statuses = {*spec.errors, 500, 503}
        if spec.auth is not None:
            statuses.add(401)
        if spec.rate_limited:
            statuses.add(429)
        if spec.idempotent:
            statuses.update((409, 422))
        if spec.query is not None:
            statuses.add(400)
        if spec.body is not None:
            statuses.update((400, 413, 415))
        for status in sorted(statuses):
            responses[str(status)] = self.error(status)
        return responses

    def document_operation(self) -> dict[str, Any]:
        """Return the operation that serves this document."""
        return {
            "operationId": DOCUMENT_ENDPOINT.replace(".", "_"),
            "summary": "This OpenAPI document",
            "tags": ["service"],
            "security": [],
            "responses": {
                "200": {
                    "description": "The OpenAPI 3.0 document of this API.",
                    "headers": self.headers(),
                    "content": {JSON: {"schema": {"type": "object"}}},
                },
                "500": self.error(500),
            },
        }


def build_spec() -> dict[str, Any]:
    """Return the OpenAPI document of the current app, built once and then cached."""
    extensions = current_app.extensions
    if CACHE_KEY not in extensions:
        extensions[CACHE_KEY] = DocumentBuilder(current_app).build()
    return extensions[CACHE_KEY]


# The offline documentation page: Swagger UI served from the `swagger-ui-bundle` package.

DOCS_ASSETS = frozenset(
    {
        "swagger-ui.css",
        "swagger-ui.css.map",
        "swagger-ui-bundle.js",
        "swagger-ui-bundle.js.map",
        "swagger-ui-standalone-preset.js",
        "swagger-ui-standalone-preset.js.map",
        "index.css",
        "favicon-16x16.png",
        "favicon-32x32.png",
    }
)
DOCS_ASSET_MAX_AGE = 24 * 60 * 60
DOCS_CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",  # Swagger UI sets style attributes
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)


def docs_html(asset_url: Callable[[str], str], initializer_url: str) -> str:
    """Return the Swagger UI page; every script and style it loads comes from this app."""
    styles = "\n".join(
        f'    <link rel="stylesheet" href="{escape(asset_url(name))}">'
        for name in ("swagger-ui.css", "index.css")
    )
    icons = "\n".join(
        f'    <link rel="icon" type="image/png" href="{escape(asset_url(name))}" sizes="{size}">'
        for name, size in (("favicon-32x32.png", "32x32"), ("favicon-16x16.png", "16x16"))
    )
    scripts = "\n".join(
        f'    <script src="{escape(url)}"></script>'
        for url in (
            asset_url("swagger-ui-bundle.js"),
            asset_url("swagger-ui-standalone-preset.js"),
            initializer_url,
        )
    )
    return f"""<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>TaskTracker API documentation</title>
{styles}
{icons}
  </head>
  <body>
    <div id="swagger-ui"></div>
{scripts}
  </body>
</html>
"""


def docs_initializer(document_url: str) -> str:
    """Return the script that starts Swagger UI on the OpenAPI document at `document_url`."""
    return f"""window.onload = function () {{
  window.ui = SwaggerUIBundle({{
    url: {json.dumps(document_url)},
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout",
  }});
}};
"""
