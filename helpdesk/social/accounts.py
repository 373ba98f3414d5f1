"""Social accounts: the pages, Instagram accounts, WhatsApp numbers and bots customers message.

Their secrets (access token, Meta's app secret, the verify token / Telegram secret token) are stored
encrypted with the instance secret (`helpdesk.secrets`) and never printed: `AccountSecrets` keeps them
out of its repr, the console shows only whether each is set, the CLI never echoes them.

Webhooks are verified against these secrets on every request, so a web process keeps the active
accounts of each platform decrypted in memory (`directory`): read again after `CACHE_SECONDS`, and at
once in the process that changed an account. A change made by another process is seen within
`CACHE_SECONDS`.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk import db, secrets
from helpdesk.models import SocialAccount, utcnow
from helpdesk.settings import Settings

PLATFORMS = ("messenger", "instagram", "whatsapp", "telegram")
PLATFORM_NAMES = {"messenger": "Messenger", "instagram": "Instagram", "whatsapp": "WhatsApp", "telegram": "Telegram"}
SECRET_FIELDS = ("access_token", "app_secret", "verify_token")
# what each platform cannot work without
REQUIRED = {
    "messenger": ("access_token", "app_secret", "verify_token"),
    "instagram": ("access_token", "app_secret", "verify_token"),
    "whatsapp": ("access_token", "app_secret", "verify_token"),
    "telegram": ("access_token", "verify_token"),
}
CACHE_SECONDS = 2.0
_EXTERNAL_ID = re.compile(r"[A-Za-z0-9_.:+-]{1,100}")
_TELEGRAM_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what setWebhook's secret_token allows


class AccountInvalid(ValueError):
    """Bad input for an account: the message says why, `field` which field (shown inline)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class AccountSecrets:
    """An account as an adapter needs it, its secrets decrypted. Never logged: the secrets stay out of repr."""

    id: int
    platform: str
    external_id: str
    name: str
    api_base_url: str
    options: dict
    active: bool
    access_token: str | None = field(default=None, repr=False)
    app_secret: str | None = field(default=None, repr=False)
    verify_token: str | None = field(default=None, repr=False)

    def as_sending_account(self) -> dict:
        """For `Outbound.sending_account`: what a Sender needs, so it never reads the database."""
        return {"id": self.id, "platform": self.platform, "external_id": self.external_id, "name": self.name,
                "api_base_url": self.api_base_url, "options": dict(self.options), "access_token": self.access_token}


def default_api_url(platform: str, settings: Settings) -> str:
    return settings.telegram_api_url if platform == "telegram" else settings.meta_api_url


def _decrypt(settings: Settings, stored: str | None) -> str | None:
    return secrets.decrypt(settings, stored) if stored else None


def secrets_of(row: SocialAccount, settings: Settings) -> AccountSecrets:
    return AccountSecrets(
        id=row.id, platform=row.platform, external_id=row.external_id, name=row.name,
        api_base_url=(row.api_base_url or default_api_url(row.platform, settings)).rstrip("/"),
        options=dict(row.options or {}), active=row.active,
        **{name: _decrypt(settings, getattr(row, name)) for name in SECRET_FIELDS})


def _check(platform: str, external_id: str, name: str, api_base_url: str | None) -> None:
    if platform not in PLATFORMS:
        raise AccountInvalid(f"platform must be one of {', '.join(PLATFORMS)}", field="platform")
    if not _EXTERNAL_ID.fullmatch(external_id or ""):
        raise AccountInvalid("the platform's id of the account (page id, phone number id, bot id): "
                             "letters, digits and _.:+- only", field="external_id")
    if not (name or "").strip():
        raise AccountInvalid("give the account a name agents will recognise", field="name")
    if api_base_url and not re.fullmatch(r"https?://[^\s]+", api_base_url):
        raise AccountInvalid("the API base URL must start with http:// or https://", field="api_base_url")


def _check_secret(platform: str, name: str, value: str) -> None:
    if platform == "telegram" and name == "verify_token" and not _TELEGRAM_SECRET.fullmatch(value):
        raise AccountInvalid("Telegram's secret token is 1-256 characters: A-Z, a-z, 0-9, _ and -",
                             field="verify_token")
    if platform == "telegram" and name == "access_token" and not re.fullmatch(r"\d+:[A-Za-z0-9_-]+", value):
        raise AccountInvalid("a bot token looks like 123456789:AA… (from @BotFather)", field="access_token")


