"""WhatsApp's 24-hour customer service window and its message templates, as the console needs them.

WhatsApp delivers a free-form reply only within 24 hours of the customer's last message; after that
only a template the business had approved goes out (developers.facebook.com/docs/whatsapp/
cloud-api/guides/send-message-templates). The window rule is pure (`reply_window`); templates are
listed by the platform's adapter, which registers its lister here (the core imports no adapter).
"""
from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.channel import DeliveryError
from helpdesk.models import Message, Ticket, utcnow
from helpdesk.settings import Settings
from helpdesk.social import accounts

WINDOW = timedelta(hours=24)
WINDOW_PLATFORMS = frozenset({"whatsapp"})
CACHE_SECONDS = 60.0  # the picker asks again while an agent fills in parameters: one platform call a minute
_PARAMETER = re.compile(r"\{\{\s*(\d+)\s*\}\}")


@dataclass(frozen=True)
class MessageTemplate:
    """An approved template: its body with {{1}}, {{2}}… where the parameters go."""

    name: str
    language: str
    body: str
    parameters: int
    category: str | None = None

    @property
    def key(self) -> str:
        """How a form names it: a name exists once per language."""
        return f"{self.name}:{self.language}"

    def render(self, values: Sequence[str]) -> str:
        """The body as the customer reads it, the parameters filled in (missing ones left as {{n}})."""
        def fill(match: re.Match) -> str:
            index = int(match.group(1)) - 1
            return values[index] if 0 <= index < len(values) and values[index] else match.group(0)

        return _PARAMETER.sub(fill, self.body)

    def as_message_template(self, values: Sequence[str]) -> dict:
        """What `Message.template` stores and the sender turns into the API's template object."""
        return {"name": self.name, "language": self.language, "parameters": list(values)}


class TemplatesUnavailable(Exception):
    """The templates could not be listed (no account, the platform refused): the message says why."""


