"""Fixtures named after the real components they provide: sqlite, postgres, redis, ..."""
from __future__ import annotations

import asyncio
import os
import shutil
import socket
from pathlib import Path

import pytest
from sqlalchemy import text

from helpdesk.db import make_engine, make_session_factory
from helpdesk.migrate import upgrade
from helpdesk.models import Base
from helpdesk.settings import Settings
from helpdesk.sla.policies import forget_cached_policies
from helpdesk.tickets import sla_board

IN_CI = os.environ.get("CI") == "true"
PG_ADMIN_URL = os.environ.get("HELPDESK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
PG_TEST_DB = f"helpdesk_test_{os.getpid()}"
REDIS_URL = os.environ.get("HELPDESK_TEST_REDIS", "redis://127.0.0.1:6379/15")
CORPUS = Path(os.environ.get("HELPDESK_CORPUS_DIR", Path(__file__).resolve().parents[2] / "shared" / "corpus"))


def run_sync(coro):
    """asyncio.run in a fresh thread: works even where a loop is running (Playwright's sync API)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def missing_component(what: str) -> None:
    """Under CI a missing real component fails the test; on a laptop it skips."""
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true but is not available")
    pytest.skip(f"{what} is not available")


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url():
    """A fresh, migrated PostgreSQL database for this test run, dropped afterwards."""
    if not port_open("127.0.0.1", 5432):
        missing_component("PostgreSQL on 127.0.0.1:5432")
    import asyncpg

    admin = PG_ADMIN_URL.replace("postgresql://", "postgres://")

    async def create() -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{PG_TEST_DB}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{PG_TEST_DB}"')
        finally:
            await conn.close()
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + PG_TEST_DB
        engine = make_engine(Settings(database_url=url))
        await upgrade(engine)
        await engine.dispose()

    async def drop() -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{PG_TEST_DB}" WITH (FORCE)')
        finally:
            await conn.close()

    run_sync(create())
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + PG_TEST_DB
    run_sync(drop())


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("sqlite") / "template.sqlite3"

    async def create() -> None:
        engine = make_engine(Settings(database_url=f"sqlite:///{path}"))
        await upgrade(engine)
        await engine.dispose()

    run_sync(create())
    return path


async def _truncate_postgres(url: str) -> None:
    engine = make_engine(Settings(database_url=url))
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    await engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path) -> str:
    """Every database test runs twice: on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "helpdesk.sqlite3"
        shutil.copy(template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_url")
    run_sync(_truncate_postgres(url))
    # caches keyed by the database URL outlive the rows TRUNCATE removed (PostgreSQL's URL is the same each test)
    forget_cached_policies()
    sla_board.forget_closed_days()
    return url


@pytest.fixture
def settings(tmp_path, database_url) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url, secret_key="test-secret",
                    mail_domain="support.example.test")


@pytest.fixture(autouse=True)
def _no_deferred_webhooks_left_over():
    """A test that set up a worker (workers.actors.rebind) leaves the pipeline's deferrer pointing at its
    stopped broker: webhooks in later tests would be accepted and never ingested. Reset after each test."""
    yield
    from helpdesk.inbound import pipeline
    from helpdesk.social.accounts import directory

    pipeline.set_deferrer(None)
    directory.invalidate()


@pytest.fixture
async def engine(settings):
    engine = make_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine):
    return make_session_factory(engine)


@pytest.fixture
async def session(sessions):
    async with sessions() as session:
        yield session


@pytest.fixture
def redis_url():
    if not port_open("127.0.0.1", 6379):
        missing_component("Redis on 127.0.0.1:6379")
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()


@pytest.fixture
def corpus_dir() -> Path:
    if not CORPUS.exists():
        missing_component(f"the shared corpus at {CORPUS}")
    return CORPUS
