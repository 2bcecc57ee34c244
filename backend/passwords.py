"""Passwords: the NIST SP 800-63B policy, and Argon2id hashing of their NFKC form.

Passwords are NFKC-normalized before they are checked, hashed or verified, so `é` typed as one
code point or as `e` plus a combining accent is one password. Hashes made before that (of the
raw input) still verify: `verify_password` tries the raw form when the normalized one fails.
Hashes of normalized passwords use a salt of `NORMALIZED_SALT_LEN` bytes, which older hashes
lack, so `needs_rehash` is true for every older hash and the next login re-hashes the
normalized form.
"""

from __future__ import annotations

import unicodedata
import uuid
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, current_app

HASHER_KEY = "tasktracker.password_hasher"
DUMMY_HASH_KEY = "tasktracker.dummy_hash"
# argon2-cffi's default salt is 16 bytes: hashes made before normalization have that one.
NORMALIZED_SALT_LEN = 24
COMMON_PASSWORDS_FILE = Path(__file__).parent / "data" / "common-passwords.txt"

PASSWORD_MIN, PASSWORD_MAX = 8, 128
LOCAL_PART_MIN = 4
LENGTH_MESSAGE = f"Must be {PASSWORD_MIN}-{PASSWORD_MAX} characters long."
UPPERCASE_MESSAGE = "Must contain an uppercase letter."
DIGIT_MESSAGE = "Must contain a digit."
SYMBOL_MESSAGE = (
    "Must contain a symbol (a character that is neither a letter, a digit nor whitespace)."
)
COMMON_MESSAGE = "Must not be one of the 10,000 most common passwords."
LOCAL_PART_MESSAGE = "Must not contain the part of the email address before the @."


def normalize_password(password: str) -> str:
    """Return the NFKC form of a password: the form that is checked and hashed."""
    return unicodedata.normalize("NFKC", password)


@cache
def common_passwords() -> frozenset[str]:
    """Return the 10,000 most common passwords, case-folded; read once per process."""
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").split("\n")
    return frozenset(normalize_password(line).casefold() for line in lines if line)


def is_symbol(char: str) -> bool:
    """Tell whether `char` is a symbol: neither a letter, a digit nor whitespace."""
    return not (char.isalpha() or char.isdigit() or char.isspace())


def local_part_error(password: str, email: str) -> str | None:
    """Return the message when `password` contains the local part (4+ characters) of `email`."""
    local_part = email.rpartition("@")[0]
    if len(password) > PASSWORD_MAX or len(local_part) < LOCAL_PART_MIN:
        return None
    needle = normalize_password(local_part).casefold()
    return LOCAL_PART_MESSAGE if needle in normalize_password(password).casefold() else None


def policy_errors(password: str, email: str | None = None) -> list[str]:
    """Return the message of every rule that a new password breaks (none: it is accepted).

    Over `PASSWORD_MAX` characters of raw input, the length is the only message: nothing else
    looks at a huge input. The other rules judge the NFKC form; the common-password and e-mail
    rules ignore case.
    """
    if len(password) > PASSWORD_MAX:
        return [LENGTH_MESSAGE]
    text = normalize_password(password)
    rules = [
        (len(text) >= PASSWORD_MIN, LENGTH_MESSAGE),
        (any(char.isupper() for char in text), UPPERCASE_MESSAGE),
        (any(char.isdigit() for char in text), DIGIT_MESSAGE),
        (any(is_symbol(char) for char in text), SYMBOL_MESSAGE),
        (text.casefold() not in common_passwords(), COMMON_MESSAGE),
    ]
    broken = [message for kept, message in rules if not kept]
    email_error = local_part_error(password, email) if email is not None else None
    return broken + ([email_error] if email_error else [])


def init_password_hasher(app: Flask) -> None:
    """Create the Argon2id hasher from configuration, and a dummy hash for timing-safe logins."""
    hasher = PasswordHasher(
        time_cost=app.config["ARGON2_TIME_COST"],
        memory_cost=app.config["ARGON2_MEMORY_COST"],
        parallelism=app.config["ARGON2_PARALLELISM"],
        salt_len=NORMALIZED_SALT_LEN,
        type=Type.ID,
    )
    app.extensions[HASHER_KEY] = hasher
    app.extensions[DUMMY_HASH_KEY] = hasher.hash(uuid.uuid4().hex)


def _hasher() -> PasswordHasher:
    """Return the app's password hasher."""
    return current_app.extensions[HASHER_KEY]


def hash_password(password: str) -> str:
    """Hash the NFKC form of a password with Argon2id."""
    return _hasher().hash(normalize_password(password))


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password, its NFKC form first, then the raw input that older hashes were made of.

    A failure costs one verification per distinct form whether or not the account exists: with
    no hash, the same verifications run on a dummy hash and fail.
    """
    candidate = password_hash or current_app.extensions[DUMMY_HASH_KEY]
    forms = dict.fromkeys([normalize_password(password), password])
    return any(_matches(candidate, form) for form in forms) and password_hash is not None


def _matches(password_hash: str, password: str) -> bool:
    """Tell whether `password_hash` is a hash of exactly `password`."""
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Tell whether a hash was made with other parameters, or before normalization."""
    return _hasher().check_needs_rehash(password_hash)
