"""The port every channel adapter implements: `InboundMessage` in, a `Sender` out.

It belongs to the core: adapters (`channels/`) import it, the core imports no adapter.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Identity:
    """Who sent a message, as the channel knows them: ("email", "ann@x.com", "Ann")."""

    kind: str
    value: str
    display_name: str | None = None


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None
    inline: bool = False


@dataclass(frozen=True)
class ThreadKeys:
    """Everything that can tie a message to an existing conversation."""

    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    ticket_token: int | None = None  # the N of a "[#N]" subject token
    platform_thread_id: str | None = None


@dataclass(frozen=True)
class RemoteMedia:
    """A file the platform keeps and sends only a reference to (WhatsApp's media id, Telegram's
    file_id, a Messenger attachment URL): downloaded by the channel's `MediaFetcher` in the worker,
    before ingest, never in the webhook request."""

    ref: str  # the platform's media id, file id or URL
    content_type: str | None = None
    filename: str | None = None
    kind: str | None = None  # image | video | audio | voice | document | sticker


@dataclass(frozen=True)
class InboundMessage:
    channel: str  # "email" | "chat" | "messenger" | "whatsapp" | "instagram" | "telegram"
    external_id: str  # with `channel`, the idempotency key
    sender: Identity
    subject: str | None
    text: str  # quoted history stripped where it can be told apart
    html: str | None  # as received; sanitised before it is ever rendered
    attachments: list[Attachment]
    thread_keys: ThreadKeys
    received_at: datetime  # timezone-aware UTC
    auto_generated: bool = False  # never triggers auto-responses, reopening or SLA
    account: str | None = None  # which mailbox / page / bot received it
    raw_ref: str | None = None  # where the raw bytes were stored (email: the .eml)
    cc: tuple[Identity, ...] = ()  # other participants addressed (email Cc/To)
    full_text: str | None = None  # the body before quote stripping, for "show quoted text"
    defects: tuple[str, ...] = ()  # what the parser could not read cleanly
    bounce_of: str | None = None  # Message-ID of our outbound mail this bounce reports
    bounce_reason: str | None = None
    # a machine's answer about another message: "bounce" (delivery report), "auto-reply" (out of
    # office, RFC 3834), "receipt" (read/disposition notification). About a message we never sent
    # it opens no ticket and no customer: it is recorded for admins instead.
    machine_reply: str | None = None
    remote_media: tuple[RemoteMedia, ...] = ()  # fetched into `attachments` by the pipeline


@dataclass(frozen=True)
class StatusUpdate:
    """What a platform tells about a message that is already stored, not a new message: a delivery
    receipt of one of our replies (sent, delivered, read, failed with the platform's error), or a
    customer's reaction to a message. Parsers return these beside `InboundMessage`s; the pipeline
    applies them to the message whose (channel, external_id) they name (helpdesk/tickets/receipts.py)."""

    channel: str
    external_id: str  # the platform's id of the message it is about (what our Sender returned)
    status: str | None  # "sent" | "delivered" | "read" | "failed" | None (a reaction only)
    at: datetime
    error: str | None = None  # for "failed": the platform's error, as an agent should read it
    reaction: str | None = None  # an emoji; "" when the reaction was taken back


@dataclass(frozen=True)
class Outbound:
    """One queued reply, as a `Sender` needs it: loaded by the outbox, never an ORM row."""

    message_id: int
    ticket_id: int
    ticket_number: int
    channel: str
    recipient: Identity
    cc: tuple[Identity, ...]
    subject: str | None
    text: str
    html: str | None
    attachments: list[Attachment]
    external_id: str  # our own id for it (email: the Message-ID we send)
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    account: str | None = None
    agent_name: str | None = None
    automatic: bool = False  # an acknowledgement, not an agent's answer (email: Auto-Submitted, RFC 3834)
    # the settings of the account it goes out through (email: the mailbox's address and SMTP
    # server), loaded by the outbox so that a sender never queries the database; None: no such account
    sending_account: dict | None = None
    extra: dict = field(default_factory=dict)


class UnreadablePayload(ValueError):
    """The input is not a message at all (random bytes, a truncated file, a body that is not the
    platform's format). The pipeline quarantines it with this error's text as the reason."""


class SignatureInvalid(PermissionError):
    """A public request's signature (webhook HMAC, platform secret token) does not check out; the
    message says which header and why, for the log line. Answered with 401, never ingested."""


class DeliveryError(Exception):
    """A send failed; `retryable` says whether trying again later can help. `retry_after`: how long
    the platform asked us to wait (a rate limit's Retry-After), if it said."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


@runtime_checkable
class Sender(Protocol):
    channel: str

    async def send(self, outbound: Outbound) -> str | None:
        """Deliver; return the platform's id for the sent message, if it gives one."""


class MediaFetcher(Protocol):
    async def __call__(self, media: RemoteMedia, *, channel: str, account: str | None, settings) -> Attachment:
        """Download one file a message refers to, through the platform's media API with the account's
        token. Raises `DeliveryError` when it cannot (the message is then stored without it, and says so)."""


_senders: dict[str, Sender] = {}


def register_sender(sender: Sender) -> None:
    _senders[sender.channel] = sender


def sender_for(channel: str) -> Sender:
    try:
        return _senders[channel]
    except KeyError:
        raise DeliveryError(f"no sender registered for channel {channel!r}", retryable=False) from None
