"""The whatsapp adapter: verify, parse, send (docs/social.md). Being written."""
from __future__ import annotations

from helpdesk.settings import Settings

CHANNEL = "whatsapp"


def install(settings: Settings) -> None:
    """Register the parser, media fetcher, sender and webhook of whatsapp with the core."""
