"""The `helpdesk` command. It is the composition root, so it may import `workers` and `channels`
(lazily, inside commands), which the rest of `helpdesk/` never does."""
from __future__ import annotations

import asyncio
import importlib
import sys

import click
from rich.console import Console

from helpdesk.settings import Settings, load_settings

console = Console(stderr=True)

# Modules that add their own commands with `register(cli)`: one place per channel.
COMMAND_MODULES = ["helpdesk.commands.core", "helpdesk.commands.demo", "helpdesk.commands.bench",
                   "channels.email.commands", "helpdesk.commands.export", "helpdesk.commands.seed"]


class CliError(click.ClickException):
    """One line for the person at the terminal, exit status 1."""


@click.group()
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Customer-service helpdesk."""
    ctx.obj = load_settings()


def settings_of(ctx: click.Context) -> Settings:
    return ctx.find_root().obj


def run(coro):
    return asyncio.run(coro)


def _load_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):  # that module is not written yet
                continue
            raise
        module.register(cli)


_load_commands()


def main() -> None:
    try:
        cli(standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)
