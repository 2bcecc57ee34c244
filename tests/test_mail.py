"""Mail delivery (backend/mail.py) and its settings: the log mailbox, failures, production rules."""

from __future__ import annotations

import logging
import re
import smtplib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, g

from backend import mail
from backend.config import ConfigError, load_config
from backend.errors import ServiceUnavailable
from backend.services import recovery
from tests.conftest import AppFactory, AuthActions
from tests.smtp import OUTBOX_TIMEOUT, SMTPServer

STRONG_SECRET = "s" * 32


class Records(logging.Handler):
    """Keeps the records of one logger."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record."""
        self.records.append(record)

    def clear(self) -> None:
        """Forget the records kept so far."""
        self.records.clear()

    def messages(self, level: int) -> list[str]:
        """Return the messages of `level`."""
        return [record.getMessage() for record in self.records if record.levelno == level]


@pytest.fixture
def mail_log() -> Iterator[Records]:
    """Collect what `tasktracker.mail` logs (at INFO and above) during the test."""
    logger = logging.getLogger("tasktracker.mail")
    handler, level = Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Return the port of a server that accepts connections and never says a word."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def register(app: Flask, *sinks: Records | SMTPServer, **extra: Any) -> tuple[int, str]:
    """Register a user over HTTP; return their id and address.

    Registration mails a verification link: once it is out, `sinks` forget it, so that a test
    sees only the mails it causes itself.
    """
    response = AuthActions(app.test_client()).register(**extra)
    assert response.status_code == 201, response.get_json()
    mail.wait_for_outbox(timeout=OUTBOX_TIMEOUT)
    for sink in sinks:
        sink.clear()
    return response.get_json()["id"], response.get_json()["email"]


def reset_as_request(app: Flask, email: str, request_id: str = "req-42") -> None:
    """Ask for a password reset as a request with `request_id` would, and wait for the mail."""
    with app.app_context():
        g.request_id = request_id
        recovery.request_password_reset(email)
    mail.wait_for_outbox(timeout=OUTBOX_TIMEOUT)


# --- without MAIL_SERVER ----------------------------------------------------------------------


@pytest.mark.parametrize("environment", ["testing", "development"])
def test_without_mail_server_the_whole_mail_goes_to_the_log(
    make_app: AppFactory, mail_log: Records, environment: str
) -> None:
    app = make_app(APP_ENV=environment, AUTO_MIGRATE=False)
    _, email = register(app, mail_log)
    with app.app_context():
        assert mail.mail_available() is True

    reset_as_request(app, email)

    (logged,) = mail_log.messages(logging.INFO)
    assert "password_reset mail, not sent because MAIL_SERVER is not set (request req-42)" in logged
    assert f"To: {email}" in logged
    assert "Subject: Reset your TaskTracker password" in logged
    assert "Content-Type: text/plain" in logged
    assert "Content-Type: text/html" in logged
    # The link, whole and readable, in both parts: a newcomer copies it from the log.
    links = re.findall(r"http://localhost:5173/reset-password\?token=[A-Za-z0-9_-]{43}\b", logged)
    assert len(links) == 3  # the text part, and the HTML part's href and text
    assert len(set(links)) == 1
    assert f'<a href="{links[0]}">' in logged


def test_production_without_mail_server_cannot_mail(
    make_app: AppFactory, mail_log: Records
) -> None:
    app = make_app(APP_ENV="production", JWT_SECRET_KEY=STRONG_SECRET)
    user_id, email = register(app, mail_log)
    with app.app_context():
        assert mail.mail_available() is False
        with pytest.raises(ServiceUnavailable) as reset:
            recovery.request_password_reset(email)
        with pytest.raises(ServiceUnavailable) as resend:
            recovery.resend_verification(user_id)
        for caught in (reset, resend):
            assert (caught.value.status, caught.value.code) == (503, "service_unavailable")
        # Registration's mail is skipped, not an error: the account works unverified.
        recovery.send_verification(user_id)
    mail.wait_for_outbox(timeout=OUTBOX_TIMEOUT)
    assert mail_log.messages(logging.WARNING) == [
        "verify_email mail not sent: MAIL_SERVER is not set (request -)"
    ]


def test_production_with_mail_server_can_mail(
    make_app: AppFactory, smtp_server: SMTPServer
) -> None:
    app = make_app(APP_ENV="production", JWT_SECRET_KEY=STRONG_SECRET, **smtp_server.settings)
    _, email = register(app, smtp_server)
    reset_as_request(app, email)
    assert smtp_server.only_message().rcpt_tos == [email]


# --- failures -----------------------------------------------------------------------------------


def test_a_send_to_a_stopped_server_is_logged_and_does_not_raise(
    make_app: AppFactory, mail_log: Records
) -> None:
    server = SMTPServer()
    server.start()
    app = make_app(**server.settings)
    _, email = register(app, mail_log)
    server.stop()  # its port is closed now

    reset_as_request(app, email, "req-refused")

    (failure,) = mail_log.messages(logging.ERROR)
    assert failure.startswith("password_reset mail failed: ConnectionRefusedError")
    assert failure.endswith("(request req-refused)")


