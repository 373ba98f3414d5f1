"""/api/v1/orders: upsert by source and external id (PUT), get. The one upsert path is
`helpdesk.customers.orders.upsert_order`, the same as the shop webhook's and the CSV import's."""
from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from litestar import Controller, Response, get, put
from litestar.params import Parameter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from helpdesk.customers import orders
from helpdesk.models import CustomerIdentity, Order
from helpdesk.web.api import convert
from helpdesk.web.api import schemas as s
from helpdesk.web.api.customers import live_customer
from helpdesk.web.api.problems import documented, Problem, not_found

Key = Annotated[str, Parameter(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:\-]+$")]
Source = Annotated[str, Parameter(min_length=1, max_length=50, pattern=r"^[a-z0-9_\-]+$",
                                  description="where the order comes from: your shop's name, e.g. shopify")]


async def _contact(session: AsyncSession, data: s.OrderPut) -> tuple[str | None, str | None]:
    """The email and phone that name the order's customer: given, or the customer_id's own."""
    if data.customer_id is None:
        return data.email, data.phone
    customer = await live_customer(session, data.customer_id)
    found = dict((await session.execute(
        select(CustomerIdentity.kind, CustomerIdentity.value).where(CustomerIdentity.customer_id == customer.id,
                                                                    CustomerIdentity.kind.in_(("email", "phone")))
        .order_by(CustomerIdentity.id.desc()))).all())
    if not found:
        raise Problem(422, "this customer has no email or phone, which orders are matched by",
                      errors=[{"field": "customer_id", "detail": "no email or phone"}])
    return found.get("email"), found.get("phone")


class OrderController(Controller):
    path = "/orders"
    tags = ["orders"]

    @put("/{source:str}/{external_id:str}", responses=documented(404, 409, 422, also={201: (s.OrderOut, "created")}), summary="Create or update an order by source and external id",
         description="201 when created, 200 when updated. An update older than the stored one (`updated_at`) "
                     "is left out and the stored order returned. The customer is `customer_id`, or found by "
                     "email, then phone (created when new).")
    async def put_order(self, db: AsyncSession, source: Source, external_id: Key,
                        data: s.OrderPut) -> Response[s.OrderOut]:
        if not (data.customer_id or data.email or data.phone):
            raise Problem(422, "name the order's customer: customer_id, email or phone",
                          errors=[{"field": "email", "detail": "customer_id, email or phone is needed"}])
        email, phone = await _contact(db, data)
        order_in = orders.OrderIn(
            source=source, external_id=external_id, number=data.number, status=data.status, currency=data.currency,
            total=Decimal(data.total), placed_at=data.placed_at, updated_at=data.updated_at, email=email, phone=phone,
            name=data.name, items=tuple(orders.ItemIn(title=i.title, quantity=i.quantity, unit_price=Decimal(i.unit_price),
                                                      sku=i.sku, external_id=i.external_id) for i in data.items))
        try:
            order, created = await orders.upsert_order(db, order_in)
        except orders.OrderInvalid as error:
            raise Problem(422, str(error), errors=[{"field": "email", "detail": str(error)}]) from None
        return Response(convert.order(order), status_code=201 if created else 200)

    @get("/{order_id:int}", responses=documented(404), summary="An order with its line items")
    async def get_order(self, db: AsyncSession, order_id: Annotated[int, Parameter(ge=1, le=2**31 - 1)]) -> s.OrderOut:
        order = await db.scalar(select(Order).where(Order.id == order_id).options(selectinload(Order.items)))
        if order is None:
            raise not_found("order")
        return convert.order(order)
