"""The one path every inbound payload takes, whatever its channel: store the raw bytes, parse them
with the channel's parser, ingest, and quarantine on any failure.

Raw bytes (an email's .eml, a webhook's JSON body, a chat frame) are stored before anything can
fail, so nothing is ever lost and one bad payload never stalls a mailbox or a webhook. An adapter
supplies only its parser (`register_parser`); the rules live here and in `ingest`.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dataclasses import replace

from helpdesk.channel import Attachment, DeliveryError, InboundMessage, MediaFetcher, StatusUpdate
from helpdesk.files import read_blob, store_blob
from helpdesk.inbound.acknowledge import acknowledge
from helpdesk.inbound.ingest import IngestResult, ingest_many
from helpdesk.models import Mailbox, Message, QuarantinedMessage, utcnow
from helpdesk.tickets import receipts
from helpdesk.settings import Settings

log = logging.getLogger(__name__)

Sessions = async_sessionmaker[AsyncSession]


class Parser(Protocol):
    def __call__(self, raw: bytes, *, account: str | None,
                 raw_ref: str) -> InboundMessage | Sequence[InboundMessage | StatusUpdate]:
        """Read one raw payload into the message(s) it carries (a webhook may carry several, or none),
        and the status updates (delivery receipts, reactions) about stored messages. Raises
        `UnreadablePayload` for input that is not a message at all."""


_parsers: dict[str, Parser] = {}
_media_fetchers: dict[str, MediaFetcher] = {}
# (channel, raw body, account) -> None: hands a verified webhook body to a worker (workers/actors.py)
Deferrer = Callable[[str, bytes, "str | None"], None]
_deferrer: Deferrer | None = None


def register_parser(channel: str, parser: Parser) -> None:
    _parsers[channel] = parser


def register_media_fetcher(channel: str, fetcher: MediaFetcher) -> None:
    _media_fetchers[channel] = fetcher


def set_deferrer(deferrer: Deferrer | None) -> None:
    global _deferrer
    _deferrer = deferrer


def can_defer() -> bool:
    return _deferrer is not None


def defer(channel: str, raw: bytes, account: str | None) -> None:
    """Have a worker `receive` a verified payload: it stores the raw bytes first, as always, then
    parses and ingests. The body travels in the job rather than as a file written in the request:
    creating a content-addressed file (open, mkdir) cost ~0.85 ms of a webhook's answer, most of its
    time (docs/social.md, "Intake"), and a job naming a file is lost with the broker just the same.
    Raises if it cannot be queued: the webhook then fails (5xx) and the platform delivers it again."""
    if _deferrer is None:
        raise RuntimeError("no worker set-up to defer webhook payloads to")
    _deferrer(channel, raw, account)


def parser_for(channel: str) -> Parser:
    try:
        return _parsers[channel]
    except KeyError:
        raise LookupError(f"no parser registered for channel {channel!r}: is its adapter installed?") from None


@dataclass(frozen=True)
class ReceiveOutcome:
    status: str  # "ingested" | "duplicate" | "quarantined" | "ignored" (a payload that carried no message)
    raw_ref: str
    external_id: str | None = None
    result: IngestResult | None = None
    quarantine_id: int | None = None
    acknowledged: bool = False


@dataclass
class Tally:
    """Where a run of payloads went: each message counts once in ingested, duplicates or quarantined
    (the figures `helpdesk import mail --json` and a mailbox poll report)."""

    ingested: int = 0
    duplicates: int = 0
    quarantined: int = 0
    tickets_created: int = 0

    def add(self, outcome: ReceiveOutcome) -> None:
        if outcome.status == "quarantined":
            self.quarantined += 1
        elif outcome.status == "duplicate":
            self.duplicates += 1
        elif outcome.status == "ingested":
            self.ingested += 1
            self.tickets_created += bool(outcome.result and outcome.result.created_ticket)

    def as_dict(self) -> dict[str, int]:
        return {"ingested": self.ingested, "duplicates": self.duplicates,
                "quarantined": self.quarantined, "tickets_created": self.tickets_created}


class NotQuarantined(LookupError):
    """Re-ingest of a quarantine id that does not exist or was already resolved."""


async def own_addresses(session: AsyncSession) -> frozenset[str]:
    """Every address we receive mail at: never a participant, never auto-acknowledged."""
    return frozenset(a.lower() for a in await session.scalars(select(Mailbox.address)))


Prepare = Callable[[InboundMessage, frozenset[str]], InboundMessage]


async def receive(
    sessions: Sessions, channel: str, raws: Sequence[bytes], *, settings: Settings, account: str | None,
    own: frozenset[str] | None = None, auto_ack: bool | None = None, prepare: Prepare | None = None,
) -> list[ReceiveOutcome]:
    """Store, parse and ingest raw payloads of one channel, in order, as one transaction
    (`ingest_many`: one COMMIT for the batch); whatever fails is quarantined on its own.

    Raises only when even the quarantine cannot be written (database down): the caller must then
    not count the payloads as processed, so they are read again later. `own` (our addresses) and
    `auto_ack` (the account's opt-in) may be passed by a caller that already knows them;
    `prepare` lets an adapter adjust a parsed message with what only the database knows.
    """
    refs = [store_blob(settings.raw_dir, raw) for raw in raws]
    parse = parser_for(channel)
    updates: list[StatusUpdate] = []
    async with sessions() as session:
        if own is None:
            own = await own_addresses(session)
        parsed: list[tuple[str, InboundMessage | Exception | None]] = []
        for raw, raw_ref in zip(raws, refs):
            try:
                messages = parse(raw, account=account, raw_ref=raw_ref)
            except Exception as error:  # noqa: BLE001 - whatever the parser could not read is quarantined
                parsed.append((raw_ref, error))
                continue
            if isinstance(messages, InboundMessage):
                messages = [messages]
            updates += [m for m in messages if isinstance(m, StatusUpdate)]
            messages = [m for m in messages if isinstance(m, InboundMessage)]
            if not messages:
                parsed.append((raw_ref, None))
            for message in messages:
                if message.remote_media:
                    message = await _fetch_media(session, message, settings)
                parsed.append((raw_ref, prepare(message, own) if prepare else message))
        results = iter(await ingest_many(session, [m for _, m in parsed if isinstance(m, InboundMessage)],
                                         settings=settings))
        outcomes = []
        for raw_ref, message in parsed:
            if message is None:
                outcomes.append(ReceiveOutcome("ignored", raw_ref))
                continue
            result = message if isinstance(message, Exception) else next(results)
            external_id = message.external_id if isinstance(message, InboundMessage) else None
            if isinstance(result, Exception):
                log.warning("quarantined %s payload %s (%s): %s", channel, external_id or raw_ref, account, result)
                quarantine_id = await quarantine(sessions, channel, raw_ref, _reason(result), account=account)
                outcomes.append(ReceiveOutcome("quarantined", raw_ref, external_id, quarantine_id=quarantine_id))
                continue
            acknowledged = False
            if result.created_ticket and not result.bounce and auto_ack is not False:
                try:
                    acknowledged = await acknowledge(session, message, result, settings=settings, own=own)
                except Exception:  # noqa: BLE001 - the ticket is committed; a missed acknowledgement is not worth losing it
                    await session.rollback()
                    log.exception("auto-acknowledgement for ticket %s failed", result.ticket_id)
            status = "duplicate" if result.duplicate else "ingested"
            outcomes.append(ReceiveOutcome(status, raw_ref, external_id, result=result, acknowledged=acknowledged))
        if updates:
            await receipts.apply(session, updates)
    return outcomes


async def _fetch_media(session: AsyncSession, message: InboundMessage, settings: Settings) -> InboundMessage:
    """Download the files a message only refers to, unless the message is stored already (a
    delivery again). A file that cannot be fetched is named in the text and the message's defects:
    the message goes in without it rather than not at all (its raw payload, with the reference, is kept)."""
    stored = await session.scalar(select(Message.id).where(
        Message.channel == message.channel, Message.external_id == message.external_id).limit(1))
    if stored is not None:
        return replace(message, remote_media=())
    fetcher = _media_fetchers.get(message.channel)
    attachments: list[Attachment] = list(message.attachments)
    missing: list[str] = []
    for media in message.remote_media:
        try:
            if fetcher is None:
                raise DeliveryError(f"no media fetcher for {message.channel}", retryable=False)
            attachments.append(await fetcher(media, channel=message.channel, account=message.account,
                                             settings=settings))
        except DeliveryError as error:
            log.warning("%s message %s: %s %s not downloaded: %s", message.channel, message.external_id,
                        media.kind or "file", media.ref, error)
            missing.append(f"{media.filename or media.kind or 'file'} could not be downloaded: {error}")
    text = message.text
    if missing:
        text = "\n".join(filter(None, [text, *(f"[{line}]" for line in missing)]))
    return replace(message, attachments=attachments, remote_media=(), text=text,
                   defects=message.defects + tuple("media_unavailable: " + line for line in missing))


async def quarantine(sessions: Sessions, channel: str, raw_ref: str, reason: str, *, account: str | None) -> int:
    """Record a payload that failed; the same raw bytes are quarantined once while unresolved."""
    async with sessions() as session:
        existing = await session.scalar(
            select(QuarantinedMessage).where(
                QuarantinedMessage.raw_ref == raw_ref, QuarantinedMessage.resolved_at.is_(None)
            )
        )
        if existing is not None:
            existing.reason = reason
            await session.commit()
            return existing.id
        row = QuarantinedMessage(channel=channel, account=account, raw_ref=raw_ref, reason=reason)
        session.add(row)
        await session.commit()
        return row.id


async def quarantined(session: AsyncSession, *, include_resolved: bool = False, channel: str | None = None,
                      limit: int | None = None, newest_first: bool = False) -> list[QuarantinedMessage]:
    """What waits in the quarantine (the CLI lists it oldest first, the admin screen newest first)."""
    query = select(QuarantinedMessage).order_by(
        QuarantinedMessage.id.desc() if newest_first else QuarantinedMessage.id)
    if not include_resolved:
        query = query.where(QuarantinedMessage.resolved_at.is_(None))
    if channel:
        query = query.where(QuarantinedMessage.channel == channel)
    if limit:
        query = query.limit(limit)
    return list(await session.scalars(query))


async def quarantined_entry(session: AsyncSession, quarantine_id: int) -> QuarantinedMessage | None:
    return await session.get(QuarantinedMessage, quarantine_id)


async def dismiss(session: AsyncSession, quarantine_id: int) -> None:
    """An admin decided it is not a message (garbage, spam): resolved without a ticket. Its raw
    bytes stay stored; only the entry leaves the list of what waits."""
    row = await session.get(QuarantinedMessage, quarantine_id)
    if row is None or row.resolved_at is not None:
        raise NotQuarantined(f"no unresolved quarantined message with id {quarantine_id}")
    row.resolved_at = utcnow()
    await session.commit()


async def reingest(sessions: Sessions, quarantine_id: int, *, settings: Settings) -> ReceiveOutcome:
    """Try a quarantined payload again (after a fix), with its channel's parser; resolve it when it goes in."""
    async with sessions() as session:
        row = await session.get(QuarantinedMessage, quarantine_id)
        if row is None or row.resolved_at is not None:
            raise NotQuarantined(f"no unresolved quarantined message with id {quarantine_id}")
        channel, raw_ref, account = row.channel, row.raw_ref, row.account
    raw = read_blob(settings.raw_dir, raw_ref)
    outcomes = await receive(sessions, channel, [raw], settings=settings, account=account)
    outcome = next((o for o in outcomes if o.status == "quarantined"), outcomes[0])
    if outcome.status != "quarantined":
        async with sessions() as session:
            row = await session.get(QuarantinedMessage, quarantine_id)
            row.resolved_at = utcnow()
            row.resolved_ticket_id = outcome.result.ticket_id if outcome.result else None
            await session.commit()
    return outcome


def _reason(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}"[:2000]
