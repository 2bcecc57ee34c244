"""A per-process cache of rendered responses to reads of a user's tasks and categories.

A cached response is keyed by the user's `data_version`, which database triggers move in the
same transaction as every write to the user's tasks or categories (migration 0004), and which
`backend.auth` reads in the session check every request makes anyway. A repeated read of
unchanged data therefore costs that one query: no counting, no page query, no serialization.
It is never stale: the version is read before the data, and any change moves it, so a key can
only ever name one state of the data. The user's creation time is part of the key too, so a
user id reused after the database was emptied cannot meet an old entry.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app, request

from backend.auth import Principal

CACHE_KEY = "tasktracker.response_cache"
CACHED_HEADERS = ("ETag", "Link")
JSON = "application/json"


@dataclass(frozen=True)
class CachedResponse:
    """A 200 response to a read: its body and the headers that belong to its content."""

    body: bytes
    headers: tuple[tuple[str, str], ...]

    def replay(self) -> Response:
        """Answer the request from the cache, honouring `If-None-Match`."""
        headers = dict(self.headers)
        etag = headers.get("ETag")
        if etag and request.if_none_match.contains_weak(etag.strip('"')):
            return Response(status=304, headers=headers)
        return Response(self.body, status=200, headers=headers, mimetype=JSON)


class ResponseCache:
    """A bounded, thread-safe LRU map from request keys to cached responses."""

    def __init__(self, size: int) -> None:
        """Create a cache of at most `size` responses (0 disables it)."""
        self.size = size
        self._entries: OrderedDict[tuple[Any, ...], CachedResponse] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> CachedResponse | None:
        """Return the response cached under `key`, if any."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: tuple[Any, ...], response: Response) -> None:
        """Cache a 200 response, evicting the least recently used beyond the size."""
        if self.size <= 0:
            return
        headers = tuple(
            (name, response.headers[name]) for name in CACHED_HEADERS if name in response.headers
        )
        entry = CachedResponse(response.get_data(), headers)
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


def init_response_cache(app: Flask) -> None:
    """Give the app its response cache, sized by `RESPONSE_CACHE_SIZE`."""
    app.extensions[CACHE_KEY] = ResponseCache(app.config["RESPONSE_CACHE_SIZE"])


def response_cache() -> ResponseCache:
    """Return the current app's response cache."""
    return current_app.extensions[CACHE_KEY]


def request_key(principal: Principal) -> tuple[Any, ...]:
    """Return the cache key of this read: the user's data state, and everything in the URL."""
    return (
        principal.user_id,
        principal.user_created_at,
        principal.data_version,
        request.host_url,
        request.path,
        request.query_string,
    )
