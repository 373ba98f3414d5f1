"""Orders from shops, the API, imports and the demo: one upsert path for every source.

An order is keyed by (source, external_id). Re-sending it updates it, and its line items are
matched by their own key (the source's line item id, else the SKU, else the title). A version
older than the stored one never overwrites it: webhooks arrive out of order and are replayed, so
an update whose `updated_at` is earlier than the stored `updated_at` is left out ("stale"), and an
update that does not say when it was made never overwrites one that does.

The customer is resolved by the order's email, then its phone, with the rules of
`customers.resolution` (created when new, a nameless customer takes the order's name, identities
held by two customers flagged as conflicts), but for a whole batch at once: an import of a million
rows makes a handful of statements per few thousand orders, never one round trip per row.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import lru_cache

from sqlalchemy import DateTime, Integer, and_, any_, bindparam, delete, func, insert, literal_column, or_, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from helpdesk.customers.identities import InvalidIdentity, email_domain
from helpdesk.customers.resolution import fold_plus_addresses, normalise
from helpdesk.models import Customer, CustomerIdentity, IdentityConflict, Order, OrderItem, OrganizationDomain
from helpdesk.models.base import UTCDateTime, utcnow


@dataclass(frozen=True, slots=True)
class ItemIn:
    """A line item as a source sends it."""

    title: str
    quantity: int
    unit_price: Decimal
    sku: str | None = None
    external_id: str | None = None


@dataclass(frozen=True, slots=True)
class OrderIn:
    """An order as a source sends it; `email`/`phone`/`name` name its customer."""

    source: str
    external_id: str
    number: str
    status: str
    currency: str
    total: Decimal
    placed_at: datetime
    updated_at: datetime | None = None
    email: str | None = None
    phone: str | None = None
    name: str | None = None
    items: tuple[ItemIn, ...] = ()


@dataclass(frozen=True, slots=True)
class Upserted:
    """What became of one order: `order_id` is None when it was stale or skipped."""

    source: str
    external_id: str
    order_id: int | None
    customer_id: int | None
    created: bool = False
    stale: bool = False
    skipped: str | None = None  # why it could not be stored (no readable email or phone)


@dataclass
class BulkResult:
    orders: list[Upserted] = field(default_factory=list)
    customers_created: int = 0
    conflicts: int = 0
    changed_customers: set[int] = field(default_factory=set)  # known customers given an identity or a name

    def count(self, what: str) -> int:
        if what == "created":
            return sum(1 for o in self.orders if o.created)
        if what == "updated":
            return sum(1 for o in self.orders if o.order_id is not None and not o.created)
        return sum(1 for o in self.orders if getattr(o, what))


async def upsert_order(session: AsyncSession, order_in: OrderIn) -> tuple[Order | None, bool]:
    """Insert or update one order and its items, and commit. Returns (the stored order, created);
    the stored order unchanged when `order_in` is stale. Raises OrderInvalid when it names no customer."""
    result = await upsert_orders_bulk(session, [order_in], replace_items=True)
    await session.commit()
    done = result.orders[0]
    if done.skipped:
        raise OrderInvalid(done.skipped)
    order = await session.scalar(select(Order).where(Order.source == order_in.source,
                                                     Order.external_id == order_in.external_id)
                                 .options(selectinload(Order.items)).execution_options(populate_existing=True))
    return order, done.created


class OrderInvalid(ValueError):
    """An order that cannot be stored, with the reason (for the sender: the API, a webhook, the CSV line)."""


async def upsert_orders_bulk(session: AsyncSession, orders: Sequence[OrderIn], *,
                             replace_items: bool = False) -> BulkResult:
    """Insert or update many orders in a few statements; flushes, does not commit. With
    `replace_items` an order's items not named again are deleted (a webhook sends the whole order);
    without, items are added and updated only (an import may spread one order over many rows)."""
    latest: dict[tuple[str, str], OrderIn] = {}
    for order in orders:  # one version of each order: the newest (the last of equals)
        kept = latest.get((order.source, order.external_id))
        if kept is None or not _is_stale(order.updated_at, kept.updated_at):
            latest[(order.source, order.external_id)] = order
    orders = list(latest.values())
    result = BulkResult()
    if not orders:
        return result
    in_bulk = _postgres(session) and len(orders) > 1
    if in_bulk:
        # a prepared statement's generic plan, made while the tables were small, would scan them
        # whole once they are not (an import fills them): plan each statement for its arrays
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        # the search triggers would rebuild documents once per identity row: once per customer instead
        # (migration 0008's switch, as tickets/search.py uses it; tickets import customers, not back)
        await session.execute(_DEFER_SEARCH)
    stored = await _stored_orders(session, orders)
    fresh: list[OrderIn] = []
    for order in orders:
        known = stored.get((order.source, order.external_id))
        if known is not None and _is_stale(order.updated_at, known[1]):
            result.orders.append(Upserted(order.source, order.external_id, None, None, stale=True))
        else:
            fresh.append(order)
    customers = await _resolve_customers(session, fresh, result)
    if in_bulk and result.changed_customers:  # their tickets' search documents, rebuilt once each
        await session.execute(_REFRESH_SEARCH, {"customers": sorted(result.changed_customers)})
    writable = []
    for order in fresh:
        customer_id = customers.get(id(order))
        if customer_id is None:
            result.orders.append(Upserted(order.source, order.external_id, None, None,
                                          skipped="the order names no readable customer email or phone"))
        else:
            writable.append((order, customer_id))
    if not writable:
        return result
    written, inserted = await _write_orders(session, writable)
    item_orders = []
    for order, customer_id in writable:
        key = (order.source, order.external_id)
        order_id = written.get(key)
        if order_id is None:  # a newer version was stored meanwhile (the guard in the statement)
            result.orders.append(Upserted(order.source, order.external_id, None, None, stale=True))
            continue
        created = key not in stored if inserted is None else key in inserted
        result.orders.append(Upserted(order.source, order.external_id, order_id, customer_id, created=created))
        item_orders.append((order_id, order, created))
    await _write_items(session, item_orders, replace=replace_items)
    return result


_DEFER_SEARCH = text("SELECT set_config('helpdesk.search_deferred', 'on', true)")
_REFRESH_SEARCH = text("SELECT helpdesk_refresh_ticket_search(ARRAY(SELECT id FROM tickets WHERE customer_id = ANY(:customers)))"
                       ).bindparams(bindparam("customers", type_=ARRAY(Integer)))


def _is_stale(incoming: datetime | None, current: datetime | None) -> bool:
    if current is None:
        return False
    return incoming is None or incoming < current


def _dialect_insert(session: AsyncSession):
    return pg_insert if _postgres(session) else sqlite_insert


def _postgres(session: AsyncSession) -> bool:
    return session.bind.dialect.name == "postgresql"


def _among(session: AsyncSession, column, values):
    """`column IN values`; on PostgreSQL `= ANY(array)`: one parameter, not thousands to render and bind."""
    if _postgres(session):
        return column == any_(bindparam(None, list(values), type_=ARRAY(_element_type(column.type))))
    return column.in_(values)


def _unnested(table, rows: list[dict], columns: Sequence[str]):
    """PostgreSQL: SELECT unnest(array per column): many rows as a few array parameters, for
    INSERT … SELECT (a parameter per value costs more to render and bind than the insert itself)."""
    return select(*(func.unnest(bindparam(f"rows_{name}", [row[name] for row in rows],
                                          type_=ARRAY(_element_type(table.c[name].type)))) for name in columns))


def _element_type(column_type):
    return DateTime(timezone=True) if isinstance(column_type, UTCDateTime) else column_type


async def _stored_orders(session: AsyncSession, orders: list[OrderIn]) -> dict[tuple[str, str], tuple[int, datetime | None]]:
    by_source: dict[str, list[str]] = {}
    for order in orders:
        by_source.setdefault(order.source, []).append(order.external_id)
    stored = {}
    for source, external_ids in by_source.items():
        rows = await session.execute(select(Order.external_id, Order.id, Order.updated_at).where(
            Order.source == source, _among(session, Order.external_id, external_ids)))
        stored.update({(source, external_id): (order_id, updated_at) for external_id, order_id, updated_at in rows})
    return stored


# --------------------------------------------------------------------------- customers, per batch

async def _resolve_customers(session: AsyncSession, orders: list[OrderIn], result: BulkResult) -> dict[int, int]:
    """id(order) -> customer id, for every order naming a readable email or phone (module docstring)."""
    fold_plus = fold_plus_addresses()

    def key(kind: str, value: str | None) -> tuple[str, str] | None:
        return _normalised(kind, value, fold_plus) if value and value.strip() else None

    claims = [(order, [k for k in (key("email", order.email), key("phone", order.phone)) if k]) for order in orders]
    wanted = {k for _, keys in claims for k in keys}
    holders, names = await _holders(session, wanted)
    new_customers: list[dict] = []  # placeholders -1, -2, ... until inserted
    identities: list[dict] = []
    conflicts: list[tuple[tuple[str, str], int, int]] = []
    renames: dict[int, str] = {}
    chosen_for: dict[int, int] = {}
    for order, keys in claims:
        if not keys:
            continue
        name = (order.name or "").strip() or None
        chosen = next((holders[k] for k in keys if k in holders), None)
        if chosen is None:
            domain = next((email_domain(v) for kind, v in keys if kind == "email"), None)
            new_customers.append({"name": name, "domain": domain})
            chosen = -len(new_customers)
        elif name and chosen > 0 and not names.get(chosen) and chosen not in renames:
            renames[chosen] = name
            result.changed_customers.add(chosen)
        for k in keys:
            holder = holders.get(k)
            if holder is None:
                holders[k] = chosen
                if chosen > 0:
                    result.changed_customers.add(chosen)
                identities.append({"customer_id": chosen, "kind": k[0], "value": k[1], "display_name": name})
            elif holder != chosen:
                conflicts.append((k, holder, chosen))
        chosen_for[id(order)] = chosen
    real = await _insert_customers(session, new_customers)
    result.customers_created = len(real)

    def actual(customer_id: int) -> int:
        return real[-customer_id - 1] if customer_id < 0 else customer_id

    if identities:
        rows = [{**row, "customer_id": actual(row["customer_id"]), "verified": False} for row in identities]
        await _insert(session, CustomerIdentity.__table__, rows, conflict=["kind", "value"])
    if renames:
        await session.execute(update(Customer.__table__).where(Customer.__table__.c.id == bindparam("cid"))
                              .values(name=bindparam("new_name")),
                              [{"cid": cid, "new_name": name} for cid, name in renames.items()])
    result.conflicts = await _flag_conflicts(session, [(k, actual(h), actual(c)) for k, h, c in conflicts],
                                             source=orders[0].source if orders else "")
    return {order_key: actual(customer_id) for order_key, customer_id in chosen_for.items()}


@lru_cache(maxsize=100_000)
def _normalised(kind: str, value: str, fold_plus: bool) -> tuple[str, str] | None:
    """Cached: an import names the same customers again and again, and parsing a phone number costs."""
    try:
        return normalise(kind, value, fold_plus=fold_plus)
    except InvalidIdentity:
        return None


async def _holders(session: AsyncSession, wanted: set[tuple[str, str]]) -> tuple[dict, dict]:
    """The customers (merge tombstones followed) holding these identities, and those customers' names."""
    holders: dict[tuple[str, str], int] = {}
    names: dict[int, str | None] = {}
    if not wanted:
        return holders, names
    by_kind: dict[str, list[str]] = {}
    for kind, value in wanted:
        by_kind.setdefault(kind, []).append(value)
    rows = await session.execute(
        select(CustomerIdentity.kind, CustomerIdentity.value, Customer.id, Customer.merged_into_id, Customer.name)
        .join(Customer, Customer.id == CustomerIdentity.customer_id)
        .where(or_(*(and_(CustomerIdentity.kind == kind, _among(session, CustomerIdentity.value, values))
                     for kind, values in by_kind.items()))))
    merged: dict[tuple[str, str], int] = {}
    for kind, value, customer_id, merged_into_id, name in rows:
        if merged_into_id is None:
            holders[(kind, value)] = customer_id
            names[customer_id] = name
        else:
            merged[(kind, value)] = merged_into_id
    seen: set[int] = set()
    while merged:  # follow tombstones, a level per query (a merged customer is rare in a batch)
        targets = set(merged.values()) - seen
        seen |= targets
        survivors = {row.id: row for row in await session.execute(
            select(Customer.id, Customer.merged_into_id, Customer.name).where(Customer.id.in_(targets)))}
        still: dict[tuple[str, str], int] = {}
        for k, target in merged.items():
            row = survivors.get(target)
            if row is None or row.merged_into_id is None or row.merged_into_id in seen:
                holders[k] = target
                names[target] = row.name if row is not None else None
            else:
                still[k] = row.merged_into_id
        merged = still
    return holders, names


