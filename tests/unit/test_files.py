"""helpdesk/files.py: the content-addressed store, and what a crash mid-write leaves behind."""
from __future__ import annotations

import hashlib
import os
import time

import pytest

from helpdesk import files
from helpdesk.files import blob_path, read_blob, remove_stale_temps, store_blob


def crash_before_rename(monkeypatch, root, data: bytes) -> None:
    """store_blob as a process killed after writing its temp file, before renaming it into place."""
    def killed(src, dst):
        raise SystemExit("killed between write and rename")

    monkeypatch.setattr(files.os, "replace", killed)
    with pytest.raises(SystemExit):
        store_blob(root, data)
    monkeypatch.undo()


def temps(root) -> list[str]:
    return sorted(os.listdir(root / files.TEMP_DIR))


def age(path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_blob_is_stored_once_under_its_sha256(tmp_path):
    digest = store_blob(tmp_path, b"raw mail")
    assert digest == hashlib.sha256(b"raw mail").hexdigest() == store_blob(tmp_path, b"raw mail")
    assert read_blob(tmp_path, digest) == b"raw mail" and temps(tmp_path) == []


def test_temp_left_by_a_crash_is_removed_once_older_than_an_hour(tmp_path, monkeypatch):
    crash_before_rename(monkeypatch, tmp_path, b"first")
    crash_before_rename(monkeypatch, tmp_path, b"second")
    old, young = temps(tmp_path)
    age(tmp_path / files.TEMP_DIR / old, files.STALE_TEMP_SECONDS + 60)
    assert not blob_path(tmp_path, hashlib.sha256(b"first").hexdigest()).exists()

    assert remove_stale_temps(tmp_path) == 1
    assert temps(tmp_path) == [young]  # a younger one may be another process's write under way


def test_store_sweeps_stale_temps_when_a_process_first_writes_to_it(tmp_path, monkeypatch):
    crash_before_rename(monkeypatch, tmp_path, b"crashed")
    (stale,) = temps(tmp_path)
    age(tmp_path / files.TEMP_DIR / stale, 2 * files.STALE_TEMP_SECONDS)
    monkeypatch.setattr(files, "_next_sweep", {})  # a new process starts

    digest = store_blob(tmp_path, b"crashed")  # the poller re-reads the mail it was writing
    assert temps(tmp_path) == [] and read_blob(tmp_path, digest) == b"crashed"


def test_store_sweeps_again_an_hour_later(tmp_path, monkeypatch):
    store_blob(tmp_path, b"one")
    crash_before_rename(monkeypatch, tmp_path, b"two")
    (stale,) = temps(tmp_path)
    age(tmp_path / files.TEMP_DIR / stale, 2 * files.STALE_TEMP_SECONDS)
    store_blob(tmp_path, b"three")
    assert temps(tmp_path) == [stale]  # swept at the first write only, not on every write

    clock = time.monotonic() + files.STALE_TEMP_SECONDS + 1
    monkeypatch.setattr(files.time, "monotonic", lambda: clock)
    store_blob(tmp_path, b"four")
    assert temps(tmp_path) == []
