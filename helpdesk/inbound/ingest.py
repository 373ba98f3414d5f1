"""InboundMessage -> ticket: the only way a message becomes data."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import (
    ARRAY, String, any_, bindparam, cast, delete, func, insert, literal_column, null, select, tuple_, union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from helpdesk.channel import InboundMessage
from helpdesk import live
from helpdesk.inbound import planner_stats
from helpdesk.tickets import search
from helpdesk.sla import policies as sla_policies
from helpdesk.db import in_database_thread
from helpdesk.customers.identities import InvalidIdentity, email_domain, normalise_identity
from helpdesk.files import store_blob
from helpdesk.models import (
    Attachment,
    Customer,
    CustomerIdentity,
    Message,
    OrganizationDomain,
    Ticket,
    TicketParticipant,
    utcnow,
)
from helpdesk.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    ticket_id: int | None
    message_id: int | None
    customer_id: int | None
    created_ticket: bool
    duplicate: bool
    reopened: bool = False
    bounce: bool = False


async def ingest(session: AsyncSession, message: InboundMessage, *, settings: Settings) -> IngestResult:
    """Dedupe, resolve the customer, thread, store, move the SLA clock, commit, publish.

    The hot path is SQLAlchemy Core run inside one `run_sync` (one greenlet hop for the whole
    message instead of one per statement, no unit-of-work bookkeeping): a new conversation from
    a new customer is 5 statements + COMMIT, a reply from a known customer 4 + COMMIT. On SQLite
    the statements and the COMMIT run in one hop into the database thread. See docs/performance.md.
    """
    rules = await sla_policies.load_policies(session)  # cached: no query on most calls
    try:
        result, events = await session.run_sync(_ingest_sync, [message], settings, rules)
        await session.commit()  # already committed in _ingest_sync; this ends the session's transaction
    except IntegrityError as error:
        return await _lost_race(session, message, error)
    _publish(events)
    return result[0]


async def ingest_many(session: AsyncSession, messages: list[InboundMessage], *,
                      settings: Settings) -> list[IngestResult | Exception]:
    """Several messages, in order, as one transaction: one COMMIT (and on SQLite one hop into the
    database thread) for the lot, where `ingest` pays both per message. For callers that hold a
    batch anyway (a mailbox poll, an import).

    The same rules run for each message as in `ingest`, and a message sees the ones before it
    (a reply threads to a ticket opened earlier in the batch). If any message fails, the batch is
    rolled back and each message is ingested again on its own, so a bad message costs only
    itself: its place in the returned list holds the exception `ingest` raised for it.
    """
    if not messages:
        return []
    rules = await sla_policies.load_policies(session)
    try:
        results, events = await session.run_sync(_ingest_sync, messages, settings, rules)
        await session.commit()
    except Exception:  # noqa: BLE001 - whatever it was, each message gets its own try below
        await session.rollback()
        log.info("a batch of %d messages failed; ingesting them one at a time", len(messages))
        return [await _ingest_or_error(session, message, settings) for message in messages]
    _publish(events)
    return list(results)


async def _ingest_or_error(session: AsyncSession, message: InboundMessage, settings: Settings) -> IngestResult | Exception:
    try:
        return await ingest(session, message, settings=settings)
    except Exception as error:  # noqa: BLE001 - handed back to the caller, who quarantines
        await session.rollback()
        return error


def _publish(events: list[tuple[str, dict]]) -> None:
    for channel, event in events:
        live.publish(channel, event)


def _ingest_sync(sync_session: Session, messages: list[InboundMessage], settings: Settings, rules):
    conn = sync_session.connection()
    return in_database_thread(conn, _ingest_and_commit, sync_session, conn, messages, settings, rules)


class _Written:
    """What a unit of work changed: live events to publish after COMMIT, and the tickets and
    customers whose search documents it must rebuild when it keeps them itself. For a batch, also
    what its first two queries found (`_Known`), kept up to date as the batch writes."""

    __slots__ = ("events", "tickets", "customers", "known")

    def __init__(self, known: "_Known | None" = None) -> None:
        self.events: list[tuple[str, dict]] = []
        self.tickets: set[int] = set()
        self.customers: set[int] = set()
        self.known = known


class _Known:
    """A batch's messages already stored and its senders' customers, read in two queries up front
    instead of one lookup per message, then kept current with what the batch itself stores and
    creates, so a later message of the batch sees the earlier ones exactly as `ingest` would."""

    __slots__ = ("stored", "customers")

    def __init__(self, conn, messages: list[InboundMessage], identities: list) -> None:
        keys = sorted({(m.channel, m.external_id) for m in messages})
        self.stored = {(channel, external_id): (message_id, ticket_id, customer_id)
                       for channel, external_id, message_id, ticket_id, customer_id
                       in conn.execute(_STORED_IN, {"keys": keys})}
        senders = sorted({key for key in identities if not isinstance(key, InvalidIdentity)})
        self.customers = {(kind, value): (customer_id, merged_into_id, organization_id, name)
                          for kind, value, customer_id, merged_into_id, organization_id, name
                          in conn.execute(_CUSTOMERS_IN, {"keys": senders})} if senders else {}


def _ingest_and_commit(sync_session: Session, conn, messages: list[InboundMessage], settings: Settings, rules):
    """Every message's statements, then one COMMIT, in one hop; the session's own commit then has
    nothing left to do. Returns the results and the live events to publish once committed.

    On PostgreSQL the search triggers stand aside (migration 0008) and each touched ticket's
    document is rebuilt once, set-based, just before COMMIT, instead of on every insert."""
    results: list[IngestResult] = []
    identities = [_identity_key(message) for message in messages]
    written = _Written(_Known(conn, messages, identities) if len(messages) > 1 else None)
    keeps_documents = search.defer_documents(conn)
    for message, identity in zip(messages, identities):
        results.append(_ingest_on(sync_session, conn, message, settings, rules, written, identity))
    if written.events:  # something was written
        planner_stats.note_ingested(conn, sum(1 for result in results if not result.duplicate))
        if keeps_documents:
            search.refresh_documents(conn, written.tickets, written.customers)
        conn.connection.commit()
    return results, written.events


_T = Ticket.__table__
_M = Message.__table__
_A = Attachment.__table__
_C = Customer.__table__
_CI = CustomerIdentity.__table__
_P = TicketParticipant.__table__
_OD = OrganizationDomain.__table__

# Statements built once: SQLAlchemy memoises their cache keys, so each execution skips both
# compilation and cache-key generation.
_DEDUPE = (
    select(_M.c.id, _M.c.ticket_id, _T.c.customer_id)
    .select_from(_M.join(_T, _T.c.id == _M.c.ticket_id))
    .where(_M.c.channel == bindparam("channel"), _M.c.external_id == bindparam("external_id"))
)
# dedupe and identity lookup in one round trip: k=0 rows are the duplicate, k=1 the customer
_DEDUPE_AND_IDENTITY = union_all(
    select(literal_column("0").label("k"), _M.c.id.label("a"), _M.c.ticket_id.label("b"),
           _T.c.customer_id.label("c"), cast(null(), String).label("name"))
    .select_from(_M.join(_T, _T.c.id == _M.c.ticket_id))
    .where(_M.c.channel == bindparam("channel"), _M.c.external_id == bindparam("external_id")),
    select(literal_column("1"), _C.c.id, _C.c.merged_into_id, _C.c.organization_id, _C.c.name)
    .select_from(_CI.join(_C, _C.c.id == _CI.c.customer_id))
    .where(_CI.c.kind == bindparam("kind"), _CI.c.value == bindparam("value")),
)
_CUSTOMER_BY_ID = select(_C.c.id, _C.c.merged_into_id, _C.c.organization_id, _C.c.name).where(_C.c.id == bindparam("id"))
_INSERT_CUSTOMER = (
    insert(_C)
    .values(
        name=bindparam("name"),
        organization_id=select(_OD.c.organization_id).where(_OD.c.domain == bindparam("domain")).scalar_subquery(),
    )
    .returning(_C.c.id, _C.c.organization_id)
)
_INSERT_CUSTOMER_NO_DOMAIN = insert(_C).values(name=bindparam("name")).returning(_C.c.id, _C.c.organization_id)
_DELETE_CUSTOMER = delete(_C).where(_C.c.id == bindparam("id"))
_RENAME_CUSTOMER = update(_C).where(_C.c.id == bindparam("cid")).values(name=bindparam("new_name"))

_TICKET_FIELDS = (
    "id", "number", "status", "priority", "channel", "customer_id", "organization_id", "team_id", "merged_into_id",
    "solved_at", "sla_policy_id", "sla_paused_at", "resolution_due_at", "first_responded_at", "next_response_due_at",
    "first_response_due_at", "last_inbound_at", "updated_at",
)
_TICKET_COLUMNS = [_T.c[name] for name in _TICKET_FIELDS]
_TICKET_BY_ID = select(*_TICKET_COLUMNS).where(_T.c.id == bindparam("id"))
_TICKET_BY_NUMBER = select(*_TICKET_COLUMNS).where(_T.c.number == bindparam("number"))
def _tickets_by_refs_statement():
    """Every message the references name (a handful) with its ticket; the newest is picked in Python.

    PostgreSQL gets one array parameter: an expanding IN renders a new statement for every count
    of references, each planned afresh (timed at ~2 ms a reply on IMAP mail with long References
    chains, more than the rest of the reply); one `= ANY(array)` statement is planned once."""
    columns = select(_M.c.id.label("message_id"), *_TICKET_COLUMNS).select_from(_M.join(_T, _T.c.id == _M.c.ticket_id))
    return {
        "postgresql": columns.where(_M.c.channel == bindparam("channel"),
                                    _M.c.external_id == any_(bindparam("refs", type_=ARRAY(String)))),
        "sqlite": columns.where(_M.c.channel == bindparam("channel"),
                                _M.c.external_id.in_(bindparam("refs", expanding=True))),
    }


_TICKETS_BY_REFS = _tickets_by_refs_statement()
_TICKET_BY_THREAD = (
    select(*_TICKET_COLUMNS)
    .where(_T.c.channel == bindparam("channel"), _T.c.platform_thread_id == bindparam("thread"))
    .order_by(_T.c.id.desc())
    .limit(1)
)
_PARTICIPANT = select(_P.c.id).where(_P.c.ticket_id == bindparam("ticket_id"), _P.c.kind == bindparam("kind"),
                                     _P.c.value == bindparam("value"))
_PARTICIPANTS = select(_P.c.kind, _P.c.value).where(_P.c.ticket_id == bindparam("ticket_id"))
_ORG_OF_DOMAIN = select(_OD.c.organization_id).where(_OD.c.domain == bindparam("domain"))

_NEW_TICKET_COLUMNS = (
    "subject", "status", "channel", "account", "platform_thread_id", "customer_id", "organization_id",
    "created_at", "updated_at", "sla_policy_id", "first_response_due_at", "resolution_due_at", "last_inbound_at",
)


def _insert_ticket_statement():
    """INSERT a ticket whose number is its id, in one statement: the id is taken first (the
    id sequence on PostgreSQL; max(id)+1 on SQLite, whose single writer holds the write lock
    while the statement runs, which is also how SQLite picks a rowid) and written to both columns."""
    params = [bindparam(name, type_=_T.c[name].type) for name in _NEW_TICKET_COLUMNS]
    pg_next = select(func.nextval("tickets_id_seq").label("id")).subquery("next_id")
    lite_next = select((func.coalesce(func.max(_T.c.id), 0) + 1).label("id")).subquery("next_id")
    statements = {}
    for dialect, next_id in (("postgresql", pg_next), ("sqlite", lite_next)):
        statements[dialect] = (
            insert(_T)
            .from_select(["id", "number", *_NEW_TICKET_COLUMNS], select(next_id.c.id, next_id.c.id, *params))
            .returning(_T.c.id)
        )
    return statements


_INSERT_TICKET = _insert_ticket_statement()
_INSERT_TICKET_PLAIN = insert(_T).returning(_T.c.id)
_NUMBER_TICKET = update(_T).where(_T.c.id == bindparam("tid")).values(number=bindparam("number"))
_UPDATED_TICKET_COLUMNS = ("status", "solved_at", "sla_paused_at", "resolution_due_at", "next_response_due_at",
                           "last_inbound_at", "updated_at")
_UPDATE_TICKET = update(_T).where(_T.c.id == bindparam("tid")).values(
    {name: bindparam(name, type_=_T.c[name].type) for name in _UPDATED_TICKET_COLUMNS}
)
_INSERT_MESSAGE = insert(_M).returning(_M.c.id)
_MESSAGE_FIELDS = (
    "direction", "channel", "external_id", "account", "sender_kind", "sender_value", "sender_name", "subject",
    "text", "full_text", "html", "cc", "in_reply_to", "references", "auto_generated", "raw_ref", "defects",
    "created_at", "updated_at", "delivery_attempts",
)


def _with_message(ticket_statement):
    """PostgreSQL: the ticket's INSERT or UPDATE and the message's INSERT as one statement (a
    data-modifying CTE), one round trip instead of two. Message values are bound as m_<column>."""
    ticket = ticket_statement.cte("ticket")
    params = [bindparam(f"m_{name}", type_=_M.c[name].type) for name in _MESSAGE_FIELDS]
    return (insert(_M).from_select(["ticket_id", *_MESSAGE_FIELDS], select(ticket.c.id, *params))
            .returning(_M.c.id, _M.c.ticket_id))


_NEW_TICKET_WITH_MESSAGE = {"postgresql": _with_message(_INSERT_TICKET["postgresql"])}
_REPLY_WITH_MESSAGE = {"postgresql": _with_message(_UPDATE_TICKET.returning(_T.c.id))}
_INSERT_ATTACHMENT = insert(_A)
_INSERT_PARTICIPANT = insert(_P)


class _TicketRow:
    """The ticket columns ingest reads and writes, as a plain object the SLA rules can change."""

    __slots__ = _TICKET_FIELDS

    def __init__(self, row) -> None:
        for name, value in zip(_TICKET_FIELDS, row):
            setattr(self, name, value)

    def values(self) -> dict:
        return {name: getattr(self, name) for name in _TICKET_FIELDS}


def _identity_key(message: InboundMessage) -> tuple[str, str] | InvalidIdentity:
    try:
        return normalise_identity(message.sender.kind, message.sender.value)
    except InvalidIdentity as error:
        return error


def _ingest_on(sync_session: Session, conn, message: InboundMessage, settings: Settings, rules,
               written: _Written, identity: tuple[str, str] | InvalidIdentity) -> IngestResult:
    """One message's statements (no COMMIT); notes in `written` what it changed. `identity` is
    the sender's normalised identity (`_identity_key`), worked out once by the caller."""
    dialect = conn.dialect.name
    customer_row = None
    known = written.known
    if known is not None:
        stored = known.stored.get((message.channel, message.external_id))
        if stored is not None:
            return IngestResult(stored[1], stored[0], stored[2], created_ticket=False, duplicate=True)
        if not isinstance(identity, InvalidIdentity):
            customer_row = known.customers.get(identity)
    elif isinstance(identity, InvalidIdentity):
        duplicate = conn.execute(_DEDUPE, {"channel": message.channel, "external_id": message.external_id}).first()
        if duplicate is not None:
            return IngestResult(duplicate.ticket_id, duplicate.id, duplicate.customer_id, created_ticket=False,
                                duplicate=True)
    else:
        kind, value = identity
        for k, a, b, c, name in conn.execute(
            _DEDUPE_AND_IDENTITY,
            {"channel": message.channel, "external_id": message.external_id, "kind": kind, "value": value},
        ):
            if k == 0:
                return IngestResult(b, a, c, created_ticket=False, duplicate=True)
            customer_row = (a, b, c, name)  # id, merged_into_id, organization_id, name

    if message.bounce_of:
        original = conn.execute(_BOUNCED_ORIGINAL, {"channel": message.channel, "external_id": message.bounce_of}).first()
        if original is not None:
            return _record_bounce(sync_session, conn, message, original, written)

    if isinstance(identity, InvalidIdentity):
        raise identity  # as resolve_customer would: the caller quarantines the message
    customer_id, organization_id = _resolve_customer(sync_session, conn, message, identity, customer_row, written)

    ticket = _find_ticket(conn, message, customer_id, identity)
    now = utcnow()
    created = reopened = False
    message_id = None  # set where one statement writes the ticket and the message together

    if ticket is not None and ticket.status in ("solved", "closed") and not message.auto_generated:
        window = timedelta(days=settings.reopen_window_days)
        if ticket.status == "solved" and ticket.solved_at and message.received_at - ticket.solved_at <= window:
            ticket.status = "open"
            ticket.solved_at = None
            reopened = True
        else:
            ticket = None  # too late to reopen (or closed): a new conversation

    if ticket is None:
        values = {
            "subject": (message.subject or _subject_from_text(message.text))[:500],
            "status": "new",
            "channel": message.channel,
            "account": message.account,
            "platform_thread_id": message.thread_keys.platform_thread_id,
            "customer_id": customer_id,
            "organization_id": organization_id,
            "created_at": message.received_at,
            "updated_at": now,
            "sla_policy_id": None,
            "first_response_due_at": None,
            "resolution_due_at": None,
            "last_inbound_at": None if message.auto_generated else message.received_at,
        }
        if not message.auto_generated:
            draft = _NewTicket(channel=message.channel, organization_id=organization_id)
            sla_policies.apply_rules(rules, draft, message.received_at)
            values.update(sla_policy_id=draft.sla_policy_id, first_response_due_at=draft.first_response_due_at,
                          resolution_due_at=draft.resolution_due_at)
        combined, statement = _NEW_TICKET_WITH_MESSAGE.get(dialect), _INSERT_TICKET.get(dialect)
        if combined is not None:
            message_id, ticket_id = conn.execute(combined, {**values, **_message_params(message)}).one()
        elif statement is not None:
            ticket_id = conn.execute(statement, values).scalar_one()
        else:  # another database: insert, then number it in the same transaction
            ticket_id = conn.execute(_INSERT_TICKET_PLAIN, values).scalar_one()
            conn.execute(_NUMBER_TICKET, {"tid": ticket_id, "number": ticket_id})
        created = True
    else:
        before = ticket.values()
        if not message.auto_generated:
            if ticket.status == "pending":
                ticket.status = "open"
            sla_policies.customer_replied_with_rules(rules, ticket, message.received_at)
            ticket.last_inbound_at = max(filter(None, (ticket.last_inbound_at, message.received_at)))
        ticket.updated_at = now
        after = ticket.values()
        update = {"tid": ticket.id, **{name: after[name] for name in _UPDATED_TICKET_COLUMNS}}
        combined = _REPLY_WITH_MESSAGE.get(dialect)
        if combined is not None:
            message_id, _ = conn.execute(combined, {**update, **_message_params(message)}).one()
        else:
            conn.execute(_UPDATE_TICKET, update)
        changes = {name: value for name, value in after.items() if before[name] != value}
        _refresh_loaded(sync_session, Ticket, ticket.id, changes)
        ticket_id = ticket.id

    if message_id is None:
        message_id = conn.execute(_INSERT_MESSAGE, _message_values(message, ticket_id)).scalar_one()
    if message.attachments:
        conn.execute(_INSERT_ATTACHMENT, [
            {
                "message_id": message_id,
                "sha256": store_blob(settings.attachments_dir, attachment.data),
                "size": len(attachment.data),
                "content_type": attachment.content_type[:200],
                "filename": attachment.filename[:500],
                "content_id": attachment.content_id,
                "inline": attachment.inline,
            }
            for attachment in message.attachments
        ])
    if message.cc:
        _record_participants(conn, ticket_id, identity, message)
    if known is not None:
        known.stored[(message.channel, message.external_id)] = (message_id, ticket_id, customer_id)
    written.tickets.add(ticket_id)
    written.events.append((live.ticket_channel(ticket_id),
                   {"event": "message.created", "ticket_id": ticket_id, "message_id": message_id}))
    written.events.append((live.queue_channel("all"),
                   {"event": "ticket.created" if created else "ticket.updated", "ticket_id": ticket_id}))
    return IngestResult(ticket_id, message_id, customer_id, created, False, reopened)


