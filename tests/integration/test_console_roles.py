"""The role matrix: every console route, from the app's own route table, for every role.

A route added without a guard, or with a different one than this table says, fails here.
"""
from __future__ import annotations

import pytest
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from helpdesk.models import Attachment
from helpdesk.web.auth import ROLE_RANK
from tests.support.console import app, htmx, shop, sign_in  # noqa: F401

PUBLIC = {("GET", "/console/login"), ("POST", "/console/login")}
# (method, path) -> the least role that may use it
EXPECTED = {
    ("POST", "/console/logout"): "agent",
    ("GET", "/console"): "agent",
    ("GET", "/console/queues/{name:str}"): "agent",
    ("GET", "/console/queues/counts"): "agent",
    ("POST", "/console/queues/bulk"): "agent",
    ("GET", "/console/search"): "agent",
    ("GET", "/console/tickets/{ticket_id:int}"): "agent",
    ("GET", "/console/tickets/{ticket_id:int}/timeline"): "agent",
    ("GET", "/console/tickets/{ticket_id:int}/properties"): "agent",
    ("GET", "/console/tickets/{ticket_id:int}/sla-clocks"): "agent",
    ("POST", "/console/tickets/{ticket_id:int}/reply"): "agent",
    ("GET", "/console/tickets/{ticket_id:int}/templates"): "agent",  # WhatsApp templates for the reply box
    ("POST", "/console/tickets/{ticket_id:int}/canned"): "agent",
    ("POST", "/console/tickets/{ticket_id:int}/properties"): "agent",
    ("POST", "/console/tickets/{ticket_id:int}/merge"): "agent",
    ("POST", "/console/tickets/{ticket_id:int}/messages/{message_id:int}/split"): "agent",
    ("POST", "/console/tickets/{ticket_id:int}/messages/{message_id:int}/retry"): "agent",
    ("GET", "/console/tickets/{ticket_id:int}/messages/{message_id:int}"): "agent",
    ("POST", "/console/tickets/{ticket_id:int}/presence"): "agent",
    ("POST", "/console/tickets/{ticket_id:int}/draft"): "agent",
    ("POST", "/console/tickets/{ticket_id:int}/draft/discard"): "agent",
    ("POST", "/console/tickets/{ticket_id:int}/snooze"): "agent",
    ("POST", "/console/tickets/{ticket_id:int}/unsnooze"): "agent",
    ("GET", "/console/notifications"): "agent",
    ("GET", "/console/notifications/bell"): "agent",
    ("POST", "/console/notifications/read"): "agent",
    ("POST", "/console/notifications/{notification_id:int}/open"): "agent",
    ("GET", "/console/attachments/{attachment_id:int}"): "agent",
    ("GET", "/console/attachments/{attachment_id:int}/thumbnail/{sha256:str}"): "agent",
    ("GET", "/console/customers/{customer_id:int}"): "agent",
    ("POST", "/console/customers/{customer_id:int}"): "agent",
    ("GET", "/console/customers/{customer_id:int}/panel"): "agent",
    ("GET", "/console/customers/{customer_id:int}/orders"): "agent",
    ("POST", "/console/customers/{customer_id:int}/merge"): "lead",
    ("GET", "/console/customers/{customer_id:int}/export"): "admin",
    ("POST", "/console/customers/{customer_id:int}/erase"): "admin",
    ("GET", "/console/customers/{customer_id:int}/merge"): "lead",
    ("GET", "/console/customers/{customer_id:int}/merge/search"): "lead",
    ("GET", "/console/customers/{customer_id:int}/duplicates"): "agent",
    ("GET", "/console/customers/duplicates"): "agent",
    ("POST", "/console/customers/duplicates/dismiss"): "agent",
    ("POST", "/console/customers/conflicts/{conflict_id:int}/keep-apart"): "agent",
    ("POST", "/console/customers/{customer_id:int}/attributes"): "agent",
    ("POST", "/console/customers/{customer_id:int}/attributes/remove"): "agent",
    ("GET", "/console/organizations"): "agent",
    ("POST", "/console/organizations"): "lead",
    ("GET", "/console/organizations/{organization_id:int}"): "agent",
    ("POST", "/console/organizations/{organization_id:int}"): "lead",
    ("POST", "/console/organizations/{organization_id:int}/domains"): "lead",
    ("POST", "/console/organizations/{organization_id:int}/domains/remove"): "lead",
    ("GET", "/console/live/queues"): "agent",
    ("GET", "/console/live/tickets/{ticket_id:int}"): "agent",
    ("GET", "/console/sla"): "lead",
    ("GET", "/console/sla/report.csv"): "lead",
    ("GET", "/console/sla/live"): "lead",
    ("GET", "/console/admin"): "admin",
    ("GET", "/console/admin/agents"): "admin",
    ("POST", "/console/admin/agents"): "admin",
    ("POST", "/console/admin/agents/{agent_id:int}"): "admin",
    ("POST", "/console/admin/teams"): "admin",
    ("POST", "/console/admin/teams/{team_id:int}"): "admin",
    ("GET", "/console/admin/mailboxes"): "admin",
    ("POST", "/console/admin/mailboxes"): "admin",
    ("POST", "/console/admin/mailboxes/{mailbox_id:int}"): "admin",
    ("POST", "/console/admin/mailboxes/{mailbox_id:int}/delete"): "admin",
    ("GET", "/console/admin/canned"): "admin",
    ("POST", "/console/admin/canned"): "admin",
    ("POST", "/console/admin/canned/{response_id:int}"): "admin",
    ("POST", "/console/admin/canned/{response_id:int}/delete"): "admin",
    ("GET", "/console/admin/chat"): "admin",
    ("POST", "/console/admin/chat"): "admin",
    ("GET", "/console/admin/chat/{channel_id:int}"): "admin",
    ("POST", "/console/admin/chat/{channel_id:int}"): "admin",
    ("POST", "/console/admin/chat/{channel_id:int}/rotate"): "admin",
    ("POST", "/console/admin/chat/{channel_id:int}/active"): "admin",
    ("GET", "/console/admin/social"): "admin",
    ("GET", "/console/admin/social/new/{platform:str}"): "admin",
    ("POST", "/console/admin/social/new/{platform:str}"): "admin",
    ("GET", "/console/admin/social/{account_id:int}"): "admin",
    ("POST", "/console/admin/social/{account_id:int}"): "admin",
    ("POST", "/console/admin/social/{account_id:int}/active"): "admin",
    ("GET", "/console/admin/sla"): "admin",
    ("GET", "/console/admin/sla/policies/new"): "admin",
    ("POST", "/console/admin/sla/policies"): "admin",
    ("GET", "/console/admin/sla/policies/{policy_id:int}"): "admin",
    ("POST", "/console/admin/sla/policies/{policy_id:int}"): "admin",
    ("POST", "/console/admin/sla/policies/{policy_id:int}/move"): "admin",
    ("GET", "/console/admin/sla/calendars/new"): "admin",
    ("POST", "/console/admin/sla/calendars"): "admin",
    ("GET", "/console/admin/sla/calendars/{calendar_id:int}"): "admin",
    ("POST", "/console/admin/sla/calendars/{calendar_id:int}"): "admin",
    ("GET", "/console/admin/webhooks"): "admin",
    ("POST", "/console/admin/webhooks"): "admin",
    ("POST", "/console/admin/webhooks/{endpoint_id:int}/active"): "admin",
    ("POST", "/console/admin/webhooks/{endpoint_id:int}/delete"): "admin",
    ("GET", "/console/admin/tokens"): "admin",
    ("POST", "/console/admin/tokens"): "admin",
    ("POST", "/console/admin/tokens/{token_id:int}/revoke"): "admin",
    ("POST", "/console/admin/webhooks/{endpoint_id:int}/test"): "admin",
    ("POST", "/console/admin/webhooks/deliveries/{delivery_id:int}/retry"): "admin",
    ("GET", "/console/admin/quarantine"): "admin",
    ("GET", "/console/admin/quarantine/{quarantine_id:int}/raw"): "admin",
    ("POST", "/console/admin/quarantine/{quarantine_id:int}/reingest"): "admin",
    ("POST", "/console/admin/quarantine/{quarantine_id:int}/dismiss"): "admin",
}
# Infinite streams: checked through their guards and the refusals, not by reading them to the end.
STREAMS = {("GET", "/console/live/queues"), ("GET", "/console/live/tickets/{ticket_id:int}"),
           ("GET", "/console/sla/live")}
