"""The four account recovery routes over HTTP, with mail read from a real SMTP server (aiosmtpd).

Flow: register → verification mail → verify; forgot password → reset mail → confirm → the old
tokens get 401 → log in with the new password. Every error the contract lists, on both databases.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import PASSWORD, AppFactory, AuthActions, User, assert_problem
from tests.smtp import SMTPServer

API = "/api/v1/auth"
NEW_PASSWORD = "Brand-New-Horse-8"
RESET_PAGE = "http://localhost:5173/reset-password?token="
VERIFY_PAGE = "http://localhost:5173/verify-email?token="
ACCEPTED_RESET = {
    "detail": "If an account has this address, a link to reset its password has been mailed to it."
}


def token_of(link: str) -> str:
    """Return the `token` parameter of a mailed link."""
    return parse_qs(urlsplit(link).query)["token"][0]


def mailed_token(smtp: SMTPServer, page: str, to: str) -> str:
    """Return the token of the newest mail to `to` with a link to `page`."""
    mails = [
        mail for mail in smtp.received() if to in mail.rcpt_tos and page in mail.part("text/plain")
    ]
    assert mails, f"no mail to {to} with {page}"
    return token_of(mails[-1].link(page))


@pytest.fixture
def client(mail_app: Flask) -> FlaskClient:
    """Return a client of the app that mails to the test SMTP server."""
    return mail_app.test_client()


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    """Register and log in over HTTP on the mailing app."""
    return AuthActions(client)


def test_registration_mails_a_link_that_verifies_the_address(
    auth: AuthActions, smtp_server: SMTPServer
) -> None:
    user = auth.user("ada@example.com")
    assert user.get(f"{API}/me").get_json()["email_verified"] is False
    token = mailed_token(smtp_server, VERIFY_PAGE, "ada@example.com")
    verified = auth.client.post(f"{API}/verify-email", json={"token": token})
    assert verified.status_code == 200, verified.get_json()
    assert verified.get_json()["email_verified"] is True
    assert verified.get_json()["email"] == "ada@example.com"
    assert user.get(f"{API}/me").get_json()["email_verified"] is True
    assert_problem(user.post(f"{API}/verify-email/resend"), 409, "already_verified")


def test_resend_mails_a_new_link_and_the_old_one_stops_working(
    auth: AuthActions, smtp_server: SMTPServer
) -> None:
    user = auth.user("bob@example.com")
    first = mailed_token(smtp_server, VERIFY_PAGE, "bob@example.com")
    resent = user.post(f"{API}/verify-email/resend")
    assert resent.status_code == 202
    assert resent.get_json()["detail"].startswith("A new verification link has been mailed")
    second = mailed_token(smtp_server, VERIFY_PAGE, "bob@example.com")
    assert second != first
    replaced = auth.client.post(f"{API}/verify-email", json={"token": first})
    assert "token" in assert_problem(replaced, 400, "validation_error")["errors"]
    assert auth.client.post(f"{API}/verify-email", json={"token": second}).status_code == 200


def test_password_reset_end_to_end(auth: AuthActions, smtp_server: SMTPServer) -> None:
    user = auth.user("carol@example.com")
    other_session = auth.login("carol@example.com").get_json()
    answer = auth.client.post(f"{API}/password-reset", json={"email": "Carol@Example.com"})
    assert answer.status_code == 202
    assert answer.get_json() == ACCEPTED_RESET
    token = mailed_token(smtp_server, RESET_PAGE, "carol@example.com")

    confirmed = auth.client.post(
        f"{API}/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert confirmed.status_code == 204, confirmed.get_json()
    # Every session of the account is revoked, the old password no longer works.
    assert_problem(user.get(f"{API}/me"), 401, "token_revoked")
    for token_name in ("access_token", "refresh_token"):
        old = {"Authorization": f"Bearer {other_session[token_name]}"}
        assert_problem(auth.client.post(f"{API}/logout", headers=old), 401, "token_revoked")
    assert_problem(auth.login("carol@example.com"), 401, "invalid_credentials")
    assert auth.login("carol@example.com", NEW_PASSWORD).status_code == 200
    # A token works once.
    again = auth.client.post(
        f"{API}/password-reset/confirm", json={"token": token, "new_password": "Third-Horse-99"}
    )
    assert "token" in assert_problem(again, 400, "validation_error")["errors"]


def test_password_reset_answers_alike_for_unknown_addresses(
    auth: AuthActions, smtp_server: SMTPServer
) -> None:
    auth.user("dora@example.com")
    before = len(smtp_server.received())
    answer = auth.client.post(f"{API}/password-reset", json={"email": "nobody@example.com"})
    assert answer.status_code == 202
    assert answer.get_json() == ACCEPTED_RESET
    assert len(smtp_server.received()) == before  # no mail for an address without an account


def test_a_reset_token_expires(auth: AuthActions, smtp_server: SMTPServer) -> None:
    auth.user("erin@example.com")
    auth.client.post(f"{API}/password-reset", json={"email": "erin@example.com"})
    token = mailed_token(smtp_server, RESET_PAGE, "erin@example.com")
    later = datetime.now(UTC) + timedelta(seconds=3601)
    with time_machine.travel(later, tick=False):
        expired = auth.client.post(
            f"{API}/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
        )
    assert "token" in assert_problem(expired, 400, "validation_error")["errors"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("password-reset", {}, "email"),
        ("password-reset", {"email": "not an address"}, "email"),
        ("password-reset", {"email": "ada@example.com", "extra": 1}, "extra"),
        ("password-reset/confirm", {"token": "x" * 20}, "new_password"),
        ("password-reset/confirm", {"new_password": NEW_PASSWORD}, "token"),
        ("password-reset/confirm", {"token": "wrong", "new_password": NEW_PASSWORD}, "token"),
        ("password-reset/confirm", {"token": "t" * 513, "new_password": NEW_PASSWORD}, "token"),
        ("password-reset/confirm", {"token": "wrong", "new_password": "weak"}, "new_password"),
        ("verify-email", {}, "token"),
        ("verify-email", {"token": "wrong"}, "token"),
        ("verify-email", {"token": 17}, "token"),
    ],
)
def test_recovery_validation(
    client: FlaskClient, path: str, body: dict[str, object], field: str
) -> None:
    problem = assert_problem(client.post(f"{API}/{path}", json=body), 400, "validation_error")
    assert field in problem["errors"], problem


def test_resend_needs_an_access_token(client: FlaskClient) -> None:
    assert_problem(client.post(f"{API}/verify-email/resend"), 401, "token_missing")


def test_production_without_mail_server_answers_503(make_app: AppFactory) -> None:
    app = make_app(APP_ENV="production", JWT_SECRET_KEY="p" * 40)
    auth = AuthActions(app.test_client())
    user: User = auth.user("frank@example.com", PASSWORD)  # registration still works
    reset = auth.client.post(f"{API}/password-reset", json={"email": "frank@example.com"})
    assert_problem(reset, 503, "service_unavailable")
    assert_problem(user.post(f"{API}/verify-email/resend"), 503, "service_unavailable")