class _NewTicket:
    """What the SLA policy rules look at on a ticket being opened by ingest."""

    def __init__(self, *, channel: str, organization_id: int | None) -> None:
        self.channel = channel
        self.organization_id = organization_id
        self.priority = "normal"
        self.team_id = None
        self.sla_policy_id = None
        self.first_response_due_at = None
        self.resolution_due_at = None


def _refresh_loaded(sync_session: Session, model, pk: int, changes: dict) -> None:
    """Keep an object the caller's session already holds in step with a Core UPDATE, as the ORM would."""
    obj = sync_session.identity_map.get(sync_session.identity_key(model, pk))
    if obj is not None:
        for name, value in changes.items():
            set_committed_value(obj, name, value)


def _resolve_customer(sync_session: Session, conn, message: InboundMessage, identity: tuple[str, str],
                      row, written: _Written) -> tuple[int, int | None]:
    """`customers.resolve_customer` in Core: follow merge tombstones, name a nameless customer,
    create customer + identity on first contact (INSERT … ON CONFLICT DO NOTHING, no savepoint)."""
    kind, value = identity
    display_name = message.sender.display_name
    while row is None:
        domain = email_domain(value) if kind == "email" else None
        if domain is not None:
            created = conn.execute(_INSERT_CUSTOMER, {"name": display_name or None, "domain": domain}).first()
        else:
            created = conn.execute(_INSERT_CUSTOMER_NO_DOMAIN, {"name": display_name or None}).first()
        inserted = conn.execute(_insert_identity(conn.dialect.name), {
            "customer_id": created.id, "kind": kind, "value": value, "display_name": display_name,
        }).first()
        if inserted is not None:
            _remember_customer(written, identity, (created.id, None, created.organization_id, display_name or None))
            return created.id, created.organization_id
        # a concurrent ingest created this identity first: drop ours and use theirs
        conn.execute(_DELETE_CUSTOMER, {"id": created.id})
        row = conn.execute(_IDENTITY_CUSTOMER, {"kind": kind, "value": value}).first()
    customer_id, merged_into_id, organization_id, name = row
    while merged_into_id is not None:  # follow merge tombstones
        customer_id, merged_into_id, organization_id, name = conn.execute(_CUSTOMER_BY_ID, {"id": merged_into_id}).one()
    if not name and display_name:
        conn.execute(_RENAME_CUSTOMER, {"cid": customer_id, "new_name": display_name})
        written.customers.add(customer_id)  # their tickets are found by the new name
        _refresh_loaded(sync_session, Customer, customer_id, {"name": display_name})
        name = display_name
    _remember_customer(written, identity, (customer_id, None, organization_id, name))
    return customer_id, organization_id


