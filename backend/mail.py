"""Mail: rendered from the package's templates, sent by SMTP (flask-mailman) in the background.

Mail never goes out on the request path: a service hands a job to `in_background`, and one
thread per process runs the jobs in turn, each in its own app context (and transaction). So a
request takes the same time whether it leads to a mail or not (no route may reveal whether an
address has an account), and a slow or broken SMTP server never holds or fails a request. A
job renders its mail (the subject, a plain-text and an HTML part, from
`templates/mail/<name>.subject.txt`, `<name>.txt` and `<name>.html`) and sends it with
`MAIL_TIMEOUT` bounding every connect, read and write (smtplib's socket timeout, which
flask-mailman passes on); a failed send is logged with the request id and dropped. At most
`OUTBOX_LIMIT` jobs wait; beyond that a job is dropped and logged rather than letting memory
grow.

Without `MAIL_SERVER`, development and testing write each whole mail (links included) to the
`tasktracker.mail` log instead; production cannot mail at all: `mail_available()` is false and
`require_mail()` raises `MailUnavailable` (503 `service_unavailable`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask, current_app, g, render_template
from flask_mailman import EmailMultiAlternatives, Mail

from backend.errors import ServiceUnavailable

log = logging.getLogger("tasktracker.mail")

OUTBOX_LIMIT = 100

mailman = Mail()
# One outbox thread per process (started by the first job, so never before a fork), shared by
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
    """Render the mail `template` for `to` and send it now; a failure is logged, never raised.

    Without `MAIL_SERVER` the whole mail goes to the log instead (production logs only that it
    was not sent). Call it from a job given to `in_background`, never on the request path.
    """
    request_id = g.get("request_id", "-")
    if not mail_available():
        log.warning("%s mail not sent: MAIL_SERVER is not set (request %s)", template, request_id)
        return
    message = _compose(to, template, context)
    try:
        if current_app.config["MAIL_SERVER"] is None:
            log.info(
                "%s mail, not sent because MAIL_SERVER is not set (request %s):\n%s",
                template,
                request_id,
                message.message().as_string(),
            )
        else:
            message.send()
            log.info("%s mail sent (request %s)", template, request_id)
    except Exception as error:  # whatever went wrong, the mail is lost: say so, once
        log.error(
            "%s mail failed: %s: %s (request %s)",
            template,
            type(error).__name__,
            error,
            request_id,
            # SMTP and network errors (OSError) are expected now and then: no traceback.
            exc_info=not isinstance(error, OSError),
        )


def _compose(to: str, template: str, context: dict[str, Any]) -> EmailMultiAlternatives:
    """Render the subject, the plain-text and the HTML part of a mail."""
    subject = render_template(f"mail/{template}.subject.txt", **context).strip()
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_template(f"mail/{template}.txt", subject=subject, **context),
        from_email=current_app.config["MAIL_DEFAULT_SENDER"],
        to=[to],
    )
    html = render_template(f"mail/{template}.html", subject=subject, **context)
    message.attach_alternative(html, "text/html")
    return message


def in_background(name: str, job: Callable[..., object], *args: Any) -> None:
    """Run `job(*args)` in the outbox thread, in an app context that has this request's id.

    `name` says what the job is in the log. A job that raises is logged; when `OUTBOX_LIMIT`
    jobs are waiting, the job is dropped and logged.
    """
    request_id = g.get("request_id", "-")
    if not _room.acquire(blocking=False):
        log.error("%s dropped: the outbox is full (request %s)", name, request_id)
        return
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    _outbox.submit(_run, app, name, job, args, request_id)


def _run(
    app: Flask, name: str, job: Callable[..., object], args: tuple[Any, ...], request_id: str
) -> None:
    """Run one job of the outbox; log what it raises (nobody else would see it)."""
    try:
        with app.app_context():
            g.request_id = request_id
            job(*args)
    except Exception:
        log.exception("%s failed (request %s)", name, request_id)
    finally:
        _room.release()


def wait_for_outbox(timeout: float | None = None) -> None:
    """Block until every job queued so far has finished (tests use it).

    Raise `TimeoutError` if that takes longer than `timeout` seconds.
    """
    _outbox.submit(lambda: None).result(timeout)
