"""Email on the core's inbound pipeline: the parser, and the one email-only adjustment (our own
addresses are never a conversation's participants). IMAP polls and mail imports call this."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from channels.email.parse import parse
from helpdesk.channel import InboundMessage
from helpdesk.inbound import pipeline
from helpdesk.inbound.pipeline import ReceiveOutcome, Sessions, Tally, own_addresses  # noqa: F401 - the adapter's API
from helpdesk.settings import Settings

CHANNEL = "email"


def install() -> None:
    pipeline.register_parser(CHANNEL, parse)


def _without_own_addresses(message: InboundMessage, own: frozenset[str]) -> InboundMessage:
    return replace(message, cc=tuple(i for i in message.cc if i.value.strip().lower() not in own))


async def receive_many(
    sessions: Sessions, raws: Sequence[bytes], *, settings: Settings, account: str | None,
    own: frozenset[str] | None = None, auto_ack: bool | None = None,
) -> list[ReceiveOutcome]:
    """Raw mails in mailbox order through the pipeline: one transaction for the batch, whatever
    fails quarantined on its own. Outcomes are in the order of `raws`."""
    return await pipeline.receive(sessions, CHANNEL, raws, settings=settings, account=account, own=own,
                                  auto_ack=auto_ack, prepare=_without_own_addresses)


async def receive_raw(sessions: Sessions, raw: bytes, *, settings: Settings, account: str | None,
                      own: frozenset[str] | None = None, auto_ack: bool | None = None) -> ReceiveOutcome:
    return (await receive_many(sessions, [raw], settings=settings, account=account, own=own, auto_ack=auto_ack))[0]


install()  # importing the email adapter's receiving side makes its parser known to the pipeline
