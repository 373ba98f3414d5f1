"""db upgrade, agents: administering the helpdesk (the processes that run it are `workers.commands`)."""
from __future__ import annotations

import click

from helpdesk.cli import CliError, console, run, settings_of, with_database
from helpdesk.settings import Settings


async def _upgrade(settings: Settings) -> None:
    async def nothing(_sessions) -> None:
        return None

    await with_database(settings, nothing)


def register(cli: click.Group) -> None:
    @cli.group()
    def db() -> None:
        """Database schema."""

    @db.command("upgrade")
    @click.pass_context
    def db_upgrade(ctx) -> None:
        """Apply all migrations (creates the database schema on first run)."""
        settings = settings_of(ctx)
        run(_upgrade(settings))
        console.print("database is up to date")

    @cli.group()
    def agents() -> None:
        """Agents who sign in to the console."""

    @agents.command("create")
    @click.option("--email", required=True)
    @click.option("--name", required=True)
    @click.option("--role", type=click.Choice(["agent", "lead", "admin"]), default="agent", show_default=True)
    @click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
    @click.option("--team", default=None)
    @click.pass_context
    def agents_create(ctx, email: str, name: str, role: str, password: str, team: str | None) -> None:
        """Create an agent who can sign in to the console."""
        from helpdesk.staff.agents import AgentError, create_agent

        settings = settings_of(ctx)

        async def _create(sessions) -> tuple[int, str]:
            async with sessions() as session:
                agent = await create_agent(session, email=email, name=name, role=role, password=password, team=team)
                return agent.id, agent.email

        try:
            agent = run(with_database(settings, _create))  # a fresh install: the first command may be this one
        except AgentError as exc:
            raise CliError(str(exc)) from None
        console.print(f"agent {agent[1]} created (id {agent[0]}, role {role})")
