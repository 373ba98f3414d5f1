"""Where templates and static files are, from a checkout or from an installed wheel."""
from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def templates_dir() -> Path:
    checkout = _PACKAGE.parent / "templates"
    return checkout if checkout.is_dir() else _PACKAGE / "_templates"


def static_dir() -> Path:
    return _PACKAGE / "static"
