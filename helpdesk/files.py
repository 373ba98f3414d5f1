"""Content-addressed file storage: attachments and raw mail live once, under their sha256."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path


def blob_path(root: Path, sha256: str) -> Path:
    return root / sha256[:2] / sha256[2:4] / sha256


def store_blob(root: Path, data: bytes) -> str:
    """Write `data` if it is not stored yet; return its sha256. Safe against concurrent writers."""
    digest = hashlib.sha256(data).hexdigest()
    path = blob_path(root, digest)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{digest}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # atomic: a reader never sees half a file
    return digest


def read_blob(root: Path, sha256: str) -> bytes:
    return blob_path(root, sha256).read_bytes()
