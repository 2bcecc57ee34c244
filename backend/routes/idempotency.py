"""`Idempotency-Key` on creates: a request sent again with the same key is answered, not redone."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Response, request

from backend.auth import current_user_id
from backend.errors import ValidationFailed
from backend.http import read_json_object
from backend.services import idempotency

IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")


def idempotent(view: Callable[..., Any]) -> Callable[..., Any]:
    """Replay the first success of a keyed create, or run it once and keep its response.

    Goes between `jwt_required()` (the key is the user's) and `@bp.response` (it keeps the
    rendered response). A request without the header runs as usual.
    """

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view(*args, **kwargs)
        if not IDEMPOTENCY_KEY.fullmatch(key):
            raise ValidationFailed.on("Idempotency-Key", "Must be 1-255 visible ASCII characters.")
        fingerprint = idempotency.request_fingerprint(read_json_object())
        route = f"{request.method} {request.url_rule.rule if request.url_rule else request.path}"
        claimed = idempotency.claim(current_user_id(), route, key, fingerprint)
        if isinstance(claimed, idempotency.StoredResponse):
            headers = {**claimed.headers, "Idempotent-Replayed": "true"}
            return Response(claimed.body, claimed.status, headers, mimetype="application/json")
        try:
            response = view(*args, **kwargs)
        except Exception:
            idempotency.release(claimed)
            raise
        kept = {
            name: response.headers[name]
            for name in idempotency.REPLAYED_HEADERS
            if name in response.headers
        }
        stored = idempotency.StoredResponse(
            response.status_code, response.get_data(as_text=True), kept
        )
        idempotency.store(claimed, stored)
        return response

    return wrapper
