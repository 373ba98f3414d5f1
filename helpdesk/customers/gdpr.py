"""GDPR: everything we hold about a customer as a zip (right of access), and its irreversible
anonymisation (right to erasure). The documents and what erasure touches: docs/privacy.md.

Both follow merge tombstones: a merged-away id stands for its survivor, and the survivor's
tombstones (which keep their old name) are exported and erased with it.

Erasure keeps the rows that accounting and reporting count (the customer, its tickets and their
messages, orders) and replaces what identifies or describes the person: names, identities, every
message of the customer's tickets (their words, and the replies and notes that quote or name them),
their messages in other people's tickets, their attachments and raw payloads on disk.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import String, case, cast, delete, or_, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from helpdesk.customers.records import CustomerError, survivor_id
from helpdesk.files import blob_path
from helpdesk.models import (
    Attachment,
    AuditEvent,
    ChatChannel,
    ChatConversation,
    Customer,
    CustomerIdentity,
    Draft,
    IdentityConflict,
    Message,
    Notification,
    Order,
    Organization,
    QuarantinedMessage,
    Ticket,
    TicketParticipant,
    TicketTag,
    WebhookDelivery,
    utcnow,
)
from helpdesk.settings import Settings


FORMAT = "helpdesk-customer-export/1"
ERASED = "[erased]"
CHUNK = 500  # ids per IN (...): well under SQLite's and asyncpg's parameter limits
TICKET_BATCH = 50  # tickets loaded (with messages and attachments) at a time while exporting
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_FOLDERS = re.compile(r"[/\\]")


def erased_name(customer_id: int) -> str:
    return f"Erased customer #{customer_id}"


# ---------------------------------------------------------------- who and what


@dataclass(frozen=True)
class Subject:
    """The person a request is about: the survivor, its tombstones, its identities, and the
    messages they wrote into other customers' tickets (a Cc'd reply)."""

    customer_id: int
    tombstone_ids: list[int]
    identities: list[tuple[str, str]]
    ticket_ids: list[int]
    foreign_message_ids: list[int]

    @property
    def customer_ids(self) -> list[int]:
        return [self.customer_id, *self.tombstone_ids]


async def find_subject(session: AsyncSession, customer_id: int) -> Subject:
    """The customer `customer_id` stands for today; raises CustomerError when there is none."""
    survivor = await survivor_id(session, customer_id)
    if survivor is None:
        raise CustomerError(f"there is no customer {customer_id}")
    tombstones = await _tombstones(session, survivor)
    ids = [survivor, *tombstones]
    identities = [tuple(row) for row in await session.execute(
        select(CustomerIdentity.kind, CustomerIdentity.value)
        .where(CustomerIdentity.customer_id.in_(ids)).order_by(CustomerIdentity.id))]
    tickets = list(await session.scalars(select(Ticket.id).where(Ticket.customer_id.in_(ids)).order_by(Ticket.id)))
    foreign: list[int] = []
    for part in _chunks(identities):
        foreign += await session.scalars(
            select(Message.id).where(tuple_(Message.sender_kind, Message.sender_value).in_(part),
                                     Message.ticket_id.not_in(select(Ticket.id).where(Ticket.customer_id.in_(ids)))))
    return Subject(survivor, tombstones, identities, tickets, sorted(set(foreign)))


async def _tombstones(session: AsyncSession, survivor: int) -> list[int]:
    # a merge re-points earlier tombstones at the new survivor, but walk the chain anyway: data
    # merged before that rule existed may still point at an intermediate record
    found, frontier = [], [survivor]
    while frontier:
        frontier = list(await session.scalars(
            select(Customer.id).where(Customer.merged_into_id.in_(frontier), Customer.id.not_in([survivor, *found]))))
        found += frontier
    return sorted(found)


def _chunks(items: Sequence, size: int = CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# ---------------------------------------------------------------- export


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    customer_id: int
    tickets: int
    messages: int
    attachments: int
    missing_files: int  # attachments whose bytes were no longer on disk (listed with "missing": true)


async def export_customer(session: AsyncSession, settings: Settings, customer_id: int, output: Path) -> ExportSummary:
    """Write `output` (a zip): customer.json and attachments/<message id>/<filename>.

    Streamed: the JSON is written ticket by ticket into the zip entry and each attachment is copied
    from the store file by file, so memory stays flat however much the customer wrote. The zip is
    made beside `output` and renamed into place, readable by its owner only (it is personal data).
    """
    import zipfile

    subject = await find_subject(session, customer_id)
    output = Path(output)
    partial = output.with_name(output.name + ".part")
    files: list[tuple[str, Path]] = []
    counts = {"tickets": 0, "messages": 0, "attachments": 0, "missing": 0}
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
            with archive.open("customer.json", "w", force_zip64=True) as entry:
                await _write_document(session, settings, subject, customer_id, _Text(entry), files, counts)
            # the bulk of the bytes: copied in a thread, so a web process keeps answering meanwhile
            await asyncio.to_thread(_copy_files, archive, files)
        os.replace(partial, output)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return ExportSummary(output, subject.customer_id, counts["tickets"], counts["messages"], counts["attachments"],
                         counts["missing"])


def _copy_files(archive, files: list[tuple[str, Path]]) -> None:
    import zipfile

    for name, path in files:
        # stored, not deflated: photos, PDFs and office files are compressed already, and deflating
        # them again was most of an export's time (200 MB of files: 22 s deflated, 4 s stored) for no gain
        archive.write(path, name, compress_type=zipfile.ZIP_STORED)


class _Text:
    """A zip entry written as UTF-8 text."""

    def __init__(self, entry: IO[bytes]) -> None:
        self.entry = entry

    def write(self, text: str) -> None:
        self.entry.write(text.encode("utf-8"))


async def _write_document(session: AsyncSession, settings: Settings, subject: Subject, requested: int, out: _Text,
                          files: list[tuple[str, Path]], counts: dict[str, int]) -> None:
    head = {
        "format": FORMAT,
        "exported_at": _iso(utcnow()),
        "requested_id": requested,
        "customer": await _customer_document(session, subject.customer_id),
        "merged_records": await _tombstone_documents(session, subject.tombstone_ids),
        "orders": await _order_documents(session, subject.customer_ids),
        "chat_conversations": await _chat_documents(session, subject),
    }
    out.write(json.dumps(head, ensure_ascii=False, indent=1)[:-2])  # leave the object open for the lists below
    for key, ids in (("tickets", subject.ticket_ids), ("messages_in_other_tickets", subject.foreign_message_ids)):
        out.write(f',\n "{key}": [')
        first = True
        async for document in (_ticket_documents(session, settings, ids, files, counts) if key == "tickets"
                               else _foreign_message_documents(session, settings, ids, files, counts)):
            out.write(("\n  " if first else ",\n  ") + json.dumps(document, ensure_ascii=False))
            first = False
        out.write("\n ]")
    out.write("\n}\n")


async def _customer_document(session: AsyncSession, customer_id: int) -> dict[str, Any]:
    customer = await session.scalar(select(Customer).where(Customer.id == customer_id).options(
        selectinload(Customer.identities), selectinload(Customer.organization).selectinload(Organization.domains)))
    organization = customer.organization
    return {
        "id": customer.id,
        "name": customer.name,
        "notes": customer.notes,
        "attributes": customer.attributes or {},
        "created_at": _iso(customer.created_at),
        "updated_at": _iso(customer.updated_at),
        "erased_at": _iso(customer.erased_at),
        "organization": None if organization is None else {
            "id": organization.id, "name": organization.name, "domains": [d.domain for d in organization.domains]},
        "identities": [{"kind": i.kind, "value": i.value, "display_name": i.display_name, "verified": i.verified,
                        "created_at": _iso(i.created_at)} for i in customer.identities],
    }


async def _tombstone_documents(session: AsyncSession, ids: list[int]) -> list[dict[str, Any]]:
    rows = await session.scalars(select(Customer).where(Customer.id.in_(ids)).order_by(Customer.id)) if ids else []
    return [{"id": c.id, "name": c.name, "notes": c.notes, "merged_into_id": c.merged_into_id,
             "created_at": _iso(c.created_at)} for c in rows]


async def _order_documents(session: AsyncSession, customer_ids: list[int]) -> list[dict[str, Any]]:
    orders = await session.scalars(select(Order).where(Order.customer_id.in_(customer_ids))
                                   .options(selectinload(Order.items)).order_by(Order.placed_at, Order.id))
    return [{
        "source": o.source, "external_id": o.external_id, "number": o.number, "status": o.status,
        "currency": o.currency, "total": str(o.total), "placed_at": _iso(o.placed_at), "updated_at": _iso(o.updated_at),
        "items": [{"external_id": i.external_id, "sku": i.sku, "title": i.title, "quantity": i.quantity,
                   "unit_price": str(i.unit_price)} for i in o.items],
    } for o in orders]


async def _chat_documents(session: AsyncSession, subject: Subject) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(ChatConversation, ChatChannel.name).join(ChatChannel, ChatChannel.id == ChatConversation.channel_id)
        .where(or_(ChatConversation.customer_id.in_(subject.customer_ids),
                   ChatConversation.ticket_id.in_(subject.ticket_ids) if subject.ticket_ids else False))
        .order_by(ChatConversation.id))
    return [{"id": c.id, "channel": channel, "ticket_id": c.ticket_id, "name": c.name, "email": c.email,
             "verified": c.verified, "origin": c.origin, "created_at": _iso(c.created_at),
             "last_seen_at": _iso(c.last_seen_at)} for c, channel in rows]


async def _ticket_documents(session: AsyncSession, settings: Settings, ids: list[int], files, counts):
    for batch in _chunks(ids, TICKET_BATCH):
        tickets = await session.scalars(select(Ticket).where(Ticket.id.in_(batch)).order_by(Ticket.id).options(
            selectinload(Ticket.messages).selectinload(Message.attachments)))
        tags: dict[int, list[str]] = {}
        for ticket_id, tag in await session.execute(
                select(TicketTag.ticket_id, TicketTag.tag).where(TicketTag.ticket_id.in_(batch)).order_by(TicketTag.tag)):
            tags.setdefault(ticket_id, []).append(tag)
        for ticket in tickets:
            counts["tickets"] += 1
            yield {
                "id": ticket.id, "number": ticket.number, "subject": ticket.subject, "status": ticket.status,
                "priority": ticket.priority, "channel": ticket.channel, "tags": tags.get(ticket.id, []),
                "created_at": _iso(ticket.created_at), "updated_at": _iso(ticket.updated_at),
                "solved_at": _iso(ticket.solved_at), "closed_at": _iso(ticket.closed_at),
                "merged_into_id": ticket.merged_into_id,
                "messages": [_message_document(settings, m, files, counts) for m in ticket.messages],
            }
        session.expunge_all()  # memory stays flat: a batch's rows are not needed once written


async def _foreign_message_documents(session: AsyncSession, settings: Settings, ids: list[int], files, counts):
    for batch in _chunks(ids, TICKET_BATCH):
        rows = await session.execute(select(Message, Ticket.number).join(Ticket, Ticket.id == Message.ticket_id)
                                     .where(Message.id.in_(batch)).order_by(Message.id)
                                     .options(selectinload(Message.attachments)))
        for message, number in rows:
            yield {"ticket_number": number, **_message_document(settings, message, files, counts)}
        session.expunge_all()


def _message_document(settings: Settings, message: Message, files: list[tuple[str, Path]],
                      counts: dict[str, int]) -> dict[str, Any]:
    counts["messages"] += 1
    return {
        "id": message.id, "direction": message.direction, "channel": message.channel,
        "sender": {"kind": message.sender_kind, "value": message.sender_value, "name": message.sender_name},
        "cc": message.cc or [], "subject": message.subject, "text": message.text, "full_text": message.full_text,
        "html": message.html, "auto_generated": message.auto_generated,
        "created_at": _iso(message.created_at), "sent_at": _iso(message.sent_at),
        "delivered_at": _iso(message.delivered_at), "read_at": _iso(message.read_at),
        "delivery_status": message.delivery_status, "reaction": message.reaction,
        "attachments": _attachment_documents(settings, message, files, counts),
    }


def _attachment_documents(settings: Settings, message: Message, files: list[tuple[str, Path]],
                          counts: dict[str, int]) -> list[dict[str, Any]]:
    documents, taken = [], set()
    for attachment in message.attachments:
        counts["attachments"] += 1
        name = zip_name(message.id, attachment.filename, taken)
        path = blob_path(settings.attachments_dir, attachment.sha256)
        present = path.is_file()
        if present:
            files.append((name, path))
        else:
            counts["missing"] += 1
        documents.append({"filename": attachment.filename, "content_type": attachment.content_type,
                          "size": attachment.size, "sha256": attachment.sha256, "inline": attachment.inline,
                          "path": name if present else None, "missing": not present})
    return documents


def zip_name(message_id: int, filename: str, taken: set[str]) -> str:
    """`attachments/<message id>/<filename>`, the name made safe (its last part only, as browsers
    save it; no control characters) and unique within its message: `a.pdf`, `a (2).pdf`."""
    base = _CONTROL.sub("_", _FOLDERS.split(filename or "")[-1]).strip(" .") or "attachment"
    stem, dot, suffix = base.rpartition(".") if "." in base else (base, "", "")
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{stem} ({n}){dot}{suffix}"
    taken.add(candidate)
    return f"attachments/{message_id}/{candidate}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# ---------------------------------------------------------------- erase


@dataclass
class Erasure:
    """What an erasure changed: counts only, so the audit event holds no personal data."""

    customer_id: int
    customers: int = 0  # the survivor and its tombstones
    identities: int = 0
    tickets: int = 0
    messages: int = 0
    attachments: int = 0
    files_removed: int = 0
    files_kept_shared: int = 0  # blobs another (not erased) message still uses
    raw_files_removed: int = 0
    chat_conversations: int = 0
    webhook_deliveries: int = 0
    _blobs: set[str] = field(default_factory=set, repr=False)
    _raws: set[str] = field(default_factory=set, repr=False)

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_") and k != "customer_id"}


async def erase_customer(session: AsyncSession, settings: Settings, customer_id: int, *,
                         agent_id: int | None = None) -> Erasure:
    """Anonymise the customer `customer_id` stands for, irreversibly, and commit; then remove its
    files from disk. Returns the counts, which the "customer.erase" audit event records."""
    subject = await find_subject(session, customer_id)
    erasure = Erasure(subject.customer_id, customers=len(subject.customer_ids), identities=len(subject.identities),
                      tickets=len(subject.ticket_ids))
    needles = await _needles(session, subject)
    connection = await session.connection()
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # freed pages are zeroed, so deleted names and texts do not linger in the database file
        await session.execute(_SECURE_DELETE_ON)
    message_ids = await _message_ids(session, subject)
    # the search documents follow by themselves: migration 0003's triggers rebuild a ticket's
    # document when its subject, a message's text, the customer's name or an identity changes
    await _erase_messages(session, message_ids, erasure)
    await _erase_tickets(session, subject)
    await _erase_participants(session, subject, erasure._raws)
    await _erase_people(session, subject, erasure)
    erasure.webhook_deliveries = await _erase_webhook_deliveries(session, needles)
    await _plan_file_removal(session, erasure)
    session.add(AuditEvent(agent_id=agent_id, action="customer.erase", object_type="customer",
                           object_id=subject.customer_id, data=erasure.counts()))
    await session.commit()
    if sqlite:
        await session.execute(_SECURE_DELETE_OFF)
        await session.commit()
    _remove_files(settings, erasure)
    return erasure


_SECURE_DELETE_ON = text("PRAGMA secure_delete = ON")
_SECURE_DELETE_OFF = text("PRAGMA secure_delete = OFF")


async def _needles(session: AsyncSession, subject: Subject) -> list[str]:
    """The strings that identify the person: names and identity values, to find them in payloads."""
    names = await session.scalars(select(Customer.name).where(Customer.id.in_(subject.customer_ids)))
    display = await session.scalars(select(CustomerIdentity.display_name).where(
        CustomerIdentity.customer_id.in_(subject.customer_ids)))
    values = {value for _, value in subject.identities}
    values |= {value.lstrip("+") for kind, value in subject.identities if value.startswith("+")}
    return sorted({n for n in [*names, *display, *values] if n and len(n) >= 3})


async def _message_ids(session: AsyncSession, subject: Subject) -> list[int]:
    """Every message of the customer's tickets, and theirs in other tickets."""
    mine: list[int] = []
    for part in _chunks(subject.ticket_ids):
        mine += await session.scalars(select(Message.id).where(Message.ticket_id.in_(part)))
    return sorted(set(mine) | set(subject.foreign_message_ids))


