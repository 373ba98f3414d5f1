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
from tests.support.processes import stop, wait_until_serving

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
    return sql_value(env, f"SELECT count(*) FROM {table}")


def sql_value(env: dict, query: str):
    from sqlalchemy import text

    from helpdesk.db import make_engine
    from helpdesk.settings import Settings

    async def value():
        engine = make_engine(Settings(data_dir=Path(env["HELPDESK_DATA_DIR"]),
                                      database_url=env["HELPDESK_DATABASE_URL"]))
        try:
            async with engine.begin() as conn:  # committed: the query may be an UPDATE ... RETURNING
                return (await conn.execute(text(query))).scalar_one()
        finally:
            await engine.dispose()

    return run_sync(value())


def test_db_upgrade_creates_schema_on_empty_database(cli_env, tmp_path):
    result = helpdesk(["db", "upgrade"], cli_env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert sql_count(cli_env, "tickets") == 0
    again = helpdesk(["db", "upgrade"], cli_env, tmp_path)
    assert again.returncode == 0 and "up to date" in again.stderr


def test_agents_create_then_duplicate_is_a_clear_error(cli_env, tmp_path):
    # no `db upgrade` first: on a fresh install the first command may well be this one
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
        health = wait_until_serving(process, f"http://127.0.0.1:{port}",
                                    lambda: process.stderr.read() if process.poll() is not None else "timeout")
        assert health.status_code == 200 and health.json()["database"] == "ok"
        login = httpx.get(f"http://127.0.0.1:{port}/console/login")
        assert login.status_code == 200 and 'name="password"' in login.text
        console_page = httpx.get(f"http://127.0.0.1:{port}/console/", follow_redirects=False)
        assert console_page.status_code in (302, 303, 307) and "/console/login" in console_page.headers["location"]
    finally:
        stop(process, signal.SIGINT, timeout=20)


def test_mail_poll_on_sigterm_commits_the_batch_in_progress_and_exits_0(cli_env, tmp_path, dovecot):
    from tests.support.mail import customer_mail

    from channels.email.imap import BATCH

    total = 5 * BATCH  # five batches: SIGTERM lands while one of them is being ingested
    client = dovecot.client()
    try:
        client.multiappend("INBOX", [customer_mail(sender=f"c{n}@example.com", subject=f"Order {n}")
                                     for n in range(total)])
    finally:
        client.logout()
    assert helpdesk(["db", "upgrade"], cli_env, tmp_path).returncode == 0
    added = helpdesk(["mailboxes", "add", dovecot.user, "--imap-host", dovecot.host, "--imap-port", str(dovecot.port),
                      "--imap-security", "none", "--imap-password", dovecot.password, "--no-idle"], cli_env, tmp_path)
    assert added.returncode == 0, added.stderr

    process = subprocess.Popen([*HELPDESK, "mail", "poll", "--once"], env=cli_env, cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while sql_count(cli_env, "messages") == 0:  # the first batch is committed
            assert process.poll() is None and time.monotonic() < deadline, process.stderr
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "stopped on SIGTERM" in stderr and "Traceback" not in stderr
    done = sql_count(cli_env, "messages")
    assert BATCH <= done < total and done % BATCH == 0  # whole batches: the one in progress was not rolled back
    assert sql_value(cli_env, "SELECT last_uid FROM mailboxes") == done  # and its bookmark was saved

    again = helpdesk(["mail", "poll", "--once"], cli_env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"{total - done} ingested, 0 duplicates" in again.stderr
    assert sql_count(cli_env, "messages") == total and sql_count(cli_env, "tickets") == total


def test_mailboxes_edit_changes_only_the_given_settings_and_a_new_host_starts_reading_over(cli_env, tmp_path):
    assert helpdesk(["db", "upgrade"], cli_env, tmp_path).returncode == 0
    added = helpdesk(["mailboxes", "add", "help@shop.test", "--imap-host", "imap.old.test", "--imap-password", "one",
                      "--auto-ack"], cli_env, tmp_path)
    assert added.returncode == 0, added.stderr
    mailbox_id = sql_value(cli_env, "UPDATE mailboxes SET uidvalidity = 7, last_uid = 42 RETURNING id")
    row = "SELECT imap_host || ' ' || imap_password || ' ' || {} || ' ' || coalesce(uidvalidity, 0) || ' ' || last_uid " \
          "FROM mailboxes".format("CASE WHEN auto_ack THEN 'ack' ELSE 'no-ack' END")

    edited = helpdesk(["mailboxes", "edit", str(mailbox_id), "--password", "two", "--no-auto-ack"], cli_env, tmp_path)
    assert edited.returncode == 0, edited.stderr
    assert "updated mailbox help@shop.test: auto_ack, imap_password" in edited.stderr and "two" not in edited.stderr
    assert sql_value(cli_env, row) == "imap.old.test two no-ack 7 42"  # same mailbox: the bookmark stays

    moved = helpdesk(["mailboxes", "edit", "help@shop.test", "--host", "imap.new.test"], cli_env, tmp_path)
    assert moved.returncode == 0 and "reading starts over" in moved.stderr
    assert sql_value(cli_env, row) == "imap.new.test two no-ack 0 0"

    for args, error in ([["99", "--host", "x.test"], "no mailbox 99"], [[str(mailbox_id)], "nothing to change"],
                        [[str(mailbox_id), "--folder", " "], "name the folder"]):
        failed = helpdesk(["mailboxes", "edit", *args], cli_env, tmp_path)
        assert failed.returncode == 1 and error in failed.stderr, failed.stderr
        assert len(failed.stderr.strip().splitlines()) == 1 and "Traceback" not in failed.stderr
    assert sql_value(cli_env, row) == "imap.new.test two no-ack 0 0"
