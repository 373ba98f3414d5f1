"""Raw emails as customers' mail programs write them, for IMAP and import tests."""
from __future__ import annotations

import itertools
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import datetime, timedelta, timezone

_clock = itertools.count()


def customer_mail(
    *,
    sender: str = "ann@example.com",
    name: str = "Ann Example",
    to: str = "support@shop.test",
    subject: str = "Where is my order?",
    body: str = "Hello,\n\nmy parcel has not arrived yet.\n\nAnn",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    date: datetime | None = None,
    headers: dict[str, str] | None = None,
    attachment: tuple[str, str, bytes] | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = f"{name} <{sender}>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id or make_msgid(domain="example.com")
    # strictly increasing dates: import sorts by Date
    message["Date"] = format_datetime(date or datetime(2026, 11, 2, 10, tzinfo=timezone.utc)
                                      + timedelta(seconds=next(_clock)))
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = references
    for key, value in (headers or {}).items():
        message[key] = value
    message.set_content(body)
    if attachment:
        filename, content_type, data = attachment
        maintype, subtype = content_type.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


def bounce_of(message_id: str, *, recipient: str = "ann@example.com", to: str = "support@shop.test") -> bytes:
    """An RFC 3464 delivery status notification for our message `message_id`."""
    return f"""From: Mail Delivery System <MAILER-DAEMON@mx.example.com>
To: {to}
Subject: Undelivered Mail Returned to Sender
Message-ID: {make_msgid(domain="mx.example.com")}
Date: {format_datetime(datetime.now(timezone.utc))}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="BOUNDARY"

--BOUNDARY
Content-Type: text/plain

This is the mail system at host mx.example.com. Your message could not be delivered.

--BOUNDARY
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com

Final-Recipient: rfc822; {recipient}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: User unknown

--BOUNDARY
Content-Type: text/rfc822-headers

From: Support <{to}>
To: {recipient}
Subject: Re: [#1] Where is my order?
Message-ID: {message_id}

--BOUNDARY--
""".replace("\n", "\r\n").encode()


def poison_ingest(monkeypatch, marker: str = "poison"):
    """Make ingest fail, inside its transaction, for any message whose subject contains `marker`:
    the way a bug or a constraint would. A batch holding it is rolled back and retried one by one.
    Returns a function that fixes the "bug" again."""
    from helpdesk.inbound import ingest as ingest_module

    real = ingest_module._ingest_on

    def failing(sync_session, conn, message, *args):
        if marker in (message.subject or ""):
            raise ValueError("cannot store this one")
        return real(sync_session, conn, message, *args)

    monkeypatch.setattr(ingest_module, "_ingest_on", failing)
    return lambda: monkeypatch.setattr(ingest_module, "_ingest_on", real)
