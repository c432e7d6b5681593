"""Outgoing mail over SMTP (smtplib): STARTTLS or implicit TLS and login as the settings say.

Without ``SSO_SMTP_HOST``:

- in ``dev`` the whole message, link included, is written at INFO to a console logger of its
  own (``sso.mail.dev``, stderr, not propagated): a newcomer can register and reset passwords
  without a mail server. It bypasses the root handler on purpose, because that handler masks
  every token (:mod:`sso.core.logging`) and the link is the point here;
- in ``test`` the message is logged through the ordinary, redacting handler;
- in ``prod`` nothing is sent and the failure is logged as an error (a prod deployment must set
  SMTP).

:meth:`Mailer.deliver` never raises: it runs after the response (a background task), so the
time a mail server takes never shows in a response, which must not differ between an address
that has an account and one that has not. Failures are logged (recipient and subject only).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any

from sso.config import Settings

log = logging.getLogger("sso.mail")
SMTP_TIMEOUT = 15.0


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str
    # What the mail is (``email_verification``, ``password_reset``…), for logs.
    purpose: str = "notice"


class MailError(Exception):
    """The mail could not be handed to the SMTP server."""


def build_message(settings: Settings, mail: Mail) -> EmailMessage:
    """A multipart/alternative message: plain text first, the simple HTML as the alternative."""
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(usegmt=True)
    domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or None
    message["Message-ID"] = make_msgid(domain=domain)
    # RFC 3834: a machine wrote this; auto-responders should not answer it.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    return message


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (servers and test runners swap it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _dev_console() -> logging.Logger:
    console = logging.getLogger("sso.mail.dev")
    if not console.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        console.addHandler(handler)
        console.setLevel(logging.INFO)
        console.propagate = False
    return console


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, mail: Mail) -> None:
        """Hand one message to the SMTP server (or the log, see the module doc); MailError."""
        if not self.settings.smtp_host:
            self._without_smtp(mail)
            return
        try:
            with self._connect() as client:
                client.send_message(build_message(self.settings, mail))
        except (OSError, smtplib.SMTPException) as exc:
            # The exception text is the server's reply or a socket error: no message content.
            raise MailError(f"{exc.__class__.__name__}: {exc}") from None

    def _connect(self) -> smtplib.SMTP:
        """A connection to the SMTP server, TLS and login done (use it with ``with``)."""
        s = self.settings
        assert s.smtp_host
        if s.smtp_username and not (s.smtp_ssl or s.smtp_starttls) and s.env == "prod":
            raise MailError("refusing to send SMTP credentials without TLS")
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if s.smtp_ssl:
            client = smtplib.SMTP_SSL(
                s.smtp_host, s.smtp_port, timeout=SMTP_TIMEOUT, context=context
            )
        else:
            client = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=SMTP_TIMEOUT)
        try:
            client.ehlo()
            if s.smtp_starttls and not s.smtp_ssl:
                client.starttls(context=context)
                client.ehlo()
            if s.smtp_username:
                password = s.smtp_password.get_secret_value() if s.smtp_password else ""
                client.login(s.smtp_username, password)
        except BaseException:
            client.close()
            raise
        return client

    def send_many(self, mails: Sequence[Mail]) -> list[bool]:
        """Send many mails over one connection (a new one after a failure); whether each was
        handed over. Never raises: failures are logged like :meth:`deliver` logs them. For bulk
        senders (activation links to thousands of staff), where a connection per mail costs
        more than the mail."""
        if not self.settings.smtp_host:
            return [self._deliver_one(mail) for mail in mails]
        sent: list[bool] = []
        client: smtplib.SMTP | None = None
        try:
            for mail in mails:
                try:
                    if client is None:
                        client = self._connect()
                    client.send_message(build_message(self.settings, mail))
                except (OSError, smtplib.SMTPException, MailError) as exc:
                    log.error(
                        "mail not sent: %s: %s",
                        exc.__class__.__name__,
                        exc,
                        extra={"mail_purpose": mail.purpose, "mail_to": mail.to},
                    )
                    sent.append(False)
                    if client is not None and not isinstance(exc, smtplib.SMTPRecipientsRefused):
                        client.close()
                        client = None
                else:
                    sent.append(True)
        finally:
            if client is not None:
                try:
                    client.quit()
                except (OSError, smtplib.SMTPException):
                    client.close()
        return sent

    def _deliver_one(self, mail: Mail) -> bool:
        try:
            self.send(mail)
        except MailError as exc:
            log.error(
                "mail not sent: %s", exc, extra={"mail_purpose": mail.purpose, "mail_to": mail.to}
            )
            return False
        return True

    def _without_smtp(self, mail: Mail) -> None:
        if self.settings.env == "prod":
            raise MailError("SSO_SMTP_HOST is not set")
        text = f"mail to {mail.to} (not sent: SSO_SMTP_HOST is unset)\nSubject: {mail.subject}\n\n{mail.text}"
        if self.settings.env == "dev":
            _dev_console().info("%s", text)
        else:
            log.info("%s", text)

    def deliver(self, mails: Iterable[Mail]) -> None:
        """Send each mail; log (never raise) failures. For background tasks."""
        for mail in mails:
            try:
                self.send(mail)
            except MailError as exc:
                log.error(
                    "mail not sent: %s",
                    exc,
                    extra={"mail_purpose": mail.purpose, "mail_to": mail.to},
                )
            else:
                log.info("mail sent", extra={"mail_purpose": mail.purpose})
