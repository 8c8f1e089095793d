"""The database goes away while people press buttons and the scan tick runs: the log says it
once and sums it up once when it is back, and every press then takes effect exactly once."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.app import PROCESS, tick
from bot.services.outgoing import enqueue
from handlers import inbox
from handlers.common import BotContext
from handlers.outbox import deliver
from storage.models import Heartbeat, Outbox
from tests.handlers.harness import Harness
from tests.handlers.test_flow import JAFUNG, KADIS, SEKRETARIS, register, start


class Flaky:
    """The session factory, as a restarting server looks to the bot: every use fails."""

    def __init__(self, real: Any) -> None:
        self.real, self.down = real, False

    def _check(self) -> None:
        if self.down:
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._check()
        return self.real(*args, **kwargs)

    def begin(self, *args: Any, **kwargs: Any) -> Any:
        self._check()
        return self.real.begin(*args, **kwargs)

    @property
    def kw(self) -> Any:  # the engine, for storage/raw.py's transactions
        self._check()
        return self.real.kw


@pytest.fixture
async def h(tmp_path):
    async with Harness(tmp_path) as harness:
        await register(harness)
        yield harness


async def test_an_outage_is_logged_once_and_every_press_counts_once_when_it_is_back(
    h: Harness, caplog
) -> None:
    await start(h, "370")
    selesai = h.button_data(SEKRETARIS, "📨 Teruskan ke semua")
    db = Flaky(h.rt.sessions)
    h.rt.sessions = db
    context = BotContext(h.app)
    h.clear()
    caplog.clear()
    with caplog.at_level(logging.INFO):
        # A press and then /tugas reach the inbox; the database goes away as they are handled.
        await inbox.store(
            h.rt, [_press(900, SEKRETARIS, selesai), _text(901, SEKRETARIS, "/tugas")]
        )
        await h.dispatcher.pump()  # claimed; their handling starts below, with no database
        db.down = True
        for task in h.dispatcher.in_flight():
            await task
        for _ in range(3):  # the dispatcher's pump and the scan tick keep failing too
            with pytest.raises(OperationalError):
                await h.dispatcher.pump()
            await tick(context)
        assert h.request.calls == []  # nobody was told anything, least of all something wrong

        db.down = False
        await h.dispatcher.drain()  # taken up at once, not when their claims run out
        await tick(context)
        await deliver(h.app)

    assert sum("Langkah 3" in t for t in h.sent(JAFUNG)) == 1  # the press took effect once
    # In her order: the press first, so /tugas finds nothing left for her.
    assert h.sent(SEKRETARIS).count("Tidak ada tugas terbuka untuk Bapak/Ibu saat ini. 👍") == 1
    assert len(h.answers()) == 1 and "gangguan" not in " ".join(h.answers())
    assert not any("gangguan" in t for uid in (KADIS, SEKRETARIS, JAFUNG) for t in h.sent(uid))
    loud = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(loud) == 2, loud  # not one line per failed attempt
    assert loud[0][0] == "ERROR" and "database tidak dapat dihubungi" in loud[0][1]
    assert loud[1][0] == "WARNING" and "2 update ditahan" in loud[1][1]
    assert "3 pemindaian terlewat" in loud[1][1]
    async with h.rt.sessions() as s:  # the tick that worked recorded its scan for `health`
        assert await s.scalar(select(Heartbeat.process)) == PROCESS


def _press(update_id: int, uid: int, data: str) -> dict[str, Any]:
    chat = {"id": uid, "type": "private", "first_name": "X"}
    message = {"message_id": 1, "date": 0, "chat": chat, "text": "x"}
    query = {"id": f"q{update_id}", "from": _user(uid), "chat_instance": "c", "data": data}
    return {"update_id": update_id, "callback_query": {**query, "message": message}}


def _text(update_id: int, uid: int, text: str) -> dict[str, Any]:
    chat = {"id": uid, "type": "private", "first_name": "X"}
    entities = [{"type": "bot_command", "offset": 0, "length": len(text)}]
    message = {"message_id": update_id, "date": 0, "chat": chat, "from": _user(uid)}
    return {"update_id": update_id, "message": {**message, "text": text, "entities": entities}}


def _user(uid: int) -> dict[str, Any]:
    return {"id": uid, "is_bot": False, "first_name": f"User{uid}"}


async def test_a_message_telegram_took_as_the_database_went_away_is_not_sent_again(
    h: Harness,
) -> None:
    async with h.rt.sessions.begin() as s:
        enqueue(s, h.clock.now(), JAFUNG, "send_message", {"text": "Berkas sudah lengkap."})
    db = Flaky(h.rt.sessions)
    h.rt.sessions = db
    real = h.request.do_request

    async def accepted_then_cut(url: str, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        answer = await real(url, *args, **kwargs)
        if url.endswith("/sendMessage"):
            db.down = True  # Telegram took it; marking the row sent will fail
        return answer

    h.request.do_request = accepted_then_cut  # type: ignore[method-assign]
    with pytest.raises(OperationalError):
        await deliver(h.app)
    db.down = False
    h.clock.advance(seconds=h.settings.outbox_lease_seconds + 1)  # its claim has run out
    await deliver(h.app)
    assert h.sent(JAFUNG).count("Berkas sudah lengkap.") == 1
    async with h.rt.sessions() as s:
        row = await s.scalar(select(Outbox).where(Outbox.chat_id == JAFUNG))
    assert row is not None and row.status == "sent" and row.message_id is not None
