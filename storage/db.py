"""Engine, sessions and migrations. SQLite (WAL; statements on the event loop, see
fastsqlite.py) by default; PostgreSQL by URL."""

from __future__ import annotations

import fcntl
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SessionFactory = async_sessionmaker[AsyncSession]


def _prepare_sqlite_path(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)


@dataclass(frozen=True)
class PoolOptions:
    """Connection settings for a server database (PostgreSQL); SQLite ignores them."""

    connect_timeout: float = 10.0  # a hung server answers "unreachable", never blocks all
    command_timeout: float = 30.0
    pool_size: int = 5
    max_overflow: int = 10
    recycle_seconds: float = 1800.0
    pgbouncer: bool = False  # transaction pooling: no prepared-statement cache


def make_engine(url: str, options: PoolOptions | None = None) -> AsyncEngine:
    is_sqlite = make_url(url).get_backend_name() == "sqlite"
    if is_sqlite:
        _prepare_sqlite_path(url)
        from storage import fastsqlite

        # Connections are kept, not opened per burst: each is a file handle and an idle
        # thread, but opening one (thread, file, pragmas) cost more than the statements of
        # an update when 20 chats were handled at once and the pool overflowed.
        engine = create_async_engine(url, module=fastsqlite.dbapi(), pool_size=20, max_overflow=20)
    else:
        o = options or PoolOptions()
        connect_args: dict = {"timeout": o.connect_timeout, "command_timeout": o.command_timeout}
        if o.pgbouncer:
            connect_args |= {"statement_cache_size": 0, "prepared_statement_cache_size": 0}
        engine = create_async_engine(
            url,
            pool_pre_ping=True,
            pool_size=o.pool_size,
            max_overflow=o.max_overflow,
            pool_recycle=o.recycle_seconds,
            pool_timeout=o.connect_timeout,
            connect_args=connect_args,
        )
    if is_sqlite:

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            # WAL lets readers and one writer work at once; the busy timeout makes a second
            # bot process wait for the lock instead of failing.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # On the event loop a statement never waits for a lock: it gets SQLITE_BUSY at
            # once and runs again on the driver's thread, which waits 10 s (fastsqlite).
            cur.execute("PRAGMA busy_timeout=0")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

    return engine


def make_sessions(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    """Bring the database to the newest schema (run before the event loop starts). Safe
    when several processes start at once: PostgreSQL takes an advisory lock (env.py),
    SQLite a file lock beside the database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not _is_file(parsed.database):
        command.upgrade(alembic_config(url), "head")
        return
    _prepare_sqlite_path(url)
    with open(f"{parsed.database}.migrate-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            command.upgrade(alembic_config(url), "head")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _is_file(database: str | None) -> bool:
    return bool(database) and database != ":memory:" and not str(database).startswith("file:")
