"""`helpdesk tokens create|list|revoke`: API tokens for integrations (docs/api.md)."""
from __future__ import annotations

import click
from sqlalchemy import select

from helpdesk.cli import CliError, run, settings_of, with_database
from helpdesk.integrations import api_tokens
from helpdesk.models import Agent


def register(cli: click.Group) -> None:
    cli.add_command(tokens)


@click.group()
def tokens() -> None:
    """API tokens for the REST API (/api/v1)."""


@tokens.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(api_tokens.SCOPES), default=("read",),
              show_default=True, help="read, or write (which includes read); repeat for both.")
@click.option("--agent", "agent_email", help="The agent the token acts as (author of its notes and changes).")
@click.pass_context
def create(ctx: click.Context, name: str, scopes: tuple[str, ...], agent_email: str | None) -> None:
    """Make a token for the integration NAME; it is printed once and never again."""

    async def work(sessions):
        async with sessions() as session:
            agent_id = None
            if agent_email:
                agent_id = await session.scalar(select(Agent.id).where(Agent.email == agent_email.strip().lower()))
                if agent_id is None:
                    raise CliError(f"there is no agent {agent_email}")
            try:
                made = await api_tokens.create_token(session, name, scopes, agent_id=agent_id)
            except api_tokens.TokenError as error:
                raise CliError(str(error)) from None
            return made.token.id, made.token.scopes, made.secret

    token_id, scopes_made, secret = run(with_database(settings_of(ctx), work))
    click.echo(f"token {token_id} ({', '.join(scopes_made)}) for {name}; store it now, it is not shown again:")
    click.echo(secret)


@tokens.command("list")
@click.pass_context
def list_tokens(ctx: click.Context) -> None:
    """Every token: id, prefix, scopes, last used, revoked."""

    async def work(sessions):
        async with sessions() as session:
            return await api_tokens.list_tokens(session)

    for token in run(with_database(settings_of(ctx), work)):
        used = token.last_used_at.strftime("%Y-%m-%d %H:%M") if token.last_used_at else "never used"
        state = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "active"
        click.echo(f"{token.id}\t{token.prefix}…\t{','.join(token.scopes)}\t{used}\t{state}\t{token.name}")


@tokens.command("revoke")
@click.argument("token")
@click.pass_context
def revoke(ctx: click.Context, token: str) -> None:
    """Revoke TOKEN (its id or prefix): it answers 401 from the next request on."""

    async def work(sessions):
        async with sessions() as session:
            found = await api_tokens.find_token(session, token)
            if found is None:
                raise CliError(f"there is no token {token} (give its id or prefix: helpdesk tokens list)")
            return found.id, await api_tokens.revoke_token(session, found)

    token_id, revoked = run(with_database(settings_of(ctx), work))
    click.echo(f"token {token_id} revoked" if revoked else f"token {token_id} was revoked already")
