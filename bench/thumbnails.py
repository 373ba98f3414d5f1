"""Thumbnail timing from a client over HTTP: the first request for a 12-megapixel JPEG's thumbnail
(decoded, shrunk and stored as WebP in a thread), a request once it is cached on disk, and whether
the server stays responsive (`/healthz`) while four are made at once.

Starts its own `helpdesk serve` on a fresh SQLite file (bench.sign_in.Server) and gives it one ticket
with distinct photo-sized JPEGs (4000 x 3000, noisy like a phone photo: about 5 MB each), so every first
request is a real decode. A new connection per request, as in bench.console_http.

    .venv/bin/python -m bench.thumbnails [--photos 8] [--hits 200]
"""
from __future__ import annotations

import argparse
import asyncio
import io
import re
import statistics
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

from bench.console_http import Browser, percentile
from bench.sign_in import PASSWORD, Server

WIDTH, HEIGHT = 4000, 3000


def photo(seed: int) -> bytes:
    """A 12-megapixel JPEG as a camera writes it: smooth colour plus sensor noise, quality 90."""
    from PIL import Image, ImageChops

    gradient = Image.linear_gradient("L").resize((WIDTH, HEIGHT))
    noise = Image.effect_noise((WIDTH, HEIGHT), 24 + seed)
    picture = Image.merge("RGB", (gradient, ImageChops.add(gradient, noise, 2.0), noise))
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=90)
    return out.getvalue()


async def seed(data_dir: Path, count: int) -> list[str]:
    """One customer mail with `count` photos; returns their thumbnail URLs."""
    from sqlalchemy import select

    from helpdesk.channel import Attachment, Identity, InboundMessage, ThreadKeys
    from helpdesk.db import make_engine, make_session_factory
    from helpdesk.inbound.ingest import ingest
    from helpdesk.models import Attachment as Row
    from helpdesk.models import utcnow
    from helpdesk.settings import Settings

    settings = Settings(data_dir=data_dir)
    engine = make_engine(settings)
    async with make_session_factory(engine)() as session:
        files = [Attachment(f"IMG_{n:04d}.jpg", "image/jpeg", photo(n)) for n in range(count)]
        result = await ingest(session, InboundMessage(
            channel="email", external_id="<photos@bench.test>", sender=Identity("email", "ann@bench.test", "Ann"),
            subject="Photos", text="Photos attached.", html=None, attachments=files, thread_keys=ThreadKeys(),
            received_at=utcnow()), settings=settings)
        rows = await session.scalars(select(Row).where(Row.message_id == result.message_id).order_by(Row.id))
        urls = [f"/console/attachments/{row.id}/thumbnail/{row.sha256}" for row in rows]
        sizes = [row.size for row in await session.scalars(select(Row).where(Row.message_id == result.message_id))]
    await engine.dispose()
    print(f"{count} JPEGs of {WIDTH} x {HEIGHT}, {statistics.fmean(sizes) / 1e6:.1f} MB each")
    return urls


def signed_in(url: str) -> Browser:
    browser = Browser(url)
    conn = browser.connect()
    _, page = browser.request(conn, "GET", "/console/login")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page).group(1)
    status, _ = browser.request(conn, "POST", "/console/login", urlencode(
        {"email": "agent0@bench.test", "password": PASSWORD, "_csrf_token": token, "next": "/console"}))
    conn.close()
    if status not in (200, 302, 303):
        raise SystemExit(f"sign-in failed with {status}")
    return browser


def timed(browser: Browser, path: str) -> float:
    start = time.perf_counter()
    conn = browser.connect()
    status, _ = browser.request(conn, "GET", path)
    conn.close()
    if status != 200:
        raise SystemExit(f"{path} answered {status}")
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=8, help="distinct photos, each timed cold once")
    parser.add_argument("--hits", type=int, default=200, help="requests for cached thumbnails")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp))
        url = f"http://127.0.0.1:{server.port}"
        try:
            urls = asyncio.run(seed(Path(tmp), args.photos + 4))
            cold_urls, parallel_urls = urls[:args.photos], urls[args.photos:]
            browser = signed_in(url)
            for _ in range(20):  # warm the server up (imports, the session store)
                timed(browser, "/healthz")
            cold = [timed(browser, path) for path in cold_urls]
            hits = [timed(browser, cold_urls[n % len(cold_urls)]) for n in range(args.hits)]
            floor = [timed(browser, "/healthz") for _ in range(args.hits)]

            # four first requests at once (the server makes two at a time), /healthz asked throughout
            threads = [threading.Thread(target=timed, args=(signed_in(url), path)) for path in parallel_urls]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            during = []
            while any(thread.is_alive() for thread in threads):
                during.append(timed(browser, "/healthz"))
            for thread in threads:
                thread.join()
            batch = (time.perf_counter() - started) * 1000
        finally:
            server.stop()
        stored = sorted(Path(tmp, "thumbs").rglob("*.webp"))
        thumb_sizes = [p.stat().st_size for p in stored]
    for name, times in (("first request (made, 12 MP JPEG)", cold), ("cached thumbnail", hits),
                        ("/healthz alone", floor), ("/healthz during 4 first requests", during)):
        print(f"{name:34s} n={len(times):3d} p50 {percentile(times, .5):7.1f} ms  p95 {percentile(times, .95):7.1f} ms"
              f"  max {max(times):7.1f} ms")
    print(f"4 first requests at once: all done in {batch:.0f} ms")
    print(f"thumbnails stored: {len(stored)}, {statistics.fmean(thumb_sizes) / 1024:.1f} KB each on average")


if __name__ == "__main__":
    main()
