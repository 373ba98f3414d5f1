"""Admin screen: live chat channels (docs/chat.md). List, create and edit a channel, switch it off
and on, rotate its identity secret (shown once, when made), and copy the snippet that embeds it.
Admins only; the rules are `helpdesk.chat.channels`'."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template
from litestar_htmx import HTMXRequest
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.chat import channels as chat_channels
from helpdesk.chat.channels import ChatChannelError
from helpdesk.models import Agent, ChatChannel
from helpdesk.models.base import parse_id
from helpdesk.settings import Settings
from helpdesk.sla.policies import calendars
from helpdesk.staff import directory as staff
from helpdesk.web.auth import admin_only
from helpdesk.web.console.pages import FORM, render


@dataclass
class ChatChannelForm:
    """A channel's settings as the create and edit forms send them (checkboxes: "1" when ticked)."""

    name: str = ""
    colour: str = "#0b5cad"
    greeting: str = ""
    allowed_origins: str = ""  # one origin a line
    prechat_name: str = ""
    prechat_email: str = ""
    calendar_id: str = ""  # a calendar id, or "" for always open
    team_id: str = ""  # a team id, or "" for every agent
    enforce_verification: str = ""

    def fields(self) -> dict[str, Any]:
        return {
            "name": self.name, "colour": self.colour, "greeting": self.greeting,
            "allowed_origins": self.allowed_origins.splitlines(),
            "prechat_fields": [f for f in ("name", "email") if getattr(self, f"prechat_{f}")],
            "calendar_id": parse_id(self.calendar_id), "team_id": parse_id(self.team_id),
            "enforce_verification": bool(self.enforce_verification),
        }


@dataclass
class ActiveForm:
    active: str = ""  # "1": switch on, anything else: off


def form_values(channel: ChatChannel | None) -> dict[str, Any]:
    """What the form shows for a channel (or a new one): the same keys as ChatChannelForm."""
    if channel is None:
        return asdict(ChatChannelForm(greeting="Hi! How can we help?", prechat_name="1", prechat_email="1"))
    return {"name": channel.name, "colour": channel.colour, "greeting": channel.greeting,
            "allowed_origins": "\n".join(channel.allowed_origins or []),
            "prechat_name": "1" if "name" in (channel.prechat_fields or []) else "",
            "prechat_email": "1" if "email" in (channel.prechat_fields or []) else "",
            "calendar_id": str(channel.calendar_id or ""), "team_id": str(channel.team_id or ""),
            "enforce_verification": "1" if channel.enforce_verification else ""}


class ChatAdminController(Controller):
    path = "/admin/chat"
    guards = [admin_only]

    async def _page(self, request: HTMXRequest, db: AsyncSession, agent: Agent, settings: Settings,
                    channel: ChatChannel | None = None, *, status_code: int = 200, **extra) -> Template:
        """The list with the new-channel form, or one channel's page when `channel` is given."""
        context = {
            "agent": agent, "section": "chat", "channels": await chat_channels.list_channels(db),
            "calendars": await calendars(db), "teams": await staff.teams(db), "channel": channel,
            "snippet": chat_channels.embed_snippet(settings, channel) if channel else None,
            "base_url": settings.base_url, "form": form_values(channel), "secret": None,
            "error": None, "failed_form": None, "notice": None, **extra,
        }
        page = "console/admin_chat_channel.html" if channel else "console/admin_chat.html"
        return render(request, page, context, status_code=status_code)

    async def _channel(self, db: AsyncSession, channel_id: int) -> ChatChannel:
        channel = await chat_channels.find_channel(db, channel_id)
        if channel is None:
            raise NotFoundException(f"no chat channel {channel_id}")
        return channel

    @get("/", name="admin_chat")
    async def index(self, request: HTMXRequest, db: AsyncSession, agent: Agent, settings: Settings) -> Template:
        return await self._page(request, db, agent, settings)

    @post("/", name="admin_chat_create")
    async def create(self, request: HTMXRequest, db: AsyncSession, agent: Agent, settings: Settings,
                     data: Annotated[ChatChannelForm, FORM]) -> Template:
        try:
            made = await chat_channels.create_channel(db, settings, **data.fields())
        except ChatChannelError as error:  # refused before anything was added to the session
            return await self._page(request, db, agent, settings, status_code=400, error=error,
                                    failed_form="chat-channel-form", form=asdict(data))
        return await self._page(request, db, agent, settings, made.channel, secret=made.identity_secret,
                                notice=f"Chat channel {made.channel.name} created.")

    @get("/{channel_id:int}", name="admin_chat_channel")
    async def show(self, request: HTMXRequest, db: AsyncSession, agent: Agent, settings: Settings,
                   channel_id: int) -> Template:
        return await self._page(request, db, agent, settings, await self._channel(db, channel_id))

    @post("/{channel_id:int}", name="admin_chat_update")
    async def update(self, request: HTMXRequest, db: AsyncSession, agent: Agent, settings: Settings, channel_id: int,
                     data: Annotated[ChatChannelForm, FORM]) -> Template:
        channel = await self._channel(db, channel_id)
        try:
            await chat_channels.update_channel(db, channel, **data.fields())
        except ChatChannelError as error:
            await db.refresh(channel)  # the fields applied before the refused one are dropped
            return await self._page(request, db, agent, settings, channel, status_code=400, error=error,
                                    failed_form="chat-channel-form", form=asdict(data))
        return await self._page(request, db, agent, settings, channel, notice=f"{channel.name} saved.")

    @post("/{channel_id:int}/rotate", name="admin_chat_rotate")
    async def rotate(self, request: HTMXRequest, db: AsyncSession, agent: Agent, settings: Settings,
                     channel_id: int) -> Template:
        channel = await self._channel(db, channel_id)
        secret = await chat_channels.rotate_identity_secret(db, settings, channel)
        return await self._page(request, db, agent, settings, channel, secret=secret,
                                notice="A new identity secret: the old one no longer verifies anyone.")

    @post("/{channel_id:int}/active", name="admin_chat_active")
    async def set_active(self, request: HTMXRequest, db: AsyncSession, agent: Agent, settings: Settings,
                         channel_id: int, data: Annotated[ActiveForm, FORM]) -> Template:
        channel = await self._channel(db, channel_id)
        await chat_channels.update_channel(db, channel, active=data.active == "1")
        state = "on: its widget works again" if channel.active else "off: its widget no longer opens"
        return await self._page(request, db, agent, settings, channel, notice=f"{channel.name} is {state}.")
