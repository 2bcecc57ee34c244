"""Idempotency keys: a create sent again with the same key and body is answered, not redone."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from backend.errors import Conflict, UnprocessableContent
from backend.extensions import db
from backend.models import IdempotencyRecord, utcnow

KEY_LIFETIME = timedelta(hours=24)
# An in-flight record older than this belongs to a request that died: another may take it over.
STALE_IN_FLIGHT = timedelta(seconds=60)
REPLAYED_HEADERS = ("Location", "ETag")


@dataclass(frozen=True)
class StoredResponse:
    """The first successful response to a keyed request."""

    status: int
    body: str
    headers: dict[str, str]


def request_fingerprint(body: Any) -> str:
    """Return a hash of the request body that is equal for bodies equal as JSON."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def claim(user_id: int, route: str, key: str, fingerprint: str) -> int | StoredResponse:
    """Claim the key for this request (its record id), or return the response to replay.

    Raises 422 `idempotency_key_reused` for another body, 409 `idempotency_key_in_use`
    while the first request is still in flight.
    """
    now = utcnow()
    db.session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.user_id == user_id,
            IdempotencyRecord.route == route,
            IdempotencyRecord.key == key,
            IdempotencyRecord.expires_at <= now,
        )
    )
    record = IdempotencyRecord(
        user_id=user_id,
        route=route,
        key=key,
        request_hash=fingerprint,
        created_at=now,
        expires_at=now + KEY_LIFETIME,
    )
    db.session.add(record)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return _existing(user_id, route, key, fingerprint)
    return record.id


def _existing(user_id: int, route: str, key: str, fingerprint: str) -> int | StoredResponse:
    """Decide what to do about a key that another request already claimed."""
    record = db.session.scalars(
        select(IdempotencyRecord).where(
            IdempotencyRecord.user_id == user_id,
            IdempotencyRecord.route == route,
            IdempotencyRecord.key == key,
        )
    ).one()
    if record.request_hash != fingerprint:
        raise UnprocessableContent(
            "This Idempotency-Key was already used with a different request body.",
            code="idempotency_key_reused",
        )
    if record.response_status is not None:
        return StoredResponse(
            record.response_status,
            record.response_body or "",
            json.loads(record.response_headers or "{}"),
        )
    if _take_over_stale(record):
        return record.id
    raise Conflict(
        "A request with this Idempotency-Key is still in flight; retry shortly.",
        code="idempotency_key_in_use",
        headers={"Retry-After": "1"},
    )


def _take_over_stale(record: IdempotencyRecord) -> bool:
    """Claim an in-flight record whose request died; tell whether this request now owns it."""
    now = utcnow()
    taken = db.session.execute(
        update(IdempotencyRecord)
        .where(
            IdempotencyRecord.id == record.id,
            IdempotencyRecord.response_status.is_(None),
            IdempotencyRecord.created_at <= now - STALE_IN_FLIGHT,
        )
        .values(created_at=now, expires_at=now + KEY_LIFETIME)
    )
    db.session.commit()
    return taken.rowcount == 1  # type: ignore[attr-defined]


def store(record_id: int, response: StoredResponse) -> None:
    """Keep the first successful response, for replays within 24 hours."""
    db.session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.id == record_id)
        .values(
            response_status=response.status,
            response_body=response.body,
            response_headers=json.dumps(response.headers),
        )
    )
    db.session.commit()


def release(record_id: int) -> None:
    """Forget a claim whose request failed, so the key can be used again."""
    db.session.rollback()
    db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))
    db.session.commit()


def purge_expired() -> int:
    """Delete expired keys; return how many went (commit is the caller's)."""
    result = db.session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= utcnow())
    )
    return result.rowcount  # type: ignore[attr-defined]