def _remember_customer(written: _Written, identity: tuple[str, str], row: tuple) -> None:
    if written.known is not None:
        written.known.customers[identity] = row


_IDENTITY_CUSTOMER = (
    select(_C.c.id, _C.c.merged_into_id, _C.c.organization_id, _C.c.name)
    .select_from(_CI.join(_C, _C.c.id == _CI.c.customer_id))
    .where(_CI.c.kind == bindparam("kind"), _CI.c.value == bindparam("value"))
)
_STORED_IN = (
    select(_M.c.channel, _M.c.external_id, _M.c.id, _M.c.ticket_id, _T.c.customer_id)
    .select_from(_M.join(_T, _T.c.id == _M.c.ticket_id))
    .where(tuple_(_M.c.channel, _M.c.external_id).in_(bindparam("keys", expanding=True)))
)
_CUSTOMERS_IN = (
    select(_CI.c.kind, _CI.c.value, _C.c.id, _C.c.merged_into_id, _C.c.organization_id, _C.c.name)
    .select_from(_CI.join(_C, _C.c.id == _CI.c.customer_id))
    .where(tuple_(_CI.c.kind, _CI.c.value).in_(bindparam("keys", expanding=True)))
)
_INSERT_IDENTITY = {
    "postgresql": pg_insert(_CI).on_conflict_do_nothing(index_elements=["kind", "value"]).returning(_CI.c.id),
    "sqlite": sqlite_insert(_CI).on_conflict_do_nothing(index_elements=["kind", "value"]).returning(_CI.c.id),
}


