"""Apply Alembic migrations for the configured database.

Every command upgrades to head first, and almost always the schema is current already. So
`upgrade` first compares the database's stored revision with the head revision read from the
migration files' `revision` lines (one query, no Alembic); only when they differ does it load
Alembic, its environment and the migrations (~0.1 s of imports, as long again to run).
"""
from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from helpdesk.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"
_REVISION = re.compile(r"""^(down_revision|revision)\s*=\s*(?:['"]([^'"]*)['"]|None)\s*$""", re.MULTILINE)


def alembic_config(settings: Settings):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", settings.async_database_url)
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade over an existing engine (no second event loop, works inside the app)."""
    if revision == "head" and await is_current(engine):
        return
    from alembic import command

    await _run(engine, command.upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """Step back to `revision` (every migration has a working downgrade; a test walks them)."""
    from alembic import command

    await _run(engine, command.downgrade, revision)


async def is_current(engine: AsyncEngine) -> bool:
    """Whether the database is at the single head revision; False whenever that is not plain."""
    head = head_revision()
    if head is None:
        return False
    try:
        async with engine.connect() as connection:
            stored = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
    except Exception:  # noqa: BLE001 - no alembic_version yet (a new database): Alembic creates it
        return False
    return stored == [head]


@cache
def head_revision() -> str | None:
    """The revision no other migration names as its `down_revision`; None if that is not exactly one
    (branches, merges, or lines this reader does not understand: then Alembic decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        found = dict((name, value) for name, value in _REVISION.findall(path.read_text()))
        if "revision" not in found or "down_revision" not in found:
            return None
        revisions.add(found["revision"])
        parents.add(found["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


async def _run(engine: AsyncEngine, step, revision: str) -> None:
    from alembic.config import Config

    def _step(connection) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        step(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(_step)
