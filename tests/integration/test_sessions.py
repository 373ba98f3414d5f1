"""Console sessions: none stored for anonymous requests, no adoption of made-up ids, a fresh id at
sign-in, expired ones swept."""
from __future__ import annotations

import time
from pathlib import Path

from litestar.stores.file import FileStore
from litestar.testing import AsyncTestClient

from helpdesk.web.sessions import sweep_expired
from tests.support.console import PASSWORD, app, csrf_from, shop, sign_in  # noqa: F401

COOKIE = "helpdesk_session"


def stored_sessions(settings) -> list[Path]:
    folder = settings.data_dir / "sessions"
    return [p for p in folder.iterdir() if p.is_file()] if folder.exists() else []


async def test_anonymous_requests_store_no_session(app, settings):
    async with AsyncTestClient(app=app) as client:
        for path in ("/healthz", "/static/console.css", "/console/login", "/console/"):
            await client.get(path, follow_redirects=False)
        assert stored_sessions(settings) == []
        assert COOKIE not in client.cookies


async def test_a_planted_session_id_is_never_adopted(app, shop, settings):
    planted = "f" * 64
    async with AsyncTestClient(app=app) as victim:
        victim.cookies.set(COOKIE, planted, domain="testserver.local", path="/")
        await sign_in(victim, "agent")
        issued = victim.cookies.get(COOKIE)
        assert issued and issued != planted
        assert (await victim.get("/console/", follow_redirects=False)).status_code == 200
    async with AsyncTestClient(app=app) as attacker:
        attacker.cookies.set(COOKIE, planted, domain="testserver.local", path="/")
        response = await attacker.get("/console/", follow_redirects=False)
        assert response.status_code in (302, 303)
        assert response.headers["location"].startswith("/console/login")


async def test_each_sign_in_gets_a_fresh_id_and_sign_out_ends_it(app, shop):
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, "agent")
        first = client.cookies.get(COOKIE)
        page = await client.get("/console/login")
        await client.post("/console/login", data={"email": "lead@shop.test", "password": PASSWORD,
                                                  "_csrf_token": csrf_from(page.text), "next": "/console"},
                          follow_redirects=False)
        second = client.cookies.get(COOKIE)
        assert second and second != first
    async with AsyncTestClient(app=app) as stale:
        stale.cookies.set(COOKIE, first, domain="testserver.local", path="/")
        assert (await stale.get("/console/", follow_redirects=False)).status_code in (302, 303)
    async with AsyncTestClient(app=app) as client:
        token = await sign_in(client, "agent")
        session_id = client.cookies.get(COOKIE)
        await client.post("/console/logout", headers={"x-csrftoken": token}, follow_redirects=False)
    async with AsyncTestClient(app=app) as reuse:
        reuse.cookies.set(COOKIE, session_id, domain="testserver.local", path="/")
        assert (await reuse.get("/console/", follow_redirects=False)).status_code in (302, 303)


async def test_expired_sessions_are_swept_from_the_file_store(tmp_path):
    store = FileStore(path=tmp_path / "sessions")
    await store.set("old", b"{}", expires_in=1)
    await store.set("fresh", b"{}", expires_in=3600)
    time.sleep(1.1)
    await sweep_expired(store)
    assert len(list((tmp_path / "sessions").iterdir())) == 1  # the file store names files by a hash of the key
    assert await store.get("fresh") == b"{}"


async def test_failed_sign_ins_are_throttled_per_account_alike_for_unknown_accounts(app, shop):
    async with AsyncTestClient(app=app) as client:
        for email in ("agent@shop.test", "nobody@shop.test"):
            statuses = []
            for _ in range(6):
                page = await client.get("/console/login")
                response = await client.post("/console/login", data={
                    "email": email, "password": "wrong", "_csrf_token": csrf_from(page.text), "next": "/console"})
                statuses.append(response.status_code)
            assert statuses == [400] * 5 + [429], (email, statuses)
            assert "Too many failed sign-ins" in response.text
        page = await client.get("/console/login")
        blocked = await client.post("/console/login", data={"email": "agent@shop.test", "password": PASSWORD,
                                                            "_csrf_token": csrf_from(page.text), "next": "/console"},
                                    follow_redirects=False)
        assert blocked.status_code == 429  # even the right password waits out the window


async def test_password_checks_leave_the_event_loop_free():
    import asyncio

    from helpdesk.staff.passwords import check_password

    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    loop = asyncio.get_running_loop()
    started = loop.time()
    results = await asyncio.gather(*(check_password(None, "guess") for _ in range(4)))
    elapsed = loop.time() - started
    task.cancel()
    assert results == [False] * 4
    assert ticks >= elapsed / 0.005 * 0.3, (ticks, elapsed)  # the loop kept ticking while argon2 ran in threads
