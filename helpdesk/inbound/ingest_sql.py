"""Ingest's SQL: every Core statement it runs, built once at import, and the dialect variants.

Statements built once let SQLAlchemy memoise their cache keys, so each execution skips both
compilation and cache-key generation. `for_dialect` hands ingest the variants for its database.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ARRAY, String, any_, bindparam, cast, func, insert, literal_column, null, select, tuple_, union_all, update

from helpdesk.models import Attachment, Customer, CustomerIdentity, Message, OrganizationDomain, Ticket, TicketParticipant

_T = Ticket.__table__
_M = Message.__table__
_C = Customer.__table__
_CI = CustomerIdentity.__table__
_P = TicketParticipant.__table__
_OD = OrganizationDomain.__table__

# the ticket columns ingest reads (`TicketRow`) and those it changes on a ticket it continues
TICKET_FIELDS = (
    "id", "number", "status", "priority", "channel", "customer_id", "organization_id", "team_id", "merged_into_id",
    "solved_at", "sla_policy_id", "sla_paused_at", "resolution_due_at", "first_responded_at", "next_response_due_at",
    "first_response_due_at", "last_inbound_at", "updated_at", "snoozed_until",
)
UPDATED_TICKET_COLUMNS = ("status", "solved_at", "sla_paused_at", "resolution_due_at", "next_response_due_at",
                          "last_inbound_at", "updated_at", "snoozed_until")
NEW_TICKET_COLUMNS = (
    "subject", "status", "channel", "account", "platform_thread_id", "customer_id", "organization_id",
    "created_at", "updated_at", "sla_policy_id", "first_response_due_at", "resolution_due_at", "last_inbound_at",
)
MESSAGE_FIELDS = (
    "direction", "channel", "external_id", "account", "sender_kind", "sender_value", "sender_name", "subject",
    "text", "full_text", "html", "cc", "in_reply_to", "references", "auto_generated", "raw_ref", "defects",
    "created_at", "updated_at", "delivery_attempts",
)
_TICKET_COLUMNS = [_T.c[name] for name in TICKET_FIELDS]

# dedupe
DEDUPE = (
    select(_M.c.id, _M.c.ticket_id, _T.c.customer_id)
    .select_from(_M.join(_T, _T.c.id == _M.c.ticket_id))
    .where(_M.c.channel == bindparam("channel"), _M.c.external_id == bindparam("external_id"))
)
# dedupe and the sender's customer in one round trip: k=0 rows are the duplicate, k=1 the customer
DEDUPE_AND_IDENTITY = union_all(
    select(literal_column("0").label("k"), _M.c.id.label("a"), _M.c.ticket_id.label("b"),
           _T.c.customer_id.label("c"), cast(null(), String).label("name"))
    .select_from(_M.join(_T, _T.c.id == _M.c.ticket_id))
    .where(_M.c.channel == bindparam("channel"), _M.c.external_id == bindparam("external_id")),
    select(literal_column("1"), _C.c.id, _C.c.merged_into_id, _C.c.organization_id, _C.c.name)
    .select_from(_CI.join(_C, _C.c.id == _CI.c.customer_id))
    .where(_CI.c.kind == bindparam("kind"), _CI.c.value == bindparam("value")),
)
# a batch's messages already stored and its senders' customers, read up front
STORED_IN = (
    select(_M.c.channel, _M.c.external_id, _M.c.id, _M.c.ticket_id, _T.c.customer_id)
    .select_from(_M.join(_T, _T.c.id == _M.c.ticket_id))
    .where(tuple_(_M.c.channel, _M.c.external_id).in_(bindparam("keys", expanding=True)))
)
CUSTOMERS_IN = (
    select(_CI.c.kind, _CI.c.value, _C.c.id, _C.c.merged_into_id, _C.c.organization_id, _C.c.name)
    .select_from(_CI.join(_C, _C.c.id == _CI.c.customer_id))
    .where(tuple_(_CI.c.kind, _CI.c.value).in_(bindparam("keys", expanding=True)))
)

# bounces of our own replies
BOUNCED_ORIGINAL = select(_M.c.id, _M.c.ticket_id).where(
    _M.c.channel == bindparam("channel"), _M.c.external_id == bindparam("external_id"), _M.c.direction == "outbound"
)
MARK_BOUNCED = update(_M).where(_M.c.id == bindparam("mid")).values(
    delivery_status="failed", delivery_error=bindparam("error"), updated_at=bindparam("now"))
CUSTOMER_OF_TICKET = select(_T.c.customer_id).where(_T.c.id == bindparam("id"))

# threading lookups
TICKET_BY_ID = select(*_TICKET_COLUMNS).where(_T.c.id == bindparam("id"))
TICKET_BY_NUMBER = select(*_TICKET_COLUMNS).where(_T.c.number == bindparam("number"))
TICKET_BY_THREAD = (
    select(*_TICKET_COLUMNS)
    .where(_T.c.channel == bindparam("channel"), _T.c.platform_thread_id == bindparam("thread"))
    .order_by(_T.c.id.desc())
    .limit(1)
)
PARTICIPANT = select(_P.c.id).where(_P.c.ticket_id == bindparam("ticket_id"), _P.c.kind == bindparam("kind"),
                                    _P.c.value == bindparam("value"))
ORG_OF_DOMAIN = select(_OD.c.organization_id).where(_OD.c.domain == bindparam("domain"))

# storing
UPDATE_TICKET = update(_T).where(_T.c.id == bindparam("tid")).values(
    {name: bindparam(name, type_=_T.c[name].type) for name in UPDATED_TICKET_COLUMNS}
)
INSERT_TICKET_PLAIN = insert(_T).returning(_T.c.id)
NUMBER_TICKET = update(_T).where(_T.c.id == bindparam("tid")).values(number=bindparam("number"))
INSERT_MESSAGE = insert(_M).returning(_M.c.id)
INSERT_ATTACHMENT = insert(Attachment.__table__)
PARTICIPANTS = select(_P.c.kind, _P.c.value).where(_P.c.ticket_id == bindparam("ticket_id"))
INSERT_PARTICIPANT = insert(_P)


def _tickets_by_refs(dialect: str):
    """Every message the references name (a handful) with its ticket.

    PostgreSQL gets one array parameter: an expanding IN renders a new statement for every count
    of references, each planned afresh (timed at ~2 ms a reply on IMAP mail with long References
    chains, more than the rest of the reply); one `= ANY(array)` statement is planned once."""
    columns = select(_M.c.id.label("message_id"), *_TICKET_COLUMNS).select_from(_M.join(_T, _T.c.id == _M.c.ticket_id))
    if dialect == "postgresql":
        return columns.where(_M.c.channel == bindparam("channel"),
                             _M.c.external_id == any_(bindparam("refs", type_=ARRAY(String))))
    return columns.where(_M.c.channel == bindparam("channel"), _M.c.external_id.in_(bindparam("refs", expanding=True)))


def _insert_ticket(dialect: str):
    """INSERT a ticket whose number is its id, in one statement: the id is taken first (the
    id sequence on PostgreSQL; max(id)+1 on SQLite, whose single writer holds the write lock
    while the statement runs, which is also how SQLite picks a rowid) and written to both columns."""
    if dialect == "postgresql":
        next_id = select(func.nextval("tickets_id_seq").label("id")).subquery("next_id")
    elif dialect == "sqlite":
        next_id = select((func.coalesce(func.max(_T.c.id), 0) + 1).label("id")).subquery("next_id")
    else:
        return None  # another database: INSERT_TICKET_PLAIN, then NUMBER_TICKET
    params = [bindparam(name, type_=_T.c[name].type) for name in NEW_TICKET_COLUMNS]
    return (
        insert(_T)
        .from_select(["id", "number", *NEW_TICKET_COLUMNS], select(next_id.c.id, next_id.c.id, *params))
        .returning(_T.c.id)
    )


def _with_message(ticket_statement):
    """PostgreSQL: the ticket's INSERT or UPDATE and the message's INSERT as one statement (a
    data-modifying CTE), one round trip instead of two. Message values are bound as m_<column>."""
    ticket = ticket_statement.cte("ticket")
    params = [bindparam(f"m_{name}", type_=_M.c[name].type) for name in MESSAGE_FIELDS]
    return (insert(_M).from_select(["ticket_id", *MESSAGE_FIELDS], select(ticket.c.id, *params))
            .returning(_M.c.id, _M.c.ticket_id))


@dataclass(frozen=True)
class DialectStatements:
    """The statements that differ by database; None where that database has no such shortcut."""

    tickets_by_refs: object
    insert_ticket: object | None  # a new ticket numbered in the same statement
    new_ticket_with_message: object | None  # PostgreSQL: ticket INSERT + message INSERT, one round trip
    reply_with_message: object | None  # PostgreSQL: ticket UPDATE + message INSERT, one round trip


def _statements(dialect: str) -> DialectStatements:
    insert_ticket = _insert_ticket(dialect)
    if dialect == "postgresql":
        return DialectStatements(_tickets_by_refs(dialect), insert_ticket, _with_message(insert_ticket),
                                 _with_message(UPDATE_TICKET.returning(_T.c.id)))
    return DialectStatements(_tickets_by_refs(dialect), insert_ticket, None, None)


_BY_DIALECT = {dialect: _statements(dialect) for dialect in ("postgresql", "sqlite")}


def for_dialect(dialect: str) -> DialectStatements:
    found = _BY_DIALECT.get(dialect)
    if found is None:
        found = _BY_DIALECT[dialect] = _statements(dialect)
    return found
