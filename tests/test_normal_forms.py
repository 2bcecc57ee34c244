"""One password, one address, however typed: NFKC passwords and email-validator's addresses.

Issue 14: a password registered with a precomposed `é` failed to log in typed as `e` plus a
combining accent; `exämple.com` and its punycode form were two accounts; `@localhost` and IP
literals were accepted. Hashes and rows made before this keep working.
"""

from __future__ import annotations

import unicodedata

import pytest
from argon2 import PasswordHasher, extract_parameters
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from backend.extensions import db
from backend.models import User
from backend.passwords import NORMALIZED_SALT_LEN
from tests.conftest import CHEAP_ARGON2, PASSWORD, AuthActions, assert_problem
from tests.test_passwords import VerifySpy, full_width, stored_hash, verify_spy

__all__ = ["verify_spy"]  # the fixture, imported from the tests of hashing

API = "/api/v1"
REGISTER, PASSWORD_URL = f"{API}/auth/register", f"{API}/auth/password"
COMPOSED = "Caf\u00e9-Horse-9"  # é as one code point
DECOMPOSED = "Cafe\u0301-Horse-9"  # e, then U+0301 COMBINING ACUTE ACCENT
LOCALHOST = "Addresses at localhost are not accepted: use a public domain."
IP_ADDRESS = (
    "Addresses at an IP address (such as [127.0.0.1]) are not accepted: use a public domain."
)
LOCAL_PART = "Must not contain the part of the email address before the @."
COMMON = "Must not be one of the 10,000 most common passwords."


def old_hash(password: str) -> str:
    """Hash `password` as this app did before normalization: raw input, 16-byte salt."""
    return PasswordHasher(
        time_cost=CHEAP_ARGON2["ARGON2_TIME_COST"],
        memory_cost=CHEAP_ARGON2["ARGON2_MEMORY_COST"],
        parallelism=CHEAP_ARGON2["ARGON2_PARALLELISM"],
    ).hash(password)


def set_user_column(app: Flask, address: str, **values: str) -> None:
    """Write columns of the user at `address` directly, as rows made by an older release."""
    with app.app_context():
        db.session.execute(update(User).where(User.email == address).values(**values))
        db.session.commit()


# --- passwords: NFKC ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("registered", "typed"),
    [
        (COMPOSED, DECOMPOSED),
        (DECOMPOSED, COMPOSED),
        (COMPOSED, COMPOSED),
        (full_width("Correct-Horse-9"), "Correct-Horse-9"),  # NFKC, not only NFC
        ("Correct-Horse-9\u2460", "Correct-Horse-91"),  # CIRCLED DIGIT ONE is 1
    ],
)
def test_password_is_one_password_however_typed(auth: AuthActions, registered: str, typed: str):
    assert auth.register("ada@example.com", registered).status_code == 201
    assert auth.login("ada@example.com", typed).status_code == 200


def test_the_hash_is_of_the_nfkc_form(app: Flask, auth: AuthActions):
    assert auth.register("ada@example.com", DECOMPOSED).status_code == 201
    password_hash = stored_hash(app, "ada@example.com")
    assert PasswordHasher().verify(password_hash, unicodedata.normalize("NFKC", DECOMPOSED))
    assert extract_parameters(password_hash).salt_len == NORMALIZED_SALT_LEN


@pytest.mark.parametrize("password", [DECOMPOSED, PASSWORD])
def test_a_hash_from_before_normalization_still_logs_in_and_is_rehashed(
    app: Flask, auth: AuthActions, password: str
):
    assert auth.register("ada@example.com").status_code == 201
    before = old_hash(password)  # of the raw input, as stored before this change
    set_user_column(app, "ada@example.com", password_hash=before)
    assert auth.login("ada@example.com", password).status_code == 200
    after = stored_hash(app, "ada@example.com")
    assert after != before
    assert extract_parameters(after).salt_len == NORMALIZED_SALT_LEN
    assert PasswordHasher().verify(after, unicodedata.normalize("NFKC", password))
    # Rehashed once: from now on every form logs in, and the hash stays.
    assert auth.login("ada@example.com", unicodedata.normalize("NFC", password)).status_code == 200
    assert auth.login("ada@example.com", unicodedata.normalize("NFD", password)).status_code == 200
    assert stored_hash(app, "ada@example.com") == after


def test_an_old_hash_is_not_rehashed_by_a_wrong_password(app: Flask, auth: AuthActions):
    assert auth.register("ada@example.com").status_code == 201
    before = old_hash(DECOMPOSED)
    set_user_column(app, "ada@example.com", password_hash=before)
    # Before its first login, an old hash knows only the form that was typed then.
    assert_problem(auth.login("ada@example.com", COMPOSED), 401, "invalid_credentials")
    assert_problem(auth.login("ada@example.com", "Wrong-Horse-9"), 401, "invalid_credentials")
    assert stored_hash(app, "ada@example.com") == before


def test_a_non_normal_password_costs_alike_with_and_without_an_account(
    app: Flask, auth: AuthActions, verify_spy: VerifySpy
):
    """Two forms, two verifications, whether or not the account exists: no enumeration."""
    assert auth.register("ada@example.com").status_code == 201
    verify_spy.hashes.clear()
    assert_problem(auth.login("ada@example.com", DECOMPOSED), 401, "invalid_credentials")
    assert verify_spy.hashes == [stored_hash(app, "ada@example.com")] * 2
    verify_spy.hashes.clear()
    assert_problem(auth.login("nobody@example.com", DECOMPOSED), 401, "invalid_credentials")
    assert len(verify_spy.hashes) == 2


