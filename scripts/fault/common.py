"""What every part of the fault run shares: constants, message helpers, and a reader of the
bot's database (SQLite or PostgreSQL)."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import text as sql_text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

WAIT = 120.0  # for every answer: lease (2 s) + restart + exponential backoff of a flaky send
POLL = 0.2
LEASES = {"OUTBOX_LEASE_SECONDS": "2", "INBOX_LEASE_SECONDS": "2"}
CLIENT_TIMEOUT = 5.0  # python-telegram-bot's default read timeout, as the bot uses it
STALL = (0.3, 9.0)  # shorter than the client waits: slow; longer: timed out, no effect
LOST_ANSWER = (5.5, 7.0)  # done, then the answer comes after the client gave up
KILL_AFTER = (0.2, 3.0)
MAX_EXTRA_ROUNDS = 5
LATE_WAITS = 2  # after a lost update, WAIT this many times more to tell late from never
KADIS, SEK, JAF, ANI, BUDI = 101, 102, 103, 104, 105
TIM = (ANI, BUDI)
HOLDERS = {"kadis": (KADIS,), "sekretaris": (SEK,), "jafung": (JAF,), "tim_kerja": TIM}
OUTCOMES = ("selesai", "diteruskan", "diunggah", "disetujui", "paraf", "ditandatangani", "revisi")
CARD, SELESAI, FINAL = "task card", "'Proses selesai'", "final document"

Msg = dict[str, Any]
T = TypeVar("T")

# --- one update a person sends, and the answer that shows it took effect -----------------------


@dataclass
class Action:
    label: str
    who: int  # whose chat the answer may appear in (snapshot before sending)
    do: Callable[[], Awaitable[object]]
    answer: Callable[[], Awaitable[object]]
    closes: bool = False  # after the answer a step is closed: check the live cards


class Lost(Exception):
    """An update whose effect never showed within WAIT."""


def _text(m: Msg) -> str:
    return m.get("text") or m.get("caption") or ""


def _finished(m: Msg, title: str) -> bool:
    """The "🎉 Proses selesai: <title>" message."""
    text = _text(m)
    return "proses selesai" in text.lower() and title in text and not text.startswith("📋")


def _final_document(m: Msg) -> bool:
    return "document" in m and "dokumen final" in (m.get("caption") or "").lower()


def _labels(m: Msg) -> list[str]:
    rows = (m.get("reply_markup") or {}).get("inline_keyboard") or []
    return [b.get("text", "") for r in rows for b in r]


def _tokens(m: Msg) -> list[str]:
    rows = (m.get("reply_markup") or {}).get("inline_keyboard") or []
    return [b["callback_data"].removeprefix("t:") for r in rows for b in r if "callback_data" in b]


def _kind_of(method: str, text: str, buttons: bool) -> str | None:
    """Which kind of repeatable message a send is (for explaining repeats), if any."""
    if method.lower() == "senddocument" or method == "send_document":
        return FINAL if "dokumen final" in text.lower() else None
    if "proses selesai" in text.lower() and not text.startswith("📋"):
        return SELESAI
    if text.startswith("📋") and buttons:
        return CARD
    return None


def _json(value: object) -> dict[str, Any]:
    if isinstance(value, (bytes, str)):
        try:
            data = json.loads(value)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}
    return {}


class Db:
    """Reads the bot's database, whichever it is, through SQLAlchemy (as tests/dbs.py does).

    Synchronous, because the script's waits poll plain predicates: each query runs on an
    event loop of its own in a thread and the caller waits for it (as sqlite3 did). `?`
    placeholders, as in sqlite3."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: AsyncEngine | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        names = itertools.count()
        named = re.sub(r"\?", lambda _: f":p{next(names)}", sql)
        params = {f"p{i}": value for i, value in enumerate(args)}
        return asyncio.run_coroutine_threadsafe(self._query(named, params), self._loop).result(60)

    async def _query(self, sql: str, params: dict[str, Any]) -> list[tuple]:
        if self._engine is None:
            sqlite = make_url(self.url).get_backend_name() == "sqlite"
            self._engine = create_async_engine(
                self.url, connect_args={"timeout": 30} if sqlite else {}
            )
        async with self._engine.connect() as conn:
            return [tuple(r) for r in (await conn.execute(sql_text(sql), params)).all()]

    def close(self) -> None:
        if self._engine is not None:
            asyncio.run_coroutine_threadsafe(self._engine.dispose(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
