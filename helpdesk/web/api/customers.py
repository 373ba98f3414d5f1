"""/api/v1/customers: list and search, get (with identities, organization, attributes and orders),
create, update, identities added and removed, a customer's orders.

A merged customer's old id answers as the survivor: the body is the survivor's, with its own `id`
(a client that stored the old id sees the new one and can update its link).
"""
from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import Parameter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from helpdesk.customers import attributes as customer_attributes
from helpdesk.customers import records
from helpdesk.customers.identities import InvalidIdentity
from helpdesk.customers.resolution import Claimed, holder, normalise, resolve
from helpdesk.models import AuditEvent, Customer, CustomerIdentity, IdentityConflict
from helpdesk.web.api import convert, listing, paging
from helpdesk.web.api import schemas as s
from helpdesk.web.api.access import Caller
from helpdesk.web.api.problems import documented, Problem, invalid, not_found

CustomerId = Annotated[int, Parameter(ge=1, le=2**31 - 1, description="a customer's id (a merged one's too)")]


async def live_customer(session: AsyncSession, customer_id: int) -> Customer:
    """The customer an id stands for today (merge tombstones followed), loaded for the API; 404."""
    survivor = await records.survivor_id(session, customer_id)
    customer = await session.scalar(
        select(Customer).where(Customer.id == survivor)
        .options(selectinload(Customer.identities), joinedload(Customer.organization))
        .execution_options(populate_existing=True)) if survivor else None
    if customer is None:
        raise not_found("customer")
    return customer


async def _answer(session: AsyncSession, customer_id: int) -> s.CustomerOut:
    view = await records.load_customer_view(session, customer_id)
    customer = await live_customer(session, customer_id)
    return convert.customer(customer, view)


def _checked_attributes(items: list[s.AttributeIn]) -> None:
    """Every attribute's key and value checked before anything is written (422 otherwise)."""
    for n, item in enumerate(items):
        try:
            customer_attributes.normalise_key(item.key)
            customer_attributes.validate(item.type, item.value)
        except customer_attributes.InvalidAttribute as error:
            raise Problem(422, str(error), errors=[{"field": f"attributes[{n}]", "detail": str(error)}]) from None


async def _set_attributes(session: AsyncSession, customer: Customer, items: list[s.AttributeIn],
                          remove: list[str], caller: Caller) -> None:
    for key in remove:
        await customer_attributes.remove_attribute(session, customer, key, agent_id=caller.agent_id)
    for item in items:
        try:
            await customer_attributes.set_attribute(session, customer, item.key, item.type, item.value,
                                                    agent_id=caller.agent_id)
        except customer_attributes.InvalidAttribute as error:
            raise invalid(error) from None


def _normalised(items: list[s.IdentityIn]) -> list[tuple[str, str]]:
    keys = []
    for n, item in enumerate(items):
        try:
            keys.append(normalise(item.kind, item.value))
        except InvalidIdentity as error:
            raise Problem(422, str(error), errors=[{"field": f"identities[{n}].value", "detail": str(error)}]) from None
    return keys