def test_changed_password_is_normalized_too(auth: AuthActions):
    user = auth.user("ada@example.com")
    body = {"current_password": PASSWORD, "new_password": COMPOSED}
    assert user.post(PASSWORD_URL, json=body).status_code == 204
    assert auth.login("ada@example.com", DECOMPOSED).status_code == 200


# --- passwords: rules that need the account's address ----------------------------------------


@pytest.mark.parametrize(
    ("new_password", "messages"),
    [
        ("Lovelace-1815", [LOCAL_PART]),
        ("My-LOVELACE-9", [LOCAL_PART]),
        ("P@ssw0rd", [COMMON]),
        (full_width("Lovelace") + "-1815", [LOCAL_PART]),
    ],
)
def test_new_password_is_checked_against_the_account_address(
    auth: AuthActions, new_password: str, messages: list[str]
):
    user = auth.user("lovelace@example.com")
    body = {"current_password": PASSWORD, "new_password": new_password}
    problem = assert_problem(user.post(PASSWORD_URL, json=body), 400, "validation_error")
    assert problem["errors"] == {"new_password": messages}
    assert auth.login("lovelace@example.com").status_code == 200, "the password is unchanged"


def test_new_password_rule_of_the_address_comes_before_the_password_check(auth: AuthActions):
    """A refused new password costs no Argon2 verification: 400 even with a wrong password."""
    user = auth.user("lovelace@example.com")
    body = {"current_password": "Wrong-Horse-9", "new_password": "Lovelace-1815"}
    problem = assert_problem(user.post(PASSWORD_URL, json=body), 400, "validation_error")
    assert problem["errors"] == {"new_password": [LOCAL_PART]}


# --- addresses ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("user@exämple.com", "user@xn--exmple-cua.com"),
        ("user@xn--exmple-cua.com", "user@exämple.com"),
        ("User@EXÄMPLE.com", "USER@XN--EXMPLE-CUA.COM"),
        ("café@example.com", "cafe\u0301@example.com"),  # the local part in NFC
        ("user@bücher.example.com", "user@xn--bcher-kva.example.com"),
    ],
)
def test_one_address_in_any_form_is_one_account(auth: AuthActions, first: str, second: str):
    created = auth.register(first)
    assert created.status_code == 201, created.get_json()
    stored = created.get_json()["email"]
    assert_problem(auth.register(second), 409, "email_taken")
    for typed in (first, second, stored, stored.upper()):
        assert auth.login(typed).status_code == 200, typed


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("ada@XN--EXMPLE-CUA.COM", "ada@exämple.com"),
        ("Ada@Exämple.com", "ada@exämple.com"),
        ("cafe\u0301@example.com", "café@example.com"),
        (" Ada@Example.COM ", "ada@example.com"),
    ],
)
def test_address_is_stored_in_its_normal_form(
    client: FlaskClient, auth: AuthActions, typed: str, stored: str
):
    response = auth.register(typed)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["email"] == stored
    assert (
        client.get(
            f"{API}/auth/me", headers={"Authorization": f"Bearer {login_token(auth, stored)}"}
        ).get_json()["email"]
        == stored
    )


def login_token(auth: AuthActions, email: str) -> str:
    """Log in and return the access token."""
    response = auth.login(email)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["access_token"]


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("user@localhost", LOCALHOST),
        ("user@LOCALHOST", LOCALHOST),
        ("user@localhost.", LOCALHOST),
        ("user@mail.localhost", LOCALHOST),
        ("user@" + full_width("localhost"), LOCALHOST),
        ("user@[127.0.0.1]", IP_ADDRESS),
        ("user@[192.0.2.1]", IP_ADDRESS),
        ("user@[IPv6:::1]", IP_ADDRESS),
        ("user@[IPv6:2001:db8::1]", IP_ADDRESS),
        ("user@127.0.0.1", IP_ADDRESS),
        ("user@[not an address]", IP_ADDRESS),
    ],
)
def test_localhost_and_ip_addresses_are_refused(client: FlaskClient, email: str, message: str):
    response = client.post(REGISTER, json={"email": email, "password": PASSWORD})
    problem = assert_problem(response, 400, "validation_error")
    assert problem["errors"] == {"email": [message]}


@pytest.mark.parametrize(
    ("email", "words"),
    [
        ("user@example.test", "special-use or reserved"),
        ("user@printer.local", "special-use or reserved"),
        ("user@example.invalid", "special-use or reserved"),
        ('"ada lovelace"@example.com', "Quoting"),
        ("user@xn--zz.com", "IDNA"),
        ("user@exa_mple.com", "invalid characters"),
        ("localhost", "must have an @-sign"),
        ("@localhost", "There must be something before the @-sign"),
    ],
)
def test_other_addresses_email_validator_refuses(client: FlaskClient, email: str, words: str):
    response = client.post(REGISTER, json={"email": email, "password": PASSWORD})
    problem = assert_problem(response, 400, "validation_error")
    assert list(problem["errors"]) == ["email"]
    assert words in problem["errors"]["email"][0]


@pytest.mark.parametrize("stored", ["old@localhost", "old@[127.0.0.1]", "old@printer.local"])
def test_an_account_at_an_address_refused_today_still_logs_in(
    app: Flask, auth: AuthActions, stored: str
):
    assert auth.register("old@example.com").status_code == 201
    set_user_column(app, "old@example.com", email=stored)
    assert auth.login(stored).status_code == 200
    assert auth.login(stored.upper()).status_code == 200
    assert_problem(auth.login(stored, "Wrong-Horse-9"), 401, "invalid_credentials")