def _insert_identity(dialect: str):
    return _INSERT_IDENTITY[dialect]


def _find_ticket(conn, message: InboundMessage, customer_id: int, identity: tuple[str, str]) -> _TicketRow | None:
    """The ticket a message continues: by reply headers, platform thread, then subject token."""
    keys = message.thread_keys
    refs = [r for r in (keys.in_reply_to, *keys.references) if r]
    if refs:
        statement = _TICKETS_BY_REFS.get(conn.dialect.name, _TICKETS_BY_REFS["sqlite"])
        rows = conn.execute(statement, {"channel": message.channel, "refs": refs}).all()
        if rows:
            return _survivor(conn, max(rows, key=lambda row: row.message_id)[1:])
    if keys.platform_thread_id:
        row = conn.execute(_TICKET_BY_THREAD, {"channel": message.channel, "thread": keys.platform_thread_id}).first()
        if row is not None:
            return _survivor(conn, row)
    if keys.ticket_token is not None:
        row = conn.execute(_TICKET_BY_NUMBER, {"number": keys.ticket_token}).first()
        if row is not None:
            ticket = _survivor(conn, row)
            if _is_known_participant(conn, ticket, customer_id, identity):
                return ticket
            log.info("subject token [#%s] from a stranger: new ticket", keys.ticket_token)
    return None


