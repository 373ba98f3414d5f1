"""The chat channels admin screen (/console/admin/chat): create and edit with inline errors, the
identity secret shown once (stored encrypted), rotate, switch off and on, admins only."""
from __future__ import annotations

import re
from html import unescape

from sqlalchemy import select

from helpdesk import secrets
from helpdesk.chat import channels as chat_channels
from helpdesk.models import BusinessCalendar, ChatChannel
from tests.support.console import app, client, shop, sign_in  # noqa: F401

FORM = {"name": "Shop chat", "colour": "#aa3300", "greeting": "Hello there!",
        "allowed_origins": "https://Shop.example/\nhttps://shop.example:8443", "prechat_name": "1",
        "calendar_id": "", "team_id": "", "enforce_verification": "1"}


def shown_secret(html: str) -> str | None:
    found = re.search(r'id="identity-secret-value">([^<]+)<', html)
    return found.group(1) if found else None


async def test_admin_creates_a_channel_and_sees_its_secret_once_and_its_snippet(client, session, settings, shop):
    token = await sign_in(client, "admin")
    calendar = BusinessCalendar(name="Office", timezone="Europe/Berlin", weekly_hours={"mon": [["09:00", "17:00"]]},
                                holidays=[])
    session.add(calendar)
    await session.commit()
    page = await client.get("/console/admin/chat")
    assert page.status_code == 200 and "No chat channels yet." in page.text
    assert 'href="/console/admin/chat" aria-current="page"' in page.text  # the admin nav's entry

    made = await client.post("/console/admin/chat", data={**FORM, "calendar_id": str(calendar.id),
                                                           "team_id": str(shop.team_id), "_csrf_token": token})
    assert made.status_code == 200, made.text
    secret = shown_secret(made.text)
    assert secret and len(secret) == 64
    channel = await session.scalar(select(ChatChannel).where(ChatChannel.name == "Shop chat"))
    assert channel.allowed_origins == ["https://shop.example", "https://shop.example:8443"]
    assert channel.prechat_fields == ["name"] and channel.colour == "#aa3300" and channel.greeting == "Hello there!"
    assert channel.calendar_id == calendar.id and channel.team_id == shop.team_id and channel.enforce_verification
    assert channel.identity_secret != secret and secrets.decrypt(settings, channel.identity_secret) == secret
    snippet = f'<script src="{settings.base_url}/widget.js" data-channel="{channel.key}" async></script>'
    assert snippet in unescape(made.text)

    again = await client.get(f"/console/admin/chat/{channel.id}")
    assert again.status_code == 200 and shown_secret(again.text) is None and secret not in again.text
    assert snippet in unescape(again.text) and "user_hash" in again.text and "HMAC-SHA256" in again.text
    listed = await client.get("/console/admin/chat")
    assert f'data-channel-key="{channel.key}"' in listed.text and secret not in listed.text


async def test_a_bad_origin_is_refused_next_to_the_field_and_nothing_is_saved(client, session, shop):
    token = await sign_in(client, "admin")
    refused = await client.post("/console/admin/chat", data={**FORM, "allowed_origins": "https://ok.example\nshop.example/path",
                                                              "_csrf_token": token})
    assert refused.status_code == 400
    assert "not an origin" in unescape(refused.text) and "shop.example/path" in unescape(refused.text)
    assert re.search(r'id="chat-origins"[^>]*aria-invalid="true"', refused.text)
    assert "shop.example/path</textarea>" in refused.text  # what was typed comes back to be corrected
    assert await session.scalar(select(ChatChannel.id)) is None

    no_name = await client.post("/console/admin/chat", data={**FORM, "name": " ", "_csrf_token": token})
    assert no_name.status_code == 400 and re.search(r'id="chat-name"[^>]*aria-invalid="true"', no_name.text)


async def test_admin_edits_rotates_the_secret_and_switches_a_channel_off_and_on(client, sessions, settings, shop):
    async with sessions() as s:
        made = await chat_channels.create_channel(s, settings, name="Shop chat", allowed_origins=["https://a.example"],
                                                  prechat_fields=["name", "email"])
    channel_id, old_secret = made.channel.id, made.identity_secret
    token = await sign_in(client, "admin")

    bad = await client.post(f"/console/admin/chat/{channel_id}",
                            data={**FORM, "allowed_origins": "ftp://files.example", "_csrf_token": token})
    assert bad.status_code == 400 and "not an origin" in unescape(bad.text)
    async with sessions() as s:
        assert (await s.get(ChatChannel, channel_id)).allowed_origins == ["https://a.example"]

    saved = await client.post(f"/console/admin/chat/{channel_id}", data={
        "name": "Shop", "colour": "#112233", "greeting": "Hi", "allowed_origins": "https://b.example",
        "prechat_email": "1", "_csrf_token": token})
    assert saved.status_code == 200 and "Shop saved." in saved.text
    async with sessions() as s:
        channel = await s.get(ChatChannel, channel_id)
        assert (channel.name, channel.allowed_origins, channel.prechat_fields, channel.enforce_verification) == (
            "Shop", ["https://b.example"], ["email"], False)

    rotated = await client.post(f"/console/admin/chat/{channel_id}/rotate", data={"_csrf_token": token})
    new_secret = shown_secret(rotated.text)
    assert new_secret and new_secret != old_secret
    async with sessions() as s:
        assert chat_channels.identity_secret(settings, await s.get(ChatChannel, channel_id)) == new_secret
    assert shown_secret((await client.get(f"/console/admin/chat/{channel_id}")).text) is None

    off = await client.post(f"/console/admin/chat/{channel_id}/active", data={"active": "0", "_csrf_token": token})
    assert off.status_code == 200 and 'id="chat-channel-off"' in off.text
    async with sessions() as s:
        assert await chat_channels.channel_by_key(s, made.channel.key) is None  # the widget's lookup finds none
    on = await client.post(f"/console/admin/chat/{channel_id}/active", data={"active": "1", "_csrf_token": token})
    assert on.status_code == 200 and 'id="chat-channel-off"' not in on.text
    async with sessions() as s:
        assert await chat_channels.channel_by_key(s, made.channel.key) is not None


async def test_chat_admin_needs_an_admin_and_a_csrf_token(client, sessions, settings, shop):
    async with sessions() as s:
        made = await chat_channels.create_channel(s, settings, name="Shop chat")
    for role in ("agent", "lead"):
        token = await sign_in(client, role)
        assert (await client.get("/console/admin/chat", follow_redirects=False)).status_code == 403
        rotated = await client.post(f"/console/admin/chat/{made.channel.id}/rotate", data={"_csrf_token": token},
                                    follow_redirects=False)
        assert rotated.status_code == 403
        await client.post("/console/logout", data={"_csrf_token": token})
    await sign_in(client, "admin")
    assert (await client.post(f"/console/admin/chat/{made.channel.id}/rotate", data={})).status_code == 403
    async with sessions() as s:
        assert chat_channels.identity_secret(settings, await s.get(ChatChannel, made.channel.id)) == made.identity_secret
    assert (await client.get("/console/admin/chat/999999")).status_code == 404
