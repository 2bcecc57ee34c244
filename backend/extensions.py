"""Extension singletons, bound to an app by `create_app`."""

from __future__ import annotations

from typing import Any

from flask import g, has_app_context
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every model; its constraints get stable names (for migrations)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class RequestSession(Session):
    """The ORM session; in an autocommit request it works on the request's connection.

    See backend/database.py: an autocommit request holds one connection, in `g`.
    """

    def get_bind(self, *args: Any, **kwargs: Any) -> Any:
        """Return the request's autocommit connection if it has one, else the engine."""
        connection = g.get("autocommit_connection") if has_app_context() else None
        return connection if connection is not None else super().get_bind(*args, **kwargs)


db = SQLAlchemy(
    metadata=Base.metadata,
    session_options={"expire_on_commit": False, "class_": RequestSession},
)
jwt = JWTManager()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
