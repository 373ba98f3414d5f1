"""The social accounts admin screen (/console/admin/social): per platform the accounts, the webhook URL
to give the platform and which secrets are set (never their values); add with the platform's fields
and errors inline, edit with empty secrets meaning unchanged, switch off and on; admins only."""
from __future__ import annotations

import re
from html import unescape

from sqlalchemy import select

from helpdesk import secrets
from helpdesk.models import CustomerIdentity, SocialAccount
from helpdesk.social import accounts as social
from tests.support.console import app, client, shop, sign_in  # noqa: F401

WHATSAPP = {"name": "Shop WhatsApp", "external_id": "106540352242922", "access_token": "EAAG-whatsapp-token-1",
            "app_secret": "meta-app-secret-1", "verify_token": "verify-me-1",
            "display_phone_number": "+49 30 1234567", "waba_id": "102290129340398", "api_base_url": ""}


async def test_admin_adds_a_whatsapp_number_and_the_list_shows_which_secrets_are_set_never_them(
        client, session, settings, shop):
    token = await sign_in(client, "admin")
    page = await client.get("/console/admin/social")
    assert page.status_code == 200 and "No WhatsApp accounts yet." in page.text
    assert 'href="/console/admin/social" aria-current="page"' in page.text
    for platform in social.PLATFORMS:  # the URL each platform is given
        assert f"{settings.base_url}/webhooks/{platform}" in page.text
        assert f'href="/console/admin/social/new/{platform}"' in page.text

    form = await client.get("/console/admin/social/new/whatsapp")
    assert form.status_code == 200
    for field in ("name", "external_id", "access_token", "app_secret", "verify_token", "display_phone_number",
                  "waba_id", "api_base_url"):
        assert f'name="{field}"' in form.text
    telegram_form = (await client.get("/console/admin/social/new/telegram")).text
    assert 'name="app_secret"' not in telegram_form and "Bot token" in telegram_form

    made = await client.post("/console/admin/social/new/whatsapp", data={**WHATSAPP, "_csrf_token": token})
    assert made.status_code == 200, made.text
    assert "WhatsApp account Shop WhatsApp added." in made.text
    account = await session.scalar(select(SocialAccount).where(SocialAccount.platform == "whatsapp"))
    assert (account.external_id, account.name, account.options) == (
        "106540352242922", "Shop WhatsApp", {"display_phone_number": "+49 30 1234567",
                                             "waba_id": "102290129340398"})
    assert secrets.decrypt(settings, account.app_secret) == "meta-app-secret-1"
    assert account.access_token != "EAAG-whatsapp-token-1"  # encrypted at rest

    listed = await client.get("/console/admin/social")
    row = re.search(rf'<tr data-account-id="{account.id}".*?</tr>', listed.text, re.S).group(0)
    assert "Shop WhatsApp" in row and "106540352242922" in row and "App secret: set" in row
    shown = (await client.get(f"/console/admin/social/{account.id}")).text
    for page_text in (listed.text, made.text, shown):
        for secret in ("EAAG-whatsapp-token-1", "meta-app-secret-1", "verify-me-1"):
            assert secret not in page_text
    assert f"{settings.base_url}/webhooks/whatsapp" in shown


async def test_a_missing_secret_or_bad_id_is_refused_next_to_its_field_and_nothing_is_saved(client, session, shop):
    token = await sign_in(client, "admin")
    no_secret = await client.post("/console/admin/social/new/whatsapp",
                                  data={**WHATSAPP, "app_secret": " ", "_csrf_token": token})
    assert no_secret.status_code == 400 and "whatsapp needs app secret" in unescape(no_secret.text)
    assert re.search(r'id="social-app_secret"[^>]*aria-invalid="true"', no_secret.text)
    assert 'value="Shop WhatsApp"' in no_secret.text  # what was typed comes back, but never a secret
    assert "EAAG-whatsapp-token-1" not in no_secret.text

    bad_id = await client.post("/console/admin/social/new/whatsapp",
                               data={**WHATSAPP, "external_id": "not an id!", "_csrf_token": token})
    assert bad_id.status_code == 400 and re.search(r'id="social-external_id"[^>]*aria-invalid="true"', bad_id.text)
    bad_token = await client.post("/console/admin/social/new/telegram", data={
        "name": "Bot", "external_id": "123", "access_token": "no-colon", "verify_token": "s3cret", "_csrf_token": token})
    assert bad_token.status_code == 400 and re.search(r'id="social-access_token"[^>]*aria-invalid="true"', bad_token.text)
    assert await session.scalar(select(SocialAccount.id)) is None
    assert (await client.get("/console/admin/social/new/myspace")).status_code == 404


