"""The hot statements of every update, run on the session's own driver connection (issue 12).

SQLAlchemy spends about 100 µs of CPU on each statement before and after the driver's few
microseconds (cache key, execution context, cursor and result objects); a py-spy profile of
a one-message reply put 30% of the bot's CPU there. The statements every update runs (the
inbox, the outbox, the records of what was sent) are fixed Core statements, so they are
compiled once per database here and their parameters and rows converted with the same type
processors SQLAlchemy would use, then sent straight to the driver:

* in the session's transaction, on its connection (same locks, same commit or rollback);
  what the session holds unwritten (queued outbox rows, ORM changes) is written first, as
  SQLAlchemy's autoflush would;
* SQLite through `FastConnection.run` (this process's writer lock, SQLITE_BUSY waited out on
  the driver's thread), PostgreSQL through asyncpg in the transaction SQLAlchemy's adapter
  opens;
* a driver error is raised as the same `sqlalchemy.exc.DBAPIError` SQLAlchemy raises (a
  lost connection marked invalidated and the connection dropped from the pool), so the
  outage handling does not know the difference.

Only for statements whose rows are plain values; anything ORM goes through the session.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.sql import ClauseElement
from sqlalchemy.util.concurrency import greenlet_spawn

from storage import fastsqlite


@dataclass(frozen=True)
class _Form:
    """One statement for one database and one length of each expanding IN list."""

    sql: str
    names: tuple[tuple[str, int | None], ...]  # each positional value: (parameter, index)
    binds: tuple[Any, ...]  # bind processor per position, or None
    results: tuple[Any, ...]  # result processor per column, or None
    write: bool


@dataclass(frozen=True)
class Result:
    rows: list[tuple[Any, ...]]
    rowcount: int

    def scalars(self) -> list[Any]:
        return [row[0] for row in self.rows]


def instance(cls: type[Any], columns: tuple[Any, ...], row: tuple[Any, ...]) -> Any:
    """A mapped object made from a row of `columns` read as values: to read, not an object
    of any session (nothing written back; whoever changes a row loads it through the ORM)."""
    return cls(**{c.key: v for c, v in zip(columns, row, strict=True)})


class Sql:
    """A Core statement, compiled on first use for each database (see the module)."""

    def __init__(self, stmt: ClauseElement) -> None:
        self.stmt = stmt
        self._compiled: dict[str, Any] = {}
        self._forms: dict[tuple[str, tuple[int, ...]], _Form] = {}
        self._expanding: dict[str, tuple[str, ...]] = {}
        self._defaults: dict[str, dict[str, Any]] = {}

    def form(self, dialect: Dialect, params: dict[str, Any]) -> tuple[_Form, dict[str, Any]]:
        name = dialect.name
        compiled = self._compiled.get(name)
        if compiled is None:
            compiled = self._compiled[name] = self.stmt.compile(dialect=dialect)
            order = compiled.positiontup
            self._expanding[name] = tuple(n for n in order if compiled.binds[n].expanding)
            self._defaults[name] = {
                key: value
                for key, value in compiled.construct_params(_check=False).items()
                if value is not None
            }
        values = {**self._defaults[name], **params}
        expanding = self._expanding[name]
        for e in expanding:
            values[e] = _padded(values[e])
        key = (name, tuple(len(values[e]) for e in expanding))
        form = self._forms.get(key)
        if form is None:
            form = self._forms[key] = _make_form(compiled, dialect, values, expanding)
        return form, values


def _padded(items: Any) -> list[Any]:
    """An IN list made as long as the next power of two by repeating its last item (the
    same rows match): a handful of forms per statement, not one per length (the inbox's
    claims take the list of what is in flight, as long as a backlog)."""
    items = list(items)
    if items:
        items += items[-1:] * ((1 << (len(items) - 1).bit_length()) - len(items))
    return items


def _make_form(compiled: Any, dialect: Dialect, values: dict, expanding: tuple) -> _Form:
    every = {key: values.get(key) for key in compiled.positiontup}  # None: not given
    state = compiled.construct_expanded_state(every)
    origin: dict[str, tuple[str, int | None]] = {}
    for base in expanding:
        for i in range(len(values[base])):
            origin[f"{base}_{i + 1}"] = (base, i)
    names = tuple(origin.get(n, (n, None)) for n in state.positiontup or ())
    processors = {**compiled._bind_processors, **(state.processors or {})}
    binds = tuple(
        processors.get(n, processors.get(o[0]))
        for n, o in zip(state.positiontup or (), names, strict=True)
    )
    results = tuple(
        entry.type._cached_result_processor(dialect, None) for entry in compiled._result_columns
    )
    write = not fastsqlite.is_read(state.statement)  # SQLite takes its writer lock for it
    return _Form(state.statement, names, binds, results, write)


class Tx:
    """A transaction of its own on a pooled connection, with no ORM session: for the
    infrastructure's transactions of every update (the inbox's store and claim, the
    records of what was sent), whose opening, commit and closing through an AsyncSession
    cost more than their statements. Has what `run` and `outgoing.enqueue` need of a
    session (`info`: the queued outbox rows); see `transaction`."""

    def __init__(self, dialect: Dialect, pooled: Any) -> None:
        self.dialect = dialect
        self.pooled = pooled  # the pool's connection (its .dbapi_connection is the driver's)
        self.info: dict[str, Any] = {}

    async def execute(self, sql: Sql, params: dict[str, Any] | None = None) -> Result:
        return await _execute(self.dialect, self.pooled, sql, params, self.pooled.invalidate)

    async def end(self, commit: bool) -> None:
        driver = self.pooled.dbapi_connection
        try:
            if self.dialect.name == "sqlite":
                await driver.finish(commit)
            elif driver._transaction is not None:
                end = driver._transaction.commit if commit else driver._transaction.rollback
                await driver._call_and_discard(end)
        except Exception as exc:
            what = "COMMIT" if commit else "ROLLBACK"
            raise await _wrapped(
                self.dialect, driver, what, [], exc, self.pooled.invalidate
            ) from exc


@contextlib.asynccontextmanager
async def transaction(sessions: async_sessionmaker) -> AsyncIterator[Tx]:
    """`async with transaction(rt.sessions) as tx`: on the sessions' engine, committed at
    the end, rolled back on an exception, like `sessions.begin()`."""
    engine: AsyncEngine = sessions.kw["bind"]
    dialect, dbapi = engine.dialect, engine.dialect.loaded_dbapi
    try:
        pooled = await greenlet_spawn(engine.sync_engine.raw_connection)  # pre-ping, connect
    except dbapi.Error as exc:  # refused, restarting, too many clients: as SQLAlchemy says it
        lost = dialect.is_disconnect(exc, None, None)
        raise DBAPIError.instance(
            None, None, exc, dbapi.Error, connection_invalidated=lost, dialect=dialect
        ) from exc
    tx = Tx(engine.dialect, pooled)
    try:
        yield tx
        from storage import queued

        await queued.write(tx)  # rows queued after the last statement
        await tx.end(commit=True)
    except BaseException:
        tx.info.clear()
        with contextlib.suppress(Exception):  # the error that got us here is the one to see
            await tx.end(commit=False)
        raise
    finally:
        await greenlet_spawn(pooled.close)  # back to the pool (its reset finds nothing open)


Where = AsyncSession | Tx


async def run(
    where: Where, sql: Sql, params: dict[str, Any] | None = None, flush: bool = True
) -> Result:
    """Run `sql` in the transaction of a session or a `Tx` (see the module): the queued
    outbox rows are written first, and what the ORM holds unwritten unless `flush` is
    False (the caller knows the statement does not read it) or the session is in
    `no_autoflush`."""
    from storage import queued  # it writes its rows with `execute`

    await queued.write(where)
    if isinstance(where, AsyncSession) and flush:
        sync = where.sync_session
        if sync.autoflush and not sync._is_clean():  # as SQLAlchemy's autoflush
            await where.flush()
    return await execute(where, sql, params)


async def execute(where: Where, sql: Sql, params: dict[str, Any] | None = None) -> Result:
    """`run` without writing what the session holds first."""
    if isinstance(where, Tx):
        return await where.execute(sql, params)
    conn = await connection(where)
    return await _execute(conn.dialect, conn.connection, sql, params, conn.invalidate)


async def connection(session: AsyncSession) -> Connection:
    """The session's connection: the one its transaction holds (no greenlet round trip, a
    third of a one-message reply's statements' cost), else a new one as usual."""
    tx = session.sync_session._transaction
    entry = tx._connections.get(session.sync_session.bind) if tx is not None else None
    if entry is not None and not entry[0].closed and not entry[0].invalidated:
        return entry[0]
    return (await session.connection()).sync_connection  # type: ignore[return-value]


async def _execute(
    dialect: Dialect,
    pooled: Any,
    sql: Sql,
    params: dict[str, Any] | None,
    invalidate: Callable[[BaseException], None],
) -> Result:
    form, values = sql.form(dialect, params or {})
    args = []
    try:
        for (name, index), bind in zip(form.names, form.binds, strict=True):
            value = values.get(name) if index is None else values[name][index]
            args.append(bind(value) if bind is not None else value)
    except Exception as exc:  # a value no column takes: as SQLAlchemy says it
        raise StatementError(str(exc), form.sql, params, exc) from exc
    driver = pooled.dbapi_connection
    try:
        if dialect.name == "sqlite":
            rows, count = await driver.run(form.sql, tuple(args), form.write)
        else:
            rows, count = await _asyncpg(driver, form, args)
    except Exception as exc:
        raise await _wrapped(dialect, driver, form.sql, args, exc, invalidate) from exc
    if rows and any(form.results):
        procs = form.results
        rows = [
            tuple(p(v) if p is not None else v for p, v in zip(procs, row, strict=False))
            for row in rows
        ]
    else:
        rows = [tuple(row) for row in rows]
    return Result(rows, count)


async def _asyncpg(adapter: Any, form: _Form, args: list[Any]) -> tuple[list, int]:
    async with adapter._execute_mutex:
        if adapter._transaction is None:
            await adapter._start_transaction()
        pg = adapter._connection
        if form.results:
            rows = await pg.fetch(form.sql, *args)
            return rows, len(rows)
        status = await pg.execute(form.sql, *args)  # "UPDATE 3", "INSERT 0 1"
        tail = status.rsplit(" ", 1)[-1]
        return [], int(tail) if tail.isdigit() else -1


async def _wrapped(
    dialect: Dialect,
    driver: Any,
    sql: str,
    args: list,
    exc: Exception,
    invalidate: Callable[[BaseException], None],
) -> BaseException:
    """What SQLAlchemy would have raised for this driver error."""
    error: BaseException = exc
    try:  # the adapter's own translation: asyncpg's errors, aiosqlite's closed connection
        driver._handle_exception(exc)
    except Exception as translated:
        error = translated
    dbapi = dialect.loaded_dbapi
    if not isinstance(error, dbapi.Error):
        return error
    lost = dialect.is_disconnect(error, driver, None)
    if lost:
        await greenlet_spawn(invalidate, error)  # the pool opens a new one next time
    return DBAPIError.instance(
        sql, args, error, dbapi.Error, connection_invalidated=lost, dialect=dialect
    )