async def _erase_messages(session: AsyncSession, ids: list[int], erasure: Erasure) -> None:
    erasure.messages = len(ids)
    for part in _chunks(ids):
        for sha256, in await session.execute(select(Attachment.sha256).where(Attachment.message_id.in_(part))):
            erasure._blobs.add(sha256)
            erasure.attachments += 1
        erasure._raws |= {ref for ref in await session.scalars(
            select(Message.raw_ref).where(Message.id.in_(part), Message.raw_ref.is_not(None)))}
        await session.execute(delete(Attachment).where(Attachment.message_id.in_(part)))
        await session.execute(
            update(Message).where(Message.id.in_(part)).values(
                text=ERASED,
                subject=_erased_if_set(Message.subject), full_text=_erased_if_set(Message.full_text),
                html=_erased_if_set(Message.html), delivery_error=_erased_if_set(Message.delivery_error),
                sender_value=None, sender_name=None, cc=None, in_reply_to=None, references=None, raw_ref=None,
                defects=None, template=None,
                # platform message ids can carry the person's number (Telegram's "<chat id>:...")
                external_id=_erased_external_id(),
            ).execution_options(synchronize_session=False))
        # a reply still waiting would go out as "[erased]" to nobody: it fails, visibly, instead
        await session.execute(update(Message).where(Message.id.in_(part), Message.delivery_status == "queued")
                              .values(delivery_status="failed", delivery_error="customer erased")
                              .execution_options(synchronize_session=False))


