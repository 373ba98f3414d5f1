"""The migration history walks down and up again on both databases, search included."""
from __future__ import annotations

import pytest

from helpdesk.tools.bench import create_pg_database
from helpdesk.db import make_engine, make_session_factory
from helpdesk.inbound.ingest import ingest
from helpdesk.migrate import downgrade, upgrade
from helpdesk.tickets.search import search
from helpdesk.settings import Settings
from tests.conftest import PG_ADMIN_URL, missing_component, port_open
from tests.factories import inbound


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
async def test_down_to_0005_and_up_again_keeps_search_working(dialect, tmp_path):
    if dialect == "sqlite":
        url = f"sqlite:///{tmp_path / 'helpdesk.sqlite3'}"
    else:
        if not port_open("127.0.0.1", 5432):
            missing_component("PostgreSQL on 127.0.0.1:5432")
        url = await create_pg_database(PG_ADMIN_URL, "helpdesk_test_migrations")
    settings = Settings(data_dir=tmp_path / "data", database_url=url, secret_key="test")
    engine = make_engine(settings)
    try:
        await upgrade(engine)
        await downgrade(engine, "0005")
        await upgrade(engine)
        async with make_session_factory(engine)() as session:
            result = await ingest(session, inbound(subject="Kettle whistles in B flat"), settings=settings)
            hits = await search(session, "whistles")
        assert [hit.ticket_id for hit in hits] == [result.ticket_id]
    finally:
        await engine.dispose()


async def test_upgrade_of_a_current_schema_is_one_query_without_alembic(tmp_path):
    import subprocess
    import sys

    from alembic.script import ScriptDirectory

    from helpdesk.migrate import alembic_config, head_revision, is_current

    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'helpdesk.sqlite3'}")
    assert head_revision() == ScriptDirectory.from_config(alembic_config(settings)).get_current_head()
    engine = make_engine(settings)
    try:
        assert not await is_current(engine)  # an empty database: Alembic creates the schema
        await upgrade(engine)
        assert await is_current(engine)
        await downgrade(engine, "0007")
        assert not await is_current(engine)
        await upgrade(engine)
    finally:
        await engine.dispose()
    check = ("import asyncio, sys; from helpdesk.db import make_engine; from helpdesk.migrate import upgrade;"
             "from helpdesk.settings import Settings; "
             f"asyncio.run(upgrade(make_engine(Settings(database_url={settings.database_url!r})))); "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))")
    loaded = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"
