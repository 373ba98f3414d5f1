"""Email out: the outbox's `Sender` for channel "email", over SMTP with aiosmtplib."""
from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

import aiosmtplib
import nh3

from helpdesk.channel import DeliveryError, Outbound
from helpdesk.models import utcnow
from helpdesk.settings import Settings
from helpdesk.tickets.reply_templates import render

_TOKEN = re.compile(r"\[#\d+\]")
_REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|antw|fwd?|wg)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


def reply_subject(subject: str | None, number: int) -> str:
    """"Re: [#N] subject": the token once, whatever prefixes and tokens the thread collected."""
    base = _REPLY_PREFIX.sub("", subject or "").strip()
    if f"[#{number}]" in base:
        return f"Re: {base}"
    base = _TOKEN.sub("", base).strip()
    return f"Re: [#{number}] {base}".rstrip()


@dataclass(frozen=True)
class SmtpAccount:
    """The mailbox a reply goes out through, as the outbox hands it over in `Outbound.sending_account`."""

    address: str
    name: str | None
    smtp_host: str
    smtp_port: int
    smtp_security: str
    smtp_user: str | None
    smtp_password: str | None


def build_message(outbound: Outbound, mailbox: SmtpAccount, *, auto_generated: bool = False) -> EmailMessage:
    """multipart/alternative (text + HTML from templates/email/reply.*), threaded, with attachments."""
    message = EmailMessage()
    message["From"] = formataddr((outbound.agent_name or mailbox.name or "", mailbox.address))
    message["To"] = _address(outbound.recipient.value, outbound.recipient.display_name)
    recipients = {outbound.recipient.value.lower(), mailbox.address.lower()}
    cc = []
    for identity in outbound.cc:
        if identity.kind == "email" and identity.value.lower() not in recipients:
            recipients.add(identity.value.lower())
            cc.append(_address(identity.value, identity.display_name))
    if cc:
        message["Cc"] = ", ".join(cc)
    # system mail to our own people (helpdesk/staff/mail.py) keeps its subject: no token to thread an answer
    system = outbound.extra.get("system", False)
    message["Subject"] = outbound.subject if system else reply_subject(outbound.subject, outbound.ticket_number)
    message["Message-ID"] = outbound.external_id
    message["Date"] = format_datetime(utcnow())
    if outbound.in_reply_to:
        message["In-Reply-To"] = outbound.in_reply_to
    if outbound.references:
        message["References"] = " ".join(outbound.references)
    if auto_generated:
        message["Auto-Submitted"] = "auto-replied"  # RFC 3834: no auto-answer to this, please
        message["X-Auto-Response-Suppress"] = "All"  # the same request in Exchange's dialect

    context = {
        "text": outbound.text,
        "html": nh3.clean(outbound.html) if outbound.html else None,
        "paragraphs": [p.split("\n") for p in re.split(r"\n\s*\n", outbound.text.strip())] if outbound.text else [],
        "subject": message["Subject"],
        "ticket_number": outbound.ticket_number,
        "sender_name": outbound.agent_name,
        "mailbox_name": mailbox.name,
    }
    message.set_content(render("email/reply.txt", **context))
    message.add_alternative(render("email/reply.html", **context), subtype="html")
    for attachment in outbound.attachments:
        maintype, _, subtype = (attachment.content_type or "application/octet-stream").partition("/")
        message.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype or "octet-stream", filename=attachment.filename,
            disposition="inline" if attachment.inline else "attachment",
            cid=f"<{attachment.content_id.strip('<>')}>" if attachment.content_id else None,
        )
    return message


def _address(value: str, name: str | None) -> str:
    try:
        return str(Address(display_name=name or "", addr_spec=value))
    except (ValueError, IndexError):
        return value


class SmtpSender:
    """Sends through the SMTP server of the mailbox that received the ticket."""

    channel = "email"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, outbound: Outbound) -> str | None:
        if outbound.sending_account is None:
            raise DeliveryError(f"no active mailbox with SMTP settings for {outbound.account or 'email replies'}",
                                retryable=False)
        mailbox = SmtpAccount(**outbound.sending_account)
        message = build_message(outbound, mailbox, auto_generated=outbound.automatic)
        recipients = [outbound.recipient.value]
        if message["Cc"]:
            recipients += [address.addr_spec for address in message["Cc"].addresses]
        try:
            await aiosmtplib.send(
                message,
                sender=mailbox.address,
                recipients=recipients,
                hostname=mailbox.smtp_host,
                port=mailbox.smtp_port,
                username=mailbox.smtp_user or None,
                password=mailbox.smtp_password if mailbox.smtp_user else None,
                use_tls=mailbox.smtp_security == "tls",
                start_tls=True if mailbox.smtp_security == "starttls" else False,
                timeout=30,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = [r.code for r in error.recipients]
            raise DeliveryError(f"recipients refused: {error}", retryable=all(400 <= c < 500 for c in codes)) from error
        except aiosmtplib.SMTPResponseException as error:
            # RFC 5321 4.2.1: 4yz is transient, 5yz permanent
            raise DeliveryError(f"SMTP {error.code} {error.message}", retryable=error.code < 500) from error
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as error:
            raise DeliveryError(f"SMTP connection to {mailbox.smtp_host}:{mailbox.smtp_port}: {error}",
                                retryable=True) from error
        return outbound.external_id
