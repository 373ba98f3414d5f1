"""Builders for inbound messages in tests."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

from helpdesk.channel import Attachment, Identity, InboundMessage, ThreadKeys

_ids = itertools.count(1)


def inbound(
    *,
    channel: str = "email",
    sender: str = "ann@example.com",
    kind: str | None = None,
    name: str | None = "Ann Example",
    subject: str | None = "Where is my order?",
    text: str = "Hello, my parcel has not arrived.",
    external_id: str | None = None,
    in_reply_to: str | None = None,
    references: tuple[str, ...] = (),
    token: int | None = None,
    thread: str | None = None,
    attachments: list[Attachment] | None = None,
    auto_generated: bool = False,
    received_at: datetime | None = None,
    cc: tuple[Identity, ...] = (),
    account: str | None = "support@shop.test",
    bounce_of: str | None = None,
) -> InboundMessage:
    n = next(_ids)
    return InboundMessage(
        channel=channel,
        external_id=external_id or (f"<msg-{n}@example.com>" if channel == "email" else f"{channel}-{n}"),
        sender=Identity(kind or ("email" if channel == "email" else channel), sender, name),
        subject=subject,
        text=text,
        html=None,
        attachments=attachments or [],
        thread_keys=ThreadKeys(in_reply_to=in_reply_to, references=references, ticket_token=token,
                               platform_thread_id=thread),
        received_at=received_at or datetime.now(timezone.utc) - timedelta(seconds=1),
        auto_generated=auto_generated,
        account=account,
        cc=cc,
        bounce_of=bounce_of,
        bounce_reason="550 5.1.1 user unknown" if bounce_of else None,
    )