async def _insert_customers(session: AsyncSession, new_customers: list[dict]) -> list[int]:
    if not new_customers:
        return []
    domains = {c["domain"] for c in new_customers if c["domain"]}
    organizations = dict((await session.execute(select(OrganizationDomain.domain, OrganizationDomain.organization_id)
                                                .where(OrganizationDomain.domain.in_(domains)))).all()) if domains else {}
    now = utcnow()
    rows = await session.execute(
        insert(Customer.__table__).returning(Customer.__table__.c.id, sort_by_parameter_order=True),
        [{"name": c["name"], "organization_id": organizations.get(c["domain"]), "created_at": now, "updated_at": now}
         for c in new_customers])
    return [row[0] for row in rows]


async def _flag_conflicts(session: AsyncSession, conflicts: list[tuple[tuple[str, str], int, int]], *,
                          source: str) -> int:
    """An identity claimed for one customer and held by another: flagged once while unresolved (a
    re-run import does not flag it again), never merged."""
    flagged = 0
    for (kind, value), holder_id, claimant_id in dict.fromkeys(conflicts):
        open_already = await session.scalar(select(IdentityConflict.id).where(
            IdentityConflict.kind == kind, IdentityConflict.value == value, IdentityConflict.holder_id == holder_id,
            IdentityConflict.claimant_id == claimant_id, IdentityConflict.resolved_at.is_(None)))
        if open_already is None:
            session.add(IdentityConflict(kind=kind, value=value, holder_id=holder_id, claimant_id=claimant_id,
                                         source=source))
            flagged += 1
    if flagged:
        await session.flush()
    return flagged


