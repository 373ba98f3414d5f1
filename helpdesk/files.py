"""Content-addressed file storage: attachments and raw mail live once, under their sha256."""
from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

# A blob is written to a temp file in `<root>/.tmp`, then renamed into place. A crash between the
# two leaves the temp behind; it is removed once older than this (a younger one may be a write
# still under way in another process).
STALE_TEMP_SECONDS = 3600
TEMP_DIR = ".tmp"


def blob_path(root: Path, sha256: str) -> Path:
    return root / sha256[:2] / sha256[2:4] / sha256


# Directories this process has made or seen: saves a mkdir (two syscalls) per stored file.
_known_dirs: set[str] = set()
# When each store (root) is next swept for stale temps: at its first write in a process, then hourly.
_next_sweep: dict[str, float] = {}


def store_blob(root: Path, data: bytes) -> str:
    """Write `data` if it is not stored yet; return its sha256. Safe against concurrent writers.

    Syscalls per new file: one stat, open, write, close, rename (plus a mkdir the first time a
    directory is met); one stat for a file already stored.
    """
    digest = hashlib.sha256(data).hexdigest()
    directory = os.path.join(root, digest[:2], digest[2:4])
    path = os.path.join(directory, digest)
    if os.path.exists(path):
        return digest
    temps = os.path.join(root, TEMP_DIR)
    if time.monotonic() >= _next_sweep.get(temps, 0):
        remove_stale_temps(root)
    if directory not in _known_dirs:
        os.makedirs(directory, exist_ok=True)
        _known_dirs.add(directory)
    tmp = os.path.join(temps, f"{digest}.{os.getpid()}.{threading.get_ident()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o666)
    except FileNotFoundError:  # the store was removed behind our back (tests clean up)
        _known_dirs.discard(directory)
        remove_stale_temps(root)
        os.makedirs(directory, exist_ok=True)
        _known_dirs.add(directory)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    try:
        os.replace(tmp, path)  # atomic (same file system): a reader never sees half a file
    except FileNotFoundError:  # the blob's directory was removed behind our back (tests clean up)
        _known_dirs.discard(directory)
        os.makedirs(directory, exist_ok=True)
        _known_dirs.add(directory)
        os.replace(tmp, path)
    return digest


def remove_stale_temps(root: Path, *, older_than: float = STALE_TEMP_SECONDS) -> int:
    """Delete the temp files of writes that never reached their rename; returns how many.

    One directory to list, so it runs when a process first writes to the store and hourly after.
    """
    temps = os.path.join(root, TEMP_DIR)
    _next_sweep[temps] = time.monotonic() + STALE_TEMP_SECONDS
    os.makedirs(temps, exist_ok=True)
    cutoff = time.time() - older_than
    removed = 0
    with os.scandir(temps) as entries:
        for entry in entries:
            try:
                if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:  # another process swept it first
                continue
    return removed


def read_blob(root: Path, sha256: str) -> bytes:
    return blob_path(root, sha256).read_bytes()
