"""One bot process under test (the bare bot or ours) and what /proc says about it."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.dbs import ensure_database
from tests.fakebotapi import FakeBotApi

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")
WITA = ZoneInfo("Asia/Makassar")


def digest_time(minutes_from_now: float) -> str:
    return (datetime.now(WITA) + timedelta(minutes=minutes_from_now)).strftime("%H:%M")


class BotUnderTest:
    def __init__(
        self,
        variant: str,
        server: FakeBotApi,
        folder: Path,
        token: str,
        database_url: str | None = None,
        **env: str,
    ) -> None:
        self.variant = variant
        self.bare = variant == "bare"
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        if database_url and not self.bare:  # a database of its own on that server
            from sqlalchemy.engine import make_url

            name = "bench_" + hashlib.sha1(str(folder).encode()).hexdigest()[:12]
            database_url = make_url(database_url).set(database=name).render_as_string(False)
        self.database_url = database_url or f"sqlite+aiosqlite:///{folder / 'bot.db'}"
        self.server = server
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "TELEGRAM_BOT_TOKEN": token,
            "TELEGRAM_API_BASE_URL": server.base_url,
            "TELEGRAM_FILE_BASE_URL": server.file_base_url,
            "DATABASE_URL": self.database_url,
            "FILES_DIR": str(folder / "files"),
            "ADMIN_IDS": "900",
            "WORK_CALENDAR": "always",
            "SCAN_INTERVAL_SECONDS": "1",
            "DIGEST_TIME": digest_time(30),  # closed: opens in half an hour for one minute
            "DIGEST_WINDOW_MINUTES": "1",
            "SEND_PACING": "false" if variant == "nopace" else "true",
            "HANDOFF_TO": "103",
            **env,
        }
        self.proc: subprocess.Popen | None = None
        self.rss_idle = 0.0

    async def prepare(self) -> None:
        if not self.bare:
            await ensure_database(self.database_url)

    async def start(self) -> None:
        cmd = [sys.executable, str(ROOT / "bench" / "bare_bot.py")]
        if not self.bare:
            cmd = [sys.executable, "-m", "bot", "run"]
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=self.env,
            stdout=(self.folder / "bot.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        await self.server.wait_until_polling(timeout=60)

    def _status(self, key: str) -> float:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def rss(self) -> float:
        """Resident memory now, MB."""
        return self._status("VmRSS")

    def peak(self) -> float:
        return self._status("VmHWM")

    def cpu(self) -> float:
        """User + system CPU seconds of the bot process so far."""
        assert self.proc is not None
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


async def settle(seconds: float) -> None:
    await asyncio.sleep(seconds)
