"""A small shop for console tests: three agents (one per role), a team, a customer with
orders and tickets, and a test client that signs in with the real login form (CSRF and all).

Test modules import the fixtures they use: `from tests.support.console import shop, client  # noqa: F401`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from litestar.testing import AsyncTestClient

from helpdesk.staff.agents import create_agent, ensure_team
from helpdesk.app import create_app
from helpdesk.inbound.ingest import ingest
from helpdesk.models import Order, OrderItem
from tests.factories import inbound

PASSWORD = "console-password"
ROLES = ("agent", "lead", "admin")


@dataclass
class Shop:
    agents: dict[str, int] = field(default_factory=dict)  # role -> agent id
    names: dict[str, str] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)
    team_id: int = 0
    customer_id: int = 0
    ticket_ids: list[int] = field(default_factory=list)
    message_ids: list[int] = field(default_factory=list)


async def add_orders(session, customer_id: int, count: int, *, start: int = 0) -> None:
    now = datetime.now(timezone.utc)
    for n in range(start, start + count):
        items = [OrderItem(sku=f"SKU-{n}-{k}", title=f"Item {n}.{k}", quantity=k + 1, unit_price=Decimal("10.00"))
                 for k in range(2)]
        session.add(Order(customer_id=customer_id, source="test", external_id=f"order-{customer_id}-{n}",
                          number=f"#{5000 + n}", status="paid", currency="EUR", total=Decimal("30.00"),
                          placed_at=now - timedelta(days=n + 1), items=items))
    await session.commit()


async def build_shop(session, settings) -> Shop:
    shop = Shop()
    team_id = await ensure_team(session, "Support")
    await session.commit()
    shop.team_id = team_id
    for role, name in zip(ROLES, ("Bea Agent", "Lena Lead", "Alex Admin")):
        email = f"{role}@shop.test"
        agent = await create_agent(session, email=email, name=name, role=role, password=PASSWORD)
        shop.agents[role], shop.names[role], shop.emails[role] = agent.id, name, email
    first = await ingest(session, inbound(sender="ann@example.com", name="Ann Example", subject="Where is my order?",
                                          text="My parcel has not arrived."), settings=settings)
    second = await ingest(session, inbound(sender="ann@example.com", name="Ann Example", subject="Broken teapot",
                                           text="The teapot arrived cracked."), settings=settings)
    shop.customer_id = first.customer_id
    shop.ticket_ids = [first.ticket_id, second.ticket_id]
    shop.message_ids = [first.message_id, second.message_id]
    await add_orders(session, shop.customer_id, 2)
    return shop


@pytest.fixture
async def shop(session, settings) -> Shop:
    return await build_shop(session, settings)


@pytest.fixture
async def app(settings):
    return create_app(settings)


@pytest.fixture
async def client(app, shop):
    async with AsyncTestClient(app=app) as client:
        yield client


def csrf_from(html: str) -> str:
    return re.search(r'name="_csrf_token" value="([^"]+)"', html).group(1)


async def sign_in(client, role: str = "agent") -> str:
    """Sign in through the form; returns a CSRF token for later posts."""
    page = await client.get("/console/login")
    response = await client.post("/console/login", data={"email": f"{role}@shop.test", "password": PASSWORD,
                                                         "_csrf_token": csrf_from(page.text), "next": "/console"},
                                 follow_redirects=False)
    assert response.status_code in (302, 303), response.text
    return client.cookies.get("helpdesk_csrf")


def htmx(target: str | None = None, token: str | None = None) -> dict[str, str]:
    headers = {"HX-Request": "true"}
    if target:
        headers["HX-Target"] = target
    if token:
        headers["x-csrftoken"] = token
    return headers