async def test_edit_keeps_secrets_left_empty_and_switches_an_account_off_and_on(client, sessions, settings, shop):
    async with sessions() as s:
        made = await social.create_account(s, settings, platform="telegram", external_id="", name="Shop bot",
                                           access_token="123456:AAbot-token", verify_token="secret-token")
    token = await sign_in(client, "admin")
    saved = await client.post(f"/console/admin/social/{made.id}", data={
        "name": "Tea bot", "access_token": "", "verify_token": "new-secret", "username": "teabot",
        "api_base_url": "", "_csrf_token": token})
    assert saved.status_code == 200 and "Tea bot saved." in saved.text
    async with sessions() as s:
        row = await s.get(SocialAccount, made.id)
        stored = social.secrets_of(row, settings)
        assert (row.name, row.external_id, row.options) == ("Tea bot", "123456", {"username": "teabot"})
        assert (stored.access_token, stored.verify_token) == ("123456:AAbot-token", "new-secret")

    refused = await client.post(f"/console/admin/social/{made.id}", data={
        "name": "Renamed", "verify_token": "not allowed!", "_csrf_token": token})
    assert refused.status_code == 400 and re.search(r'id="social-verify_token"[^>]*aria-invalid="true"', refused.text)
    async with sessions() as s:
        assert (await s.get(SocialAccount, made.id)).name == "Tea bot"  # nothing of the refused form was kept

    off = await client.post(f"/console/admin/social/{made.id}/active", data={"active": "0", "_csrf_token": token})
    assert off.status_code == 200 and 'id="social-account-off"' in off.text
    assert await social.directory.accounts(settings, "telegram") == []  # its webhooks are refused now
    on = await client.post(f"/console/admin/social/{made.id}/active", data={"active": "1", "_csrf_token": token})
    assert on.status_code == 200 and 'id="social-account-off"' not in on.text
    assert [a.external_id for a in await social.directory.accounts(settings, "telegram")] == ["123456"]
    assert (await client.get("/console/admin/social/999999")).status_code == 404


async def test_social_admin_needs_an_admin_and_a_csrf_token(client, sessions, settings, shop):
    async with sessions() as s:
        made = await social.create_account(s, settings, platform="telegram", external_id="", name="Shop bot",
                                           access_token="123456:AAbot-token", verify_token="secret-token")
    for role in ("agent", "lead"):
        token = await sign_in(client, role)
        assert (await client.get("/console/admin/social", follow_redirects=False)).status_code == 403
        refused = await client.post(f"/console/admin/social/{made.id}/active", data={"active": "0", "_csrf_token": token},
                                    follow_redirects=False)
        assert refused.status_code == 403
        await client.post("/console/logout", data={"_csrf_token": token})
    await sign_in(client, "admin")
    assert (await client.post(f"/console/admin/social/{made.id}/active", data={"active": "0"})).status_code == 403
    async with sessions() as s:
        assert (await s.get(SocialAccount, made.id)).active


async def test_the_customer_panel_shows_social_profiles_with_the_platforms_name(client, session, settings, shop):
    from helpdesk.inbound.ingest import ingest
    from tests.factories import inbound

    whatsapp = await ingest(session, inbound(channel="whatsapp", sender="+4915112345678", name="Ann on WhatsApp",
                                             subject=None, account="106540352242922"), settings=settings)
    session.add(CustomerIdentity(customer_id=whatsapp.customer_id, kind="telegram", value="987654321",
                                 display_name="Ann T."))
    await session.commit()
    await sign_in(client, "agent")
    page = (await client.get(f"/console/tickets/{whatsapp.ticket_id}")).text
    panel = page[page.index('id="customer-identities"'):]
    shown = {kind: re.sub(r"<[^>]+>", "", unescape(html)).strip() for kind, html in
             re.findall(r'data-identity-kind="(\w+)">(.*?)</li>', panel[:panel.index("</ul>")], re.S)}
    assert shown["whatsapp"] == "WhatsApp +49 1511 2345678"
    assert shown["telegram"] == "Telegram Ann T."
    assert 'title="Telegram id 987654321"' in panel  # the platform's id stays at hand