def test_mail_timeout_bounds_a_send_and_the_outbox_is_bounded(
    make_app: AppFactory,
    silent_server: int,
    mail_log: Records,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=silent_server, MAIL_TIMEOUT=1)
    _, email = register(app, mail_log)
    monkeypatch.setattr(mail, "_room", threading.BoundedSemaphore(1))
    with app.app_context():
        g.request_id = "req-slow"
        recovery.request_password_reset(email)  # takes the one place, for MAIL_TIMEOUT
        recovery.request_password_reset(email)  # finds the outbox full
    mail.wait_for_outbox(timeout=OUTBOX_TIMEOUT)

    assert mail_log.messages(logging.ERROR) == [
        "password_reset mail dropped: the outbox is full (request req-slow)",
        "password_reset mail failed: SMTPServerDisconnected: Connection unexpectedly closed:"
        " timed out (request req-slow)",
    ]


# --- content --------------------------------------------------------------------------------


def test_the_html_part_escapes_the_users_name(
    make_app: AppFactory, smtp_server: SMTPServer
) -> None:
    app = make_app(**smtp_server.settings)
    user_id, _ = register(app, smtp_server, name="<b>Ada</b> & co")
    with app.app_context():
        recovery.send_verification(user_id)
    received = smtp_server.only_message()
    assert "Hello &lt;b&gt;Ada&lt;/b&gt; &amp; co," in received.part("text/html")
    assert "Hello <b>Ada</b> & co," in received.part("text/plain")


# --- settings -------------------------------------------------------------------------------


def test_mail_defaults_follow_the_contract() -> None:
    config = load_config({"APP_ENV": "testing", "JWT_SECRET_KEY": STRONG_SECRET})
    assert config["MAIL_SERVER"] is None
    assert config["MAIL_PORT"] == 587
    assert config["MAIL_USE_TLS"] is False
    assert config["MAIL_USE_SSL"] is False
    assert config["MAIL_USERNAME"] is None
    assert config["MAIL_PASSWORD"] is None
    assert config["MAIL_DEFAULT_SENDER"] == "TaskTracker <no-reply@localhost>"
    assert config["MAIL_TIMEOUT"] == 5
    assert config["FRONTEND_URL"] == "http://localhost:5173"
    assert config["PASSWORD_RESET_EXPIRES"] == 3600
    assert config["EMAIL_VERIFY_EXPIRES"] == 172_800
    # flask-mailman would use its in-memory backend under TESTING: this app always uses SMTP.
    assert config["MAIL_BACKEND"] == "smtp"


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"MAIL_PORT": "0"}, "MAIL_PORT must be positive"),
        ({"MAIL_PORT": "65536"}, "MAIL_PORT must be a TCP port"),
        ({"MAIL_PORT": "smtp"}, "MAIL_PORT must be a whole number"),
        ({"MAIL_USE_TLS": "yes"}, "MAIL_USE_TLS must be true or false"),
        ({"MAIL_USE_SSL": "1"}, "MAIL_USE_SSL must be true or false"),
        ({"MAIL_USE_TLS": "true", "MAIL_USE_SSL": "true"}, "exclude each other"),
        ({"MAIL_DEFAULT_SENDER": "TaskTracker"}, "MAIL_DEFAULT_SENDER must be an address"),
        ({"MAIL_TIMEOUT": "0"}, "MAIL_TIMEOUT must be positive"),
        ({"FRONTEND_URL": "localhost:5173"}, "FRONTEND_URL must be an http(s) URL"),
        ({"FRONTEND_URL": "ftp://files.example.com"}, "FRONTEND_URL must be an http(s) URL"),
        ({"FRONTEND_URL": "https://app.example.com/?x=1"}, "FRONTEND_URL must be an http(s) URL"),
        ({"PASSWORD_RESET_EXPIRES": "-5"}, "PASSWORD_RESET_EXPIRES must be positive"),
        ({"EMAIL_VERIFY_EXPIRES": "two days"}, "EMAIL_VERIFY_EXPIRES must be a whole number"),
    ],
)
def test_bad_mail_settings_refuse_to_start_with_one_line(
    overrides: dict[str, str], complaint: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(overrides)
    message = str(caught.value)
    assert complaint in message
    assert "\n" not in message


def test_a_job_that_raises_is_logged_with_its_traceback(app: Flask, mail_log: Records) -> None:
    with app.app_context():
        g.request_id = "req-job"
        mail.in_background("broken job", int, "not a number")
    mail.wait_for_outbox(timeout=OUTBOX_TIMEOUT)

    (record,) = [each for each in mail_log.records if each.levelno == logging.ERROR]
    assert record.getMessage() == "broken job failed (request req-job)"
    assert record.exc_info is not None
    assert record.exc_info[0] is ValueError


def test_the_test_smtp_server_moves_to_another_port_if_its_own_was_taken(
    silent_server: int,
) -> None:
    server = SMTPServer(port=silent_server)
    server.start()
    try:
        assert server.port != silent_server
        with smtplib.SMTP("127.0.0.1", server.port, timeout=OUTBOX_TIMEOUT) as client:
            assert client.noop()[0] == 250
    finally:
        server.stop()
