"""`GET /widget.js`: the built widget (dist/widget.js, committed), for shops' script tags.

Cached for a day under its plain address, which is what shops paste and so must pick up a new
version, and revalidated cheaply with the ETag; `/widget.js?v=<etag>` is the same bytes cached for a
year (immutable), for pages that can follow the hash. Cross-Origin-Resource-Policy lets a shop whose
pages require CORP (COEP) load it; a script tag needs no CORS.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from litestar import Request, Response, Router, get

DIST = Path(__file__).resolve().parent / "dist" / "widget.js"


def widget_router(dist: Path = DIST) -> Router:
    body = dist.read_bytes()
    version = hashlib.sha256(body).hexdigest()[:20]
    etag = f'"{version}"'

    @get("/", include_in_schema=False)
    async def widget_js(request: Request) -> Response:
        immutable = request.query_params.get("v") == version
        headers = {
            "ETag": etag,
            "Cache-Control": "public, max-age=31536000, immutable" if immutable else "public, max-age=86400",
            "Cross-Origin-Resource-Policy": "cross-origin",
        }
        if etag in request.headers.get("if-none-match", ""):
            return Response(b"", status_code=304, headers=headers)
        return Response(body, media_type="text/javascript", headers=headers)

    return Router(path="/widget.js", route_handlers=[widget_js])
