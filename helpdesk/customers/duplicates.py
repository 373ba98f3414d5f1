"""Duplicate suggestions: customers that are probably one person, for an agent to merge or dismiss.

The rules (each found by grouping on a normalised key in SQL, never by reading every customer):
- the same phone number (E.164) as a phone, WhatsApp or SMS identity on both;
- the same name (case and spaces ignored) in the same organization;
- emails that differ only in case, in a +tag, or in dots of the local part at providers that
  ignore them (Gmail). A +tag is often a separate mailbox on purpose: suggested, never folded.
Merged tombstones, erased customers and pairs an agent dismissed are never suggested. Nothing
here merges: a suggestion is one click from the side-by-side confirmation.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Integer, and_, case, func, literal, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from helpdesk.customers.identities import PHONE_KINDS
from helpdesk.models import AuditEvent, Customer, CustomerIdentity, DuplicateDismissal, Organization

LIMIT = 200  # per rule: a page an agent works through, not a report
DOTLESS_PROVIDERS = ("gmail.com", "googlemail.com")  # Gmail ignores dots in the local part


class _position(FunctionElement):
    """Where `needle` first occurs in `text` (1-based, 0 if nowhere): `strpos` on PostgreSQL, `instr` on SQLite."""

    type = Integer()
    inherit_cache = True


@compiles(_position)
def _position_default(element, compiler, **kw):
    text, needle = list(element.clauses)
    return f"strpos({compiler.process(text, **kw)}, {compiler.process(needle, **kw)})"


@compiles(_position, "sqlite")
def _position_sqlite(element, compiler, **kw):
    text, needle = list(element.clauses)
    return f"instr({compiler.process(text, **kw)}, {compiler.process(needle, **kw)})"


def email_key_sql(value):
    """The SQL twin of `email_key`: lower-cased, +tag dropped, Gmail's dots dropped."""
    lowered = func.lower(value)
    at = _position(lowered, literal("@"))
    local = func.substr(lowered, 1, at - 1)
    domain = func.substr(lowered, at + 1)
    plus = _position(local, literal("+"))
    base = func.coalesce(func.nullif(func.substr(local, 1, func.nullif(plus, 0) - 1), ""), local)
    joined = base.op("||")(literal("@")).op("||")(domain)
    dotless = func.replace(base, ".", "").op("||")(literal("@gmail.com"))
    return case((domain.in_(DOTLESS_PROVIDERS), dotless), else_=joined)


def email_key(address: str) -> str:
    """The address two spellings of one mailbox share: `Ann.Cook+shop@GoogleMail.com` -> `anncook@gmail.com`."""
    local, _, domain = address.lower().rpartition("@")
    base = local.split("+", 1)[0] or local
    if domain in DOTLESS_PROVIDERS:
        return base.replace(".", "") + "@gmail.com"
    return f"{base}@{domain}"


def email_difference(a: str, b: str) -> str:
    """How two addresses with one key differ, in the words an agent checks them by."""
    ways = []
    if a != b and a.lower() == b.lower():
        ways.append("case")
    local_a, local_b = (x.lower().rpartition("@")[0] for x in (a, b))
    if ("+" in local_a) != ("+" in local_b) or local_a.split("+", 1)[1:] != local_b.split("+", 1)[1:]:
        ways.append("a +tag")
    if local_a.split("+", 1)[0].replace(".", "") == local_b.split("+", 1)[0].replace(".", "") \
            and local_a.split("+", 1)[0] != local_b.split("+", 1)[0]:
        ways.append("dots")
    if a.lower().rpartition("@")[2] != b.lower().rpartition("@")[2]:
        ways.append("gmail/googlemail")
    return " and ".join(ways) or "spelling"


@dataclass(frozen=True)
class CustomerCard:
    """Enough of a customer to tell them apart in a list."""

    id: int
    name: str | None
    organization: str | None
    identities: tuple[tuple[str, str], ...] = ()


@dataclass
class Suggestion:
    """Two customers (lower id first) and every reason they look like one person."""

    customer: CustomerCard
    other: CustomerCard
    reasons: list[str] = field(default_factory=list)


def _alive():
    return and_(Customer.merged_into_id.is_(None), Customer.erased_at.is_(None))


