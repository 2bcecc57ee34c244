"""A real SMTP server for tests (aiosmtpd on 127.0.0.1), and helpers to read what it received."""

from __future__ import annotations

import errno
import re
import socket
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from backend.mail import wait_for_outbox

BIND_ATTEMPTS = 5
# How long a test waits for the app's outbox at most; sends take milliseconds.
OUTBOX_TIMEOUT = 30.0


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Received:
    """One mail as the server got it: the envelope and the parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    def part(self, content_type: str) -> str:
        """Return the decoded body of the part of `content_type` (`text/plain`, `text/html`)."""
        found = [each for each in self.message.walk() if each.get_content_type() == content_type]
        assert len(found) == 1, f"expected one {content_type} part, found {len(found)}"
        return cast(EmailMessage, found[0]).get_content()

    def link(self, base: str) -> str:
        """Return the one link starting with `base`, the same in the text and the HTML part."""
        pattern = re.compile(re.escape(base) + r"[^\s\"<>]*")
        in_text = set(pattern.findall(self.part("text/plain")))
        in_html = set(pattern.findall(self.part("text/html")))
        assert len(in_text) == 1, in_text
        assert in_text == in_html, (in_text, in_html)
        return in_text.pop()


@dataclass
class Mailbox:
    """The aiosmtpd handler: keeps every message it accepts."""

    messages: list[Received] = field(default_factory=list)

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        """Accept and keep one message."""
        content = cast(bytes, envelope.content)
        message = cast(EmailMessage, message_from_bytes(content, policy=policy.default))
        self.messages.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


class SMTPServer:
    """An aiosmtpd server on 127.0.0.1 and a free port, started and stopped by a fixture."""

    def __init__(self, port: int | None = None) -> None:
        self.mailbox = Mailbox()
        self.port = port or free_port()
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        """Start serving (in aiosmtpd's own thread), on another free port if this one was taken.

        Other processes on the machine may take a free port between the probe and the bind.
        """
        for _ in range(BIND_ATTEMPTS - 1):
            try:
                self.controller.start()
            except OSError as error:
                if error.errno != errno.EADDRINUSE:
                    raise
                self.controller.loop.close()  # the failed start leaves its event loop open
                self.port = free_port()
                self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
            else:
                return
        self.controller.start()

    def stop(self) -> None:
        """Stop serving: the port is closed afterwards."""
        self.controller.stop()

    @property
    def settings(self) -> dict[str, Any]:
        """Return the app settings that send mail to this server."""
        return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": self.port}

    def clear(self) -> None:
        """Forget the messages received so far (the app's outbox emptied first)."""
        wait_for_outbox(timeout=OUTBOX_TIMEOUT)
        self.mailbox.messages.clear()

    def received(self) -> list[Received]:
        """Return every message received so far, once the app's outbox is empty."""
        wait_for_outbox(timeout=OUTBOX_TIMEOUT)
        return list(self.mailbox.messages)

    def only_message(self) -> Received:
        """Return the one message received so far (and fail if there is not exactly one)."""
        messages = self.received()
        assert len(messages) == 1, [each.message["Subject"] for each in messages]
        return messages[0]
