"""InboundMessage -> ticket: the only way a message becomes data.

Each message goes through the same rules, in order (`_ingest_on`): dedupe, resolve the customer,
choose the ticket (the rules: `helpdesk.inbound.threading`), move the SLA clocks, store, announce.
Nothing is written before the ticket is chosen: the customer is looked up first and created only
after, so a machine's reply that belongs to no ticket of ours (`UnsolicitedReport`) leaves no trace.
The SQL is in `ingest_sql`; the customer behind an identity in `helpdesk.customers.identities`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from helpdesk import live
from helpdesk.channel import InboundMessage
from helpdesk.customers import identities
from helpdesk.customers.identities import InvalidIdentity, KnownCustomer, email_domain, normalise_identity
from helpdesk.db import in_database_thread
from helpdesk.files import store_blob
from helpdesk.inbound import ingest_sql as sql
from helpdesk.inbound import planner_stats, threading
from helpdesk.inbound.threading import Candidates, Decision, SenderSeen, TicketSeen
from helpdesk.integrations import webhooks
from helpdesk.models import Customer, Message, Ticket, utcnow
from helpdesk.settings import Settings
from helpdesk.sla import events as sla_events
from helpdesk.sla import policies as sla_policies
from helpdesk.tickets import outbox, search

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


class UnsolicitedReport(ValueError):
    """A machine's reply (bounce, auto-reply, receipt) about a message we never sent. It opens no
    ticket and creates no customer: the pipeline quarantines it, where admins see it."""

    _WHAT = {"bounce": "delivery report about", "auto-reply": "automatic reply to", "receipt": "receipt for"}

    @classmethod
    def about(cls, message: InboundMessage) -> UnsolicitedReport:
        keys = message.thread_keys
        reference = message.bounce_of or keys.in_reply_to or next(iter(keys.references), None) or "no reference"
        what = cls._WHAT.get(message.machine_reply, f"{message.machine_reply} about")
        return cls(f"{what} a message we never sent ({reference}) from {message.sender.value}")


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
    await _bounced_replies(session, events)
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
    await _bounced_replies(session, events)
    return list(results)


async def _ingest_or_error(session: AsyncSession, message: InboundMessage, settings: Settings) -> IngestResult | Exception:
    try:
        return await ingest(session, message, settings=settings)
    except Exception as error:  # noqa: BLE001 - handed back to the caller, who quarantines
        await session.rollback()
        return error


def _publish(events: list[tuple[str, dict]]) -> None:
    live.publish_many(events)  # together: the local relay sends a batch's events as one datagram


async def _bounced_replies(session: AsyncSession, events: list[tuple[str, dict]]) -> None:
    """A bounce failed one of our replies: if it was an agent's answer, the SLA clocks it stopped run
    again (`outbox.reply_undelivered`, in a transaction of its own after the batch's)."""
    for _, event in events:
        if event.get("bounced"):
            await outbox.reply_undelivered(session, event["message_id"])


def _ingest_sync(sync_session: Session, messages: list[InboundMessage], settings: Settings, rules):
    conn = sync_session.connection()
    return in_database_thread(conn, _ingest_and_commit, sync_session, conn, messages, settings, rules)


class _Written:
    """What a unit of work changed: live events to publish after COMMIT, and the tickets and
    customers whose search documents it must rebuild when it keeps them itself. For a batch, also
    what its first two queries found (`_Known`), kept up to date as the batch writes."""

    __slots__ = ("events", "tickets", "customers", "known")

    def __init__(self, known: _Known | None = None) -> None:
        self.events: list[tuple[str, dict]] = []
        self.tickets: set[int] = set()
        self.customers: set[int] = set()
        self.known = known


class _Known:
    """A batch's messages already stored and its senders' customers, read in two queries up front
    instead of one lookup per message, then kept current with what the batch itself stores and
    creates, so a later message of the batch sees the earlier ones exactly as `ingest` would."""

    __slots__ = ("stored", "customers")

    def __init__(self, conn, messages: list[InboundMessage], senders: list) -> None:
        keys = sorted({(m.channel, m.external_id) for m in messages})
        self.stored = {(channel, external_id): (message_id, ticket_id, customer_id)
                       for channel, external_id, message_id, ticket_id, customer_id
                       in conn.execute(sql.STORED_IN, {"keys": keys})}
        valid = sorted({key for key in senders if not isinstance(key, InvalidIdentity)})
        self.customers = {(kind, value): (customer_id, merged_into_id, organization_id, name)
                          for kind, value, customer_id, merged_into_id, organization_id, name
                          in conn.execute(sql.CUSTOMERS_IN, {"keys": valid})} if valid else {}


def _ingest_and_commit(sync_session: Session, conn, messages: list[InboundMessage], settings: Settings, rules):
    """Every message's statements, then one COMMIT, in one hop; the session's own commit then has
    nothing left to do. Returns the results and the live events to publish once committed.

    On PostgreSQL the search triggers stand aside (migration 0008) and each touched ticket's
    document is rebuilt once, set-based, just before COMMIT, instead of on every insert."""
    results: list[IngestResult] = []
    senders = [_identity_key(message) for message in messages]
    written = _Written(_Known(conn, messages, senders) if len(messages) > 1 else None)
    keeps_documents = search.defer_documents(conn)
    for message, sender in zip(messages, senders):
        results.append(_ingest_on(sync_session, conn, message, settings, rules, written, sender))
    if written.events:  # something was written
        planner_stats.note_ingested(conn, sum(1 for result in results if not result.duplicate))
        if keeps_documents:
            search.refresh_documents(conn, written.tickets, written.customers)
        conn.connection.commit()
    return results, written.events


def _identity_key(message: InboundMessage) -> tuple[str, str] | InvalidIdentity:
    try:
        return normalise_identity(message.sender.kind, message.sender.value)
    except InvalidIdentity as error:
        return error


def _ingest_on(sync_session: Session, conn, message: InboundMessage, settings: Settings, rules,
               written: _Written, identity: tuple[str, str] | InvalidIdentity) -> IngestResult:
    """One message's rules, in order (no COMMIT); notes in `written` what it changed. `identity` is
    the sender's normalised identity (`_identity_key`), worked out once by the caller."""
    duplicate, customer_row = _dedupe(conn, message, identity, written.known)
    if duplicate is not None:
        return duplicate
    if message.machine_reply is not None and not message.auto_generated:
        message = replace(message, auto_generated=True)  # a machine's answer moves no clock, reopens nothing
    original = _our_bounced_reply(conn, message)
    if original is not None:
        return _record_bounce(sync_session, conn, message, original, written)
    if message.machine_reply == "bounce":
        raise UnsolicitedReport.about(message)  # a delivery report on a message we never sent

    known = _known_customer(conn, identity, customer_row)  # read only: nothing is written before the rules allow it
    decision, ticket = _choose_ticket(conn, message, identity, known, settings)
    if decision.opens_ticket and message.machine_reply is not None:
        raise UnsolicitedReport.about(message)  # an auto-reply or receipt that threads to nothing of ours
    customer = _resolve_customer(sync_session, conn, message, identity, known, written)

    if decision.opens_ticket:
        ticket = _NewTicket(message, customer)
    else:
        _continue(ticket, decision, message)
    stamps = _clocks(rules, ticket, message)
    ticket_id, message_id = _store(sync_session, conn, message, identity, ticket, settings)
    if stamps:
        for stamp in stamps:
            stamp.ticket_id = ticket_id
        sla_events.record_on(conn, stamps)
    _announce(written, message, ticket_id, message_id, customer.id, decision.opens_ticket)
    webhooks.message_stored(sync_session, conn, ticket_id, message_id, created=decision.opens_ticket)
    return IngestResult(ticket_id, message_id, customer.id, created_ticket=decision.opens_ticket, duplicate=False,
                        reopened=decision.action == threading.REOPEN)


# -- dedupe ---------------------------------------------------------------------------------------

def _dedupe(conn, message: InboundMessage, identity, known: _Known | None) -> tuple[IngestResult | None, tuple | None]:
    """The message if we hold it already; and, read in the same round trip, the identity's
    customer row (id, merged_into_id, organization_id, name), None for a sender we do not know."""
    key = (message.channel, message.external_id)
    invalid = isinstance(identity, InvalidIdentity)
    if known is not None:
        stored = known.stored.get(key)
        if stored is not None:
            return IngestResult(stored[1], stored[0], stored[2], created_ticket=False, duplicate=True), None
        return None, (None if invalid else known.customers.get(identity))
    params = {"channel": message.channel, "external_id": message.external_id}
    if invalid:
        row = conn.execute(sql.DEDUPE, params).first()
        if row is not None:
            return IngestResult(row.ticket_id, row.id, row.customer_id, created_ticket=False, duplicate=True), None
        return None, None
    customer_row = None
    for k, a, b, c, name in conn.execute(sql.DEDUPE_AND_IDENTITY, {**params, "kind": identity[0], "value": identity[1]}):
        if k == 0:
            return IngestResult(b, a, c, created_ticket=False, duplicate=True), None
        customer_row = (a, b, c, name)
    return None, customer_row


# -- bounces of our own replies ---------------------------------------------------------------------

def _our_bounced_reply(conn, message: InboundMessage):
    if not message.bounce_of:
        return None
    return conn.execute(sql.BOUNCED_ORIGINAL, {"channel": message.channel, "external_id": message.bounce_of}).first()


def _record_bounce(sync_session: Session, conn, message: InboundMessage, original, written: _Written) -> IngestResult:
    """A bounce marks our outbound message failed and joins its ticket; it opens no ticket."""
    reason = message.bounce_reason or "the recipient's mail server rejected the message"
    failed = {"delivery_status": "failed", "delivery_error": f"bounced: {reason}", "updated_at": utcnow()}
    conn.execute(sql.MARK_BOUNCED, {"mid": original.id, "error": failed["delivery_error"], "now": failed["updated_at"]})
    _refresh_loaded(sync_session, Message, original.id, failed)
    message_id = conn.execute(sql.INSERT_MESSAGE, _message_values(message, original.ticket_id)).scalar_one()
    customer_id = conn.execute(sql.CUSTOMER_OF_TICKET, {"id": original.ticket_id}).scalar_one()
    if written.known is not None:
        written.known.stored[(message.channel, message.external_id)] = (message_id, original.ticket_id, customer_id)
    written.tickets.add(original.ticket_id)
    written.events.append((live.ticket_channel(original.ticket_id),
                           {"event": "message.delivery", "message_id": original.id, "bounced": True}))
    return IngestResult(original.ticket_id, message_id, customer_id, created_ticket=False, duplicate=False, bounce=True)


# -- customer -------------------------------------------------------------------------------------

def _known_customer(conn, identity, customer_row: tuple | None) -> KnownCustomer | None:
    """The sender's customer if they are one already (merge tombstones followed), else None."""
    if isinstance(identity, InvalidIdentity):
        return None
    return identities.known_customer(conn, identity, customer_row, looked_up=True)


def _resolve_customer(sync_session: Session, conn, message: InboundMessage, identity, known: KnownCustomer | None,
                      written: _Written) -> KnownCustomer:
    """`identities.resolve_customer`, plus what this unit of work must remember about it."""
    if isinstance(identity, InvalidIdentity):
        raise identity  # the caller quarantines the message
    customer = identities.resolve_customer(conn, identity, message.sender.display_name, known)
    if customer.renamed:
        written.customers.add(customer.id)  # their tickets are found by the new name
        _refresh_loaded(sync_session, Customer, customer.id, {"name": customer.name})
    if written.known is not None:
        written.known.customers[identity] = (customer.id, None, customer.organization_id, customer.name)
    return customer


# -- threading ------------------------------------------------------------------------------------

class _TicketRow:
    """The ticket columns ingest reads and writes, as a plain object the SLA rules can change."""

    __slots__ = sql.TICKET_FIELDS

    def __init__(self, row) -> None:
        for name, value in zip(sql.TICKET_FIELDS, row):
            setattr(self, name, value)

    def values(self) -> dict:
        return {name: getattr(self, name) for name in sql.TICKET_FIELDS}


def _choose_ticket(conn, message: InboundMessage, identity, customer: KnownCustomer | None,
                   settings: Settings) -> tuple[Decision, _TicketRow | None]:
    """Look up what the thread keys point at and let `threading.choose_ticket` decide; returns
    the decision and, unless it opens a ticket, the row of the ticket it names."""
    loaded: dict[int, tuple[_TicketRow, TicketSeen]] = {}
    candidates, sender = _candidates(conn, message, identity, customer, loaded)
    decision = threading.choose_ticket(candidates, sender, received_at=message.received_at,
                                       auto_generated=message.auto_generated,
                                       reopen_window=timedelta(days=settings.reopen_window_days))
    if decision.opens_ticket and candidates is not _NO_CANDIDATES:
        log.info("%s %s: new ticket (%s)", message.channel, message.external_id, decision.reason)
    return decision, (loaded[decision.ticket_id][0] if decision.ticket_id is not None else None)


_NO_CANDIDATES = Candidates()


def _candidates(conn, message: InboundMessage, identity, customer: KnownCustomer | None,
                loaded: dict) -> tuple[Candidates, SenderSeen]:
    """The tickets the thread keys point at. A key is looked up only when the keys before it found
    nothing: the first key that finds a ticket decides (`threading.choose_ticket`)."""
    keys = message.thread_keys
    customer_id = customer.id if customer is not None else None
    refs = [r for r in (keys.in_reply_to, *keys.references) if r]
    if refs:
        rows = conn.execute(_statements(conn).tickets_by_refs, {"channel": message.channel, "refs": refs}).all()
        if rows:
            found = tuple((row.message_id, _seen(conn, row[1:], loaded)) for row in rows)
            return Candidates(by_reference=found), SenderSeen(customer_id)
    if keys.platform_thread_id:
        row = conn.execute(sql.TICKET_BY_THREAD, {"channel": message.channel, "thread": keys.platform_thread_id}).first()
        if row is not None:
            return Candidates(by_platform_thread=_seen(conn, row, loaded)), SenderSeen(customer_id)
    if keys.ticket_token is not None:
        row = conn.execute(sql.TICKET_BY_NUMBER, {"number": keys.ticket_token}).first()
        if row is not None:
            ticket = _seen(conn, row, loaded)
            return Candidates(by_subject_token=ticket), _sender(conn, identity, customer_id, threading.survivor(ticket))
    return _NO_CANDIDATES, SenderSeen(customer_id)


def _seen(conn, row, loaded: dict) -> TicketSeen:
    """A ticket row as the threading rules see it, with the tickets it was merged into loaded too."""
    ticket_id = row[0]
    if ticket_id in loaded:
        return loaded[ticket_id][1]
    ticket = _TicketRow(row)
    loaded[ticket_id] = (ticket, None)  # in progress: a merge cycle stops here
    merged_into = None
    if ticket.merged_into_id is not None:
        target = loaded.get(ticket.merged_into_id)
        if target is None:
            merged_into = _seen(conn, conn.execute(sql.TICKET_BY_ID, {"id": ticket.merged_into_id}).one(), loaded)
        else:
            merged_into = target[1]
    seen = TicketSeen(ticket.id, ticket.status, ticket.solved_at, ticket.customer_id, ticket.organization_id,
                      merged_into)
    loaded[ticket_id] = (ticket, seen)
    return seen


def _sender(conn, identity, customer_id: int | None, ticket: TicketSeen) -> SenderSeen:
    """What the subject-token rule asks about the sender of a `[#N]` naming `ticket`; looks up
    only what the rule can still use."""
    if isinstance(identity, InvalidIdentity) or (customer_id is not None and customer_id == ticket.customer_id):
        return SenderSeen(customer_id)
    kind, value = identity
    participant = conn.execute(sql.PARTICIPANT, {"ticket_id": ticket.id, "kind": kind, "value": value}).first()
    organization_id = None
    if kind == "email" and ticket.organization_id is not None:
        organization_id = conn.execute(sql.ORG_OF_DOMAIN, {"domain": email_domain(value)}).scalar()
    return SenderSeen(customer_id, organization_id, frozenset({ticket.id}) if participant is not None else frozenset())


# -- the ticket's new state and its SLA clocks -----------------------------------------------------

class _NewTicket:
    """A ticket about to be opened: the values it is inserted with, and what the SLA policy rules look at."""

    __slots__ = (*sql.NEW_TICKET_COLUMNS, "priority", "team_id")

    def __init__(self, message: InboundMessage, customer: KnownCustomer) -> None:
        self.subject = (message.subject or _subject_from_text(message.text))[:500]
        self.status = "new"
        self.channel = message.channel
        self.account = message.account
        self.platform_thread_id = message.thread_keys.platform_thread_id
        self.customer_id = customer.id
        self.organization_id = customer.organization_id
        self.created_at = message.received_at
        self.updated_at = utcnow()
        self.sla_policy_id = self.first_response_due_at = self.resolution_due_at = None
        self.last_inbound_at = None if message.auto_generated else message.received_at
        self.priority = "normal"
        self.team_id = None

    def values(self) -> dict:
        return {name: getattr(self, name) for name in sql.NEW_TICKET_COLUMNS}


def _continue(ticket: _TicketRow, decision: Decision, message: InboundMessage) -> None:
    """The ticket's state after a message joins it: reopened, or back from pending (and from a
    snooze: helpdesk/tickets/snooze.py) on a customer's reply."""
    if decision.action == threading.REOPEN:
        ticket.status = "open"
        ticket.solved_at = None
    elif ticket.status == "pending" and not message.auto_generated:
        ticket.status = "open"
    if not message.auto_generated:
        ticket.snoozed_until = None
    if not message.auto_generated:
        ticket.last_inbound_at = max(filter(None, (ticket.last_inbound_at, message.received_at)))
    ticket.updated_at = utcnow()


def _clocks(rules, ticket: _NewTicket | _TicketRow, message: InboundMessage) -> list[sla_events.Stamp]:
    """SLA: a new ticket gets its policy's due times; a reply resumes a paused (or reopened) ticket's
    clocks and starts the next-response one. Auto-generated mail moves no clock. (Before storing: the
    row is written once.) Returns the stamps to record once the ticket has its id."""
    if message.auto_generated:
        return []
    if isinstance(ticket, _NewTicket):
        return sla_policies.opened(rules, ticket, message.received_at)
    return sla_policies.customer_wrote(rules, ticket, message.received_at)


# -- store ----------------------------------------------------------------------------------------

def _store(sync_session: Session, conn, message: InboundMessage, identity: tuple[str, str],
           ticket: _NewTicket | _TicketRow, settings: Settings) -> tuple[int, int]:
    """The ticket (inserted or updated), the message, its attachments and new participants.
    Returns (ticket id, message id)."""
    statements = _statements(conn)
    if isinstance(ticket, _NewTicket):
        ticket_id, message_id = _insert_ticket(conn, statements, ticket, message)
    else:
        ticket_id, message_id = _update_ticket(sync_session, conn, statements, ticket, message)
    if message_id is None:
        message_id = conn.execute(sql.INSERT_MESSAGE, _message_values(message, ticket_id)).scalar_one()
    if message.attachments:
        _store_attachments(conn, message_id, message, settings)
    if message.cc:
        _record_participants(conn, ticket_id, identity, message)
    return ticket_id, message_id


def _statements(conn) -> sql.DialectStatements:
    """The statements that differ by database, for this connection's."""
    return sql.for_dialect(conn.dialect.name)


def _insert_ticket(conn, statements: sql.DialectStatements, ticket: _NewTicket,
                   message: InboundMessage) -> tuple[int, int | None]:
    """A new ticket numbered by its id; on PostgreSQL with its message in the same statement."""
    values = ticket.values()
    if statements.new_ticket_with_message is not None:
        message_id, ticket_id = conn.execute(statements.new_ticket_with_message,
                                             {**values, **_message_params(message)}).one()
        return ticket_id, message_id
    if statements.insert_ticket is not None:
        return conn.execute(statements.insert_ticket, values).scalar_one(), None
    ticket_id = conn.execute(sql.INSERT_TICKET_PLAIN, values).scalar_one()  # another database: number it after
    conn.execute(sql.NUMBER_TICKET, {"tid": ticket_id, "number": ticket_id})
    return ticket_id, None


def _update_ticket(sync_session: Session, conn, statements: sql.DialectStatements, ticket: _TicketRow,
                   message: InboundMessage) -> tuple[int, int | None]:
    """The continued ticket's changed columns; on PostgreSQL with the message in the same statement."""
    changes = {name: getattr(ticket, name) for name in sql.UPDATED_TICKET_COLUMNS}
    message_id = None
    if statements.reply_with_message is not None:
        message_id, _ = conn.execute(statements.reply_with_message,
                                     {"tid": ticket.id, **changes, **_message_params(message)}).one()
    else:
        conn.execute(sql.UPDATE_TICKET, {"tid": ticket.id, **changes})
    _refresh_loaded(sync_session, Ticket, ticket.id, changes)
    return ticket.id, message_id


def _store_attachments(conn, message_id: int, message: InboundMessage, settings: Settings) -> None:
    conn.execute(sql.INSERT_ATTACHMENT, [
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


def _record_participants(conn, ticket_id: int, sender: tuple[str, str], message: InboundMessage) -> None:
    """Who else was addressed (Cc/To) joins the conversation, except the sender and our own account."""
    own = {message.account.lower()} if message.account else set()
    existing = set(tuple(r) for r in conn.execute(sql.PARTICIPANTS, {"ticket_id": ticket_id}))
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
        conn.execute(sql.INSERT_PARTICIPANT, rows)


def _refresh_loaded(sync_session: Session, model, pk: int, changes: dict) -> None:
    """Keep an object the caller's session already holds in step with a Core UPDATE, as the ORM would."""
    obj = sync_session.identity_map.get(sync_session.identity_key(model, pk))
    if obj is not None:
        for name, value in changes.items():
            set_committed_value(obj, name, value)


# -- announce -------------------------------------------------------------------------------------

def _announce(written: _Written, message: InboundMessage, ticket_id: int, message_id: int, customer_id: int,
              created: bool) -> None:
    """Note what was stored: for the batch's later messages, the search documents, and the live
    events published once the transaction is committed."""
    if written.known is not None:
        written.known.stored[(message.channel, message.external_id)] = (message_id, ticket_id, customer_id)
    written.tickets.add(ticket_id)
    written.events.append((live.ticket_channel(ticket_id),
                           {"event": "message.created", "ticket_id": ticket_id, "message_id": message_id}))
    written.events.append((live.queue_channel("all"),
                           {"event": "ticket.created" if created else "ticket.updated", "ticket_id": ticket_id}))


# -- a lost race ----------------------------------------------------------------------------------

async def _lost_race(session: AsyncSession, message: InboundMessage, error: IntegrityError) -> IngestResult:
    """A concurrent ingest of the same message won the race: report it as the duplicate it is."""
    await session.rollback()
    row = (await session.execute(sql.DEDUPE, {"channel": message.channel, "external_id": message.external_id})).first()
    if row is None:
        raise error
    return IngestResult(row.ticket_id, row.id, row.customer_id, created_ticket=False, duplicate=True)


# -- message values -------------------------------------------------------------------------------

def _message_values(message: InboundMessage, ticket_id: int | None) -> dict:
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
    return {f"m_{name}": values[name] for name in sql.MESSAGE_FIELDS}


def _normalised_or_raw(kind: str, value: str) -> str:
    try:
        return normalise_identity(kind, value)[1]
    except InvalidIdentity:
        return value


def _subject_from_text(text: str) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first[:80] or "(no subject)"
