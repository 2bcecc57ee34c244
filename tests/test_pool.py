"""The pool's idle-connection ping: a live connection passes, a dead one is replaced."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from flask import Flask
from sqlalchemy.exc import DisconnectionError

from backend.database import PING_AFTER_IDLE_SECONDS, _ping_if_idle
from backend.extensions import db


@dataclass
class PoolEntry:
    """The part of SQLAlchemy's ConnectionPoolEntry the hook reads: its `info` dict."""

    info: dict[str, Any] = field(default_factory=dict)


def _raw_connection(app: Flask) -> Any:
    """Return a real DBAPI connection to the test database, outside the pool."""
    with app.app_context():
        return db.engine.raw_connection().dbapi_connection


def test_recently_used_connection_is_not_pinged(app: Flask):
    connection = _raw_connection(app)
    connection.close()  # a ping would fail on it; none is sent
    entry = PoolEntry({"checked_in": time.monotonic()})
    _ping_if_idle(connection, cast(Any, entry), cast(Any, None))


def test_idle_live_connection_passes_the_ping(app: Flask):
    connection = _raw_connection(app)
    entry = PoolEntry({"checked_in": time.monotonic() - PING_AFTER_IDLE_SECONDS - 1})
    _ping_if_idle(connection, cast(Any, entry), cast(Any, None))
    connection.close()


def test_idle_dead_connection_is_discarded(app: Flask):
    connection = _raw_connection(app)
    connection.close()
    with pytest.raises(DisconnectionError):
        _ping_if_idle(connection, cast(Any, PoolEntry()), cast(Any, None))
