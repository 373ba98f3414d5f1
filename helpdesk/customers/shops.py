"""Shops that send their orders by webhook (Shopify's format): a name, the shop's domain (how a
delivery says who it is from, `X-Shopify-Shop-Domain`) and the webhook secret its deliveries are
signed with, stored encrypted (`helpdesk.secrets`) and never printed.

Every delivery is verified against its shop's secret, so a web process keeps the active shops
decrypted in memory (`directory`): read again after `CACHE_SECONDS`, and at once in the process
that changed a shop. A change made by another process is seen within `CACHE_SECONDS`.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk import db, secrets
from helpdesk.models import Shop, utcnow
from helpdesk.settings import Settings

CACHE_SECONDS = 2.0
_DOMAIN = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+")


class ShopInvalid(ValueError):
    """Bad input for a shop: the message says why."""


@dataclass(frozen=True)
class ShopSecret:
    """A shop as the webhook needs it; the secret stays out of repr so it is never logged."""

    id: int
    name: str
    domain: str
    platform: str
    webhook_secret: str = field(repr=False)


def normalise_domain(domain: str) -> str:
    domain = (domain or "").strip().lower().removeprefix("https://").removeprefix("http://").rstrip("/")
    if not _DOMAIN.fullmatch(domain):
        raise ShopInvalid(f"not a shop domain: {domain!r} (e.g. leaf-and-kettle.myshopify.com)")
    return domain


async def create_shop(session: AsyncSession, settings: Settings, *, name: str, domain: str, webhook_secret: str,
                      platform: str = "shopify") -> Shop:
    domain = normalise_domain(domain)
    if not (name or "").strip():
        raise ShopInvalid("give the shop a name agents will recognise")
    if not (webhook_secret or "").strip():
        raise ShopInvalid("the shop's webhook secret is needed to verify its deliveries")
    if await session.scalar(select(Shop.id).where(Shop.domain == domain)) is not None:
        raise ShopInvalid(f"a shop with domain {domain} exists already")
    shop = Shop(name=name.strip(), domain=domain, platform=platform,
                webhook_secret=secrets.encrypt(settings, webhook_secret.strip()), active=True)
    session.add(shop)
    await session.commit()
    directory.invalidate()
    return shop


async def list_shops(session: AsyncSession) -> list[Shop]:
    return list(await session.scalars(select(Shop).order_by(Shop.name, Shop.id)))


async def remove_shop(session: AsyncSession, domain_or_id: str) -> Shop:
    """Remove a shop by its domain or id: its deliveries are refused from now on; its orders stay."""
    query = select(Shop)
    query = query.where(Shop.id == int(domain_or_id)) if domain_or_id.isdigit() else query.where(
        Shop.domain == normalise_domain(domain_or_id))
    shop = await session.scalar(query)
    if shop is None:
        raise ShopInvalid(f"no shop {domain_or_id}")
    await session.delete(shop)
    await session.commit()
    directory.invalidate()
    return shop


async def webhook_seen(session: AsyncSession, shop_id: int) -> None:
    """Note that the shop's webhook works, at most once a minute (a busy shop costs no write per delivery)."""
    now = utcnow()
    await session.execute(update(Shop).where(
        Shop.id == shop_id, or_(Shop.last_webhook_at.is_(None), Shop.last_webhook_at < now - timedelta(minutes=1)),
    ).values(last_webhook_at=now).execution_options(synchronize_session=False))


class Directory:
    """The active shops by domain, their secrets decrypted, per process (module docstring)."""

    def __init__(self) -> None:
        self._loaded: dict[str, tuple[float, dict[str, ShopSecret]]] = {}  # database -> (when, domain -> shop)
        self._noted: dict[int, float] = {}  # shop id -> when its last webhook was noted

    def invalidate(self) -> None:
        self._loaded.clear()
        self._noted.clear()

    async def shop(self, settings: Settings, domain: str) -> ShopSecret | None:
        now = time.monotonic()
        key = settings.async_database_url
        cached = self._loaded.get(key)
        if cached is None or now - cached[0] >= CACHE_SECONDS:
            async with db.sessions(settings)() as session:
                rows = await session.scalars(select(Shop).where(Shop.active.is_(True)))
                shops = {row.domain: ShopSecret(row.id, row.name, row.domain, row.platform,
                                                secrets.decrypt(settings, row.webhook_secret)) for row in rows}
            cached = self._loaded[key] = (now, shops)
        return cached[1].get((domain or "").strip().lower())

    def due_for_note(self, shop_id: int) -> bool:
        """Whether this process should note the shop's webhook now (`webhook_seen`): once a minute."""
        now = time.monotonic()
        if now - self._noted.get(shop_id, -1e9) < 60:
            return False
        self._noted[shop_id] = now
        return True


directory = Directory()
