"""What this process's actors run with: the settings `setup_broker` was given."""
from __future__ import annotations

from helpdesk.settings import Settings

_settings: Settings | None = None


def set_settings(settings: Settings) -> None:
    global _settings
    _settings = settings


def current_settings() -> Settings:
    if _settings is None:
        raise RuntimeError("setup_broker(settings) has not run in this process")
    return _settings