async def _pairs(session: AsyncSession, customer_id: int | None, rows) -> dict[tuple[int, int], tuple]:
    """Pairs of customers among (customer_id, key, detail...) rows sharing a key, lower id first,
    each with the details of its first shared key; dismissed pairs left out."""
    by_key: dict[object, list[tuple]] = {}
    for owner, shared, *detail in rows:
        by_key.setdefault(shared, []).append((owner, tuple(detail)))
    pairs: dict[tuple[int, int], tuple] = {}
    for held in by_key.values():
        for low, detail_low in held:
            for high, detail_high in held:
                if low < high and (customer_id is None or customer_id in (low, high)):
                    pairs.setdefault((low, high), detail_low + detail_high)
    dismissed = await _dismissed(session, list(pairs))
    ordered = sorted(pairs.items(), key=lambda p: (-p[0][1], p[0][0]))
    return dict(item for item in ordered if item[0] not in dismissed)


async def _same_phone(session: AsyncSession, customer_id: int | None) -> list[tuple[int, int, str]]:
    ci = CustomerIdentity
    phone = ci.kind.in_(PHONE_KINDS)
    if customer_id is None:
        numbers = list(await session.scalars(
            select(ci.value).join(Customer, Customer.id == ci.customer_id).where(phone, _alive())
            .group_by(ci.value).having(func.count(ci.customer_id.distinct()) > 1).limit(LIMIT)))
    else:
        numbers = list(await session.scalars(select(ci.value).where(ci.customer_id == customer_id, phone)))
    if not numbers:
        return []
    rows = await session.execute(select(ci.customer_id, ci.value, ci.value).join(Customer, Customer.id == ci.customer_id)
                                 .where(phone, ci.value.in_(numbers), _alive()))
    pairs = await _pairs(session, customer_id, rows)
    return [(low, high, f"same phone {detail[0]}") for (low, high), detail in list(pairs.items())[:LIMIT]]


async def _same_name_and_organization(session: AsyncSession, customer_id: int | None) -> list[tuple[int, int, str]]:
    name_key = func.replace(func.lower(func.trim(Customer.name)), " ", "")
    named = and_(Customer.name.is_not(None), Customer.organization_id.is_not(None), _alive())
    if customer_id is None:
        groups = (await session.execute(
            select(Customer.organization_id, name_key).where(named)
            .group_by(Customer.organization_id, name_key).having(func.count() > 1).limit(LIMIT))).all()
    else:
        groups = (await session.execute(select(Customer.organization_id, name_key)
                                        .where(Customer.id == customer_id, named))).all()
    groups = [(org, key) for org, key in groups if key]
    if not groups:
        return []
    rows = await session.execute(
        select(Customer.id, Customer.organization_id, name_key, Customer.name, Organization.name)
        .join(Organization, Organization.id == Customer.organization_id)
        .where(named, or_(*[and_(Customer.organization_id == org, name_key == key) for org, key in groups])))
    rows = [(owner, (org_id, key), name, org) for owner, org_id, key, name, org in rows]
    pairs = await _pairs(session, customer_id, rows)
    return [(low, high, f"same name {detail[0]} at {detail[1]}") for (low, high), detail in list(pairs.items())[:LIMIT]]


async def _similar_email(session: AsyncSession, customer_id: int | None) -> list[tuple[int, int, str]]:
    """Keys shared by several customers (one grouping scan, or the few candidates of one customer's
    addresses), then the addresses behind them."""
    ci = CustomerIdentity
    key = email_key_sql(ci.value)
    if customer_id is None:
        keys = list(await session.scalars(
            select(key).join(Customer, Customer.id == ci.customer_id).where(ci.kind == "email", _alive())
            .group_by(key).having(func.count(ci.customer_id.distinct()) > 1).limit(LIMIT)))
        candidates = ci.kind == "email"  # a second scan, as cheap as the grouping's
    else:
        # emails are stored lower-cased (identities.normalise_identity), so one customer's
        # spellings are found by prefix; an address stored before that in other case shows on the page
        own = list(await session.scalars(select(ci.value).where(ci.customer_id == customer_id, ci.kind == "email")))
        keys = sorted({email_key(value) for value in own})
        candidates = and_(ci.kind == "email", or_(*[_spellings_of(k, session.get_bind().dialect.name) for k in keys]))
    if not keys:
        return []
    rows = await session.execute(
        select(ci.customer_id, key, ci.value).join(Customer, Customer.id == ci.customer_id)
        .where(candidates, key.in_(keys), _alive()))
    pairs = await _pairs(session, customer_id, rows)
    return [(low, high, f"emails {va} and {vb} differ only in {email_difference(va, vb)}")
            for (low, high), (va, vb) in list(pairs.items())[:LIMIT]]


