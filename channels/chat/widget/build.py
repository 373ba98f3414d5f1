"""Builds the chat widget: src/widget.js minified with rjsmin into dist/widget.js.

Reproducible (the same source gives the same bytes: no date, no random, no path in the output), so
dist/ is committed and the server needs no build step; tests/unit/test_chat_widget_build.py checks
dist is up to date. Run after editing the source:

    .venv/bin/python -m channels.chat.widget.build          # writes dist/widget.js, prints its sizes
    .venv/bin/python -m channels.chat.widget.build --check  # exit 1 when dist/ is stale
"""
from __future__ import annotations

import gzip
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "src" / "widget.js"
DIST = HERE / "dist" / "widget.js"
BUDGET = 30 * 1024  # minified and gzipped: what a shop's page pays for the launcher
HEADER = "/*! Helpdesk chat widget | AGPL-3.0-or-later | source: channels/chat/widget/src/widget.js */\n"


def build(source: str) -> bytes:
    """The minified widget for this source text."""
    import rjsmin  # a build and test dependency only: the server serves the committed dist/

    return (HEADER + rjsmin.jsmin(source).strip() + "\n").encode("utf-8")


def gzipped_size(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def main(argv: list[str]) -> int:
    built = build(SOURCE.read_text(encoding="utf-8"))
    if "--check" in argv:
        if not DIST.exists() or DIST.read_bytes() != built:
            print(f"{DIST} is not built from the current source: run python -m channels.chat.widget.build")
            return 1
        return 0
    DIST.parent.mkdir(exist_ok=True)
    DIST.write_bytes(built)
    packed = gzipped_size(built)
    print(f"{DIST.relative_to(HERE.parents[2])}: {len(built):,} bytes minified, {packed:,} bytes gzipped "
          f"(budget {BUDGET:,})")
    return 0 if packed <= BUDGET else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
