"""The API tokens admin screen (/console/admin/tokens): an admin makes a token for an integration, sees
it once, the API accepts it with its scopes, and a revoked token is refused from its next request."""
from __future__ import annotations

import re

from sqlalchemy import select

from helpdesk.models import ApiToken
from tests.support.console import app, client, shop, sign_in  # noqa: F401


async def test_admin_makes_a_read_token_sees_it_once_and_revokes_it(client, session):
    csrf = await sign_in(client, "admin")
    empty = await client.get("/console/admin/tokens")
    assert empty.status_code == 200 and "No tokens yet." in empty.text

    refused = await client.post("/console/admin/tokens", data={"name": "  ", "_csrf_token": csrf})
    assert refused.status_code == 400 and "name the integration" in refused.text
    assert 'aria-invalid="true"' in refused.text

    made = await client.post("/console/admin/tokens", data={"name": "BI export", "_csrf_token": csrf})
    assert made.status_code == 200
    secret = re.search(r'<code id="new-token" class="snippet">([^<]+)</code>', made.text).group(1)
    row = await session.scalar(select(ApiToken).where(ApiToken.name == "BI export"))
    assert row.scopes == ["read"] and row.token_hash != secret and secret.startswith(row.prefix)
    listed = await client.get("/console/admin/tokens")
    assert secret not in listed.text and f"{row.prefix}…" in listed.text  # shown once, then only its prefix

    bearer = {"authorization": f"Bearer {secret}"}
    assert (await client.get("/api/v1/customers", headers=bearer)).status_code == 200
    write = await client.post("/api/v1/customers", json={"name": "Eve"}, headers=bearer)
    assert write.status_code == 403  # a read token cannot write
    assert "never" not in re.search(rf'<tr data-token-id="{row.id}".*?</tr>',
                                    (await client.get("/console/admin/tokens")).text, re.S).group(0)

    revoked = await client.post(f"/console/admin/tokens/{row.id}/revoke", data={"_csrf_token": csrf})
    assert revoked.status_code == 200 and "is revoked" in revoked.text
    assert (await client.get("/api/v1/customers", headers=bearer)).status_code == 401


async def test_a_write_token_may_write_and_agents_cannot_see_the_screen(client):
    csrf = await sign_in(client, "admin")
    made = await client.post("/console/admin/tokens", data={"name": "Shop sync", "write": "1", "_csrf_token": csrf})
    secret = re.search(r'<code id="new-token" class="snippet">([^<]+)</code>', made.text).group(1)
    created = await client.post("/api/v1/customers", json={"name": "Eve Example", "identities": [{"kind": "email", "value": "eve@example.com"}]},
                                headers={"authorization": f"Bearer {secret}"})
    assert created.status_code == 201, created.text
    await client.post("/console/logout", data={"_csrf_token": csrf})
    await sign_in(client, "agent")
    assert (await client.get("/console/admin/tokens")).status_code == 403
