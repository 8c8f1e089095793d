"""Operations for the IT unit: `health`, `backup`, `restore` (command line, no Telegram).

`health` exits non-zero when the bot cannot be trusted right now: database unreachable,
schema not current, or messages / updates waiting longer than the allowed age (a stuck
sender or handler). `backup` / `restore` use SQLite's online backup API, or pg_dump /
pg_restore for PostgreSQL.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from storage.db import alembic_config, make_engine
from storage.models import Inbox, Outbox


@dataclass(frozen=True)
class Check:
    ok: bool
    text: str


async def health(url: str, max_age_seconds: float, now: datetime | None = None) -> list[Check]:
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
            return checks
    except Exception as exc:  # any driver error: unhealthy, said in one line
        first = (str(exc).splitlines() or [""])[0][:200]
        return [Check(False, f"database tidak dapat dipakai: {type(exc).__name__}: {first}")]
    finally:
        await engine.dispose()


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
