"""Run `helpdesk ARGS` in this process with timing hooks and write where its wall time went.

For bench/poll_process.py: `python bench/poll_trace.py OUT.json mail poll --once`. A hook is set
when its module is first imported (an import hook), so the command imports what it imports, in
its own order, lazily or not; the hooks add microseconds per call. Times are wall seconds;
IMAP calls run in worker threads but one after the other, so their spans add up.
"""
from __future__ import annotations

import functools
import json
import os
import sys
import threading
import time
from collections import defaultdict

T0 = time.perf_counter()
spans: dict[str, float] = defaultdict(float)
calls: dict[str, int] = defaultdict(int)
_lock = threading.Lock()


def _process_age() -> float:
    """Seconds since this process started (the interpreter's own start-up included)."""
    with open("/proc/self/stat") as stat:
        started = int(stat.read().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
    with open("/proc/uptime") as uptime:
        return float(uptime.read().split()[0]) - started


def _record(name: str, seconds: float) -> None:
    with _lock:
        spans[name] += seconds
        calls[name] += 1


def _timed(func, name):
    """Wrap `func` (sync or async); `name` is a string or a function of the call's arguments."""
    label = name if callable(name) else (lambda *a, **k: name)
    if func.__code__.co_flags & 0x80:  # CO_COROUTINE
        @functools.wraps(func)
        async def timed_async(*args, **kwargs):
            started = time.perf_counter()
            try:
                return await func(*args, **kwargs)
            finally:
                _record(label(*args, **kwargs), time.perf_counter() - started)
        return timed_async

    @functools.wraps(func)
    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            _record(label(*args, **kwargs), time.perf_counter() - started)
    return timed


def _fetch_label(client, messages, data, *args, **kwargs) -> str:
    if "HEADER" in str(data):
        return "IMAP FETCH headers (inside the Message-ID check)"
    return "IMAP FETCH bodies (inside: read ahead, overlapping ingest after the first batch)"


def _patch_imapclient(module) -> None:
    cls = module.IMAPClient
    cls.__init__ = _timed(cls.__init__, "IMAP connect and login")
    cls.login = _timed(cls.login, "IMAP connect and login")
    cls.select_folder = _timed(cls.select_folder, "IMAP SELECT and SEARCH")
    cls.search = _timed(cls.search, "IMAP SELECT and SEARCH")
    cls.fetch = _timed(cls.fetch, _fetch_label)
    cls.logout = _timed(cls.logout, "IMAP LOGOUT")


def _patch_attribute(attribute: str, name: str):
    def patch(module) -> None:
        if hasattr(module, attribute):
            setattr(module, attribute, _timed(getattr(module, attribute), name))
    return patch


def _patch_all(*patches):
    def patch(module) -> None:
        for one in patches:
            one(module)
    return patch


def _patch_reader(module) -> None:
    reader = module.MailboxReader
    reader._record_error = _timed(reader._record_error, "bookkeeping: bookmark, errors, sync state")
    reader._unknown = _timed(reader._unknown, "first-sync Message-ID check (its FETCH included)")
    if hasattr(reader, "_fetch_and_store"):
        reader._fetch_and_store = _timed(reader._fetch_and_store,
                                         "read-ahead thread: FETCH, raw-store writes (inside: overlaps ingest)")
    for name in ("_save_progress", "_start_sync", "_end_sync", "_reset_progress"):
        _patch_attribute(name, "bookkeeping: bookmark, errors, sync state")(module)


HOOKS = {
    "helpdesk.settings": _patch_attribute("load_settings", "settings"),
    "helpdesk.db": _patch_all(_patch_attribute("make_engine", "engine and pool set-up"),
                              _patch_attribute("dispose_sessions", "engine disposal")),
    "channels.email.imap": _patch_reader,
    "helpdesk.migrate": _patch_attribute("upgrade", "migrations check"),
    "asyncpg": _patch_attribute("connect", "database connections (inside the phases above)"),
    "imapclient.imapclient": _patch_imapclient,
    "helpdesk.inbound.pipeline": _patch_attribute("receive", "ingest: store, parse, ingest, COMMIT"),
    "helpdesk.inbound.planner_stats": _patch_attribute("note_ingested", "ANALYZE (inside ingest)"),
}


class _Hooks:
    """A meta path finder that patches a module of HOOKS right after it has been executed."""

    def find_spec(self, name, path=None, target=None):
        if name not in HOOKS:
            return None
        sys.meta_path.remove(self)
        try:
            from importlib.util import find_spec

            spec = find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            HOOKS[name](module)

        spec.loader.exec_module = exec_module
        return spec


def _time_collections() -> None:
    """Add the cyclic garbage collector's pauses up, by generation (they fall inside other phases)."""
    import gc

    started = [0.0]

    def callback(phase, info) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            _record(f"garbage collection, generation {info['generation']} (inside the phases above)",
                    time.perf_counter() - started[0])

    gc.callbacks.append(callback)


def main() -> None:
    out = sys.argv[1]
    sys.argv = ["helpdesk", *sys.argv[2:]]
    started_at = _process_age()
    sys.meta_path.insert(0, _Hooks())
    _time_collections()
    def write() -> None:
        ended = started_at + time.perf_counter() - T0
        with open(out, "w") as f:
            json.dump({"python_start": started_at, "main_end": ended, "spans": spans, "calls": calls}, f)

    leave = os._exit

    def written_then_exit(code: int) -> None:  # the command may end the process this way (helpdesk.cli)
        write()
        leave(code)

    os._exit = written_then_exit
    import_started = time.perf_counter()
    from helpdesk import cli

    _record("imports at start-up (helpdesk.cli and command modules)", time.perf_counter() - import_started)
    try:
        cli.main()
    finally:
        write()


if __name__ == "__main__":
    main()
