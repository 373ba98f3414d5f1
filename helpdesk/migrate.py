"""Apply Alembic migrations for the configured database."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

from helpdesk.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", settings.async_database_url)
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade over an existing engine (no second event loop, works inside the app)."""
    await _run(engine, command.upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """Step back to `revision` (every migration has a working downgrade; a test walks them)."""
    await _run(engine, command.downgrade, revision)


async def _run(engine: AsyncEngine, step, revision: str) -> None:
    def _step(connection) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        step(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(_step)
