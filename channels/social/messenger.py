"""The messenger adapter: verify, parse, send (docs/social.md). Being written."""
from __future__ import annotations

from helpdesk.settings import Settings

CHANNEL = "messenger"


def install(settings: Settings) -> None:
    """Register the parser, media fetcher, sender and webhook of messenger with the core."""
