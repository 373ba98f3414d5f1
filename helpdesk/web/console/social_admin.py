"""Admin screen: social accounts (docs/social.md). The pages, Instagram accounts, WhatsApp numbers and
bots customers message, per platform: what to give the platform (the webhook URL), which secrets are
set (never their values), the last webhook and error; add, edit (an empty secret field keeps the
secret), switch off and on. Admins only; the rules are `helpdesk.social.accounts`', as for
`helpdesk social accounts` on the command line."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template
from litestar_htmx import HTMXRequest
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.models import Agent, SocialAccount
from helpdesk.settings import Settings
from helpdesk.social import accounts as social
from helpdesk.social.accounts import PLATFORM_NAMES, PLATFORMS, REQUIRED, SECRET_FIELDS, AccountInvalid
from helpdesk.web.auth import admin_only
from helpdesk.web.console.pages import FORM, render


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    hint: str = ""


# What each platform calls its account id and secrets, where to find them, and the options it uses.
ACCOUNT_ID = {
    "messenger": Field("external_id", "Page id", "Meta Business Suite → Page settings → Page transparency"),
    "instagram": Field("external_id", "Instagram account id", "the professional account's id (Graph API: /me?fields=id)"),
    "whatsapp": Field("external_id", "Phone number id", "WhatsApp Manager → API Setup: “Phone number ID”, not the number"),
    "telegram": Field("external_id", "Bot id", "optional: the digits before the colon of the bot token"),
}
SECRETS = {
    "messenger": (Field("access_token", "Page access token", "a long-lived token of the page"),
                  Field("app_secret", "App secret", "Meta app → App settings → Basic; signs every webhook"),
                  Field("verify_token", "Verify token", "any string you choose; give Meta the same one")),
    "instagram": (Field("access_token", "Access token", "the token of the page the Instagram account is linked to"),
                  Field("app_secret", "App secret", "Meta app → App settings → Basic; signs every webhook"),
                  Field("verify_token", "Verify token", "any string you choose; give Meta the same one")),
    "whatsapp": (Field("access_token", "Access token", "a system user's permanent token with whatsapp_business_messaging"),
                 Field("app_secret", "App secret", "Meta app → App settings → Basic; signs every webhook"),
                 Field("verify_token", "Verify token", "any string you choose; give Meta the same one")),
    "telegram": (Field("access_token", "Bot token", "from @BotFather: 123456789:AA…"),
                 Field("verify_token", "Secret token", "you choose it: 1-256 of A-Z a-z 0-9 _ -; set with the webhook")),
}
OPTIONS = {
    "messenger": (),
    "instagram": (Field("username", "Username", "shown to agents, without @"),),
    "whatsapp": (Field("display_phone_number", "Display number", "the number customers write to, +49 30 …"),
                 Field("waba_id", "WhatsApp Business Account id", "for message templates")),
    "telegram": (Field("username", "Bot username", "without @"),),
}
OPTION_NAMES = sorted({f.name for fields in OPTIONS.values() for f in fields})


@dataclass
class AccountForm:
    """An account as the add and edit forms send them: every field a string, a secret "" meaning unchanged."""

    name: str = ""
    external_id: str = ""
    access_token: str = ""
    app_secret: str = ""
    verify_token: str = ""
    api_base_url: str = ""
    username: str = ""
    display_phone_number: str = ""
    waba_id: str = ""

    def options(self, platform: str) -> dict[str, str]:
        return {f.name: getattr(self, f.name).strip() for f in OPTIONS[platform]}

    def secrets(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in SECRET_FIELDS}

    def shown(self) -> dict[str, str]:
        """What the form shows again after a refusal: everything but the secrets."""
        return {**asdict(self), **{name: "" for name in SECRET_FIELDS}}


@dataclass
class ActiveForm:
    active: str = ""  # "1": switch on, anything else: off


def form_values(account: SocialAccount | None) -> dict[str, str]:
    if account is None:
        return AccountForm().shown()
    options = account.options or {}
    return {**AccountForm().shown(), "name": account.name, "external_id": account.external_id,
            "api_base_url": account.api_base_url or "", **{n: str(options.get(n) or "") for n in OPTION_NAMES}}


def webhook_url(settings: Settings, platform: str) -> str:
    return f"{settings.base_url}/webhooks/{platform}"


def describe(account: SocialAccount, settings: Settings) -> dict[str, Any]:
    """An account as the list shows it: which secrets are set, never what they are."""
    return {"id": account.id, "platform": account.platform, "name": account.name, "external_id": account.external_id,
            "active": account.active, "webhook_url": webhook_url(settings, account.platform),
            "secrets": [(f.label, bool(getattr(account, f.name))) for f in SECRETS[account.platform]],
            "secret_set": {name: bool(getattr(account, name)) for name in SECRET_FIELDS},
            "options": {k: v for k, v in (account.options or {}).items() if v},
            "api_base_url": account.api_base_url, "last_webhook_at": account.last_webhook_at,
            "last_error": account.last_error}


class SocialAdminController(Controller):
    path = "/admin/social"
    guards = [admin_only]

    def _context(self, agent: Agent, settings: Settings, **extra) -> dict[str, Any]:
        return {"agent": agent, "section": "social", "platforms": PLATFORMS, "platform_names": PLATFORM_NAMES,
                "account_id_field": ACCOUNT_ID, "secret_fields": SECRETS, "option_fields": OPTIONS,
                "required": REQUIRED, "default_api_urls": {p: social.default_api_url(p, settings) for p in PLATFORMS},
                "error": None, "failed_form": None, "notice": None, **extra}

    async def _account_page(self, request: HTMXRequest, settings: Settings, agent: Agent, platform: str,
                            account: SocialAccount | None, *, status_code: int = 200, **extra) -> Template:
        """The add form (`account` None) or an account's page: its set-up, the edit form, on and off."""
        extra.setdefault("form", form_values(account))
        context = self._context(agent, settings, platform=platform, webhook_url=webhook_url(settings, platform),
                                account=describe(account, settings) if account else None, **extra)
        return render(request, "console/admin_social_account.html", context, status_code=status_code)

    async def _account(self, db: AsyncSession, account_id: int) -> SocialAccount:
        account = await db.get(SocialAccount, account_id)
        if account is None:
            raise NotFoundException(f"no social account {account_id}")
        return account

    @get("/", name="admin_social")
    async def index(self, request: HTMXRequest, db: AsyncSession, agent: Agent, settings: Settings) -> Template:
        listed = await social.list_accounts(db)
        by_platform = {p: [describe(a, settings) for a in listed if a.platform == p] for p in PLATFORMS}
        context = self._context(agent, settings, accounts=by_platform,
                                webhook_urls={p: webhook_url(settings, p) for p in PLATFORMS})
        return render(request, "console/admin_social.html", context)

    @get("/new/{platform:str}", name="admin_social_new")
    async def new(self, request: HTMXRequest, agent: Agent, settings: Settings, platform: str) -> Template:
        if platform not in PLATFORMS:
            raise NotFoundException(f"no platform {platform}")
        return await self._account_page(request, settings, agent, platform, None)

    @post("/new/{platform:str}", name="admin_social_create")
    async def create(self, request: HTMXRequest, db: AsyncSession, agent: Agent, settings: Settings, platform: str,
                     data: Annotated[AccountForm, FORM]) -> Template:
        if platform not in PLATFORMS:
            raise NotFoundException(f"no platform {platform}")
        try:
            made = await social.create_account(db, settings, platform=platform, external_id=data.external_id,
                                               name=data.name, api_base_url=data.api_base_url,
                                               options=data.options(platform), **data.secrets())
        except AccountInvalid as error:  # refused before anything was added to the session
            return await self._account_page(request, settings, agent, platform, None, status_code=400, error=error,
                                            failed_form="social-account-form", form=data.shown())
        return await self._account_page(request, settings, agent, platform, made,
                                        notice=f"{PLATFORM_NAMES[platform]} account {made.name} added.")

    @get("/{account_id:int}", name="admin_social_account")
    async def show(self, request: HTMXRequest, db: AsyncSession, agent: Agent, settings: Settings,
                   account_id: int) -> Template:
        account = await self._account(db, account_id)
        return await self._account_page(request, settings, agent, account.platform, account)

    @post("/{account_id:int}", name="admin_social_update")
    async def update(self, request: HTMXRequest, db: AsyncSession, agent: Agent, settings: Settings,
                     account_id: int, data: Annotated[AccountForm, FORM]) -> Template:
        account = await self._account(db, account_id)
        try:
            await social.update_account(db, settings, account_id, name=data.name, api_base_url=data.api_base_url,
                                        options=data.options(account.platform), **data.secrets())
        except AccountInvalid as error:
            await db.refresh(account)  # the fields applied before the refused one are dropped
            return await self._account_page(request, settings, agent, account.platform, account, status_code=400,
                                            error=error, failed_form="social-account-form",
                                            form={**data.shown(), "external_id": account.external_id})
        return await self._account_page(request, settings, agent, account.platform, account,
                                        notice=f"{account.name} saved.")

    @post("/{account_id:int}/active", name="admin_social_active")
    async def set_active(self, request: HTMXRequest, db: AsyncSession, agent: Agent, settings: Settings,
                         account_id: int, data: Annotated[ActiveForm, FORM]) -> Template:
        account = await self._account(db, account_id)
        await social.update_account(db, settings, account_id, active=data.active == "1")
        state = ("on: its webhooks are accepted and replies go out through it" if account.active
                 else "off: its webhooks are refused and no reply goes out through it")
        return await self._account_page(request, settings, agent, account.platform, account,
                                        notice=f"{account.name} is {state}.")
