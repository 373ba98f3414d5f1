"""Liveness for operators and load balancers."""
from __future__ import annotations

from litestar import get
from litestar.response import Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@get("/healthz", include_in_schema=False)
async def healthz(db: AsyncSession) -> Response:
    try:
        await db.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - reported, not raised: this is the health check
        return Response({"status": "error", "database": str(exc)[:200]}, status_code=503)
    return Response({"status": "ok", "database": "ok"})