# --------------------------------------------------------------------------- orders and items

_ORDER_FIELDS = ("customer_id", "number", "status", "currency", "total", "placed_at", "updated_at")


async def _write_orders(session: AsyncSession, writable: list[tuple[OrderIn, int]]
                        ) -> tuple[dict[tuple[str, str], int], set[tuple[str, str]] | None]:
    """INSERT … ON CONFLICT (source, external_id) DO UPDATE, guarded so a concurrent newer version
    stored since we looked is kept. Returns (source, external_id) -> id of the orders written, and
    on PostgreSQL which of them this statement inserted (`xmax = 0`: the row has no updater), which
    is exact even when another process inserted the same order since we looked. SQLite has one
    writer at a time, so what we looked up first is still true there (None)."""
    table = Order.__table__
    postgres = _postgres(session)
    rows = [{"source": o.source, "external_id": o.external_id, "customer_id": customer_id, "number": o.number[:50],
             "status": o.status[:30], "currency": o.currency[:3], "total": o.total, "placed_at": o.placed_at,
             "updated_at": o.updated_at} for o, customer_id in writable]
    columns = list(rows[0])
    statement = _dialect_insert(session)(table)
    if postgres:
        statement = statement.from_select(columns, _unnested(table, rows, columns))
    excluded = statement.excluded
    guard = or_(table.c.updated_at.is_(None),
                and_(excluded.updated_at.is_not(None), excluded.updated_at >= table.c.updated_at))
    statement = statement.on_conflict_do_update(
        index_elements=["source", "external_id"], set_={name: excluded[name] for name in _ORDER_FIELDS}, where=guard,
    )
    statement = statement.returning(table.c.id, table.c.source, table.c.external_id,
                                    literal_column("xmax = 0" if postgres else "0"))
    returned = await (session.execute(statement) if postgres else session.execute(statement, rows))
    written, inserted = {}, set()
    for order_id, source, external_id, fresh in returned:
        written[(source, external_id)] = order_id
        if fresh:
            inserted.add((source, external_id))
    return written, inserted if postgres else None


