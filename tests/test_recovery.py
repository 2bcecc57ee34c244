"""Account recovery and verified addresses, with a real SMTP server (aiosmtpd).

The mails are read as the server received them, and their links are followed through the
service functions (the routes come with the flask-smorest rewrite); what a user can do
afterwards is checked over HTTP.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from flask import Flask
from sqlalchemy import func, select

from backend.errors import Conflict, ValidationFailed
from backend.extensions import db
from backend.models import AuthSession, OneTimeToken
from backend.services import recovery
from tests.conftest import PASSWORD, AuthActions, assert_problem
from tests.conftest import User as Account
from tests.smtp import SMTPServer

NEW_PASSWORD = "Brand-New-Horse-8"
RESET_PAGE = "http://localhost:5173/reset-password?token="
VERIFY_PAGE = "http://localhost:5173/verify-email?token="


@pytest.fixture
def auth(mail_app: Flask) -> AuthActions:
    """Register and log in users over HTTP, on the app that mails to the test SMTP server."""
    return AuthActions(mail_app.test_client())


@pytest.fixture
def user(auth: AuthActions, smtp_server: SMTPServer) -> Account:
    """Return a registered, logged-in user (its verification mail already out and forgotten)."""
    account = auth.user()
    smtp_server.clear()
    return account


@dataclass
class Flow:
    """Calls services on the mail app, each in its own app context, as a request would.

    No app context stays pushed across the test's HTTP requests: a request would share it
    (and its `g`) instead of getting its own.
    """

    app: Flask
    smtp: SMTPServer

    def __call__(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run `function(*args)` in an app context."""
        with self.app.app_context():
            return function(*args)

    def scalar(self, statement: Any) -> Any:
        """Run a query and return its one value."""
        with self.app.app_context():
            return db.session.scalar(statement)

    def scalars(self, statement: Any) -> list[Any]:
        """Run a query and return its values."""
        with self.app.app_context():
            return list(db.session.scalars(statement))

    def bad_token(self, function: Callable[..., Any], *args: Any) -> None:
        """Assert that `function(*args)` is 400 `validation_error` naming only `token`."""
        with pytest.raises(ValidationFailed) as caught:
            self(function, *args)
        error = caught.value
        assert (error.status, error.code) == (400, "validation_error")
        assert error.errors is not None
        assert set(error.errors) == {"token"}

    def reset_link(self, email: str) -> str:
        """Ask for a password reset of `email` and return the link mailed to it."""
        before = len(self.smtp.received())
        self(recovery.request_password_reset, email)
        received = self.smtp.received()
        assert len(received) == before + 1
        return received[-1].link(RESET_PAGE)

    def verify_link(self, user_id: int, *, resend: bool = False) -> str:
        """Mail a verification link (as at registration, or on request) and return it."""
        before = len(self.smtp.received())
        self(recovery.resend_verification if resend else recovery.send_verification, user_id)
        received = self.smtp.received()
        assert len(received) == before + 1
        return received[-1].link(VERIFY_PAGE)


@pytest.fixture
def flow(mail_app: Flask, smtp_server: SMTPServer) -> Flow:
    """Return the service caller on the mail app."""
    return Flow(mail_app, smtp_server)


def token_of(link: str) -> str:
    """Return the `token` query parameter of a mailed link."""
    return parse_qs(urlsplit(link).query)["token"][0]


def me(user: Account) -> dict[str, Any]:
    """Return GET /auth/me of `user`."""
    response = user.get("/api/v1/auth/me")
    assert response.status_code == 200
    return response.get_json()


# --- password reset -------------------------------------------------------------------------


def test_reset_mail_has_a_text_and_an_html_part_with_the_same_link(
    flow: Flow, user: Account
) -> None:
    flow(recovery.request_password_reset, user.email)

    mail = flow.smtp.only_message()
    assert mail.rcpt_tos == [user.email]
    assert mail.mail_from == "no-reply@localhost"
    assert mail.message["From"] == "TaskTracker <no-reply@localhost>"
    assert mail.message["To"] == user.email
    assert mail.message["Subject"] == "Reset your TaskTracker password"
    assert mail.message.get_content_type() == "multipart/alternative"
    link = mail.link(RESET_PAGE)
    assert len(token_of(link)) >= 43  # 32 random bytes, base64url
    assert "within 1 hour" in mail.part("text/plain")
    assert f'<a href="{link}">' in mail.part("text/html")


def test_the_whole_reset_flow_revokes_every_session(
    flow: Flow, auth: AuthActions, user: Account
) -> None:
    second = auth.login(user.email).get_json()
    link = flow.reset_link(user.email)

    flow(recovery.confirm_password_reset, token_of(link), NEW_PASSWORD)

    for token in (user.access_token, second["access_token"]):
        answer = auth.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert_problem(answer, 401, "token_revoked")
    assert_problem(auth.login(user.email, PASSWORD), 401, "invalid_credentials")
    login = auth.login(user.email, NEW_PASSWORD)
    assert login.status_code == 200
    answer = auth.client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {login.get_json()['access_token']}"}
    )
    assert answer.status_code == 200
    # Following a link mailed to the address proves it.
    assert answer.get_json()["email_verified"] is True
    live = flow.scalar(
        select(func.count()).where(AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None))
    )
    assert live == 1  # only the new login's


