"""Chat channels: one per widget embed, found by its public key; its identity secret is stored
encrypted (`helpdesk.secrets`) and only ever shown once, when it is made."""
from __future__ import annotations

import re
import secrets as random
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk import secrets
from helpdesk.models import BusinessCalendar, ChatChannel, Team
from helpdesk.models.base import parse_id
from helpdesk.settings import Settings

PRECHAT_FIELDS = ("name", "email")
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
_KEY = re.compile(r"[A-Za-z0-9_-]{3,40}")
# A port wildcard (`http://127.0.0.1:*`) only for loopback hosts: a developer's or the demo's pages
# on changing ports. A public site has a fixed origin; a wildcard there would let any port's page in.
_LOOPBACK = {"127.0.0.1", "localhost", "[::1]"}


class ChatChannelError(ValueError):
    """Bad input for a chat channel: the message says why, `field` which field it is about."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class NewChannel:
    """A channel just made, with its identity secret in clear: the one time it can be shown."""

    channel: ChatChannel
    identity_secret: str


def new_key() -> str:
    return random.token_urlsafe(15)  # 20 characters; public, but not guessable from another channel's


def new_identity_secret() -> str:
    return random.token_hex(32)


def normalise_origin(origin: str) -> str:
    """`https://Shop.example/` -> `https://shop.example`; refuses anything that is not an origin."""
    value = origin.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query or parts.fragment \
            or parts.username or parts.password:
        raise ChatChannelError(f"not an origin (scheme://host[:port]): {origin!r}", field="allowed_origins")
    host = parts.netloc.rsplit("@", 1)[-1].lower()
    if host.endswith(":*"):
        if host[:-2] not in _LOOPBACK:
            raise ChatChannelError(f"a port wildcard is only allowed for loopback hosts: {origin!r}",
                                   field="allowed_origins")
    elif "*" in host:
        raise ChatChannelError(f"no wildcards in an origin: {origin!r}", field="allowed_origins")
    else:
        try:
            parts.port
        except ValueError as error:
            raise ChatChannelError(f"not an origin: {origin!r} ({error})", field="allowed_origins") from None
    return f"{parts.scheme}://{host}"


def origin_allowed(channel: ChatChannel, origin: str | None) -> bool:
    """Whether a page of `origin` may use this channel (exact match, or a loopback port wildcard)."""
    if not origin:
        return False
    origin = origin.strip().lower()
    for allowed in channel.allowed_origins or ():
        allowed = allowed.lower()
        if allowed == origin:
            return True
        if allowed.endswith(":*") and origin.startswith(allowed[:-1]) and origin[len(allowed) - 1:].isdigit():
            return True
    return False


def identity_secret(settings: Settings, channel: ChatChannel) -> str | None:
    return secrets.decrypt(settings, channel.identity_secret) if channel.identity_secret else None


async def channel_by_key(session: AsyncSession, key: str) -> ChatChannel | None:
    """An active channel by its public key (None for an unknown or switched-off one)."""
    if not _KEY.fullmatch(key or ""):
        return None
    return await session.scalar(select(ChatChannel).where(ChatChannel.key == key, ChatChannel.active.is_(True)))


async def create_channel(session: AsyncSession, settings: Settings, *, name: str, key: str | None = None,
                         **fields) -> NewChannel:
    """A new channel with a fresh key and identity secret (commits)."""
    key = key or new_key()
    if not _KEY.fullmatch(key):
        raise ChatChannelError("a key has 3 to 40 letters, digits, '-' or '_'", field="key")
    if await session.scalar(select(ChatChannel.id).where(ChatChannel.key == key)) is not None:
        raise ChatChannelError(f"a chat channel with key {key!r} exists already", field="key")
    plain = new_identity_secret()
    channel = ChatChannel(key=key, name="", allowed_origins=[], prechat_fields=[],
                          identity_secret=secrets.encrypt(settings, plain))
    await _apply(session, channel, {"name": name, **fields})
    session.add(channel)
    await session.commit()
    return NewChannel(channel, plain)


async def update_channel(session: AsyncSession, channel: ChatChannel, **fields) -> ChatChannel:
    """Change a channel's settings (commits); the key and the secret stay (`rotate_identity_secret`)."""
    await _apply(session, channel, fields)
    await session.commit()
    return channel


async def rotate_identity_secret(session: AsyncSession, settings: Settings, channel: ChatChannel) -> str:
    """A new identity secret (the shop must sign with it from now on); returns it in clear, once."""
    plain = new_identity_secret()
    channel.identity_secret = secrets.encrypt(settings, plain)
    await session.commit()
    return plain


async def _apply(session: AsyncSession, channel: ChatChannel, fields: dict) -> None:
    unknown = set(fields) - {"name", "colour", "greeting", "allowed_origins", "prechat_fields", "calendar_id",
                             "team_id", "enforce_verification", "active"}
    if unknown:
        raise ChatChannelError(f"unknown chat channel settings: {', '.join(sorted(unknown))}")
    if "name" in fields:
        name = (fields["name"] or "").strip()
        if not name or len(name) > 100:
            raise ChatChannelError("a name of 1 to 100 characters, please", field="name")
        channel.name = name
    if "colour" in fields:
        if not _COLOUR.fullmatch(fields["colour"] or ""):
            raise ChatChannelError("a colour as #rrggbb", field="colour")
        channel.colour = fields["colour"].lower()
    if "greeting" in fields:
        channel.greeting = (fields["greeting"] or "").strip()[:500]
    if "allowed_origins" in fields:
        origins = [normalise_origin(o) for o in fields["allowed_origins"] or [] if o.strip()]
        channel.allowed_origins = list(dict.fromkeys(origins))
    if "prechat_fields" in fields:
        wanted = list(dict.fromkeys(fields["prechat_fields"] or []))
        if set(wanted) - set(PRECHAT_FIELDS):
            raise ChatChannelError(f"pre-chat fields are a choice of {', '.join(PRECHAT_FIELDS)}", field="prechat_fields")
        channel.prechat_fields = wanted
    if fields.get("calendar_id") is not None and await session.get(BusinessCalendar, fields["calendar_id"]) is None:
        raise ChatChannelError("there is no such business calendar", field="calendar_id")
    if fields.get("team_id") is not None and await session.get(Team, fields["team_id"]) is None:
        raise ChatChannelError("there is no such team", field="team_id")
    for name in ("calendar_id", "team_id"):
        if name in fields:
            setattr(channel, name, fields[name])
    for name in ("enforce_verification", "active"):
        if name in fields:
            setattr(channel, name, bool(fields[name]))


# -- for the admin screen and the CLI (the agents' side of issue 10) --------------------------------

def embed_snippet(settings: Settings, channel: ChatChannel) -> str:
    """What a shop pastes into its pages (docs/chat.md "Embedding")."""
    return f'<script src="{settings.base_url}/widget.js" data-channel="{channel.key}" async></script>'


async def list_channels(session: AsyncSession) -> list[ChatChannel]:
    """Every chat channel, active ones first, by name."""
    return list(await session.scalars(select(ChatChannel).order_by(ChatChannel.active.desc(), ChatChannel.name)))


async def find_channel(session: AsyncSession, key_or_id: str | int) -> ChatChannel | None:
    """A channel by its key or id, switched off or not (admins manage both)."""
    row_id = key_or_id if isinstance(key_or_id, int) else parse_id(key_or_id)
    if row_id is not None:
        found = await session.get(ChatChannel, row_id)
        if found is not None or isinstance(key_or_id, int):
            return found
    return await session.scalar(select(ChatChannel).where(ChatChannel.key == str(key_or_id)))
