"""End to end: the real `python -m bot run` process, over HTTP, against the fake Bot API."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.dbs import database_url_for, ensure_database
from tests.fakebotapi import FakeBotApi

TOKEN = "424242:E2E-secret-token"
ROOT = Path(__file__).resolve().parents[2]
PEOPLE = {  # telegram id: (name, role)
    101: ("Pak Kadis", "kadis"),
    102: ("Bu Sekretaris", "sekretaris"),
    103: ("Pak Jafung", "jafung"),
    104: ("Ani Tim Kerja", "tim_kerja"),
    105: ("Budi Tim Kerja", "tim_kerja"),
}


class BotProcess:
    def __init__(self, server: FakeBotApi, tmp_path: Path, **env: str) -> None:
        self.env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": server.base_url,
            "TELEGRAM_FILE_BASE_URL": server.file_base_url,
            "DATABASE_URL": database_url_for(tmp_path),
            "FILES_DIR": str(tmp_path / "files"),
            "ADMIN_IDS": "900",
            "WORK_CALENDAR": "always",
            "SCAN_INTERVAL_SECONDS": "0.3",
            "OUTBOX_LEASE_SECONDS": "3",
            "LOG_LEVEL": "INFO",
            **env,
        }
        self.log = tmp_path / "bot.log"
        self.proc: subprocess.Popen | None = None

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "bot", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def start(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", *args],
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture
async def server() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(token=TOKEN, username="sop_samarinda_bot") as api:
        yield api
        assert not api.internal_errors


async def launch(server: FakeBotApi, tmp_path: Path, **env: str) -> BotProcess:
    bot = BotProcess(server, tmp_path, **env)
    await ensure_database(bot.env["DATABASE_URL"])
    await register(bot)
    bot.start()
    await server.wait_until_polling(timeout=30)
    for uid in PEOPLE:
        user = server.user(uid, PEOPLE[uid][0])
        await user.send("/start")
        await user.wait_for_text("Peran:", timeout=15)
    return bot


async def launch_webhook(
    server: FakeBotApi, tmp_path: Path, url: str, port: int, secret: str
) -> BotProcess:
    """The bot in webhook mode (people registered, nobody has pressed Start yet)."""
    await ensure_database(database_url_for(tmp_path))
    bot = BotProcess(
        server,
        tmp_path,
        WEBHOOK_URL=url,
        WEBHOOK_SECRET=secret,
        WEBHOOK_LISTEN="127.0.0.1",
        WEBHOOK_PORT=str(port),
    )
    await register(bot)
    bot.start()
    return bot


async def register(bot: BotProcess) -> None:
    """Everyone in PEOPLE through the CLI, as the IT unit does: the first call creates the
    schema, the rest run side by side (each is a whole Python start-up)."""

    def add(uid: int) -> None:
        name, role = PEOPLE[uid]
        result = bot.cli("users", "add", "--telegram-id", str(uid), "--name", name, "--role", role)
        assert result.returncode == 0, result.stderr

    first, *rest = PEOPLE
    await asyncio.to_thread(add, first)
    await asyncio.gather(*(asyncio.to_thread(add, uid) for uid in rest))
