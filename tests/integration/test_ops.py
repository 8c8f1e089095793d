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
    healthy = _cli(tmp_path, "health")
    assert healthy.returncode == 0, healthy.stdout
    assert "skema database" in healthy.stdout and "GAGAL" not in healthy.stdout

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

    unreachable = _cli(tmp_path, "health", url="postgresql+asyncpg://u:p@127.0.0.1:9/x")
    assert unreachable.returncode == 1 and "database tidak dapat dipakai" in unreachable.stdout
