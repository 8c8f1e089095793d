"""SQLite for the event loop without a thread hop per call (issue 12).

SQLAlchemy's aiosqlite adapter sends every cursor creation, execute, fetch, close, commit
and the rollback on returning a connection to the pool to aiosqlite's worker thread and
back: about four hops per statement, each a queue put, a GIL hand-over and a wake-up of
the event loop through its self-pipe. A py-spy profile put ~45% of the bot's time there.
Our statements are indexed lookups of a few rows that take tens of microseconds, so here
they run on the event loop itself, in one call each (execute and fetch together):

* A statement that would wait for another writer's lock (SQLite answers SQLITE_BUSY at
  once: the connection's busy timeout is 0 while on the loop) runs again on aiosqlite's
  thread with the usual busy timeout, so the loop never waits for a lock. A statement that
  got SQLITE_BUSY changed nothing, so running it again is safe.
* Code that knows a statement may be slow (a scan over many rows) wraps it in
  `offloaded()`: its statements go to the thread as before.
* SQLite has one writer at a time, and a connection that finds the write lock taken
  retries in its busy handler's sleeps (up to 100 ms each): under load most of an update's
  latency was spent there. Writers of this process therefore queue on an asyncio lock
  (FIFO, woken the instant the writer before commits), taken at a transaction's first
  write and released at its commit or rollback; SQLITE_BUSY then only means another
  process, and the busy handler only waits for that one.
* The rollback when a connection goes back to the pool is skipped when no transaction is
  open (the common case after a commit).

Same sqlite3 connection, same transactions, same pragmas: only where the call runs changes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sqlite3
import weakref
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from threading import Thread
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

BUSY = 5  # SQLITE_BUSY (extended codes keep it in the low byte)
OFFLOAD: ContextVar[bool] = ContextVar("sqlite_offload", default=False)


@contextlib.contextmanager
def offloaded() -> Iterator[None]:
    """Statements inside run on aiosqlite's thread (slow scans must not stall the loop)."""
    token = OFFLOAD.set(True)
    try:
        yield
    finally:
        OFFLOAD.reset(token)


async def _nothing() -> None:
    return None


def _is_busy(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF == BUSY
    return "database is locked" in str(exc)


_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _writer_lock(database: str) -> asyncio.Lock:
    """The lock this event loop's writers to one database file queue on."""
    per_loop = _LOCKS.setdefault(asyncio.get_running_loop(), {})
    return per_loop.setdefault(database, asyncio.Lock())


async def _acquire(lock: asyncio.Lock, seconds: float) -> None:
    if not lock.locked():
        await lock.acquire()  # free: taken at once, without a task or a timer
        return
    try:
        await asyncio.wait_for(lock.acquire(), seconds)
    except TimeoutError:
        # What SQLite says after its own busy timeout: the caller handles it the same way.
        raise sqlite3.OperationalError("database is locked") from None


def is_read(operation: str) -> bool:
    head = operation.lstrip()[:6].upper()
    return head == "SELECT" or head == "PRAGMA"


def _with_timeout(conn: sqlite3.Connection, busy_ms: int, fn: Callable[[], Any]) -> Any:
    """On the worker thread: wait for locks like a plain connection would, then go back to
    not waiting (the next statement may run on the loop)."""
    conn.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
    try:
        return fn()
    finally:
        conn.execute("PRAGMA busy_timeout=0")


class FastCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: FastConnection) -> None:  # no cursor round trip
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description = None
        self._rowcount = -1
        self._lastrowid = None
        self._arraysize = 1

    @property
    def description(self):  # type: ignore[no-untyped-def]
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self):  # type: ignore[no-untyped-def]
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _async_soft_close(self) -> None:
        return None  # rows are fetched with the execute; nothing is open

    def close(self) -> None:
        self._rows.clear()

    def _take(self, cur: sqlite3.Cursor) -> None:
        self._description = cur.description
        self._rows = collections.deque(cur.fetchall() if cur.description else ())
        self._rowcount = cur.rowcount
        self._lastrowid = cur.lastrowid
        cur.close()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        def run() -> None:
            conn = self._adapt_connection._connection._conn
            args = (operation,) if parameters is None else (operation, parameters)
            self._take(conn.execute(*args))

        try:
            self._adapt_connection._run(run, write=not is_read(operation))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        def run() -> None:
            conn = self._adapt_connection._connection._conn
            self._take(conn.executemany(operation, seq_of_parameters))

        try:
            self._adapt_connection._run(run, write=True)
        except Exception as error:
            self._adapt_connection._handle_exception(error)


class FastConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("busy_ms", "database", "on_thread", "writing")
    _cursor_cls = FastCursor

    def __init__(self, dbapi: Any, connection: Any, database: str) -> None:
        super().__init__(dbapi, connection)
        self.busy_ms = 10_000  # what a statement waits for a lock (ours, then SQLite's)
        self.database = database
        self.writing: asyncio.Lock | None = None  # this process's writer lock, while held
        # Statements queued or running on the driver's thread. One whose wait was cancelled
        # (shutdown) goes on running there, holding the sqlite3 connection: the end of its
        # transaction then goes to the thread behind it, never on the loop (the loop would
        # block on the connection until the other process's lock is free, up to busy_ms).
        self.on_thread: set[object] = set()

    def _run(self, fn: Callable[[], Any], write: bool = False) -> Any:
        if write and self.writing is None:
            lock = _writer_lock(self.database)
            await_(_acquire(lock, self.busy_ms / 1000))
            self.writing = lock
        try:
            return self._call(fn)
        finally:
            if self.writing is not None and not self._connection._conn.in_transaction:
                self._release()  # autocommit (DDL, a failed first write): nothing held

    async def run(self, sql: str, args: tuple, write: bool) -> tuple[list, int]:
        """One statement from native async code (storage/raw.py), the same way `_run` runs
        one for SQLAlchemy: the writer lock first for a write, SQLITE_BUSY on the thread."""
        if write and self.writing is None:
            lock = _writer_lock(self.database)
            await _acquire(lock, self.busy_ms / 1000)
            self.writing = lock
        conn = self._connection._conn

        def fn() -> tuple[list, int]:
            cur = conn.execute(sql, args)
            rows = cur.fetchall() if cur.description else []
            count = cur.rowcount
            cur.close()
            return rows, count

        try:
            if not OFFLOAD.get():
                try:
                    return fn()
                except sqlite3.OperationalError as exc:
                    if not _is_busy(exc):
                        raise
            return await self._on_thread(fn)
        finally:
            if self.writing is not None and not conn.in_transaction:
                self._release()

    async def finish(self, commit: bool) -> None:
        """Commit or roll back from native async code (storage/raw.py's transactions)."""
        conn = self._connection._conn
        end = conn.commit if commit else conn.rollback
        if self.on_thread:  # behind the statement still running there (see `on_thread`)
            job = asyncio.ensure_future(self._on_thread(end))
            try:
                await asyncio.shield(job)
            finally:
                if not job.done():  # cancelled again: the lock goes when the end is done
                    job.add_done_callback(lambda _: self._release_if_ended())
                else:
                    self._release_if_ended()
            return
        try:
            if conn.in_transaction:
                try:
                    end()
                except sqlite3.OperationalError as exc:
                    if not _is_busy(exc):
                        raise
                    await self._on_thread(end)
        finally:
            self._release_if_ended()

    def _on_thread(self, fn: Callable[[], Any]) -> Any:
        """`fn` on the driver's thread, waiting for locks there (`on_thread` counts it)."""
        mark = object()
        self.on_thread.add(mark)

        def counted() -> Any:
            try:
                return _with_timeout(self._connection._conn, self.busy_ms, fn)
            finally:
                self.on_thread.discard(mark)

        return self._connection._execute(counted)

    def _release_if_ended(self) -> None:
        if not self._connection._conn.in_transaction:
            self._release()

    def _release(self) -> None:
        lock, self.writing = self.writing, None
        if lock is not None and lock.locked():
            lock.release()

    def _call(self, fn: Callable[[], Any]) -> Any:
        if not OFFLOAD.get():
            try:
                result = fn()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
            else:
                # SQLAlchemy's AsyncConnection.execute insists the driver awaited something;
                # a finished coroutine costs two greenlet switches, not a loop iteration.
                await_(_nothing())
                return result
        return await_(self._on_thread(fn))

    def commit(self) -> None:
        if self._connection._connection is None:
            self._release()
            return
        try:
            self._call(self._connection._conn.commit)
        except Exception as error:
            self._handle_exception(error)
        finally:
            if not self._connection._conn.in_transaction:
                self._release()

    def rollback(self) -> None:
        if self.on_thread:  # behind a cancelled statement still running there (`on_thread`)
            try:
                await_(self._on_thread(self._connection._conn.rollback))
            finally:
                self._release_if_ended()
            return
        if self._connection._connection is None or not self._connection._conn.in_transaction:
            self._release()
            return  # nothing to roll back (a connection going back to the pool after commit)
        try:
            self._call(self._connection._conn.rollback)
        except Exception as error:
            self._handle_exception(error)
        finally:
            self._release()

    def close(self) -> None:
        self._release()
        super().close()

    async def _terminate_graceful_close(self) -> None:
        self._release()
        await super()._terminate_graceful_close()

    def _terminate_force_close(self) -> None:
        self._release()
        super()._terminate_force_close()


class FastDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> FastConnection:
        kw["check_same_thread"] = False  # used on the loop and, for waits, on its thread
        connection = self.aiosqlite.connect(*arg, **kw)
        if isinstance(connection, Thread):
            connection.daemon = True
        else:
            connection._thread.daemon = True
        database = str(arg[0] if arg else kw.get("database", ""))
        return FastConnection(self, await_(connection), database)


def dbapi() -> FastDBAPI:
    import aiosqlite

    return FastDBAPI(aiosqlite, sqlite3)