def _erased_if_set(column):
    return case((column.is_(None), None), else_=ERASED)


def _erased_external_id():
    # our own outbound Message-IDs stay: they name no one, and sending is idempotent on them
    return case((Message.direction == "outbound", Message.external_id),
                else_="erased:" + cast(Message.id, String))


async def _erase_tickets(session: AsyncSession, subject: Subject) -> None:
    for part in _chunks(subject.ticket_ids):
        await session.execute(update(Ticket).where(Ticket.id.in_(part)).values(
            subject=ERASED,
            # a social thread id is the person's platform id or number; a chat's is a random public id
            platform_thread_id=case((Ticket.channel == "chat", Ticket.platform_thread_id), else_=None),
        ).execution_options(synchronize_session=False))
        await session.execute(delete(Draft).where(Draft.ticket_id.in_(part)))
        await session.execute(delete(Notification).where(Notification.ticket_id.in_(part)))


async def _erase_participants(session: AsyncSession, subject: Subject, raws: set[str]) -> None:
    """The person as a Cc of other customers' tickets: the participant rows go, the Cc lists of
    those tickets' messages lose their entries, and those messages' raw payloads join `raws`."""
    values = {value for _, value in subject.identities}
    for part in _chunks(subject.identities):
        tickets = list(await session.scalars(select(TicketParticipant.ticket_id).where(
            tuple_(TicketParticipant.kind, TicketParticipant.value).in_(part))))
        await session.execute(delete(TicketParticipant).where(
            tuple_(TicketParticipant.kind, TicketParticipant.value).in_(part)))
        for ticket_part in _chunks(sorted(set(tickets))):
            for message in await session.scalars(select(Message).where(Message.ticket_id.in_(ticket_part),
                                                                       Message.cc.is_not(None))):
                kept = [cc for cc in message.cc or [] if cc.get("value") not in values]
                if len(kept) != len(message.cc or []):
                    message.cc = kept or None
                    if message.raw_ref:  # the raw mail names them in its Cc header: it goes too
                        raws.add(message.raw_ref)
    await session.flush()


