"""`helpdesk seed large` at small scale, run as a user runs it, on a database it creates itself."""
from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from helpdesk.db import make_engine, make_session_factory
from helpdesk.tickets.search import search
from helpdesk.settings import Settings
from tests.conftest import PG_ADMIN_URL, missing_component, port_open

HELPDESK = [sys.executable, "-m", "helpdesk"]


@pytest.fixture
def bench_database_url():
    """The URL of a database that does not exist yet; dropped afterwards."""
    if not port_open("127.0.0.1", 5432):
        missing_component("PostgreSQL on 127.0.0.1:5432")
    import asyncpg

    name = f"helpdesk_seed_{uuid.uuid4().hex[:8]}"
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name

    async def drop() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    from tests.conftest import run_sync

    run_sync(drop())


def seed(url: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([*HELPDESK, "seed", "large", "--tickets", "1000", "--customers", "200", "--messages", "3000",
                           "--orders", "500", "--database-url", url, *extra], capture_output=True, text=True, timeout=300)


async def test_seed_large_builds_a_searchable_dataset_and_keeps_the_schema_whole(bench_database_url):
    import asyncpg

    done = seed(bench_database_url)
    assert done.returncode == 0, done.stderr
    assert "rows/s" in done.stderr and "1,000 tickets" in done.stderr and "3,000 messages" in done.stderr

    conn = await asyncpg.connect(bench_database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM ticket_search") == 1000
        assert await conn.fetchval("SELECT count(*) FROM customer_identities") >= 200
        assert await conn.fetchval("SELECT count(*) FROM order_items") >= 500
        assert await conn.fetchval("SELECT count(*) FROM tickets WHERE resolution_due_at IS NOT NULL") > 0
        assert await conn.fetchval("SELECT count(*) FROM agents") == 20
        # a ticket's last activity is its last message, and nothing has happened yet in the future
        assert await conn.fetchval("SELECT count(*) FROM tickets WHERE updated_at IS DISTINCT FROM "
                                   "(SELECT max(created_at) FROM messages WHERE ticket_id = tickets.id)") == 0
        assert await conn.fetchval("SELECT count(*) FROM messages WHERE created_at > now()") == 0
        # constraints, indexes and search triggers are back after the load
        assert await conn.fetchval("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'ticket_search_%' "
                                   "AND tgenabled = 'O'") == 7
        assert await conn.fetchval("SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_messages_ticket'") == 1
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute("INSERT INTO tickets (number, subject, status, priority, channel, customer_id, "
                               "created_at, updated_at) VALUES (1, 'x', 'new', 'normal', 'email', 1, now(), now())")
        word = await conn.fetchval("SELECT split_part(customer_identities.value, '.', 1) FROM customer_identities "
                                   "WHERE kind = 'email' ORDER BY id LIMIT 1")
    finally:
        await conn.close()

    engine = make_engine(Settings(database_url=bench_database_url))
    try:
        async with make_session_factory(engine)() as session:
            assert await search(session, word)
            assert await search(session, "refund")
    finally:
        await engine.dispose()

    again = seed(bench_database_url)
    assert again.returncode == 1 and "--reset" in again.stderr
    assert seed(bench_database_url, "--reset").returncode == 0


def test_seed_large_refuses_sqlite(tmp_path):
    done = seed(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert done.returncode == 1 and "PostgreSQL" in done.stderr
