"""Engines and session factories; SQLite gets WAL and foreign keys.

`sessions(settings)` is the one factory the product uses: one engine per process, event loop and
database. asyncpg connections belong to the loop that opened them, so a Dramatiq worker's loop,
the web app's loop and a CLI command's `asyncio.run` each get their own engine, made once.
"""
from __future__ import annotations

import asyncio
import collections
import threading
import weakref

from sqlalchemy import event
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_connection, AsyncAdapt_aiosqlite_cursor
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from helpdesk.settings import Settings


def make_engine(settings: Settings, **kwargs) -> AsyncEngine:
    url = settings.async_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "connect", _one_hop_cursors)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    # No pool_pre_ping: it costs a round trip (SELECT 1) on every checkout, i.e. on every ingested
    # message, whose sessions are short. Instead connections are recycled after 30 minutes (below
    # server / proxy idle cut-offs), and a connection that died anyway fails its first statement
    # with a disconnect error, which SQLAlchemy recognises: it invalidates that connection and the
    # whole pool's older ones, so one unit of work fails (a poller re-reads it, ingest dedupes) and
    # the next checkout gets a fresh connection.
    kwargs.setdefault("pool_pre_ping", False)
    kwargs.setdefault("pool_recycle", 1800)
    return create_async_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the web process read while a worker writes; NORMAL sync is safe under WAL.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # 16 MB page cache (default 2 MB) and in-memory temp b-trees: fewer reads on hot indexes.
    # (64 MB was tried: peak RSS of the 20k-message bench grew from ~75 to 132 MB.)
    cursor.execute("PRAGMA cache_size=-16384")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


# --- aiosqlite: one thread hop per statement ------------------------------------------------
# aiosqlite runs sqlite3 in its own thread; SQLAlchemy's adapter makes four hops into it per
# statement (create cursor, execute, fetchall, close), each a queue put plus a wake-up of the
# event loop through its self-pipe. Measured on ingest: ~43 hops and ~55 context switches per
# message, more CPU than the SQL itself. This cursor does the four steps in one hop; results,
# description, rowcount and lastrowid are read in the worker thread and kept, exactly what the
# stock adapter buffers anyway (it fetches every row of a client-side cursor at execute time).

def _execute_in_thread(conn, operation, parameters, many: bool):
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class _OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ("_description", "_rowcount", "_lastrowid", "_arraysize")

    def __init__(self, adapt_connection) -> None:  # no hop: the sqlite3 cursor is made in the thread
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description = None
        self._rowcount = -1
        self._lastrowid = None
        self._arraysize = 1

    @property
    def description(self):
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self):
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _run(self, operation, parameters, many: bool):
        async with self._adapt_connection._execute_mutex:
            aio = self._connection
            if not aio._running or not aio._connection:
                raise ValueError("Connection closed")
            description, rows, self._rowcount, self._lastrowid = await aio._execute(
                _execute_in_thread, aio._conn, operation, parameters, many
            )
            self._description = description
            self._rows = collections.deque(rows) if rows is not None else collections.deque()

    def _run_here(self, operation, parameters, many: bool) -> None:
        """Already in aiosqlite's thread (see `in_database_thread`): run the statement directly."""
        description, rows, self._rowcount, self._lastrowid = _execute_in_thread(
            self._connection._conn, operation, parameters, many
        )
        self._description = description
        self._rows = collections.deque(rows) if rows is not None else collections.deque()

    def _call(self, operation, parameters, many: bool):
        try:
            if threading.current_thread() is self._connection._thread:
                return self._run_here(operation, parameters, many)
            return await_(self._run(operation, parameters, many))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def execute(self, operation, parameters=None):
        return self._call(operation, parameters, False)

    def executemany(self, operation, seq_of_parameters):
        return self._call(operation, seq_of_parameters, True)

    async def _async_soft_close(self) -> None:
        return None  # nothing open in the worker thread

    def close(self) -> None:
        self._rows.clear()


class _OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = _OneHopCursor

    # COMMIT and ROLLBACK with no transaction open are no-ops in SQLite: skip their hop (the pool
    # rolls back every connection it gets back, and `in_database_thread` may have committed).
    # `in_transaction` reads sqlite3_get_autocommit, safe from any thread while no statement runs.
    def commit(self) -> None:
        self._end("commit", super().commit)

    def rollback(self) -> None:
        self._end("rollback", super().rollback)

    def _end(self, name: str, across_threads) -> None:
        aio = self._connection
        if threading.current_thread() is aio._thread:
            getattr(aio._conn, name)()
        elif aio._connection is not None and aio._conn.in_transaction:
            across_threads()


def _one_hop_cursors(dbapi_connection, _record) -> None:
    if type(dbapi_connection) is AsyncAdapt_aiosqlite_connection:
        dbapi_connection.__class__ = _OneHopConnection


def in_database_thread(sync_connection, fn, *args):
    """Call `fn(*args)` where the connection's statements are cheapest; for use inside `run_sync`.

    On SQLite (aiosqlite) that is aiosqlite's own thread: the whole function makes one hop there
    and every statement it runs, COMMIT included, executes directly instead of one hop each.
    Elsewhere the function simply runs here. `fn` must not touch the connection pool (no
    `Session.commit()` in it: commit the connection, `sync_connection.connection.commit()`).
    """
    adapted = sync_connection.connection.dbapi_connection
    if isinstance(adapted, _OneHopConnection):
        return await_(adapted._connection._execute(fn, *args))
    return fn(*args)


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


# Keyed by the loop object (weakly: a stopped loop's id can be reused by the next one).
_factories: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, async_sessionmaker[AsyncSession]]] = (
    weakref.WeakKeyDictionary()
)


def sessions(settings: Settings) -> async_sessionmaker[AsyncSession]:
    """This event loop's session factory for the settings' database, made on first use."""
    per_loop = _factories.setdefault(asyncio.get_running_loop(), {})
    factory = per_loop.get(settings.async_database_url)
    if factory is None:
        factory = per_loop[settings.async_database_url] = make_session_factory(make_engine(settings))
    return factory


async def dispose_sessions() -> None:
    """Close every connection this event loop's engines opened (at the end of a loop's life)."""
    per_loop = _factories.pop(asyncio.get_running_loop(), {})
    for factory in per_loop.values():
        await factory.kw["bind"].dispose()