# Signing out ends the session the rest of the matrix uses; it is checked on its own.
SESSION_ENDING = {("POST", "/console/logout")}


def console_routes(app):
    for route in app.routes:
        if isinstance(route, HTTPRoute) and route.path.startswith("/console"):
            for handler in route.route_handlers:
                for method in handler.http_methods:
                    if method != "OPTIONS":
                        yield method, route.path, handler


def least_role(handler) -> str | None:
    names = [getattr(g, "func", g).__name__ for g in handler.resolve_guards()]
    roles = [n.removeprefix("requires_") for n in names if n.startswith("requires_")]
    return max(roles, key=ROLE_RANK.__getitem__) if roles else None


def test_every_console_route_is_in_the_matrix_with_its_guard(app):
    seen = set()
    for method, path, handler in console_routes(app):
        key = (method, path)
        seen.add(key)
        if key in PUBLIC:
            continue
        assert key in EXPECTED, f"{method} {path} is not in the role matrix: add it with its least role"
        assert least_role(handler) == EXPECTED[key], f"{method} {path} is guarded for {least_role(handler)}"
        if key not in SESSION_ENDING:
            # the guard reads the session; the `agent` dependency checks the agent is still active
            assert "agent" in handler.parsed_fn_signature.parameters, f"{method} {path} does not load the agent"
    assert set(EXPECTED) <= seen, f"routes gone from the app: {set(EXPECTED) - seen}"