class TemplateInvalid(ValueError):
    """A reply the form cannot send: an unknown template, a parameter left empty, free text outside the
    window. `field`: the form field it is about (shown inline)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def count_parameters(body: str) -> int:
    return max((int(n) for n in _PARAMETER.findall(body or "")), default=0)


@dataclass(frozen=True)
class ReplyWindow:
    """Whether a free-form reply can still reach the customer on a windowed channel."""

    last_inbound_at: datetime | None
    now: datetime

    @property
    def closes_at(self) -> datetime | None:
        return self.last_inbound_at + WINDOW if self.last_inbound_at else None

    @property
    def closed(self) -> bool:
        return self.closes_at is None or self.closes_at <= self.now


def window_closed_at(last_inbound_at: datetime | None, now: datetime) -> datetime | None:
    """When the window closed, if it has (`now` is past it); None while it is open. A customer who
    never wrote on the channel has no window: it counts as closed at `now`."""
    window = ReplyWindow(last_inbound_at, now)
    if not window.closed:
        return None
    return window.closes_at or now


def window_closed_message(closed_at: datetime) -> str:
    return (f"WhatsApp's 24-hour window closed at {closed_at:%Y-%m-%d %H:%M} UTC: "
            "send an approved template instead")


def reply_window(ticket: Ticket, messages: Sequence[Message], now: datetime) -> ReplyWindow | None:
    """The window of a ticket on a windowed channel (None on others), from the customer's last
    message on that channel: the message the outbox replies to (helpdesk/tickets/outbox.py)."""
    if ticket.channel not in WINDOW_PLATFORMS:
        return None
    inbound = [m.created_at for m in messages
               if m.direction == "inbound" and m.channel == ticket.channel and not m.auto_generated]
    return ReplyWindow(max(inbound, default=None), now)


async def window_of(session: AsyncSession, ticket: Ticket) -> ReplyWindow | None:
    """`reply_window` for a ticket whose messages are not loaded (the reply route)."""
    if ticket.channel not in WINDOW_PLATFORMS:
        return None
    last = await session.scalar(select(func.max(Message.created_at)).where(
        Message.ticket_id == ticket.id, Message.direction == "inbound", Message.channel == ticket.channel,
        Message.auto_generated.is_(False)))
    return ReplyWindow(last, utcnow())


async def check_free_form(session: AsyncSession, ticket: Ticket) -> None:
    """Refuse a free-form reply the platform would not deliver, before it is queued."""
    window = await window_of(session, ticket)
    if window is not None and window.closed:
        raise TemplateInvalid(window_closed_message(window.closes_at or window.now)
                              + ": choose one under “Send an approved template”", field="body")


async def template_reply(session: AsyncSession, settings: Settings, ticket: Ticket, key: str,
                         values: Sequence[str]) -> tuple[str, dict]:
    """(the text the conversation shows, `Message.template`) for the template a form chose."""
    try:
        listed = await templates_for(session, settings, ticket)
    except TemplatesUnavailable as error:
        raise TemplateInvalid(f"the templates could not be listed: {error}", field="template") from None
    template, values = choose(listed, key, values)
    return template.render(values), template.as_message_template(values)


# -- templates -----------------------------------------------------------------------------------

# (the sending account as `accounts.sending_account` gives it) -> its approved templates; raises DeliveryError
Lister = Callable[[dict], Awaitable[list[MessageTemplate]]]
_listers: dict[str, Lister] = {}
_cache: dict[tuple[str, int], tuple[float, list[MessageTemplate]]] = {}


def register_lister(platform: str, lister: Lister) -> None:
    _listers[platform] = lister


async def templates_for(session: AsyncSession, settings: Settings, ticket: Ticket) -> list[MessageTemplate]:
    """The approved templates of the account the ticket came in through."""
    lister = _listers.get(ticket.channel)
    if lister is None:
        raise TemplatesUnavailable(f"{ticket.channel} has no message templates")
    account = await accounts.sending_account(session, settings, ticket.channel, ticket.account)
    if account is None:
        raise TemplatesUnavailable(f"no active {accounts.PLATFORM_NAMES.get(ticket.channel, ticket.channel)} "
                                   "account to list templates from")
    cached = _cache.get((ticket.channel, account["id"]))
    if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
        return cached[1]
    try:
        listed = await lister(account)
    except DeliveryError as error:
        raise TemplatesUnavailable(str(error)) from None
    _cache[(ticket.channel, account["id"])] = (time.monotonic(), listed)
    return listed


def forget_cached_templates() -> None:
    _cache.clear()


def choose(listed: Sequence[MessageTemplate], key: str, values: Sequence[str]) -> tuple[MessageTemplate, list[str]]:
    """The template a form named, with its parameters checked: each one filled in."""
    template = next((t for t in listed if t.key == key), None)
    if template is None:
        raise TemplateInvalid("that template is not (or no longer) approved; choose another", field="template")
    values = [v.strip() for v in values][:template.parameters]
    values += [""] * (template.parameters - len(values))
    missing = [str(n) for n, value in enumerate(values, 1) if not value]
    if missing:
        raise TemplateInvalid(f"fill in parameter {', '.join('{{' + n + '}}' for n in missing)} of {template.name}",
                              field="template_params")
    return template, values


async def picker(session: AsyncSession, settings: Settings, ticket: Ticket, key: str,
                 values: Sequence[str]) -> dict:
    """What the console's template picker shows: the list (or why there is none), the chosen
    template with the parameters typed so far, and its preview."""
    try:
        listed = await templates_for(session, settings, ticket)
    except TemplatesUnavailable as error:
        return {"templates": [], "templates_error": str(error), "chosen": None, "params": [], "preview": ""}
    chosen = next((t for t in listed if t.key == key), None)
    params = ([v.strip() for v in values] + [""] * (chosen.parameters if chosen else 0))[:chosen.parameters] \
        if chosen else []
    return {"templates": listed, "templates_error": None, "chosen": chosen, "params": params,
            "preview": chosen.render(params) if chosen else ""}
