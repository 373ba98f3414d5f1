"""Hardening of the public console: Origin checked on state-changing requests, CSRF exemptions
anchored to their prefixes, /metrics only for loopback or a bearer token."""
from __future__ import annotations

import re

import pytest
from litestar.testing import AsyncTestClient

from helpdesk.app import CSRF_EXEMPT, create_app
from helpdesk.web.metrics import may_scrape
from tests.support.console import app, client, shop, sign_in  # noqa: F401


async def test_a_cross_site_post_is_refused_even_with_a_valid_token(client, shop):
    token = await sign_in(client, "agent")
    ticket = shop.ticket_ids[0]
    evil = await client.post(f"/console/tickets/{ticket}/properties", data={"priority": "high", "_csrf_token": token},
                             headers={"origin": "https://evil.test"}, follow_redirects=False)
    assert evil.status_code == 403 and "cross-site request refused: origin https://evil.test" in evil.text.lower()
    framed = await client.post(f"/console/tickets/{ticket}/properties", data={"priority": "high", "_csrf_token": token},
                               headers={"origin": "null"}, follow_redirects=False)
    assert framed.status_code == 403
    ours = await client.post(f"/console/tickets/{ticket}/properties", data={"priority": "high", "_csrf_token": token},
                             headers={"origin": "http://testserver.local"}, follow_redirects=False)
    assert ours.status_code < 400


def test_csrf_exemptions_match_only_their_prefixes():
    pattern = re.compile("|".join(CSRF_EXEMPT))
    for exempt in ("/webhooks/whatsapp", "/api/v1/tickets", "/chat/socket", "/healthz", "/metrics"):
        assert pattern.search(exempt), exempt
    for guarded in ("/console/admin/api-keys", "/console/chat/1", "/console/webhooks", "/console/metrics",
                    "/console/healthz-settings"):
        assert not pattern.search(guarded), guarded


async def test_metrics_need_loopback_or_the_token(settings):
    async with AsyncTestClient(app=create_app(settings.with_(metrics_token="scrape-me"))) as client:
        refused = await client.get("/metrics")  # the test client is not a loopback address
        assert refused.status_code == 403
        wrong = await client.get("/metrics", headers={"authorization": "Bearer guess"})
        assert wrong.status_code == 403
        allowed = await client.get("/metrics", headers={"authorization": "Bearer scrape-me"})
        assert allowed.status_code == 200 and "helpdesk_requests_total" in allowed.text


class _Connection:
    def __init__(self, host, token=None):
        self.client = type("Client", (), {"host": host})()
        self.headers = {}
        self.app = type("App", (), {"state": type("State", (), {"settings": type("S", (), {"metrics_token": token})()})()})()


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_metrics_are_open_to_loopback(host):
    may_scrape(_Connection(host), None)  # no exception


def test_metrics_refuse_other_hosts_without_a_token():
    from litestar.exceptions import PermissionDeniedException

    with pytest.raises(PermissionDeniedException):
        may_scrape(_Connection("10.0.0.7"), None)


@pytest.mark.parametrize("base_url, hsts", [("http://127.0.0.1:8000", False), ("https://help.shop.test", True)])
async def test_security_headers_on_console_pages(settings, base_url, hsts):
    async with AsyncTestClient(app=create_app(settings.with_(base_url=base_url))) as client:
        page = await client.get("/console/login")
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "same-origin"
        assert page.headers["x-frame-options"] == "DENY"
        policy = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self';" in policy and "unsafe-eval" not in policy
        assert ("strict-transport-security" in page.headers) is hsts


async def test_remote_images_in_mail_stay_unloaded_until_the_agent_asks(client, shop, session, settings):
    from dataclasses import replace

    from helpdesk.inbound.ingest import ingest
    from tests.factories import inbound

    message = replace(inbound(sender="ann@example.com", subject="Photo of the parcel", text="see photo"),
                      html='<p>See <img src="https://track.example/p.gif?who=ann" alt="tracking"></p>')
    result = await ingest(session, message, settings=settings)
    await sign_in(client, "agent")
    page = await client.get(f"/console/tickets/{result.ticket_id}")
    assert page.status_code == 200
    assert "track.example" not in page.text
    assert "1 remote image not loaded" in page.text
    shown = await client.get(f"/console/tickets/{result.ticket_id}/messages/{result.message_id}?images=show",
                             headers={"HX-Request": "true"})
    assert 'src="https://track.example/p.gif?who=ann"' in shown.text.replace("&amp;", "&")
    assert "remote image not loaded" not in shown.text
