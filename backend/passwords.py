"""Passwords: Argon2id hashing and verification, timing-safe for unknown accounts."""

from __future__ import annotations

import uuid

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, current_app

HASHER_KEY = "tasktracker.password_hasher"
DUMMY_HASH_KEY = "tasktracker.dummy_hash"


def init_password_hasher(app: Flask) -> None:
    """Create the Argon2id hasher from configuration, and a dummy hash for timing-safe logins."""
    hasher = PasswordHasher(
        time_cost=app.config["ARGON2_TIME_COST"],
        memory_cost=app.config["ARGON2_MEMORY_COST"],
        parallelism=app.config["ARGON2_PARALLELISM"],
        type=Type.ID,
    )
    app.extensions[HASHER_KEY] = hasher
    app.extensions[DUMMY_HASH_KEY] = hasher.hash(uuid.uuid4().hex)


def _hasher() -> PasswordHasher:
    """Return the app's password hasher."""
    return current_app.extensions[HASHER_KEY]


def hash_password(password: str) -> str:
    """Hash a password with Argon2id."""
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password; with no hash, spend the same time on a dummy one and fail."""
    candidate = password_hash or current_app.extensions[DUMMY_HASH_KEY]
    try:
        _hasher().verify(candidate, password)
    except (VerificationError, InvalidHashError):
        return False
    return password_hash is not None


def needs_rehash(password_hash: str) -> bool:
    """Tell whether a hash was made with other parameters than the configured ones."""
    return _hasher().check_needs_rehash(password_hash)
