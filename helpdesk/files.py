"""Content-addressed file storage: attachments and raw mail live once, under their sha256."""
from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path


def blob_path(root: Path, sha256: str) -> Path:
    return root / sha256[:2] / sha256[2:4] / sha256


# Directories this process has made or seen: saves a mkdir (two syscalls) per stored file.
_known_dirs: set[str] = set()


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
    if directory not in _known_dirs:
        os.makedirs(directory, exist_ok=True)
        _known_dirs.add(directory)
    tmp = os.path.join(directory, f".{digest}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o666)
    except FileNotFoundError:  # the directory was removed behind our back (tests clean up)
        _known_dirs.discard(directory)
        os.makedirs(directory, exist_ok=True)
        _known_dirs.add(directory)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    os.replace(tmp, path)  # atomic: a reader never sees half a file
    return digest


def read_blob(root: Path, sha256: str) -> bytes:
    return blob_path(root, sha256).read_bytes()
