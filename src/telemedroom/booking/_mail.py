"""The confirmation e-mail: composed with the standard library, sent to the operator's SMTP server.

Why :mod:`smtplib` and not an async SMTP client: it needs no dependency, speaks
STARTTLS, implicit TLS and AUTH, and one short message per booking sent from a worker
thread (:func:`asyncio.to_thread`) never blocks the event loop. The message has a plain
text part, an HTML part in which every value is escaped, and the appointment as an
iCalendar attachment. The recipient's name is a quoted display name of the ``To``
header (:class:`email.headerregistry.Address`), never raw header text.
"""

from __future__ import annotations

import asyncio
import html
import smtplib
import ssl
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from telemedroom.booking._config import SmtpSettings
from telemedroom.errors import EmailDeliveryError

__all__ = ["Mailer", "SmsSender", "SmtpMailer", "compose"]

# An SMS gateway the operator wires in: (phone number, text) -> delivered.
SmsSender = Callable[[str, str], Awaitable[None]]


class Mailer(ABC):
    """Where confirmation e-mails go; :class:`SmtpMailer` is the one that ships.

    Examples:
        >>> class Outbox(Mailer):  # e.g. the practice software's own mail queue
        ...     async def send(self, message):
        ...         print(message["To"])
        >>> import asyncio
        >>> from telemedroom.booking._mail import compose
        >>> asyncio.run(Outbox().send(compose(sender="t@c.example", recipient="e@example.org", name="Erika",
        ...     subject="Termin", lines=["Hallo"], link=None, calendar=None, language="de")))
        Erika <e@example.org>
    """

    @abstractmethod
    async def send(self, message: EmailMessage) -> None:
        """Deliver ``message`` or raise :class:`~telemedroom.errors.EmailDeliveryError`."""


@dataclass(frozen=True)
class SmtpMailer(Mailer):
    """Sends through the SMTP server of ``[smtp]`` (STARTTLS, implicit TLS or plain on loopback).

    Examples:
        >>> SmtpMailer(SmtpSettings(host="127.0.0.1", port=2525, security="none",
        ...                         sender="termine@clinic.example")).server
        '127.0.0.1:2525'
    """

    settings: SmtpSettings
    tls_context: ssl.SSLContext | None = None

    @property
    def server(self) -> str:
        """``host:port``."""
        return f"{self.settings.host}:{self.settings.port}"

    def _send(self, message: EmailMessage) -> None:
        s = self.settings
        context = self.tls_context or ssl.create_default_context()
        client: smtplib.SMTP
        if s.security == "tls":
            client = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_s, context=context)
        else:
            client = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
        with client:
            if s.security == "starttls":
                client.starttls(context=context)
            if s.username is not None:
                client.login(s.username, s.password.get_secret_value() if s.password else "")
            client.send_message(message)

    async def send(self, message: EmailMessage) -> None:
        """Deliver ``message``.

        Raises:
            EmailDeliveryError: The server could not be reached or refused the message.
        """
        try:
            await asyncio.to_thread(self._send, message)
        except (smtplib.SMTPException, OSError) as exc:
            raise EmailDeliveryError(self.server, type(exc).__name__) from exc


def compose(
    *,
    sender: str,
    recipient: str,
    name: str,
    subject: str,
    lines: Sequence[str],
    link: str | None,
    calendar: bytes | None,
    closing: str | None = None,
    language: str,
    now: datetime | None = None,
) -> EmailMessage:
    """A confirmation e-mail: plain text, escaped HTML and an optional ``.ics`` attachment.

    Examples:
        >>> m = compose(sender="t@clinic.example", recipient="e@example.org", name='<b>"Eve"</b>',
        ...             subject="Termin", lines=["Hallo <b>", "Code: ACEF-GHJK"],
        ...             link="https://b.example/m/x", calendar=None, language="de")
        >>> m["To"]
        '"<b>\\\\"Eve\\\\"</b>" <e@example.org>'
        >>> "&lt;b&gt;" in m.get_body(("html",)).get_content()
        True
    """
    message = EmailMessage()
    message["From"] = sender
    message["To"] = Address(display_name=name, addr_spec=recipient)
    message["Subject"] = subject
    message["Date"] = format_datetime(now or datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    message["Content-Language"] = language
    tail = [*([link] if link else []), *([closing] if closing else [])]
    text = "\n\n".join([*lines, *tail]) + "\n"
    message.set_content(text)
    paragraphs = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
    if link:
        safe = html.escape(link, quote=True)
        paragraphs += f'<p><a href="{safe}">{safe}</a></p>'
    if closing:
        paragraphs += f"<p>{html.escape(closing)}</p>"
    message.add_alternative(
        f'<!doctype html><html lang="{html.escape(language)}"><body>{paragraphs}</body></html>',
        subtype="html",
    )
    if calendar is not None:
        message.add_attachment(
            calendar, maintype="text", subtype="calendar", filename="termin.ics", params={"method": "PUBLISH"}
        )
    return message
