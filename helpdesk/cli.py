"""The `helpdesk` command: the core's own commands, plus those of every installed adapter and
process runner, found through the `helpdesk.commands` entry points in pyproject.toml. So the core
names no adapter and no worker module: the dependency stays one way (docs/architecture.md)."""
from __future__ import annotations

import asyncio
import importlib
import sys
from importlib.metadata import entry_points

import click
from rich.console import Console

from helpdesk import live
from helpdesk.settings import Settings, load_settings

console = Console(stderr=True)

# The core's command modules; each adds its commands with `register(cli)`.
CORE_COMMANDS = ["helpdesk.commands.core", "helpdesk.commands.demo", "helpdesk.commands.bench",
                 "helpdesk.commands.export", "helpdesk.commands.seed", "helpdesk.commands.sla",
                 "helpdesk.commands.customers", "helpdesk.commands.webhooks",
                 "helpdesk.commands.organizations", "helpdesk.commands.tokens",
                 "helpdesk.commands.orders"]
PLUGIN_GROUP = "helpdesk.commands"


class CliError(click.ClickException):
    """One line for the person at the terminal, exit status 1."""


@click.group()
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Customer-service helpdesk."""
    ctx.obj = settings = load_settings()
    # whichever command runs (an import, a poll, the worker), its live events reach the open
    # consoles: through Redis, or the local relay to this installation's web processes
    replaced = live.set_transport(live.transport_for(settings))
    ctx.call_on_close(lambda: live.set_transport(replaced))


def settings_of(ctx: click.Context) -> Settings:
    return ctx.find_root().obj


def run(coro):
    return asyncio.run(coro)


async def with_database(settings: Settings, work, *, migrate: bool = True):
    """Run `work(sessions)` on the settings' database (migrated to head first, as `serve` does),
    with this process's one session factory, closed when the work is done."""
    from helpdesk import db

    sessions = db.sessions(settings)
    try:
        if migrate:
            from helpdesk.migrate import upgrade

            await upgrade(sessions.kw["bind"])
        return await work(sessions)
    finally:
        await db.dispose_sessions()


def _load_commands() -> None:
    modules = [importlib.import_module(name) for name in CORE_COMMANDS]
    modules += [entry.load() for entry in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name)]
    for module in modules:
        module.register(cli)


_load_commands()


def main() -> None:
    try:
        cli(standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)
    except SystemExit as done:  # click ends every command this way
        _leave(done)


def _leave(done: SystemExit) -> None:
    """Exit without tearing the interpreter down once a command has finished and nothing else runs:
    freeing every loaded module's objects one by one took 0.1-0.3 s of each `helpdesk mail poll
    --once` (measured). Output and log handlers are flushed first; with a thread still running
    (a server shutting down), the ordinary exit waits for it."""
    import logging
    import os
    import threading

    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.current_thread()):
        raise done
    code = done.code
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`| head`): nothing more can be said
            pass
    os._exit(code or 0)
