"""storage/fastsqlite.py: SQLite statements on the event loop, writers queued in-process,
another process's lock waited for on the driver's thread, never on the loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from storage import fastsqlite
from storage.db import make_engine


async def _engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'fast.db'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        await conn.execute(text("INSERT INTO t VALUES (1, 'a')"))
    return engine


async def _ticks(stop: asyncio.Event) -> int:
    """How often the loop got to run while something else waited."""
    n = 0
    while not stop.is_set():
        await asyncio.sleep(0.01)
        n += 1
    return n


async def test_two_writers_of_one_process_queue_and_the_loop_keeps_running(tmp_path) -> None:
    engine = await _engine(tmp_path)
    order: list[str] = []

    async def first() -> None:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE t SET v = 'first' WHERE id = 1"))
            await asyncio.sleep(0.3)  # holds the write lock meanwhile
            order.append("first")

    async def second() -> None:
        await asyncio.sleep(0.05)
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE t SET v = v || '+second' WHERE id = 1"))
            order.append("second")

    stop = asyncio.Event()
    ticker = asyncio.create_task(_ticks(stop))
    await asyncio.gather(first(), second())
    stop.set()
    assert order == ["first", "second"]
    assert await ticker >= 20  # ~30 possible in 0.3 s: nobody blocked the loop
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT v FROM t"))).scalar() == "first+second"
    await engine.dispose()


async def test_another_process_lock_is_waited_for_off_the_loop(tmp_path) -> None:
    engine = await _engine(tmp_path)
    other = sqlite3.connect(tmp_path / "fast.db", check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # "another process" holds the write lock
    other.execute("UPDATE t SET v = 'other' WHERE id = 1")
    threading.Timer(0.4, other.commit).start()

    stop = asyncio.Event()
    ticker = asyncio.create_task(_ticks(stop))
    start = time.perf_counter()
    async with engine.begin() as conn:  # SQLITE_BUSY at once; waits on the driver's thread
        await conn.execute(text("UPDATE t SET v = v || '+ours' WHERE id = 1"))
    waited = time.perf_counter() - start
    stop.set()
    assert waited >= 0.3
    assert await ticker >= 20
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT v FROM t"))).scalar() == "other+ours"
    other.close()
    await engine.dispose()


async def test_offloaded_statements_and_errors_behave_as_before(tmp_path) -> None:
    engine = await _engine(tmp_path)
    with fastsqlite.offloaded():
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 1
    from sqlalchemy.exc import IntegrityError, OperationalError

    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (1, 'dup')"))
    with pytest.raises(OperationalError):
        async with engine.connect() as conn:
            await conn.execute(text("SELECT nope FROM t"))
    async with engine.begin() as conn:  # the failed writer let go of the lock
        await conn.execute(text("UPDATE t SET v = 'after' WHERE id = 1"))
    await engine.dispose()


async def test_a_write_cancelled_while_it_waits_for_another_process_never_blocks_the_loop(
    tmp_path,
) -> None:
    """Shutdown cancels a transaction whose statement waits on the driver's thread for
    another process's lock: its rollback goes to the thread behind it, the loop runs on,
    and nothing of this process stays locked."""
    from sqlalchemy import bindparam

    from storage import raw
    from storage.db import make_sessions

    engine = await _engine(tmp_path)
    sessions = make_sessions(engine)
    mark = raw.Sql(text("UPDATE t SET v = :v WHERE id = 1").bindparams(bindparam("v")))
    other = sqlite3.connect(tmp_path / "fast.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # "another process" holds the write lock for a second

    async def write() -> None:
        async with raw.transaction(sessions) as tx:
            await tx.execute(mark, {"v": "ours"})

    task = asyncio.create_task(write())
    await asyncio.sleep(0.2)  # waiting on the thread now
    threading.Timer(1.0, other.rollback).start()
    stop = asyncio.Event()
    ticker = asyncio.create_task(_ticks(stop))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stop.set()
    assert await ticker >= 40  # ~80 possible in the ~0.8 s the cancellation waited
    async with sessions.begin() as session:  # the writer lock and the connection are free
        await raw.run(session, mark, {"v": "next"})
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT v FROM t"))).scalar() == "next"
    other.close()
    await engine.dispose()
