"""The demo's shop page (`/demo/shop`): a small shop that embeds the widget with the demo's chat
channel (key "demo"), to chat as a customer while answering in the console in another tab.

Mounted by `helpdesk serve --demo` only (workers/commands.py), never by a real installation. The
page has no script but the widget's, so it works under the app's Content-Security-Policy.
"""
from __future__ import annotations

from pathlib import Path

from litestar import Response, Router, get

HERE = Path(__file__).resolve().parent
DEMO_CHANNEL_KEY = "demo"


def demo_shop_router() -> Router:
    page = (HERE / "shop.html").read_bytes()
    stylesheet = (HERE / "shop.css").read_bytes()

    @get("/shop", include_in_schema=False)
    async def shop() -> Response:
        return Response(page, media_type="text/html", headers={"Cache-Control": "no-cache"})

    @get("/shop.css", include_in_schema=False)
    async def shop_css() -> Response:
        return Response(stylesheet, media_type="text/css", headers={"Cache-Control": "no-cache"})

    return Router(path="/demo", route_handlers=[shop, shop_css])