def test_a_reset_token_works_once(flow: Flow, user: Account) -> None:
    token = token_of(flow.reset_link(user.email))
    flow(recovery.confirm_password_reset, token, NEW_PASSWORD)

    flow.bad_token(recovery.confirm_password_reset, token, "Third-Horse-77")

    assert (
        user.client.post(
            "/api/v1/auth/login", json={"email": user.email, "password": NEW_PASSWORD}
        ).status_code
        == 200
    )


def test_a_newer_reset_link_makes_older_ones_invalid(
    flow: Flow, auth: AuthActions, user: Account
) -> None:
    first = token_of(flow.reset_link(user.email))
    second = token_of(flow.reset_link(user.email))

    flow.bad_token(recovery.confirm_password_reset, first, NEW_PASSWORD)
    flow(recovery.confirm_password_reset, second, NEW_PASSWORD)
    assert auth.login(user.email, NEW_PASSWORD).status_code == 200


@pytest.mark.parametrize(
    "token",
    ["", "not-a-token", "A" * 43, "\ud800", "x" * 10_000],
    ids=["empty", "garbage", "well-formed", "lone-surrogate", "long"],
)
def test_a_wrong_reset_token_is_400_on_token(flow: Flow, user: Account, token: str) -> None:
    flow.reset_link(user.email)
    flow.bad_token(recovery.confirm_password_reset, token, NEW_PASSWORD)


def test_a_reset_token_expires_after_password_reset_expires(
    flow: Flow, auth: AuthActions, user: Account
) -> None:
    start = datetime.now(UTC)
    with time_machine.travel(start, tick=False):
        early = token_of(flow.reset_link(user.email))
    with time_machine.travel(start + timedelta(seconds=3600), tick=False):
        flow.bad_token(recovery.confirm_password_reset, early, NEW_PASSWORD)

    with time_machine.travel(start, tick=False):
        token = token_of(flow.reset_link(user.email))
    with time_machine.travel(start + timedelta(seconds=3599), tick=False):
        flow(recovery.confirm_password_reset, token, NEW_PASSWORD)
    assert auth.login(user.email, NEW_PASSWORD).status_code == 200


def test_the_reset_lifetime_is_configurable(make_app: Any, smtp_server: SMTPServer) -> None:
    flow = Flow(make_app(**smtp_server.settings, PASSWORD_RESET_EXPIRES="1800"), smtp_server)
    registered = AuthActions(flow.app.test_client()).user()
    start = datetime.now(UTC)
    with time_machine.travel(start, tick=False):
        token = token_of(flow.reset_link(registered.email))
    assert "within 30 minutes" in smtp_server.received()[-1].part("text/plain")
    with time_machine.travel(start + timedelta(seconds=1800), tick=False):
        flow.bad_token(recovery.confirm_password_reset, token, NEW_PASSWORD)


def test_an_unknown_address_gets_no_mail_and_no_token(flow: Flow, user: Account) -> None:
    assert flow(recovery.request_password_reset, "nobody@example.com") is None

    assert flow.smtp.received() == []
    resets = select(func.count()).where(OneTimeToken.purpose == "password_reset")
    assert flow.scalar(resets) == 0


def test_the_address_is_matched_ignoring_case(flow: Flow, user: Account) -> None:
    flow(recovery.request_password_reset, user.email.upper())
    assert flow.smtp.only_message().rcpt_tos == [user.email]


def test_only_the_token_hash_is_stored(flow: Flow, user: Account) -> None:
    token = token_of(flow.reset_link(user.email))

    (row,) = flow.scalars(select(OneTimeToken).where(OneTimeToken.purpose == "password_reset"))
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(
        [getattr(row, column.key) for column in OneTimeToken.__table__.columns]
    )
    assert row.purpose == "password_reset"
    assert row.used_at is None
    assert row.expires_at - row.created_at == timedelta(seconds=3600)


def test_links_start_with_frontend_url(make_app: Any, smtp_server: SMTPServer) -> None:
    app = make_app(**smtp_server.settings, FRONTEND_URL="https://tasks.example.com/app/")
    flow = Flow(app, smtp_server)
    registered = AuthActions(app.test_client()).user()
    smtp_server.clear()  # the registration's own verification mail
    flow(recovery.request_password_reset, registered.email)
    flow(recovery.send_verification, registered.id)
    reset, verify = smtp_server.received()
    assert reset.link("https://tasks.example.com/app/reset-password?token=")
    assert verify.link("https://tasks.example.com/app/verify-email?token=")


def test_a_user_deleted_after_the_mail_cannot_reset(flow: Flow, user: Account) -> None:
    token = token_of(flow.reset_link(user.email))
    response = user.delete("/api/v1/auth/me", json={"password": PASSWORD})
    assert response.status_code == 204

    flow.bad_token(recovery.confirm_password_reset, token, NEW_PASSWORD)


