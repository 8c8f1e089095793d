"""Operations for the IT unit: `health`, `backup`, `restore` (command line, no Telegram).

`health` exits non-zero when the bot cannot be trusted right now: database unreachable,
schema not current, messages / updates waiting longer than the allowed age (a stuck
sender or handler), or no process has scanned for reminders and outbox for too long
(every process that runs the jobs records its last scan tick in `heartbeats`).
`backup` / `restore` use SQLite's online backup API, or pg_dump /
pg_restore for PostgreSQL.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import alembic_config, make_engine
from storage.models import Heartbeat, Inbox, Outbox


@dataclass(frozen=True)
class Check:
    ok: bool
    text: str


def scan_age_limit(scan_interval_seconds: float) -> float:
    """Default for `health --pindai-maks`: many missed ticks, never less than a minute
    (one slow tick with a stalled Bot API is not an outage)."""
    return max(10 * scan_interval_seconds, 60.0)


def heartbeat_every(scan_interval_seconds: float) -> float:
    """How often a process records its scan: a sixth of the age `health` allows, so a
    missed write or two never looks like a stopped process."""
    return scan_age_limit(scan_interval_seconds) / 6


def _upsert(dialect: str):  # type: ignore[no-untyped-def]
    table = Heartbeat.__table__
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    return stmt.on_conflict_do_update(
        index_elements=[table.c.process], set_={"scanned_at": stmt.excluded.scanned_at}
    )


_UPSERT = {name: _upsert(name) for name in ("postgresql", "sqlite")}  # built once


async def record_scan(session: AsyncSession, process: str, now: datetime) -> None:
    """This process finished a scan tick: one upsert, so it is cheap every few seconds."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    await session.execute(_UPSERT[dialect], {"process": process, "scanned_at": now})


async def forget_heartbeats(session: AsyncSession, now: datetime) -> None:
    """Rows of processes gone for a week (every restart is a new pid) are dropped."""
    await session.execute(delete(Heartbeat).where(Heartbeat.scanned_at < now - timedelta(days=7)))


async def health(
    url: str,
    max_age_seconds: float,
    max_scan_age_seconds: float = 60.0,
    now: datetime | None = None,
) -> list[Check]:
    now = now or datetime.now(UTC)
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            current = await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
            checks = [
                Check(True, "database dapat dihubungi"),
                Check(current == head, f"skema database: {current or '-'} (terbaru: {head})"),
            ]
            for name, table, column, waiting in (
                ("pesan keluar menunggu", Outbox, Outbox.created_at, Outbox.status == "pending"),
                ("update belum ditangani", Inbox, Inbox.received_at, Inbox.handled_at.is_(None)),
            ):
                row = (
                    await conn.execute(
                        select(func.count(), func.min(column)).select_from(table).where(waiting)
                    )
                ).one()
                count, oldest = row
                if isinstance(oldest, str):  # SQLite hands back text for an aggregate
                    oldest = datetime.fromisoformat(oldest)
                age = (now - oldest.replace(tzinfo=UTC)).total_seconds() if oldest else 0.0
                checks.append(
                    Check(age <= max_age_seconds, f"{name}: {count}, tertua {age:.0f} detik")
                )
            checks.append(await _last_scan(conn, now, max_scan_age_seconds))
            return checks
    except Exception as exc:  # any driver error: unhealthy, said in one line
        first = (str(exc).splitlines() or [""])[0][:200]
        return [Check(False, f"database tidak dapat dipakai: {type(exc).__name__}: {first}")]
    finally:
        await engine.dispose()


async def _last_scan(conn, now: datetime, limit: float) -> Check:  # type: ignore[no-untyped-def]
    newest = (
        await conn.execute(
            select(Heartbeat.process, Heartbeat.scanned_at)
            .order_by(Heartbeat.scanned_at.desc())
            .limit(1)
        )
    ).first()
    if newest is None:  # no process with jobs (semua/pekerja) has ever run on this database
        return Check(False, f"pemindaian terakhir: belum pernah (batas {limit:.0f} detik)")
    process, at = newest
    age = (now - at).total_seconds()
    return Check(
        age <= limit,
        f"pemindaian terakhir: {at:%Y-%m-%d %H:%M:%S} UTC, {age:.0f} detik lalu oleh {process}"
        f" (batas {limit:.0f} detik)",
    )


def backup(url: str, target: Path) -> None:
    parsed = make_url(url)
    target.parent.mkdir(parents=True, exist_ok=True)
    if parsed.get_backend_name() == "sqlite":
        # The online backup API copies a consistent snapshot while the bot keeps writing.
        with sqlite3.connect(parsed.database) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        return
    _run_pg("pg_dump", "--format=custom", f"--file={target}", _libpq(url))


def restore(url: str, source: Path) -> None:
    if not source.exists():
        raise FileNotFoundError(f"berkas cadangan {source} tidak ada")
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(source) as src, sqlite3.connect(parsed.database) as dst:
            src.backup(dst)
        return
    _run_pg("pg_restore", "--clean", "--if-exists", f"--dbname={_libpq(url)}", str(source))


def _run_pg(tool: str, *args: str) -> None:
    if shutil.which(tool) is None:
        raise FileNotFoundError(f"{tool} tidak terpasang (paket Debian postgresql-client)")
    subprocess.run([tool, *args], check=True, capture_output=True, text=True)


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