def _is_known_participant(conn, ticket: _TicketRow, customer_id: int, identity: tuple[str, str]) -> bool:
    """Only people already in the conversation may thread in by quoting `[#N]`."""
    if ticket.customer_id == customer_id:
        return True
    kind, value = identity
    if conn.execute(_PARTICIPANT, {"ticket_id": ticket.id, "kind": kind, "value": value}).first() is not None:
        return True
    if kind == "email" and ticket.organization_id is not None:
        org = conn.execute(_ORG_OF_DOMAIN, {"domain": email_domain(value)}).scalar()
        return org == ticket.organization_id
    return False


def _survivor(conn, row) -> _TicketRow:
    """Follow merge pointers to the ticket that lives on."""
    ticket = _TicketRow(row)
    seen = set()
    while ticket.merged_into_id is not None and ticket.id not in seen:
        seen.add(ticket.id)
        ticket = _TicketRow(conn.execute(_TICKET_BY_ID, {"id": ticket.merged_into_id}).one())
    return ticket


def _record_participants(conn, ticket_id: int, sender: tuple[str, str], message: InboundMessage) -> None:
    own = {message.account.lower()} if message.account else set()
    existing = set(tuple(r) for r in conn.execute(_PARTICIPANTS, {"ticket_id": ticket_id}))
    rows = []
    for identity in message.cc:
        try:
            key = normalise_identity(identity.kind, identity.value)
        except InvalidIdentity:
            continue
        if key in existing or key == sender or key[1] in own:
            continue
        existing.add(key)
        rows.append({"ticket_id": ticket_id, "kind": key[0], "value": key[1], "display_name": identity.display_name})
    if rows:
        conn.execute(_INSERT_PARTICIPANT, rows)


