"""A real server process and a real Chromium (Debian's, driven by Playwright)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from helpdesk.settings import Settings
from tests.conftest import free_port, missing_component, run_sync

CHROMIUM = os.environ.get("HELPDESK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "e2e-password-1"


@dataclass
class LiveServer:
    url: str
    settings: Settings
    process: subprocess.Popen


# module scope: the sync API keeps an event loop running, which async tests elsewhere must not meet
@pytest.fixture(scope="module")
def playwright_instance():
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        missing_component(f"Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(playwright_instance):
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()


def _seed_agents(settings: Settings) -> None:
    from helpdesk.staff.agents import create_agent
    from helpdesk.db import make_engine, make_session_factory
    from helpdesk.migrate import upgrade

    async def seed() -> None:
        engine = make_engine(settings)
        await upgrade(engine)
        async with make_session_factory(engine)() as session:
            for email, name, role in (("bea@shop.test", "Bea Agent", "agent"), ("lena@shop.test", "Lena Lead", "lead"),
                                      ("alex@shop.test", "Alex Admin", "admin")):
                await create_agent(session, email=email, name=name, role=role, password=PASSWORD)
        await engine.dispose()

    run_sync(seed())


def start_server(tmp_path: Path, settings: Settings, database_url: str, *, port: int | None = None) -> LiveServer:
    """`helpdesk serve` in a subprocess on a free loopback port, or on `port` to restart one (in-process
    worker, IDLE listeners)."""
    port = port or free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(HELPDESK_DATA_DIR=str(settings.data_dir), HELPDESK_DATABASE_URL=database_url,
               HELPDESK_SECRET_KEY="e2e-secret", HELPDESK_MAIL_DOMAIN="support.example.test",
               HELPDESK_BASE_URL=f"http://127.0.0.1:{port}", PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    log = open(tmp_path / "serve.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "helpdesk", "serve", "--port", str(port)], env=env,
                               cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("serve did not start: " + (tmp_path / "serve.log").read_text()[-3000:])
        time.sleep(0.3)
    return LiveServer(url, settings, process)


def stop_server(server: LiveServer) -> None:
    server.process.send_signal(signal.SIGINT)
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()


def e2e_settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "var", database_url=database_url, secret_key="e2e-secret",
                    mail_domain="support.example.test")


@pytest.fixture
def live_server(tmp_path, database_url):
    """A server with three agents and nothing else."""
    settings = e2e_settings(tmp_path, database_url)
    _seed_agents(settings)
    server = start_server(tmp_path, settings, database_url)
    yield server
    stop_server(server)


@pytest.fixture
def page_errors():
    return []


def signed_in_page(browser, server: LiveServer, *, viewport: dict | None = None, email: str = "bea@shop.test"):
    """A new browser context signed in to the console: (context, page), the page's script errors in `page.errors`."""
    context = browser.new_context(viewport=viewport or {"width": 1280, "height": 800})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    sign_in(page, server, email)
    return context, page


def sign_in(page, server: LiveServer, email: str = "bea@shop.test") -> None:
    page.goto(server.url + "/console/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda u: "/console/login" not in u)
