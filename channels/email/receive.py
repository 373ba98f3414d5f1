"""The one path raw mail takes, from IMAP, import or quarantine: store, parse, ingest, acknowledge.

Raw bytes are stored before anything can fail; a message that cannot be ingested is
quarantined with its reason, so nothing is ever lost and one bad message never stalls a
mailbox.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.channel import InboundMessage
from channels.email.acknowledge import acknowledge
from channels.email.parse import parse
from helpdesk.files import read_blob, store_blob
from helpdesk.inbound.ingest import IngestResult, ingest_many
from helpdesk.models import Mailbox, QuarantinedMessage, utcnow
from helpdesk.settings import Settings

log = logging.getLogger(__name__)

Sessions = async_sessionmaker[AsyncSession]


@dataclass(frozen=True)
class ReceiveOutcome:
    status: str  # "ingested" | "duplicate" | "quarantined"
    raw_ref: str
    external_id: str | None = None
    result: IngestResult | None = None
    quarantine_id: int | None = None
    acknowledged: bool = False


@dataclass
class Tally:
    """Where a run of messages went: each one counts in exactly one of ingested, duplicates and
    quarantined (the figures `helpdesk import mail --json` and a mailbox poll report)."""

    ingested: int = 0
    duplicates: int = 0
    quarantined: int = 0
    tickets_created: int = 0

    def add(self, outcome: ReceiveOutcome) -> None:
        if outcome.status == "quarantined":
            self.quarantined += 1
        elif outcome.status == "duplicate":
            self.duplicates += 1
        else:
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


async def receive_raw(
    sessions: Sessions, raw: bytes, *, settings: Settings, account: str | None, own: frozenset[str] | None = None,
    auto_ack: bool | None = None,
) -> ReceiveOutcome:
    """Store, parse and ingest one raw email in its own unit of work; quarantine it on any failure.

    Raises only when even the quarantine cannot be written (database down): the caller must
    then not count the message as processed, so it is read again later. A poller passes
    `own` and the mailbox's `auto_ack` it already knows, saving two queries per message.
    """
    return (await receive_many(sessions, [raw], settings=settings, account=account, own=own, auto_ack=auto_ack))[0]


async def receive_many(
    sessions: Sessions, raws: list[bytes], *, settings: Settings, account: str | None,
    own: frozenset[str] | None = None, auto_ack: bool | None = None,
) -> list[ReceiveOutcome]:
    """`receive_raw` for a batch in mailbox order: every raw mail is stored and parsed, then all
    are ingested as one transaction (`ingest_many`: one COMMIT for the batch). A message that
    fails is quarantined on its own; the others go in. Outcomes are in the order of `raws`."""
    refs = [store_blob(settings.raw_mail_dir, raw) for raw in raws]
    async with sessions() as session:
        if own is None:
            own = await own_addresses(session)
        parsed: list[InboundMessage | Exception] = []
        for raw, raw_ref in zip(raws, refs):
            try:
                message = parse(raw, account=account, raw_ref=raw_ref)
                parsed.append(replace(message, cc=tuple(i for i in message.cc if i.value.strip().lower() not in own)))
            except Exception as error:  # noqa: BLE001 - parse should never raise; if it does, quarantine
                parsed.append(error)
        ingested = iter(await ingest_many(session, [m for m in parsed if not isinstance(m, Exception)],
                                          settings=settings))
        outcomes = []
        for raw_ref, message in zip(refs, parsed):
            result = message if isinstance(message, Exception) else next(ingested)
            external_id = None if isinstance(message, Exception) else message.external_id
            if isinstance(result, Exception):
                log.warning("quarantined mail %s (%s): %s", external_id or raw_ref, account, result)
                quarantine_id = await quarantine(sessions, raw_ref, _reason(result), account=account)
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
    return outcomes


async def quarantine(sessions: Sessions, raw_ref: str, reason: str, *, account: str | None) -> int:
    """Record a message that failed; the same raw bytes are quarantined once while unresolved."""
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
        row = QuarantinedMessage(channel="email", account=account, raw_ref=raw_ref, reason=reason)
        session.add(row)
        await session.commit()
        return row.id


async def reingest(sessions: Sessions, quarantine_id: int, *, settings: Settings) -> ReceiveOutcome:
    """Try a quarantined message again (after a fix); resolve it when it goes in."""
    async with sessions() as session:
        row = await session.get(QuarantinedMessage, quarantine_id)
        if row is None or row.resolved_at is not None:
            raise NotQuarantined(f"no unresolved quarantined message with id {quarantine_id}")
        raw_ref, account = row.raw_ref, row.account
    raw = read_blob(settings.raw_mail_dir, raw_ref)
    outcome = await receive_raw(sessions, raw, settings=settings, account=account)
    if outcome.result is not None:
        async with sessions() as session:
            row = await session.get(QuarantinedMessage, quarantine_id)
            row.resolved_at = utcnow()
            row.resolved_ticket_id = outcome.result.ticket_id
            await session.commit()
    return outcome


def _reason(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}"[:2000]