def _spellings_of(key: str, dialect: str):
    """Addresses that may share `key`, narrowed by how they must start: the local part (a +tag follows
    it) or, at Gmail, its first three letters with or without a dot between them (`ann`, `a.nn`,
    `an.n`, `a.n.n`). SQLite finds each as a range on the (kind, value) index; PostgreSQL's collation
    may not order punctuation bytewise, so there LIKE alone decides (a scan of the addresses)."""
    local, _, domain = key.rpartition("@")
    if domain == "gmail.com":
        head = local[:3]
        prefixes = {head[0] + a + head[1:2] + b + head[2:3] for a in ("", ".") for b in ("", ".")} if head else {""}
        prefixes = {p.rstrip(".") for p in prefixes}
    else:
        prefixes = {local}
    conditions = []
    for prefix in sorted(prefixes):
        condition = CustomerIdentity.value.like(f"{escape_like(prefix)}%", escape="\\")
        if dialect == "sqlite" and prefix:
            condition = and_(CustomerIdentity.value >= prefix,
                             CustomerIdentity.value < prefix[:-1] + chr(ord(prefix[-1]) + 1), condition)
        conditions.append(condition)
    return or_(*conditions)


def escape_like(text: str) -> str:
    """`text` matched literally inside a LIKE pattern (with `escape="\\"`)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def _dismissed(session: AsyncSession, pairs: list[tuple[int, int]]) -> set[tuple[int, int]]:
    if not pairs:
        return set()
    ids = {i for pair in pairs for i in pair}
    return set((await session.execute(select(DuplicateDismissal.customer_id, DuplicateDismissal.other_id)
                                      .where(DuplicateDismissal.customer_id.in_(ids)))).all())


RULES = (_same_phone, _same_name_and_organization, _similar_email)


async def suggestions(session: AsyncSession, *, customer_id: int | None = None) -> list[Suggestion]:
    """Every open duplicate suggestion (newest customers first), or only those of one customer."""
    reasons: dict[tuple[int, int], list[str]] = {}
    for rule in RULES:
        for low, high, reason in await rule(session, customer_id):
            if reason not in reasons.setdefault((low, high), []):
                reasons[(low, high)].append(reason)
    cards = await customer_cards(session, {i for pair in reasons for i in pair})
    found = [Suggestion(cards[low], cards[high], why) for (low, high), why in reasons.items()]
    found.sort(key=lambda s: (-s.other.id, s.customer.id))
    return found


async def customer_cards(session: AsyncSession, ids: set[int]) -> dict[int, CustomerCard]:
    """Name, organization and identities of these customers, in two queries."""
    if not ids:
        return {}
    rows = await session.execute(
        select(Customer.id, Customer.name, Organization.name)
        .outerjoin(Organization, Organization.id == Customer.organization_id).where(Customer.id.in_(ids))
    )
    identities: dict[int, list[tuple[str, str]]] = {}
    for owner, kind, value in await session.execute(
            select(CustomerIdentity.customer_id, CustomerIdentity.kind, CustomerIdentity.value)
            .where(CustomerIdentity.customer_id.in_(ids)).order_by(CustomerIdentity.id)):
        identities.setdefault(owner, []).append((kind, value))
    return {cid: CustomerCard(cid, name, org, tuple(identities.get(cid, ()))) for cid, name, org in rows}


async def dismiss(session: AsyncSession, customer_id: int, other_id: int, *, agent_id: int | None) -> None:
    """Record that two customers are not the same person: they are not suggested again."""
    low, high = sorted((customer_id, other_id))
    if low == high:
        return
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(insert(DuplicateDismissal).values(customer_id=low, other_id=high, agent_id=agent_id)
                          .on_conflict_do_nothing(index_elements=["customer_id", "other_id"]))
    session.add(AuditEvent(agent_id=agent_id, action="customer.not_duplicate", object_type="customer",
                           object_id=low, data={"other": high}))
    await session.commit()
