"""The `helpdesk` command, run as a user runs it: in a subprocess, on SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import PG_ADMIN_URL, free_port, missing_component, port_open, run_sync

HELPDESK = [sys.executable, "-m", "helpdesk"]


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database_url(request, tmp_path):
    """A database with no schema at all, as on a first install."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    if not port_open("127.0.0.1", 5432):
        missing_component("PostgreSQL on 127.0.0.1:5432")
    import asyncpg

    name = f"helpdesk_cli_{uuid.uuid4().hex[:8]}"
    admin = PG_ADMIN_URL.replace("postgresql://", "postgres://")

    async def sql(statement: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    run_sync(sql(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    run_sync(sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def helpdesk(args: list[str], env: dict, cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*HELPDESK, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300, **kwargs)


@pytest.fixture
def cli_env(tmp_path, empty_database_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(HELPDESK_DATA_DIR=str(tmp_path / "var"), HELPDESK_DATABASE_URL=empty_database_url,
               PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    return env


def sql_count(env: dict, table: str) -> int:
    from sqlalchemy import text

    from helpdesk.db import make_engine
    from helpdesk.settings import Settings

    async def count() -> int:
        engine = make_engine(Settings(data_dir=Path(env["HELPDESK_DATA_DIR"]),
                                      database_url=env["HELPDESK_DATABASE_URL"]))
        try:
            async with engine.connect() as conn:
                return (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
        finally:
            await engine.dispose()

    return run_sync(count())


def test_db_upgrade_creates_schema_on_empty_database(cli_env, tmp_path):
    result = helpdesk(["db", "upgrade"], cli_env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert sql_count(cli_env, "tickets") == 0
    again = helpdesk(["db", "upgrade"], cli_env, tmp_path)
    assert again.returncode == 0 and "up to date" in again.stderr


def test_agents_create_then_duplicate_is_a_clear_error(cli_env, tmp_path):
    assert helpdesk(["db", "upgrade"], cli_env, tmp_path).returncode == 0
    args = ["agents", "create", "--email", "Bea@Shop.test", "--name", "Bea", "--role", "lead", "--password", "s3cret-pass"]
    created = helpdesk(args, cli_env, tmp_path)
    assert created.returncode == 0, created.stderr
    assert "bea@shop.test created" in created.stderr
    duplicate = helpdesk(args, cli_env, tmp_path)
    assert duplicate.returncode == 1
    assert "already exists" in duplicate.stderr and "Traceback" not in duplicate.stderr
    short = helpdesk(["agents", "create", "--email", "x@y.z", "--name", "X", "--password", "short"], cli_env, tmp_path)
    assert short.returncode == 1 and "at least 8 characters" in short.stderr


def test_demo_twice_seeds_once(cli_env, tmp_path):
    first = helpdesk(["demo"], cli_env, tmp_path)
    assert first.returncode == 0, first.stderr
    counts = {t: sql_count(cli_env, t) for t in ("customers", "tickets", "messages", "orders", "agents")}
    assert counts["customers"] >= 50 and counts["tickets"] >= 200 and counts["orders"] >= 50
    channels = sql_count(cli_env, "(SELECT DISTINCT channel FROM tickets) AS c")
    assert channels >= 4
    second = helpdesk(["demo"], cli_env, tmp_path)
    assert second.returncode == 0, second.stderr
    assert {t: sql_count(cli_env, t) for t in counts} == counts


def test_serve_answers_healthz_and_login_page(cli_env, tmp_path):
    port = free_port()
    process = subprocess.Popen([*HELPDESK, "serve", "--port", str(port)], env=cli_env, cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"serve did not come up: {process.stderr.read() if process.poll() is not None else 'timeout'}")
                time.sleep(0.3)
        assert health.status_code == 200 and health.json()["database"] == "ok"
        login = httpx.get(f"http://127.0.0.1:{port}/console/login")
        assert login.status_code == 200 and 'name="password"' in login.text
        console_page = httpx.get(f"http://127.0.0.1:{port}/console/", follow_redirects=False)
        assert console_page.status_code in (302, 303, 307) and "/console/login" in console_page.headers["location"]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
