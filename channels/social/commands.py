"""`helpdesk social ...` and `helpdesk simulate ...`: being written (docs/social.md)."""
from __future__ import annotations

import click


def register(cli: click.Group) -> None:
    """Adds the social commands to the CLI."""