async def _lost_race(session: AsyncSession, message: InboundMessage, error: IntegrityError) -> IngestResult:
    """A concurrent ingest of the same message won the race: report it as the duplicate it is."""
    await session.rollback()
    duplicate = await _existing(session, message)
    if duplicate is None:
        raise error
    return duplicate


async def _existing(session: AsyncSession, message: InboundMessage) -> IngestResult | None:
    row = (await session.execute(_DEDUPE, {"channel": message.channel, "external_id": message.external_id})).first()
    if row is None:
        return None
    return IngestResult(row.ticket_id, row.id, row.customer_id, created_ticket=False, duplicate=True)


_BOUNCED_ORIGINAL = select(_M.c.id, _M.c.ticket_id).where(
    _M.c.channel == bindparam("channel"), _M.c.external_id == bindparam("external_id"), _M.c.direction == "outbound"
)


_MARK_BOUNCED = update(_M).where(_M.c.id == bindparam("mid")).values(
    delivery_status="failed", delivery_error=bindparam("error"), updated_at=bindparam("now"))
_CUSTOMER_OF_TICKET = select(_T.c.customer_id).where(_T.c.id == bindparam("id"))


def _record_bounce(sync_session: Session, conn, message: InboundMessage, original,
                   written: _Written) -> IngestResult:
    """A bounce marks our outbound message failed and joins its ticket; it opens no ticket."""
    reason = message.bounce_reason or "the recipient's mail server rejected the message"
    failed = {"delivery_status": "failed", "delivery_error": f"bounced: {reason}", "updated_at": utcnow()}
    conn.execute(_MARK_BOUNCED, {"mid": original.id, "error": failed["delivery_error"], "now": failed["updated_at"]})
    _refresh_loaded(sync_session, Message, original.id, failed)
    message_id = conn.execute(_INSERT_MESSAGE, _message_values(message, original.ticket_id)).scalar_one()
    customer_id = conn.execute(_CUSTOMER_OF_TICKET, {"id": original.ticket_id}).scalar_one()
    if written.known is not None:
        written.known.stored[(message.channel, message.external_id)] = (message_id, original.ticket_id, customer_id)
    written.tickets.add(original.ticket_id)
    written.events.append((live.ticket_channel(original.ticket_id),
                           {"event": "message.delivery", "message_id": original.id}))
    return IngestResult(original.ticket_id, message_id, customer_id, created_ticket=False, duplicate=False, bounce=True)