async def create_account(session: AsyncSession, settings: Settings, *, platform: str, external_id: str, name: str,
                         access_token: str | None = None, app_secret: str | None = None,
                         verify_token: str | None = None, api_base_url: str | None = None,
                         options: dict | None = None) -> SocialAccount:
    platform = (platform or "").strip().lower()
    external_id = (external_id or "").strip()
    if platform == "telegram" and not external_id and access_token and ":" in access_token:
        external_id = access_token.split(":", 1)[0]  # a bot's id is its token's first part
    _check(platform, external_id, name, api_base_url)
    given = {"access_token": access_token, "app_secret": app_secret, "verify_token": verify_token}
    for secret_name in REQUIRED[platform]:
        if not (given[secret_name] or "").strip():
            raise AccountInvalid(f"{platform} needs {secret_name.replace('_', ' ')}", field=secret_name)
    existing = await session.scalar(select(SocialAccount.id).where(
        SocialAccount.platform == platform, SocialAccount.external_id == external_id))
    if existing is not None:
        raise AccountInvalid(f"a {platform} account with id {external_id} exists already", field="external_id")
    row = SocialAccount(platform=platform, external_id=external_id, name=name.strip(),
                        api_base_url=(api_base_url or "").strip().rstrip("/") or None, options=options or {},
                        active=True, updated_at=utcnow())
    for secret_name, value in given.items():
        if value and value.strip():
            _check_secret(platform, secret_name, value.strip())
            setattr(row, secret_name, secrets.encrypt(settings, value.strip()))
    session.add(row)
    await session.commit()
    directory.invalidate()
    return row


async def update_account(session: AsyncSession, settings: Settings, account_id: int, *, name: str | None = None,
                         api_base_url: str | None = None, options: dict | None = None, active: bool | None = None,
                         **new_secrets: str | None) -> SocialAccount:
    """Change an account. A secret given as None or "" is kept (forms never show secrets, so an
    empty field means "unchanged"); `api_base_url=""` goes back to the platform's."""
    row = await session.get(SocialAccount, account_id)
    if row is None:
        raise AccountInvalid(f"no social account with id {account_id}")
    _check(row.platform, row.external_id, name if name is not None else row.name, api_base_url)
    if name is not None:
        row.name = name.strip()
    if api_base_url is not None:
        row.api_base_url = api_base_url.strip().rstrip("/") or None
    if options is not None:
        row.options = {**(row.options or {}), **options}
    if active is not None:
        row.active = active
    for secret_name, value in new_secrets.items():
        if secret_name not in SECRET_FIELDS:
            raise TypeError(f"unknown account field {secret_name!r}")
        if value and value.strip():
            _check_secret(row.platform, secret_name, value.strip())
            setattr(row, secret_name, secrets.encrypt(settings, value.strip()))
    row.updated_at = utcnow()
    await session.commit()
    directory.invalidate()
    return row


async def list_accounts(session: AsyncSession, platform: str | None = None) -> list[SocialAccount]:
    query = select(SocialAccount).order_by(SocialAccount.platform, SocialAccount.name, SocialAccount.id)
    if platform:
        query = query.where(SocialAccount.platform == platform)
    return list(await session.scalars(query))


async def find_account(session: AsyncSession, platform: str, external_id: str | None) -> SocialAccount | None:
    """The account a ticket came in through (`Ticket.account` holds its external id); with none
    given, the platform's only active account, if it has exactly one."""
    query = select(SocialAccount).where(SocialAccount.platform == platform)
    if external_id:
        return await session.scalar(query.where(SocialAccount.external_id == external_id))
    rows = list(await session.scalars(query.where(SocialAccount.active.is_(True)).limit(2)))
    return rows[0] if len(rows) == 1 else None


async def sending_account(session: AsyncSession, settings: Settings, platform: str,
                          external_id: str | None) -> dict | None:
    """What the outbox hands a social `Sender`: the account's API base, id, options and token."""
    row = await find_account(session, platform, external_id)
    if row is None or not row.active:
        return None
    return secrets_of(row, settings).as_sending_account()


async def webhook_seen(session: AsyncSession, platform: str, external_id: str | None) -> None:
    """Note that the account's webhook works (the admin screen's "last webhook"): written at most
    once a minute per account, so a busy webhook costs no write per delivery."""
    if not external_id:
        return
    now = utcnow()
    await session.execute(update(SocialAccount).where(
        SocialAccount.platform == platform, SocialAccount.external_id == external_id,
        or_(SocialAccount.last_webhook_at.is_(None), SocialAccount.last_webhook_at < now - timedelta(minutes=1)),
    ).values(last_webhook_at=now).execution_options(synchronize_session=False))
    await session.commit()


class Directory:
    """The active accounts of each platform, decrypted, per process (see the module's docstring)."""

    def __init__(self) -> None:
        self._loaded: dict[tuple[str, str], tuple[float, list[AccountSecrets]]] = {}  # (database, platform)

    def invalidate(self) -> None:
        self._loaded.clear()

    async def accounts(self, settings: Settings, platform: str) -> list[AccountSecrets]:
        now = time.monotonic()
        key = (settings.async_database_url, platform)
        cached = self._loaded.get(key)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        async with db.sessions(settings)() as session:
            rows = await session.scalars(select(SocialAccount).where(
                SocialAccount.platform == platform, SocialAccount.active.is_(True)).order_by(SocialAccount.id))
            accounts = [secrets_of(row, settings) for row in rows]
        self._loaded[key] = (now, accounts)
        return accounts

    async def account(self, settings: Settings, platform: str, external_id: str | None) -> AccountSecrets | None:
        accounts = await self.accounts(settings, platform)
        if external_id is None:
            return accounts[0] if len(accounts) == 1 else None
        return next((a for a in accounts if a.external_id == external_id), None)


directory = Directory()