# --- verified addresses ---------------------------------------------------------------------


def test_a_new_user_is_unverified_until_the_link_is_followed(flow: Flow, user: Account) -> None:
    assert me(user)["email_verified"] is False
    link = flow.verify_link(user.id)
    mail = flow.smtp.received()[-1]
    assert mail.message["Subject"] == "Confirm your e-mail address for TaskTracker"
    assert "within 48 hours" in mail.part("text/plain")

    verified = flow(recovery.verify_email, token_of(link))

    assert verified.id == user.id
    assert verified.email_verified is True
    assert me(user)["email_verified"] is True


def test_a_verification_link_followed_twice_answers_the_user_again(
    flow: Flow, user: Account
) -> None:
    token = token_of(flow.verify_link(user.id))
    flow(recovery.verify_email, token)
    assert flow(recovery.verify_email, token).email_verified is True


def test_resend_replaces_the_older_link(flow: Flow, user: Account) -> None:
    first = token_of(flow.verify_link(user.id))
    second = token_of(flow.verify_link(user.id, resend=True))

    flow.bad_token(recovery.verify_email, first)
    assert me(user)["email_verified"] is False
    flow(recovery.verify_email, second)
    assert me(user)["email_verified"] is True
    # Once the address is verified, any still-valid link of it says so.
    assert flow(recovery.verify_email, first).email_verified is True


def test_resend_once_verified_is_409_already_verified(flow: Flow, user: Account) -> None:
    flow(recovery.verify_email, token_of(flow.verify_link(user.id)))

    with pytest.raises(Conflict) as caught:
        flow(recovery.resend_verification, user.id)

    assert caught.value.status == 409
    assert caught.value.code == "already_verified"
    assert len(flow.smtp.received()) == 1


def test_a_verification_link_expires_after_email_verify_expires(flow: Flow, user: Account) -> None:
    start = datetime.now(UTC)
    with time_machine.travel(start, tick=False):
        token = token_of(flow.verify_link(user.id))
    with time_machine.travel(start + timedelta(seconds=172_800), tick=False):
        flow.bad_token(recovery.verify_email, token)
    with time_machine.travel(start + timedelta(seconds=172_799), tick=False):
        assert flow(recovery.verify_email, token).email_verified is True


@pytest.mark.parametrize("token", ["", "wrong", "B" * 43], ids=["empty", "garbage", "shaped"])
def test_a_wrong_verification_token_is_400_on_token(flow: Flow, user: Account, token: str) -> None:
    flow.verify_link(user.id)
    flow.bad_token(recovery.verify_email, token)
    assert me(user)["email_verified"] is False


def test_a_token_of_one_purpose_does_not_serve_the_other(flow: Flow, user: Account) -> None:
    verify = token_of(flow.verify_link(user.id))
    reset = token_of(flow.reset_link(user.email))

    flow.bad_token(recovery.confirm_password_reset, verify, NEW_PASSWORD)
    flow.bad_token(recovery.verify_email, reset)
    # Neither was spent by the wrong use.
    flow(recovery.verify_email, verify)
    flow(recovery.confirm_password_reset, reset, NEW_PASSWORD)


def test_a_reset_does_not_touch_a_pending_verification_link(flow: Flow, user: Account) -> None:
    verify = token_of(flow.verify_link(user.id))
    flow(recovery.confirm_password_reset, token_of(flow.reset_link(user.email)), NEW_PASSWORD)
    assert flow(recovery.verify_email, verify).email_verified is True


# --- the clean-up command -------------------------------------------------------------------


def test_purge_expired_deletes_expired_tokens_only(flow: Flow, user: Account) -> None:
    start = datetime.now(UTC)
    with time_machine.travel(start - timedelta(hours=2), tick=False):
        flow.reset_link(user.email)  # expired an hour ago
    flow.reset_link(user.email)  # live
    flow.verify_link(user.id)  # live
    live = set(flow.scalars(select(OneTimeToken.id).where(OneTimeToken.expires_at > start)))
    assert len(live) == 3  # and the registration's link, replaced but not expired

    result = flow.app.test_cli_runner().invoke(args=["purge-expired"])

    assert result.exit_code == 0, result.output
    assert "and 1 expired one-time tokens" in result.output
    assert set(flow.scalars(select(OneTimeToken.id))) == live


def test_deleting_the_account_deletes_its_tokens(flow: Flow, user: Account) -> None:
    flow.reset_link(user.email)
    assert user.delete("/api/v1/auth/me", json={"password": PASSWORD}).status_code == 204
    assert flow.scalar(select(func.count()).select_from(OneTimeToken)) == 0


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (3600, "1 hour"),
        (172_800, "48 hours"),
        (1800, "30 minutes"),
        (60, "1 minute"),
        (90, "90 seconds"),
        (1, "1 second"),
    ],
)
def test_lifetimes_are_said_in_words(seconds: int, words: str) -> None:
    assert recovery.describe_duration(seconds) == words
