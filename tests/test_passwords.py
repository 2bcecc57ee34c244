"""Passwords: the policy, no trimming, Argon2id storage, rehashing, and uniform login failures."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher, Type
from argon2.exceptions import VerificationError
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from backend.config import load_config
from backend.extensions import db
from backend.models import User
from backend.passwords import DUMMY_HASH_KEY, LENGTH_MESSAGE, policy_errors
from tests.conftest import CHEAP_ARGON2, PASSWORD, AuthActions, assert_problem

API = "/api/v1"
REGISTER, LOGIN = f"{API}/auth/register", f"{API}/auth/login"

LENGTH, UPPER, DIGIT, SYMBOL = "length", "uppercase", "digit", "symbol"
COMMON, EMAIL = "common", "email"
# The word each rule's message contains.
RULE_WORDS = {
    LENGTH: "8-128",
    UPPER: "uppercase",
    DIGIT: "contain a digit",
    SYMBOL: "contain a symbol",
    COMMON: "most common passwords",
    EMAIL: "email address before the @",
}
ALL_CHARACTER_RULES = {LENGTH, UPPER, DIGIT, SYMBOL}


def full_width(text: str) -> str:
    """Write ASCII text in its full-width forms (U+FF01-U+FF5E), which NFKC turns back."""
    return "".join(chr(ord(char) + 0xFEE0) for char in text)


def stored_hash(app: Flask, email: str) -> str:
    with app.app_context():
        password_hash = db.session.scalar(select(User.password_hash).where(User.email == email))
    assert password_hash is not None
    return password_hash


def broken_rules(messages: list[str]) -> set[str]:
    """Map each message to the one rule it names; fail if a message names none or several."""
    rules = set()
    for message in messages:
        named = [rule for rule, word in RULE_WORDS.items() if word in message.lower()]
        assert len(named) == 1, message
        rules.update(named)
    return rules


# --- the policy -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "broken"),
    [
        ("", ALL_CHARACTER_RULES),
        ("abc", ALL_CHARACTER_RULES | {COMMON}),
        ("Ab1!", {LENGTH}),
        ("Abcde1!", {LENGTH}),  # 7 characters
        ("Ab1!e\u0301ee", {LENGTH}),  # 8 code points typed, 7 once NFKC composes the accent
        ("abcdefgh", {UPPER, DIGIT, SYMBOL, COMMON}),
        ("ABCDEFGH", {DIGIT, SYMBOL, COMMON}),
        ("12345678", {UPPER, SYMBOL, COMMON}),
        ("!!!!!!!!", {UPPER, DIGIT}),
        ("correct-horse-9", {UPPER}),
        ("Correct-Horse-X", {DIGIT}),
        ("CorrectHorse9", {SYMBOL}),
        ("CORRECT-HORSE-9".lower(), {UPPER}),
        ("ÄÖÜäöüß", {LENGTH, DIGIT, SYMBOL}),
        # Whitespace is not a symbol, whichever whitespace it is.
        ("        ", {UPPER, DIGIT, SYMBOL}),
        ("Correct Horse 9", {SYMBOL}),
        ("Correct\u00a0Horse\u20039", {SYMBOL}),  # no-break space, em space
        ("Correct\u3000Horse9", {SYMBOL}),  # ideographic space
        # The 10,000 most common passwords, whatever the case, and after NFKC.
        ("P@ssw0rd", {COMMON}),
        ("p@ssw0rd", {UPPER, COMMON}),
        ("P@SSW0RD", {COMMON}),
        (full_width("P@ssw0rd"), {COMMON}),  # NFKC makes the full-width forms P@ssw0rd
        ("Password1", {SYMBOL, COMMON}),
        ("Abcd1234", {SYMBOL, COMMON}),
        # Over 128 characters, the length alone is reported: nothing else reads a huge input.
        ("A1!" + "a" * 126, {LENGTH}),  # 129 characters
        ("a" * 129, {LENGTH}),
        ("a" * 200, {LENGTH}),
        ("\x00" * 129, {LENGTH}),  # not even the control characters are looked at
    ],
)
def test_weak_password_lists_every_broken_rule(
    client: FlaskClient, password: str, broken: set[str]
):
    response = client.post(REGISTER, json={"email": "ada@example.com", "password": password})
    problem = assert_problem(response, 400, "validation_error")
    assert list(problem["errors"]) == ["password"]
    messages = problem["errors"]["password"]
    assert broken_rules(messages) == broken
    assert len(messages) == len(broken)
    if password.strip():
        assert password not in json.dumps(problem, ensure_ascii=False)
    with client.application.app_context():
        assert db.session.scalars(select(User)).all() == []


@pytest.mark.parametrize("password", ["a" * 129, "\x00" * 100_000, "lovelace" * 100_000])
def test_policy_refuses_a_huge_password_by_its_length_alone(password: str):
    """Services call the policy directly (the account's address is theirs): it is safe alone."""
    assert policy_errors(password, "lovelace@example.com") == [LENGTH_MESSAGE]


def test_each_rule_has_its_own_message(client: FlaskClient):
    """Every rule's message is distinct, and says what to do."""
    messages = {}
    for password in ("", "Correct Horse 9", "P@ssw0rd", "a" * 129):
        body = client.post(REGISTER, json={"email": "ada@example.com", "password": password})
        messages.update(dict.fromkeys(body.get_json()["errors"]["password"]))
    assert set(messages) == {
        "Must be 8-128 characters long.",
        "Must contain an uppercase letter.",
        "Must contain a digit.",
        "Must contain a symbol (a character that is neither a letter, a digit nor whitespace).",
        "Must not be one of the 10,000 most common passwords.",
    }


@pytest.mark.parametrize(
    ("email", "password", "broken"),
    [
        ("lovelace@example.com", "Lovelace-1815", {EMAIL}),
        ("lovelace@example.com", "My-LOVELACE-9", {EMAIL}),  # ignoring case
        ("lovelace@example.com", "lovelace", {UPPER, DIGIT, SYMBOL, EMAIL}),
        ("Lovelace@Example.com", "Ada-lovelace-9", {EMAIL}),
        ("ada.king@example.com", "Countess-ADA.KING-1", {EMAIL}),
        ("straße@example.com", "Die-STRASSE-9", {EMAIL}),  # case folding: ß is ss
        (full_width("love") + "@example.com", "I-Love-You-9", {EMAIL}),  # NFKC on both sides
        ("love@example.com", "I-Love-You-9", {EMAIL}),  # 4 characters: checked
        ("ada@example.com", "Ada-Lovelace-9", set()),  # 3 characters: not checked
        ("lovelace@example.com", "Love-Lace-1815", set()),
    ],
)
def test_password_must_not_contain_the_email_local_part(
    auth: AuthActions, email: str, password: str, broken: set[str]
):
    response = auth.register(email, password)
    if not broken:
        assert response.status_code == 201, response.get_json()
        return
    problem = assert_problem(response, 400, "validation_error")
    assert list(problem["errors"]) == ["password"]
    assert broken_rules(problem["errors"]["password"]) == broken
    assert len(problem["errors"]["password"]) == len(broken)


def test_local_part_rule_is_listed_beside_field_errors(client: FlaskClient):
    """A password breaking the character rules and the e-mail rule gets both in one answer."""
    body = {"email": "lovelace@example.com", "password": "lovelace"}
    problem = assert_problem(client.post(REGISTER, json=body), 400, "validation_error")
    assert problem["errors"]["password"][-1] == (
        "Must not contain the part of the email address before the @."
    )


def test_local_part_is_not_checked_against_an_invalid_email(client: FlaskClient):
    body = {"email": "lovelace@localhost", "password": "Lovelace-1815"}
    problem = assert_problem(client.post(REGISTER, json=body), 400, "validation_error")
    assert list(problem["errors"]) == ["email"]


@pytest.mark.parametrize(
    "password",
    [
        "Correct-Horse-9\x00",
        "\x00Correct-Horse-9",
        "Correct\x07Horse-9",
        "Correct-Horse-9\n",
        "Correct-Horse-9\t",
        "Correct\x1bHorse-9",
        "Correct\x7fHorse-9",
        "Correct\x85Horse-9",
    ],
)
def test_control_characters_are_refused(client: FlaskClient, password: str):
    response = client.post(REGISTER, json={"email": "ada@example.com", "password": password})
    problem = assert_problem(response, 400, "validation_error")
    assert list(problem["errors"]) == ["password"]


def test_lone_surrogate_is_refused(client: FlaskClient):
    body = '{"email": "ada@example.com", "password": "Correct-Horse-9\\ud800"}'
    response = client.post(REGISTER, data=body, content_type="application/json")
    problem = assert_problem(response, 400, "validation_error")
    assert list(problem["errors"]) == ["password"]


@pytest.mark.parametrize("password", [None, 12345678, ["Correct-Horse-9"], {"a": 1}, True])
def test_password_must_be_a_string(client: FlaskClient, password: Any):
    response = client.post(REGISTER, json={"email": "ada@example.com", "password": password})
    problem = assert_problem(response, 400, "validation_error")
    assert list(problem["errors"]) == ["password"]


def test_password_is_never_trimmed(app: Flask, auth: AuthActions):
    spaced = " Correct-Horse-9 "
    assert auth.register("ada@example.com", spaced).status_code == 201
    for attempt in (
        "Correct-Horse-9",
        " Correct-Horse-9",
        "Correct-Horse-9 ",
        "  Correct-Horse-9  ",
    ):
        assert_problem(auth.login("ada@example.com", attempt), 401, "invalid_credentials")
    assert auth.login("ada@example.com", spaced).status_code == 200
    hasher = PasswordHasher()
    password_hash = stored_hash(app, "ada@example.com")
    assert hasher.verify(password_hash, spaced)
    with pytest.raises(VerificationError):
        hasher.verify(password_hash, spaced.strip())


def test_login_password_is_case_sensitive(auth: AuthActions):
    auth.register("ada@example.com")
    assert_problem(auth.login("ada@example.com", PASSWORD.upper()), 401, "invalid_credentials")
    assert_problem(auth.login("ada@example.com", PASSWORD.swapcase()), 401, "invalid_credentials")


# --- hashing ----------------------------------------------------------------------------------


def test_password_is_stored_as_argon2id_with_configured_parameters(app: Flask, auth: AuthActions):
    assert auth.register("ada@example.com").status_code == 201
    password_hash = stored_hash(app, "ada@example.com")
    assert password_hash.startswith("$argon2id$")
    assert PASSWORD not in password_hash
    memory, time_cost, lanes = (
        CHEAP_ARGON2["ARGON2_MEMORY_COST"],
        CHEAP_ARGON2["ARGON2_TIME_COST"],
        CHEAP_ARGON2["ARGON2_PARALLELISM"],
    )
    assert f"$m={memory},t={time_cost},p={lanes}$" in password_hash
    assert PasswordHasher().verify(password_hash, PASSWORD)


def test_same_password_gets_different_hashes(app: Flask, auth: AuthActions):
    auth.register("ada@example.com")
    auth.register("bob@example.com")
    assert stored_hash(app, "ada@example.com") != stored_hash(app, "bob@example.com")


def test_hash_follows_argon2_configuration(make_app: Callable[..., Flask]):
    app = make_app(ARGON2_TIME_COST=3, ARGON2_MEMORY_COST=2048, ARGON2_PARALLELISM=2)
    AuthActions(app.test_client()).register("ada@example.com")
    assert "$m=2048,t=3,p=2$" in stored_hash(app, "ada@example.com")
    assert "$m=2048,t=3,p=2$" in app.extensions[DUMMY_HASH_KEY]


def test_production_argon2_defaults_meet_owasp_minimum(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.setattr("backend.config.PROJECT_ROOT", tmp_path)  # no .env file is read
    for name in ("ARGON2_TIME_COST", "ARGON2_MEMORY_COST", "ARGON2_PARALLELISM"):
        monkeypatch.delenv(name, raising=False)
    config = load_config({"APP_ENV": "production", "JWT_SECRET_KEY": "k" * 32})
    assert config["ARGON2_MEMORY_COST"] >= 19_456
    assert config["ARGON2_TIME_COST"] >= 2
    assert config["ARGON2_PARALLELISM"] >= 1
    # The production hasher really uses them: Argon2id with those parameters.
    hasher = PasswordHasher(
        time_cost=config["ARGON2_TIME_COST"],
        memory_cost=config["ARGON2_MEMORY_COST"],
        parallelism=config["ARGON2_PARALLELISM"],
    )
    assert hasher.hash(PASSWORD).startswith(
        f"$argon2id$v=19$m={config['ARGON2_MEMORY_COST']},t={config['ARGON2_TIME_COST']},"
    )


def test_login_rehashes_when_parameters_change(make_app: Callable[..., Flask]):
    old_app = make_app()
    old_auth = AuthActions(old_app.test_client())
    assert old_auth.register("ada@example.com").status_code == 201
    old_hash = stored_hash(old_app, "ada@example.com")
    assert "$m=1024,t=1,p=1$" in old_hash

    new_app = make_app(ARGON2_TIME_COST=2, ARGON2_MEMORY_COST=2048)
    new_auth = AuthActions(new_app.test_client())
    assert_problem(new_auth.login("ada@example.com", "Wrong-Horse-9"), 401, "invalid_credentials")
    assert stored_hash(new_app, "ada@example.com") == old_hash, "no rehash on a failed login"

    assert new_auth.login("ada@example.com").status_code == 200
    new_hash = stored_hash(new_app, "ada@example.com")
    assert new_hash != old_hash
    assert new_hash.startswith("$argon2id$")
    assert "$m=2048,t=2,p=1$" in new_hash
    assert PasswordHasher().verify(new_hash, PASSWORD)

    # The next login with the same parameters keeps the hash, and both apps still log in.
    assert new_auth.login("ada@example.com").status_code == 200
    assert stored_hash(new_app, "ada@example.com") == new_hash
    assert old_auth.login("ada@example.com").status_code == 200


def test_login_rehashes_a_weaker_argon2_variant(app: Flask, auth: AuthActions):
    auth.register("ada@example.com")
    argon2i = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.I)
    argon2i_hash = argon2i.hash(PASSWORD)
    with app.app_context():
        db.session.execute(update(User).values(password_hash=argon2i_hash))
        db.session.commit()
    assert auth.login("ada@example.com").status_code == 200
    assert stored_hash(app, "ada@example.com").startswith("$argon2id$")


# --- uniform failures -------------------------------------------------------------------------


class VerifySpy:
    """Records the hashes that the real `PasswordHasher.verify` is asked to check."""

    def __init__(self) -> None:
        self.hashes: list[str] = []


@pytest.fixture
def verify_spy(monkeypatch: pytest.MonkeyPatch) -> VerifySpy:
    spy = VerifySpy()
    real_verify = PasswordHasher.verify

    def verify(hasher: PasswordHasher, password_hash: str | bytes, password: str | bytes) -> bool:
        spy.hashes.append(str(password_hash))
        return real_verify(hasher, password_hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", verify)
    return spy


def test_unknown_email_and_wrong_password_answer_alike(
    app: Flask, auth: AuthActions, verify_spy: VerifySpy
):
    auth.register("ada@example.com")
    user_hash = stored_hash(app, "ada@example.com")

    verify_spy.hashes.clear()
    wrong_password = auth.login("ada@example.com", "Wrong-Horse-9")
    assert verify_spy.hashes == [user_hash]

    verify_spy.hashes.clear()
    unknown_email = auth.login("nobody@example.com", "Wrong-Horse-9")
    dummy = app.extensions[DUMMY_HASH_KEY]
    assert verify_spy.hashes == [dummy], "the unknown email still runs one Argon2 verification"

    for response in (wrong_password, unknown_email):
        assert_problem(response, 401, "invalid_credentials")
    assert wrong_password.status_code == unknown_email.status_code
    assert wrong_password.get_json() == unknown_email.get_json()
    assert wrong_password.mimetype == unknown_email.mimetype
    skip = {"X-Request-ID", "Date", "RateLimit"}
    assert {k: v for k, v in wrong_password.headers if k not in skip} == {
        k: v for k, v in unknown_email.headers if k not in skip
    }


def test_dummy_hash_costs_as_much_as_a_real_one(app: Flask, auth: AuthActions):
    """The dummy hash uses the configured parameters, so its verification takes as long."""
    auth.register("ada@example.com")
    dummy = app.extensions[DUMMY_HASH_KEY]
    real = stored_hash(app, "ada@example.com")
    assert dummy.startswith("$argon2id$")
    assert dummy.split("$")[1:4] == real.split("$")[1:4]


def test_successful_login_verifies_once(auth: AuthActions, verify_spy: VerifySpy):
    auth.register("ada@example.com")
    verify_spy.hashes.clear()
    assert auth.login("ada@example.com").status_code == 200
    assert len(verify_spy.hashes) == 1


def test_corrupt_stored_hash_is_a_failed_login(app: Flask, auth: AuthActions):
    auth.register("ada@example.com")
    with app.app_context():
        db.session.execute(update(User).values(password_hash="not-a-hash"))
        db.session.commit()
    assert_problem(auth.login("ada@example.com"), 401, "invalid_credentials")