async def _erase_people(session: AsyncSession, subject: Subject, erasure: Erasure) -> None:
    ids = subject.customer_ids
    await session.execute(delete(CustomerIdentity).where(CustomerIdentity.customer_id.in_(ids)))
    conflicts = [IdentityConflict.holder_id.in_(ids), IdentityConflict.claimant_id.in_(ids)]
    if subject.identities:
        conflicts.append(tuple_(IdentityConflict.kind, IdentityConflict.value).in_(subject.identities))
    await session.execute(delete(IdentityConflict).where(or_(*conflicts)))
    now = utcnow()
    for customer in await session.scalars(select(Customer).where(Customer.id.in_(ids))):
        customer.name, customer.notes, customer.attributes, customer.erased_at = erased_name(customer.id), None, None, now
    chats = or_(ChatConversation.customer_id.in_(ids),
                ChatConversation.ticket_id.in_(subject.ticket_ids) if subject.ticket_ids else False)
    result = await session.execute(update(ChatConversation).where(chats).values(name=None, email=None, origin=None)
                                   .execution_options(synchronize_session=False))
    erasure.chat_conversations = result.rowcount or 0
    await session.flush()


async def _erase_webhook_deliveries(session: AsyncSession, needles: list[str]) -> int:
    """Outbound webhook deliveries whose payload or recorded answer names the person are deleted:
    their shape belongs to each event, so they are matched by content, a keyset-paged scan."""
    if not needles:
        return 0
    lowered = [n.lower() for n in needles]
    doomed, after = [], 0
    while True:
        rows = (await session.execute(select(WebhookDelivery.id, WebhookDelivery.payload, WebhookDelivery.last_response)
                                      .where(WebhookDelivery.id > after).order_by(WebhookDelivery.id).limit(CHUNK))).all()
        if not rows:
            break
        after = rows[-1].id
        for row in rows:
            haystack = (json.dumps(row.payload, ensure_ascii=False) + (row.last_response or "")).lower()
            if any(needle in haystack for needle in lowered):
                doomed.append(row.id)
    for part in _chunks(doomed):
        await session.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(part)))
    return len(doomed)


