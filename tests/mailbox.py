"""A real SMTP server on loopback (aiosmtpd) that keeps what it accepts, read back as a mail
client would; it can refuse an address for good, go down and come back on the same port, or
stall in the middle of a conversation (to kill the worker that is sending)."""

from __future__ import annotations

import asyncio
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from tests.loopback import free_port


class Mailbox:
    def __init__(self):
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        #: Address → the 5xx answer the server gives it.
        self.refuse: dict[str, str] = {}
        #: While set, a RCPT waits here (mid-send) until ``release`` is set; ``stalled`` says
        #: a conversation is waiting.
        self.stall = False
        self.stalled = threading.Event()
        self.release = threading.Event()
        self.controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> Mailbox:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]

    # aiosmtpd's handler hooks.
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        if self.stall:
            self.stalled.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"


def parts(message: EmailMessage) -> dict[str, object]:
    """The message's text, HTML and attached PDF, as a mail client shows them."""
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    pdfs = [
        part.get_content()
        for part in message.iter_attachments()
        if part.get_content_type() == "application/pdf"
    ]
    return {
        "text": text.get_content() if text is not None else None,
        "html": html.get_content() if html is not None else None,
        "pdfs": pdfs,
        "filenames": [part.get_filename() for part in message.iter_attachments()],
    }
