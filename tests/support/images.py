"""Real image files for attachment tests, made with Pillow: photos, an EXIF-rotated JPEG, an animated
GIF, a corrupt PNG, decompression bombs, a one-page PDF."""
from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, ImageDraw


def picture(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """A picture with detail in it (gradient and shapes), so encoders cannot make it trivially small."""
    image = Image.linear_gradient("L").resize((width, height)).convert(mode)
    draw = ImageDraw.Draw(image)
    for n in range(0, max(width, height), max(8, width // 24)):
        draw.ellipse((n, n // 2, n + width // 6, n // 2 + height // 6), outline=(200, 40, 40) if mode == "RGB" else 0,
                     width=3)
    return image


def encode(image: Image.Image, format: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format, **options)
    return out.getvalue()


def png(width: int = 800, height: int = 600) -> bytes:
    return encode(picture(width, height), "PNG")


def jpeg(width: int = 1600, height: int = 1200, *, orientation: int | None = None, quality: int = 88) -> bytes:
    """A JPEG; `orientation` 6 means the camera was turned: the upright picture is portrait."""
    options = {"quality": quality}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        options["exif"] = exif.tobytes()
    return encode(picture(width, height), "JPEG", **options)


def animated_gif(width: int = 200, height: int = 150, frames: int = 3) -> bytes:
    images = [Image.new("P", (width, height), color) for color in range(1, frames + 1)]
    return encode(images[0], "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)


def corrupt_png() -> bytes:
    """A PNG signature and a header, then garbage: a mail client cut it short."""
    return png(64, 48)[:60] + b"\x00garbage" * 20


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A few hundred bytes that claim `width` x `height` pixels (a decompression bomb's header): a
    decoder that believed it would allocate width*height*3 bytes."""
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    rows = zlib.compress(b"\x00" * (1 + 3 * 64) * 64, 9)  # zeros: what a real bomb inflates without end
    return b"\x89PNG\r\n\x1a\n" + header + _chunk(b"IDAT", rows) + _chunk(b"IEND", b"")


def pdf() -> bytes:
    """A one-page PDF with a line of text (Pillow writes PDFs from images)."""
    page = Image.new("RGB", (600, 800), "white")
    ImageDraw.Draw(page).text((40, 40), "Invoice 5100", fill="black")
    return encode(page, "PDF")