def _item_key(external_id: str | None, sku: str | None, title: str) -> tuple[str, str]:
    if external_id:
        return ("id", external_id)
    return ("sku", sku) if sku else ("title", title)


async def _write_items(session: AsyncSession, item_orders: list[tuple[int, OrderIn, bool]], *, replace: bool) -> None:
    existing: dict[int, dict[tuple[str, str], tuple[int, tuple]]] = {}
    known_ids = [order_id for order_id, _, created in item_orders if not created]
    if known_ids:
        rows = await session.execute(select(OrderItem.order_id, OrderItem.id, OrderItem.external_id, OrderItem.sku,
                                            OrderItem.title, OrderItem.quantity, OrderItem.unit_price)
                                     .where(_among(session, OrderItem.order_id, known_ids)))
        for order_id, item_id, external_id, sku, title, quantity, unit_price in rows:
            existing.setdefault(order_id, {})[_item_key(external_id, sku, title)] = (
                item_id, (external_id, sku, title, quantity, Decimal(unit_price)))
    inserts, updates, deletes = [], [], []
    for order_id, order, _ in item_orders:
        stored = existing.get(order_id, {})
        named = set()
        for item in order.items:
            key = _item_key(item.external_id, item.sku, item.title)
            named.add(key)
            values = (item.external_id, item.sku, item.title[:300], item.quantity, item.unit_price)
            if key not in stored:
                inserts.append({"order_id": order_id, "external_id": values[0], "sku": values[1], "title": values[2],
                                "quantity": values[3], "unit_price": values[4]})
                stored[key] = (None, values)  # a repeated key in one order updates the line it added
            elif stored[key][1] != values:
                if stored[key][0] is None:
                    row = next(r for r in reversed(inserts) if r["order_id"] == order_id
                               and _item_key(r["external_id"], r["sku"], r["title"]) == key)
                    row.update(external_id=values[0], sku=values[1], title=values[2], quantity=values[3],
                               unit_price=values[4])
                else:
                    updates.append({"item_id": stored[key][0], "u_external_id": values[0], "u_sku": values[1],
                                    "u_title": values[2], "u_quantity": values[3], "u_unit_price": values[4]})
        if replace:
            deletes += [item_id for key, (item_id, _) in stored.items() if key not in named and item_id is not None]
    table = OrderItem.__table__
    if deletes:
        await session.execute(delete(table).where(table.c.id.in_(deletes)))
    if updates:
        await session.execute(update(table).where(table.c.id == bindparam("item_id")).values(
            external_id=bindparam("u_external_id"), sku=bindparam("u_sku"), title=bindparam("u_title"),
            quantity=bindparam("u_quantity"), unit_price=bindparam("u_unit_price")), updates)
    if inserts:
        await _insert(session, table, inserts)


async def _insert(session: AsyncSession, table, rows: list[dict], *, conflict: list[str] | None = None) -> None:
    """Many rows: one INSERT … SELECT unnest(…) on PostgreSQL, an executemany on SQLite (a loop in C
    there). With `conflict`, rows whose key exists already are left out (ON CONFLICT DO NOTHING)."""
    statement = _dialect_insert(session)(table) if conflict else insert(table)
    if _postgres(session):
        columns = list(rows[0])
        statement = statement.from_select(columns, _unnested(table, rows, columns))
    if conflict:
        statement = statement.on_conflict_do_nothing(index_elements=conflict)
    await (session.execute(statement) if _postgres(session) else session.execute(statement, rows))
