"""The IT unit's commands: health (exit 1 when unhealthy), backup and restore."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _cli(tmp_path: Path, *args: str, url: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url or f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_health_backup_and_restore(tmp_path) -> None:
    assert (
        _cli(
            tmp_path, "users", "add", "--telegram-id", "7", "--name", "Ani", "--role", "tim_kerja"
        ).returncode
        == 0
    )
    never = _cli(tmp_path, "health")  # no bot process has run its jobs on this database
    assert never.returncode == 1 and "GAGAL pemindaian terakhir: belum pernah" in never.stdout
    with sqlite3.connect(tmp_path / "bot.db") as db:  # a bot that scanned just now
        db.execute("insert into heartbeats values ('kantor:41', datetime('now'))")
    healthy = _cli(tmp_path, "health")
    assert healthy.returncode == 0, healthy.stdout
    assert "skema database" in healthy.stdout and "GAGAL" not in healthy.stdout
    assert "OK    pemindaian terakhir:" in healthy.stdout and "oleh kantor:41" in healthy.stdout

    backup = tmp_path / "cadangan" / "bot.sqlite"
    assert _cli(tmp_path, "backup", str(backup)).returncode == 0
    assert _cli(tmp_path, "users", "remove", "--telegram-id", "7").returncode == 0
    assert _cli(tmp_path, "restore", str(backup)).returncode == 0
    assert "Ani" in _cli(tmp_path, "users", "list").stdout  # she is back
    missing = _cli(tmp_path, "restore", str(tmp_path / "tidak_ada.sqlite"))
    assert missing.returncode == 1 and "tidak ada" in missing.stderr

    # A message stuck in the outbox for an hour makes the bot unhealthy.
    with sqlite3.connect(tmp_path / "bot.db") as db:
        db.execute(
            "insert into outbox (chat_id, method, payload, status, attempts, next_attempt_at,"
            " created_at) values (7, 'send_message', '{}', 'pending', 5,"
            " datetime('now', '-1 hour'), datetime('now', '-1 hour'))"
        )
    stuck = _cli(tmp_path, "health")
    assert stuck.returncode == 1 and "GAGAL pesan keluar menunggu: 1" in stuck.stdout

    # The bot stopped scanning an hour ago (all processes with jobs gone); the IT unit may
    # allow more with --pindai-maks.
    with sqlite3.connect(tmp_path / "bot.db") as db:
        db.execute("delete from outbox")
        db.execute("update heartbeats set scanned_at = datetime('now', '-1 hour')")
    stale = _cli(tmp_path, "health")
    assert stale.returncode == 1 and "GAGAL pemindaian terakhir:" in stale.stdout
    assert "(batas 60 detik)" in stale.stdout  # the default: SCAN_INTERVAL_SECONDS=5 → 60 s
    assert _cli(tmp_path, "health", "--pindai-maks", "7200").returncode == 0

    unreachable = _cli(tmp_path, "health", url="postgresql+asyncpg://u:p@127.0.0.1:9/x")
    assert unreachable.returncode == 1 and "database tidak dapat dipakai" in unreachable.stdout


async def test_every_scanning_process_keeps_one_heartbeat_and_health_reads_the_newest(
    tmp_path,
) -> None:
    """On SQLite, and on PostgreSQL with TEST_DATABASE_URL (the upsert differs)."""
    import asyncio
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import func, select

    from bot import ops
    from storage.db import make_engine, make_sessions, upgrade
    from storage.models import Heartbeat
    from tests.dbs import database_url_for, ensure_database

    url = database_url_for(tmp_path)
    await ensure_database(url)
    await asyncio.to_thread(upgrade, url)
    now = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    engine = make_engine(url)
    try:
        sessions = make_sessions(engine)
        for process, ago in (("a:1", 30), ("b:2", 200), ("a:1", 10)):  # a:1 twice: one row
            async with sessions.begin() as session:
                await ops.record_scan(session, process, now - timedelta(seconds=ago))
        async with sessions() as session:
            assert await session.scalar(select(func.count()).select_from(Heartbeat)) == 2
    finally:
        await engine.dispose()
    checks = await ops.health(url, 300, 60, now=now)
    assert all(c.ok for c in checks), checks
    assert checks[-1].text == (
        "pemindaian terakhir: 2026-11-23 00:59:50 UTC, 10 detik lalu oleh a:1 (batas 60 detik)"
    )
    later = await ops.health(url, 300, 60, now=now + timedelta(seconds=61))
    assert not later[-1].ok and "71 detik lalu" in later[-1].text
