"""Console sign-in: argon2 passwords, CSRF on the form, sessions, redirects."""
from __future__ import annotations

import re

import pytest
from litestar.testing import AsyncTestClient

from helpdesk.staff.agents import create_agent
from helpdesk.app import create_app


@pytest.fixture
async def client(settings, session):
    await create_agent(session, email="bea@shop.test", name="Bea Agent", role="agent", password="correct-horse")
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


def csrf_from(html: str) -> str:
    return re.search(r'name="_csrf_token" value="([^"]+)"', html).group(1)


async def sign_in(client, email="bea@shop.test", password="correct-horse"):
    page = await client.get("/console/login")
    return await client.post("/console/login", data={"email": email, "password": password, "_csrf_token": csrf_from(page.text),
                                                      "next": "/console"}, follow_redirects=False)


async def test_console_redirects_to_login_when_signed_out(client):
    response = await client.get("/console/", follow_redirects=False)
    assert response.status_code in (302, 303) and response.headers["location"].startswith("/console/login")


async def test_wrong_password_shows_error_next_to_form(client):
    response = await sign_in(client, password="wrong-password")
    assert response.status_code == 400
    assert "do not match" in response.text and 'value="bea@shop.test"' in response.text


async def test_sign_in_then_console_then_sign_out(client):
    response = await sign_in(client)
    assert response.status_code in (302, 303) and response.headers["location"] == "/console"
    home = await client.get("/console/")
    assert home.status_code == 200 and "Bea Agent" in home.text
    logout = await client.post("/console/logout", data={"_csrf_token": csrf_from(home.text)}, follow_redirects=False)
    assert logout.status_code in (302, 303)
    again = await client.get("/console/", follow_redirects=False)
    assert again.status_code in (302, 303)


async def test_login_form_without_csrf_token_is_rejected(client):
    await client.get("/console/login")
    response = await client.post("/console/login", data={"email": "bea@shop.test", "password": "correct-horse"},
                                 follow_redirects=False)
    assert response.status_code == 403


async def test_login_never_redirects_off_site(client):
    page = await client.get("/console/login")
    response = await client.post("/console/login", data={"email": "bea@shop.test", "password": "correct-horse",
                                                          "_csrf_token": csrf_from(page.text), "next": "//evil.test/x"},
                                 follow_redirects=False)
    assert response.headers["location"] == "/console"


async def test_health_metrics_and_schema_are_served(client):
    assert (await client.get("/healthz")).json() == {"status": "ok", "database": "ok"}
    await client.get("/console/login")
    assert (await client.get("/metrics")).status_code == 403  # not loopback, no token: tests/integration/test_console_hardening.py
    schema = await client.get("/schema/openapi.json")
    assert schema.status_code == 200 and schema.json()["info"]["title"] == "Helpdesk API"