def fill(path: str, ids: dict[str, int]) -> str:
    for name, value in ids.items():
        path = path.replace("{" + name + ":int}", str(value))
    return path.replace("{name:str}", "open").replace("{sha256:str}", "0" * 64).replace("{platform:str}", "whatsapp")


@pytest.fixture
async def ids(shop, session):
    attachment = Attachment(message_id=shop.message_ids[0], sha256="0" * 64, size=0, content_type="text/plain",
                            filename="missing.txt")
    session.add(attachment)
    await session.commit()
    return {"ticket_id": shop.ticket_ids[0], "message_id": shop.message_ids[0], "customer_id": shop.customer_id,
            "attachment_id": attachment.id, "agent_id": 99999, "team_id": 99999, "mailbox_id": 99999,
            "response_id": 99999, "quarantine_id": 99999, "notification_id": 99999, "channel_id": 99999,
            "policy_id": 99999, "calendar_id": 99999, "account_id": 99999, "conflict_id": 99999,
            "organization_id": 99999,
            "endpoint_id": 99999, "delivery_id": 99999, "token_id": 99999}


async def call(client, method: str, url: str, token: str | None):
    if method == "GET":
        return await client.get(url, follow_redirects=False)
    headers = {"x-csrftoken": token} if token else {}
    if url.endswith("/reply"):
        return await client.post(url, headers=headers, files={"attachments": ("", b"", "text/plain")},
                                 follow_redirects=False)
    return await client.post(url, headers=headers, data={}, follow_redirects=False)


async def test_signed_out_requests_go_to_the_login_page(app, ids):
    async with AsyncTestClient(app=app) as client:
        await client.get("/console/login")
        token = client.cookies.get("helpdesk_csrf")
        for method, path, _ in console_routes(app):
            if (method, path) in PUBLIC:
                continue
            response = await call(client, method, fill(path, ids), token)
            if method == "GET":
                assert response.status_code in (302, 303), (method, path, response.status_code)
                assert response.headers["location"].startswith("/console/login"), (method, path)
            else:
                assert response.status_code in (302, 303, 401), (method, path, response.status_code)
            htmx_response = await client.get(fill(path, ids), headers=htmx()) if method == "GET" else None
            if htmx_response is not None:
                assert htmx_response.status_code == 401 and htmx_response.headers["hx-retarget"] == "#console-alert"


@pytest.mark.parametrize("role", ["agent", "lead", "admin"])
async def test_each_role_reaches_exactly_its_routes(app, ids, role):
    async with AsyncTestClient(app=app) as client:
        token = await sign_in(client, role)
        for method, path, _ in sorted(console_routes(app), key=lambda r: (r[0], r[1])):
            key = (method, path)
            if key in PUBLIC or key in SESSION_ENDING:
                continue
            allowed = ROLE_RANK[role] >= ROLE_RANK[EXPECTED[key]]
            if key in STREAMS and allowed:
                continue  # the guard is checked above; reading an endless stream would hang
            response = await call(client, method, fill(path, ids), token)
            if allowed:
                assert response.status_code not in (401, 403), (role, method, path, response.status_code, response.text[:300])
            else:
                assert response.status_code == 403, (role, method, path, response.status_code)
        response = await client.post("/console/logout", headers={"x-csrftoken": token}, follow_redirects=False)
        assert response.status_code in (302, 303)
        assert (await client.get("/console/", follow_redirects=False)).status_code in (302, 303)


async def test_demoted_or_deactivated_agents_lose_access_at_once(app, shop, session):
    from helpdesk.models import Agent

    async with AsyncTestClient(app=app) as client:
        await sign_in(client, "admin")
        assert (await client.get("/console/admin/agents")).status_code == 200
        admin = await session.get(Agent, shop.agents["admin"])
        admin.role = "agent"
        await session.commit()
        assert (await client.get("/console/admin/agents", follow_redirects=False)).status_code == 403
        assert (await client.get("/console/sla/", follow_redirects=False)).status_code == 403
        assert (await client.get("/console/queues/open")).status_code == 200
        admin.active = False
        await session.commit()
        response = await client.get(f"/console/customers/{shop.customer_id}/orders", follow_redirects=False)
        assert response.status_code in (302, 303)
