"""Thumbnails of image attachments: made with Pillow on first request, then kept on disk.

A thumbnail is a WebP no larger than a square box (320 px), upright (EXIF orientation applied), the
first frame of an animation. It is stored as `<thumbs>/<sha[:2]>/<sha256>-<box>.webp`: the bytes of
an attachment never change under its sha256, so neither does its thumbnail.

The image came from outside, so it is read defensively: only the PNG, JPEG, GIF and WebP decoders
are tried, a file over 40 MB or a picture over 50 megapixels (a decompression bomb: a small file
that claims 100,000 x 100,000 pixels) is refused from its header before a pixel is decoded, and a
file Pillow cannot read gives None (the console shows a placeholder). A refused file leaves a
`.unreadable` marker, so it costs one stat the next time. Decoding is CPU work: `cached_thumbnail`
runs it in a thread, at most two at a time per event loop, so a big photo never stalls requests.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
import weakref
from pathlib import Path

from PIL import Image, ImageOps

BOX = 320
MAX_SOURCE_BYTES = 40 * 1024 * 1024
MAX_PIXELS = 50_000_000
DECODERS = ["PNG", "JPEG", "GIF", "WEBP"]
CONCURRENT = 2  # decodes at once per event loop (the machine's cores, not the thread pool's size)
QUALITY = 80

log = logging.getLogger(__name__)
_limits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


class Unreadable(Exception):
    """The file is no image we will decode: corrupt, not what it claims, or too large."""


def thumbnail_path(root: Path, sha256: str, box: int = BOX) -> Path:
    return root / sha256[:2] / f"{sha256}-{box}.webp"


def _marker(path: Path) -> Path:
    return path.with_suffix(".unreadable")


def render(source: Path, box: int = BOX) -> Image.Image:
    """The thumbnail of the image in `source`, in memory; raises Unreadable."""
    size = source.stat().st_size
    if size > MAX_SOURCE_BYTES:
        raise Unreadable(f"{size} bytes, over the {MAX_SOURCE_BYTES} limit")
    try:
        with Image.open(source, formats=DECODERS) as image:
            if image.width * image.height > MAX_PIXELS:
                raise Unreadable(f"{image.width}x{image.height} pixels, over the {MAX_PIXELS} limit")
            image.draft("RGB", (box, box))  # JPEG: decode at 1/2 to 1/8 scale, far less work for a photo
            ImageOps.exif_transpose(image, in_place=True)  # upright; loads the first frame only
            alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            mode = "RGBA" if alpha else "RGB"
            # a copy that outlives the file; palette (GIF) and 16-bit images resize badly in their own mode
            picture = image.convert(mode)
            picture.thumbnail((box, box), Image.Resampling.LANCZOS, reducing_gap=3.0)
            return picture
    except Unreadable:
        raise
    except Exception as error:  # noqa: BLE001 - a hostile file breaks Pillow's decoders in many ways; none may be a 500
        raise Unreadable(f"{type(error).__name__}: {error}") from error


def make_thumbnail(source: Path, target: Path, box: int = BOX) -> Path | None:
    """Render and store the thumbnail (atomically); None for an unreadable image, remembered."""
    try:
        thumbnail = render(source, box)
    except Unreadable as reason:
        log.warning("no thumbnail for %s: %s", source.name, reason)
        target.parent.mkdir(parents=True, exist_ok=True)
        _marker(target).touch()
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        thumbnail.save(temp, "WEBP", quality=QUALITY, method=4)
        os.replace(temp, target)  # a reader never sees half a file
    finally:
        temp.unlink(missing_ok=True)
    return target


def _limit() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    if loop not in _limits:
        _limits[loop] = asyncio.Semaphore(CONCURRENT)
    return _limits[loop]


async def cached_thumbnail(root: Path, source: Path, sha256: str, box: int = BOX) -> Path | None:
    """The stored thumbnail of `source` (whose bytes hash to `sha256`), made in a thread if new;
    None when the image is unreadable."""
    target = thumbnail_path(root, sha256, box)
    if target.is_file():
        return target
    if _marker(target).exists():
        return None
    async with _limit():
        if target.is_file():  # made by a request that held the slot before us
            return target
        return await asyncio.to_thread(make_thumbnail, source, target, box)
