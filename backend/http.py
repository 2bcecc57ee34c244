"""HTTP glue shared by every route: the `endpoint` decorator, body parsing, ETags, links."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, cast
from urllib.parse import urlencode

from flask import Response, request
from marshmallow import Schema, ValidationError

from backend.auth import Principal, SessionCheck, TokenKind, authenticate, confirm_session
from backend.cache import request_key, response_cache
from backend.database import use_autocommit
from backend.errors import InvalidJSON, PreconditionFailed, UnsupportedMediaType, ValidationFailed
from backend.schemas.dump import dumper_for
from backend.services import idempotency

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
READS = frozenset({"GET", "HEAD"})
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")


@dataclass(frozen=True)
class Endpoint:
    """What a route takes and answers; the decorator enforces it and OpenAPI documents it."""

    summary: str
    auth: TokenKind | None = "access"
    body: Schema | None = None
    partial: bool = False
    query: Schema | None = None
    response: Schema | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    etag: bool = False
    if_match: bool = False
    location: bool = False
    links: bool = False
    rate_limited: bool = False
    idempotent: bool = False
    cached: bool = False
    # The view's writes are single statements that check the session and lock what they need
    # themselves (the user's row first, `backend.auth.LIVE_USER`): the request runs in
    # autocommit, with one round trip per write, no BEGIN or COMMIT, and no lock held between
    # statements. A keyed (Idempotency-Key) request still gets transactions.
    autocommit: bool = False
    description: str = ""


@dataclass
class Reply:
    """A view's result: the object to dump with the endpoint's schema, plus headers."""

    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


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


def load(schema: Schema, data: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """Validate `data` with `schema`, raising the contract's 400 naming each bad field."""
    try:
        return cast(dict[str, Any], schema.load(data, partial=partial))
    except ValidationError as error:
        raise ValidationFailed(errors=flatten_errors(error.normalized_messages())) from None


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


def encode(data: Any) -> str:
    """Serialize `data` as compact JSON: every response body, and what its ETag hashes.

    Dumpers emit keys in their schema's order, so one state of a resource always encodes to
    the same text.
    """
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def etag_of(body: str) -> str:
    """Return the strong ETag of a representation's JSON text."""
    return f'"{hashlib.sha256(body.encode()).hexdigest()[:32]}"'


def require_match(schema: Schema, resource: object) -> None:
    """Raise 412 when the request's `If-Match` does not match the resource's current ETag."""
    condition = request.if_match
    if not condition:
        return
    if condition.star_tag or condition.contains(
        etag_of(encode(dumper_for(schema)(resource))).strip('"')
    ):
        return
    raise PreconditionFailed


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """Serialize `data` as UTF-8 JSON."""
    return Response(encode(data), status=status, headers=dict(headers or {}), mimetype=JSON)


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


def _render(spec: Endpoint, result: Reply | Any) -> Response:
    """Turn a view's result into the response its endpoint promises."""
    reply = result if isinstance(result, Reply) else Reply(result)
    if spec.response is None:
        return Response(status=spec.status, headers=reply.headers)
    data = dumper_for(spec.response)(reply.body)
    body = encode(data)
    if spec.etag:
        tag = etag_of(body)
        reply.headers["ETag"] = tag
        if request.method == "GET" and request.if_none_match.contains_weak(tag.strip('"')):
            return Response(status=304, headers=reply.headers)
    if spec.links:
        reply.headers["Link"] = page_links(data["total"], data["limit"], data["offset"])
    return Response(body, status=spec.status, headers=reply.headers, mimetype=JSON)


def _idempotent(
    user_id: int, key: str, body: Mapping[str, Any], respond: Callable[[], Response]
) -> Response:
    """Answer a keyed create: replay the first success, or run it once and keep its response."""
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise ValidationFailed.on("Idempotency-Key", "Must be 1-255 visible ASCII characters.")
    route = f"{request.method} {request.url_rule.rule if request.url_rule else request.path}"
    claimed = idempotency.claim(user_id, route, key, idempotency.request_fingerprint(body))
    if isinstance(claimed, idempotency.StoredResponse):
        headers = {**claimed.headers, "Idempotent-Replayed": "true"}
        return Response(claimed.body, status=claimed.status, headers=headers, mimetype=JSON)
    try:
        response = respond()
    except Exception:
        idempotency.release(claimed)
        raise
    kept = {
        name: response.headers[name]
        for name in idempotency.REPLAYED_HEADERS
        if name in response.headers
    }
    idempotency.store(
        claimed,
        idempotency.StoredResponse(response.status_code, response.get_data(as_text=True), kept),
    )
    return response


def _cached(principal: Principal, respond: Callable[[], Response]) -> Response:
    """Answer a read from the response cache, or render it and keep a 200 for next time."""
    cache, key = response_cache(), request_key(principal)
    hit = cache.get(key)
    if hit is not None:
        return hit.replay()
    response = respond()
    if response.status_code == 200:
        cache.put(key, response)
    return response


def session_check(spec: Endpoint) -> SessionCheck:
    """Decide how this request checks its session and which connection mode it runs in.

    Reads run in autocommit (each statement its own snapshot: a GET never writes) and check
    the session. A route whose writes are single statements (`Endpoint.autocommit`) also runs
    in autocommit, and leaves the session check to its write statement ("defer"): one round
    trip instead of two. Every other write is a transaction that locks the user's row first.
    """
    if request.method in READS:
        use_autocommit()
        return "check"
    if spec.autocommit and not (spec.idempotent and "Idempotency-Key" in request.headers):
        use_autocommit()
        return "defer"
    return "lock"


def endpoint(spec: Endpoint) -> Callable[[Callable[..., Any]], Callable[..., Response]]:
    """Authenticate, parse (query, then body) and serialize around a view, as `spec` says."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Response]:
        @wraps(view)
        def wrapper(**kwargs: Any) -> Response:
            check = session_check(spec)
            if spec.auth is None:
                return _respond(spec, view, None, kwargs)
            principal = authenticate(spec.auth, session=check)
            try:
                response = _respond(spec, view, principal, kwargs)
            except Exception:
                confirm_session()  # a revoked session's 401 comes before any other answer
                raise
            confirm_session()
            return response

        wrapper.endpoint_spec = spec  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _respond(
    spec: Endpoint, view: Callable[..., Any], principal: Principal | None, kwargs: dict[str, Any]
) -> Response:
    """Parse the query and the body, run the view and render its result."""
    if spec.query is not None:
        kwargs["query"] = load(spec.query, request.args.to_dict())
    body: dict[str, Any] = {}
    if spec.body is not None:
        body = read_json_object(merge_patch=request.method == "PATCH")
        kwargs["body"] = load(spec.body, body, partial=spec.partial)
    key = request.headers.get("Idempotency-Key")
    if spec.idempotent and principal is not None and key is not None:
        return _idempotent(principal.user_id, key, body, lambda: _render(spec, view(**kwargs)))
    if spec.cached and principal is not None:
        return _cached(principal, lambda: _render(spec, view(**kwargs)))
    return _render(spec, view(**kwargs))
