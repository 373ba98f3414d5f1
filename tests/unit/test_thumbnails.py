"""helpdesk/thumbnails.py with real image files: size, type, orientation, first frame, and the hostile ones."""
from __future__ import annotations

import hashlib
import logging
import time

import pytest
from PIL import Image

from helpdesk import thumbnails
from tests.support import images


def stored(tmp_path, data: bytes):
    sha = hashlib.sha256(data).hexdigest()
    source = tmp_path / "blobs" / sha
    source.parent.mkdir(exist_ok=True)
    source.write_bytes(data)
    return source, sha


async def test_a_photo_becomes_a_small_webp_inside_the_box_and_is_kept(tmp_path):
    data = images.jpeg(4000, 3000)
    source, sha = stored(tmp_path, data)
    made = await thumbnails.cached_thumbnail(tmp_path / "thumbs", source, sha)
    assert made == tmp_path / "thumbs" / sha[:2] / f"{sha}-320.webp"
    with Image.open(made) as thumb:
        assert thumb.format == "WEBP" and thumb.size == (320, 240)
    assert made.stat().st_size < len(data) / 10
    # the second time it is the stored file, not a new one
    before = made.stat().st_mtime_ns
    assert await thumbnails.cached_thumbnail(tmp_path / "thumbs", source, sha) == made
    assert made.stat().st_mtime_ns == before


def test_exif_orientation_is_applied(tmp_path):
    source, sha = stored(tmp_path, images.jpeg(1600, 1200, orientation=6))
    with thumbnails.render(source) as thumb:
        assert thumb.size == (240, 320)  # the camera was turned: the picture is portrait


def test_an_animated_gif_gives_its_first_frame_and_transparency_survives(tmp_path):
    source, _ = stored(tmp_path, images.animated_gif(200, 150))
    with thumbnails.render(source) as thumb:
        assert thumb.size == (200, 150)  # never enlarged
        assert thumb.getpixel((5, 5))[:3] == Image.open(source).convert("RGB").getpixel((5, 5))
    transparent = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
    source, _ = stored(tmp_path, images.encode(transparent, "PNG"))
    with thumbnails.render(source) as thumb:
        assert thumb.mode == "RGBA" and thumb.getpixel((10, 10))[3] == 0


@pytest.mark.parametrize(("data", "reason"), [
    (images.corrupt_png(), "OSError"),
    (images.bomb_png(), "DecompressionBombError"),  # Pillow's own limit, from the header
    (images.bomb_png(8000, 8000), "8000x8000 pixels, over the 50000000 limit"),  # ours, below Pillow's
    (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "UnidentifiedImageError"),
    (b"%PDF-1.4 not an image", "UnidentifiedImageError"),
], ids=["corrupt", "bomb-10-gigapixel", "bomb-64-megapixel", "svg", "pdf"])
async def test_unreadable_files_give_none_fast_with_a_log_line_and_are_remembered(tmp_path, data, reason, caplog):
    source, sha = stored(tmp_path, data)
    started = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="helpdesk.thumbnails"):
        assert await thumbnails.cached_thumbnail(tmp_path / "thumbs", source, sha) is None
    assert time.perf_counter() - started < 1
    assert [r.getMessage() for r in caplog.records if "no thumbnail for" in r.getMessage() and reason in r.getMessage()]
    target = thumbnails.thumbnail_path(tmp_path / "thumbs", sha)
    assert not target.exists() and target.with_suffix(".unreadable").exists()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="helpdesk.thumbnails"):
        assert await thumbnails.cached_thumbnail(tmp_path / "thumbs", source, sha) is None
    assert not caplog.records  # remembered: not decoded (nor logged) again


def test_a_file_over_the_size_limit_is_refused_before_decoding(tmp_path, monkeypatch):
    source, _ = stored(tmp_path, images.png(400, 300))
    assert source.stat().st_size > 1000
    monkeypatch.setattr(thumbnails, "MAX_SOURCE_BYTES", 1000)
    with pytest.raises(thumbnails.Unreadable, match="over the 1000 limit"):
        thumbnails.render(source)


def test_only_raster_decoders_are_tried(tmp_path):
    # TIFF, EPS, PSD... would reach decoders that have had their share of CVEs (EPS: Ghostscript)
    source, _ = stored(tmp_path, images.encode(Image.new("RGB", (20, 20)), "TIFF"))
    with pytest.raises(thumbnails.Unreadable):
        thumbnails.render(source)