class CustomerController(Controller):
    path = "/customers"
    tags = ["customers"]

    @get("/", responses=documented(404), summary="List or search customers")
    async def list_customers(self, request: Request, db: AsyncSession, limit: paging.Limit,
                             cursor: paging.Cursor,
                             q: Annotated[str | None, Parameter(max_length=200, default=None,
                                                                description="part of a name, an email's start, "
                                                                            "or a phone number")]) -> s.Page:
        rows = await listing.customers(db, after=paging.after_id(cursor), limit=limit, q=q)
        return paging.page(request, rows, limit, convert.customer)

    @get("/{customer_id:int}", responses=documented(404), summary="A customer with identities, organization, attributes and orders",
         description="A merged customer's old id answers with the survivor (its own id in the body).")
    async def get_customer(self, db: AsyncSession, customer_id: CustomerId) -> s.CustomerOut:
        customer = await live_customer(db, customer_id)
        return await _answer(db, customer.id)

    @post("/", responses=documented(404, 409, 422), summary="Create a customer", status_code=201,
          description="409 when another customer holds one of the identities (nothing is created).")
    async def create_customer(self, db: AsyncSession, caller: Caller, data: s.CustomerCreate) -> s.CustomerOut:
        keys = _normalised(data.identities)
        for key in keys:
            held_by = await holder(db, *key)
            if held_by is not None:
                raise Problem(409, f"customer {held_by} already has the {key[0]} {key[1]}", holder_id=held_by)
        _checked_attributes(data.attributes)
        resolution = await resolve(db, [Claimed(i.kind, i.value, i.display_name) for i in data.identities],
                                   name=data.name, source="api")
        customer = await db.get(Customer, resolution.customer_id)
        try:
            await records.update_customer(db, customer, name=data.name or "", notes=data.notes or "",
                                          organization_id=data.organization_id or customer.organization_id)
        except records.CustomerError as error:
            raise invalid(error) from None
        await _set_attributes(db, customer, data.attributes, [], caller)
        return await _answer(db, customer.id)

    @patch("/{customer_id:int}", responses=documented(404, 409, 422), summary="Update a customer",
           description="A field left out stays as it is. A merged id updates the survivor.")
    async def update_customer(self, db: AsyncSession, caller: Caller, customer_id: CustomerId,
                              data: s.CustomerUpdate) -> s.CustomerOut:
        customer = await live_customer(db, customer_id)
        attributes = [] if data.attributes is msgspec.UNSET else data.attributes
        _checked_attributes(attributes)
        keep = lambda value, current: current if value is msgspec.UNSET else value  # noqa: E731
        try:
            await records.update_customer(db, customer, name=keep(data.name, customer.name) or "",
                                          notes=keep(data.notes, customer.notes) or "",
                                          organization_id=keep(data.organization_id, customer.organization_id))
        except records.CustomerError as error:
            raise invalid(error) from None
        await _set_attributes(db, customer, attributes, data.remove_attributes, caller)
        return await _answer(db, customer.id)

    @get("/{customer_id:int}/orders", responses=documented(404), summary="A customer's orders")
    async def customer_orders(self, request: Request, db: AsyncSession, customer_id: CustomerId,
                              limit: paging.Limit, cursor: paging.Cursor) -> s.Page:
        customer = await live_customer(db, customer_id)
        rows = await listing.orders(db, customer_id=customer.id, after=paging.after_id(cursor), limit=limit)
        return paging.page(request, rows, limit, convert.order)

    @post("/{customer_id:int}/identities", responses=documented(404, 409, 422, also={200: (s.IdentityOut, "the customer had it already")}), summary="Add an identity to a customer", status_code=201,
          description="201 when added, 200 when the customer has it already. When another customer holds it, "
                      "it is flagged as a conflict for an agent (409 with `conflict_id`), never moved.")
    async def add_identity(self, db: AsyncSession, caller: Caller, customer_id: CustomerId,
                           data: s.IdentityIn) -> Response[s.IdentityOut]:
        customer = await live_customer(db, customer_id)
        kind, value = _normalised([data])[0]
        held_by = await holder(db, kind, value)
        if held_by == customer.id:
            row = await db.scalar(select(CustomerIdentity).where(CustomerIdentity.kind == kind,
                                                                 CustomerIdentity.value == value))
            return Response(convert.identity(row), status_code=200)
        if held_by is not None:
            conflict = IdentityConflict(kind=kind, value=value, holder_id=held_by, claimant_id=customer.id, source="api")
            db.add(conflict)
            await db.commit()
            raise Problem(409, f"customer {held_by} already has the {kind} {value}: flagged for an agent to decide",
                          holder_id=held_by, conflict_id=conflict.id)
        row = CustomerIdentity(customer_id=customer.id, kind=kind, value=value, display_name=data.display_name)
        db.add(row)
        db.add(AuditEvent(agent_id=caller.agent_id, action="customer.identity_add", object_type="customer",
                          object_id=customer.id, data={"kind": kind}))
        await db.commit()
        return Response(convert.identity(row), status_code=201)

    @delete("/{customer_id:int}/identities/{identity_id:int}", responses=documented(404, 409, 422), summary="Remove an identity from a customer",
            status_code=204)
    async def remove_identity(self, db: AsyncSession, caller: Caller, customer_id: CustomerId,
                              identity_id: Annotated[int, Parameter(ge=1, le=2**31 - 1)]) -> None:
        customer = await live_customer(db, customer_id)
        row = await db.get(CustomerIdentity, identity_id)
        if row is None or row.customer_id != customer.id:
            raise not_found("identity of this customer")
        await db.delete(row)
        db.add(AuditEvent(agent_id=caller.agent_id, action="customer.identity_remove", object_type="customer",
                          object_id=customer.id, data={"kind": row.kind}))
        await db.commit()
