"""Mail: rendered from the package's templates, sent by SMTP (flask-mailman) off the request path.

A mail is rendered where it is asked for (the subject, a plain-text and an HTML part, from
`templates/mail/<name>.subject.txt`, `<name>.txt` and `<name>.html`) and handed to one
background thread per process, which sends it with `MAIL_TIMEOUT` bounding every connect, read
and write (the socket timeout of smtplib, which flask-mailman passes on). The request therefore
takes the same time whether a mail goes out or not (no route may reveal whether an address has
an account), and a slow or broken SMTP server never turns an answer into a 5xx: a failed send is
logged with the request id and dropped. The outbox holds at most `OUTBOX_LIMIT` mails; beyond
that a mail is dropped and logged rather than letting memory grow.

Without `MAIL_SERVER`, development and testing write each whole mail (links included) to the
`tasktracker.mail` log instead; production cannot mail at all: `mail_available()` is false and
`require_mail()` raises `MailUnavailable` (503 `service_unavailable`).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask, current_app, g, render_template
from flask_mailman import EmailMultiAlternatives, Mail

from backend.errors import ServiceUnavailable

log = logging.getLogger("tasktracker.mail")

OUTBOX_LIMIT = 100

mailman = Mail()
# One sender thread per process (started on the first mail, so never before a fork), shared by
# every app; each job carries its app.
_outbox = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tasktracker-mail")
_room = threading.BoundedSemaphore(OUTBOX_LIMIT)


class MailUnavailable(ServiceUnavailable):
    """Production without `MAIL_SERVER`: the routes that send mail cannot work."""

    detail = "This server cannot send e-mail (no mail server is configured); try again later."


def init_mail(app: Flask) -> None:
    """Bind flask-mailman to `app` (it reads the `MAIL_*` settings)."""
    mailman.init_app(app)


def mail_available() -> bool:
    """Tell whether mail can go out: by SMTP, or into the log outside production."""
    config = current_app.config
    return bool(config["MAIL_SERVER"]) or config["APP_ENV"] != "production"


def require_mail() -> None:
    """Raise 503 `service_unavailable` unless mail can go out."""
    if not mail_available():
        raise MailUnavailable


def send_mail(to: str, template: str, **context: Any) -> None:
    """Render the mail `template` for `to` and queue it; it never raises for a failed send."""
    request_id = g.get("request_id", "-")
    if not mail_available():
        log.warning("%s mail not sent: MAIL_SERVER is not set (request %s)", template, request_id)
        return
    subject = render_template(f"mail/{template}.subject.txt", **context).strip()
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_template(f"mail/{template}.txt", subject=subject, **context),
        from_email=current_app.config["MAIL_DEFAULT_SENDER"],
        to=[to],
    )
    html = render_template(f"mail/{template}.html", subject=subject, **context)
    message.attach_alternative(html, "text/html")
    if not _room.acquire(blocking=False):
        log.error("%s mail dropped: the outbox is full (request %s)", template, request_id)
        return
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    _outbox.submit(_deliver, app, message, template, request_id)


def _deliver(app: Flask, message: EmailMultiAlternatives, template: str, request_id: str) -> None:
    """Send one mail (or log it without `MAIL_SERVER`); log a failure instead of raising."""
    try:
        with app.app_context():
            if app.config["MAIL_SERVER"] is None:
                log.info(
                    "%s mail, not sent because MAIL_SERVER is not set (request %s):\n%s",
                    template,
                    request_id,
                    message.message().as_string(),
                )
            else:
                message.send()
                log.info("%s mail sent (request %s)", template, request_id)
    except Exception as error:  # a worker thread: logged here or seen by nobody
        log.error(
            "%s mail failed: %s: %s (request %s)",
            template,
            type(error).__name__,
            error,
            request_id,
            # SMTP and network errors (OSError) are expected now and then: no traceback.
            exc_info=not isinstance(error, OSError),
        )
    finally:
        _room.release()


def wait_for_outbox(timeout: float | None = None) -> None:
    """Block until every mail queued so far has been sent or has failed (tests use it).

    Raise `TimeoutError` if that takes longer than `timeout` seconds.
    """
    _outbox.submit(lambda: None).result(timeout)
