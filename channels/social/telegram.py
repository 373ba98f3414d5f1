"""The telegram adapter: verify, parse, send (docs/social.md). Being written."""
from __future__ import annotations

from helpdesk.settings import Settings

CHANNEL = "telegram"


def install(settings: Settings) -> None:
    """Register the parser, media fetcher, sender and webhook of telegram with the core."""
