"""The HTTP layer on flask-smorest: the Api and Blueprint, body parsing, conditional requests.

flask-smorest declares each route (`@bp.arguments`, `@bp.response`, `@bp.alt_response`) and
generates the OpenAPI document from the same schemas. What it does not do, and this module adds:

- errors as RFC 9457 problem+json, with the contract's 400 (never 422) for bad input;
- a strict JSON body reader (415 for other media types, `invalid_json`, objects only);
- `If-None-Match` on GET and HEAD, in one after-request hook, for every response that carries
  an `ETag`;
- the RFC 8288 `Link` header of a page (flask-smorest's pagination is page/page_size with an
  `X-Pagination` header, not the contract's limit/offset).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any, NoReturn, TypeVar, cast
from urllib.parse import urlencode

import flask_smorest
from flask import Flask, Response, request
from marshmallow import Schema, ValidationError
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException

from backend.errors import (
    InvalidJSON,
    UnsupportedMediaType,
    ValidationFailed,
    problem_for_http_exception,
)

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
PROBLEM_JSON = "application/problem+json"
F = TypeVar("F", bound=Callable[..., Any])


def flatten_errors(
    messages: Mapping[Any, Any] | list[Any], prefix: str = ""
) -> dict[str, list[str]]:
    """Flatten marshmallow's nested messages into `{"field" or "field.0": [messages]}`."""
    if isinstance(messages, list):
        return {prefix or "body": [str(message) for message in messages]}
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        flat.update(flatten_errors(value, name))
    return flat


def read_json_object(*, merge_patch: bool = False) -> dict[str, Any]:
    """Return the request body as a JSON object, or raise 415, 400 `invalid_json` or 400."""
    raw = request.get_data(cache=True)
    allowed = (JSON, MERGE_PATCH) if merge_patch else (JSON,)
    if request.mimetype not in allowed:
        if not raw and not request.mimetype:
            raise ValidationFailed.on("body", "A JSON object body is required.")
        raise UnsupportedMediaType(f"The request body must be sent as Content-Type: {JSON}.")
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise InvalidJSON from None
    if not isinstance(data, dict):
        raise ValidationFailed(
            "The request body must be a JSON object.", errors={"body": ["Must be a JSON object."]}
        )
    return data


def _refuse_constant(name: str) -> None:
    """Refuse `NaN` and `Infinity`, which are not JSON."""
    raise ValueError(name)


class Parser(FlaskParser):
    """webargs' Flask parser with the contract's body rules and its 400 problem for bad input."""

    DEFAULT_VALIDATION_STATUS = 400

    def load_json(self, req: Any, schema: Schema) -> Any:
        """Read the body strictly; PATCH also accepts JSON merge patch (RFC 7396)."""
        return read_json_object(merge_patch=req.method == "PATCH")

    def handle_error(
        self, error: ValidationError, req: Any, schema: Schema, **kwargs: Any
    ) -> NoReturn:
        """Raise the contract's 400, naming each bad field or parameter (without its location)."""
        messages = error.normalized_messages()
        by_location = messages if isinstance(messages, dict) else {}
        inner = next(iter(by_location.values())) if len(by_location) == 1 else messages
        raise ValidationFailed(errors=flatten_errors(inner)) from None


class Blueprint(flask_smorest.Blueprint):
    """A flask-smorest blueprint whose routes parse with `Parser` and document problem answers."""

    ARGUMENTS_PARSER = Parser()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Create the blueprint, with the doc step that lists a route's header parameters."""
        super().__init__(*args, **kwargs)
        self._prepare_doc_cbks.append(self._prepare_header_doc)

    def route(self, rule: str, *, parameters: Any = None, tags: Any = None, **options: Any) -> Any:
        """Register a view, documented with the operation id `<blueprint>_<view name>`."""
        register = super().route(rule, parameters=parameters, tags=tags, **options)

        def decorate(view: F) -> F:
            endpoint = options.get("endpoint") or view.__name__
            apidoc = dict(getattr(view, "_apidoc", {}))
            apidoc["manual_doc"] = {"operationId": f"{self.name}_{endpoint}"} | apidoc.get(
                "manual_doc", {}
            )
            view._apidoc = apidoc  # type: ignore[attr-defined]
            return register(view)

        return decorate

    @staticmethod
    def headers(*names: str) -> Callable[[F], F]:
        """Document request headers a route reads (`backend.docs.PARAMETERS` names)."""

        def decorate(view: F) -> F:
            apidoc = dict(getattr(view, "_apidoc", {}))
            apidoc["header_parameters"] = [*apidoc.get("header_parameters", []), *names]
            view._apidoc = apidoc  # type: ignore[attr-defined]
            return view

        return decorate

    @staticmethod
    def _prepare_header_doc(doc: dict[str, Any], doc_info: dict[str, Any], **_: Any) -> dict:
        """Add the route's header parameters to its operation."""
        for name in doc_info.get("header_parameters", ()):
            doc.setdefault("parameters", []).append(name)  # apispec refers to the component
        return doc

    def problems(self, *statuses: int) -> Callable[[F], F]:
        """Document the problem+json answers a route may give, besides its success."""

        def decorate(view: F) -> F:
            for status in statuses:
                view = cast(F, self.alt_response(status, response=HTTPStatus(status).name)(view))
            return view

        return decorate


class Api(flask_smorest.Api):
    """flask-smorest's Api, answering its HTTP errors as problem+json.

    Its error responses are documented as problem+json by `backend.docs`, which registers them
    under flask-smorest's own names (`NOT_FOUND`, ...) in place of its default JSON ones.
    """

    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_responses(self) -> None:
        """Leave the error response components to `backend.docs.register_components`."""

    def handle_http_exception(self, error: HTTPException) -> Response:  # type: ignore[override]
        """Answer an error raised by werkzeug, Flask or flask-smorest."""
        return problem_for_http_exception(error)


def page_links(total: int, limit: int, offset: int) -> str:
    """Return the RFC 8288 `Link` header of a page, keeping the request's filters and sort."""
    kept = [
        (key, value)
        for key, value in request.args.items(multi=True)
        if key not in {"limit", "offset"}
    ]
    last = ((total - 1) // limit) * limit if total > 0 else 0
    targets = {"first": 0, "last": last}
    if offset > 0:
        targets["prev"] = max(0, min(offset - limit, last))
    if offset + limit < total:
        targets["next"] = offset + limit
    return ", ".join(
        f'<{request.base_url}?{urlencode([*kept, ("limit", limit), ("offset", to)])}>; rel="{rel}"'
        for rel, to in targets.items()
    )


def answer_conditionally(response: Response) -> Response:
    """Answer GET and HEAD with 304 and no body when `If-None-Match` names the response's ETag.

    werkzeug's `make_conditional` would also turn a GET with `If-Match` into a 412, which a read
    never is here; its parsed headers (`request.if_none_match`, `get_etag`) do the matching.
    """
    tag, _weak = response.get_etag()
    if (
        request.method in ("GET", "HEAD")
        and response.status_code == 200
        and tag is not None
        and request.if_none_match.contains_weak(tag)
    ):
        response.status_code = 304
        response.set_data(b"")
    return response


def register_http(app: Flask) -> None:
    """Install the conditional-request hook and compact JSON bodies."""
    app.json.compact = True  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.after_request(answer_conditionally)