async def _plan_file_removal(session: AsyncSession, erasure: Erasure) -> None:
    """Decide, inside the erasure's transaction, which files go once it commits: an attachment's bytes
    unless another message still uses them (the store keeps one file per sha256); the raw payloads
    unless the quarantine holds them (out of scope: docs/privacy.md)."""
    blobs = sorted(erasure._blobs)
    still_used: set[str] = set()
    for part in _chunks(blobs):
        still_used |= set(await session.scalars(select(Attachment.sha256).where(Attachment.sha256.in_(part))))
    erasure._blobs = set(blobs) - still_used
    erasure.files_kept_shared = len(still_used)
    raws = sorted(erasure._raws)
    quarantined: set[str] = set()
    for part in _chunks(raws):
        quarantined |= set(await session.scalars(select(QuarantinedMessage.raw_ref)
                                                 .where(QuarantinedMessage.raw_ref.in_(part))))
    erasure._raws = set(raws) - quarantined
    erasure.files_removed, erasure.raw_files_removed = len(erasure._blobs), len(erasure._raws)
    for part in _chunks(sorted(erasure._raws)):
        # a batch payload (one webhook body, several senders) may back other messages too: their
        # rows stay, their pointer to the removed bytes goes
        await session.execute(update(Message).where(Message.raw_ref.in_(part)).values(raw_ref=None)
                              .execution_options(synchronize_session=False))


def _remove_files(settings: Settings, erasure: Erasure) -> None:
    """After the commit, so a failed erasure removes nothing."""
    for sha256 in sorted(erasure._blobs):
        _unlink(blob_path(settings.attachments_dir, sha256))
        _remove_thumbnails(settings.thumbnails_dir, sha256)
    for ref in sorted(erasure._raws):
        _unlink(blob_path(settings.raw_dir, ref))


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


def _remove_thumbnails(root: Path, sha256: str) -> None:
    folder = root / sha256[:2]
    if folder.is_dir():
        for path in folder.glob(f"{sha256}-*"):
            _unlink(path)
