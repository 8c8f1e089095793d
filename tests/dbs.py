"""Where the tests keep their database: a SQLite file in the test's folder, or — when
TEST_DATABASE_URL names a PostgreSQL server — a database of its own on that server
(one per test folder, so a "restart" in the same folder finds the same data)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine


def database_url_for(folder: Path) -> str:
    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        return f"sqlite+aiosqlite:///{folder / 'bot.db'}"
    name = "t_" + hashlib.sha1(str(folder).encode()).hexdigest()[:16]
    return make_url(server).set(database=name).render_as_string(hide_password=False)


async def ensure_database(url: str) -> None:
    """Create the PostgreSQL database `url` names, if it does not exist yet."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return
    admin = create_async_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            found = await conn.scalar(
                text("select 1 from pg_database where datname = :n"), {"n": parsed.database}
            )
            if not found:
                await conn.execute(text(f'create database "{parsed.database}"'))
    finally:
        await admin.dispose()


async def rows(url: str, sql: str) -> list[tuple]:
    """Read the bot's database from a test, whichever database it is."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return [tuple(r) for r in (await conn.execute(text(sql))).all()]
    finally:
        await engine.dispose()