def _message_values(message: InboundMessage, ticket_id: int) -> dict:
    return {
        "ticket_id": ticket_id,
        "direction": "inbound",
        "channel": message.channel,
        "external_id": message.external_id,
        "account": message.account,
        "sender_kind": message.sender.kind,
        "sender_value": _normalised_or_raw(message.sender.kind, message.sender.value),
        "sender_name": message.sender.display_name,
        "subject": message.subject,
        "text": message.text,
        "full_text": message.full_text if message.full_text != message.text else None,
        "html": message.html,
        "cc": [{"kind": i.kind, "value": i.value, "name": i.display_name} for i in message.cc] or None,
        "in_reply_to": message.thread_keys.in_reply_to,
        "references": list(message.thread_keys.references) or None,
        "auto_generated": message.auto_generated,
        "raw_ref": message.raw_ref,
        "defects": list(message.defects) or None,
        "created_at": message.received_at,
        "updated_at": utcnow(),
    }


def _message_params(message: InboundMessage) -> dict:
    values = {**_message_values(message, None), "delivery_attempts": 0}  # INSERT … SELECT applies no defaults
    return {f"m_{name}": values[name] for name in _MESSAGE_FIELDS}


def _normalised_or_raw(kind: str, value: str) -> str:
    try:
        return normalise_identity(kind, value)[1]
    except InvalidIdentity:
        return value


def _subject_from_text(text: str) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first[:80] or "(no subject)"
