"""No button of a closed step stays live, even when a send timed out: Telegram may have
delivered it although its answer was lost, so the bot cannot know the copy is there."""

from __future__ import annotations

import asyncio
import os
from datetime import date

import pytest
from sqlalchemy import func, select

from bot.people import add_person, find_actor
from bot.services import reports, standins
from bot.services.outgoing import enqueue
from handlers.outbox import deliver
from storage.models import Outbox
from tests.handlers.harness import Harness
from tests.handlers.test_delivery import step_2
from tests.handlers.test_flow import JAFUNG, SEKRETARIS, register, start

STAND_IN = 50
RINA = 31  # a second Jafung


@pytest.fixture
async def h(tmp_path):
    async with Harness(tmp_path) as harness:
        await register(harness)
        yield harness


def _copies_of_step_2(h: Harness, step: str = "Langkah 2") -> list[tuple[int, int]]:
    """(chat, message id) of every message with buttons sent for a step, as it arrives."""
    sent: list[tuple[int, int]] = []
    answer = h.request._result

    def result(name: str, params: dict):  # type: ignore[no-untyped-def]
        out = answer(name, params)
        text = params.get("text", "")
        if name == "sendMessage" and params.get("reply_markup") and step in text:
            sent.append((int(params["chat_id"]), out["message_id"]))
        return out

    h.request._result = result
    return sent


def _live(h: Harness, copies: list[tuple[int, int]], chat: int) -> list[int]:
    """The copies in `chat` that no later edit took the buttons from."""
    return [
        message_id
        for c, message_id in copies
        if c == chat
        and not any(
            call.method in ("editMessageText", "editMessageReplyMarkup")
            and int(call.params.get("chat_id", 0)) == chat
            and call.params.get("message_id") == message_id
            and not call.params.get("reply_markup")
            for call in h.request.calls
        )
    ]


async def _step_2(h: Harness) -> int:
    async with h.rt.sessions() as s:
        return await step_2(s)


async def _reminder_with_the_card(h: Harness) -> None:
    """Pak Jafung has no live copy of step 2: its reminder sends the card again."""
    si = await _step_2(h)
    async with h.rt.sessions.begin() as s:
        now = h.clock.now()
        card = {"text": "📋 Langkah 2 (dikirim lagi)", "buttons": [[("✅ Setuju", "x")]]}
        line = {"text": "⏰ Langkah 2 terlambat 5 menit", "since": now.isoformat(), "card": card}
        enqueue(s, now, JAFUNG, "remind", line, si, tag="reminder")


async def _reminders_card_arrived_unconfirmed(h: Harness) -> list[tuple[int, int]]:
    """His reminder sends the card again: it arrives, Telegram's answer does not."""
    await start(h, "370")
    copies = _copies_of_step_2(h)
    await _reminder_with_the_card(h)
    h.request.lost_answers.append("sendMessage")
    await deliver(h.app)
    return copies


async def test_a_reminders_card_sent_twice_after_a_time_out_leaves_one_live_copy(h) -> None:
    copies = await _reminders_card_arrived_unconfirmed(h)
    h.clock.advance(seconds=3)
    await deliver(h.app)  # sent again: now two copies in his chat
    await h.press(SEKRETARIS, "Teruskan")  # and the step is done
    await deliver(h.app)
    await deliver(h.app)
    assert len(copies) == 2
    assert _live(h, copies, JAFUNG) == []


async def test_a_reminders_card_that_timed_out_is_closed_when_the_step_closes_first(h) -> None:
    copies = await _reminders_card_arrived_unconfirmed(h)
    await h.press(SEKRETARIS, "Teruskan")  # the step is done before the retry
    h.clock.advance(seconds=3)
    await deliver(h.app)
    await deliver(h.app)
    assert len(copies) == 1
    assert _live(h, copies, JAFUNG) == []
    # Told the outcome (he is the next holder: his step-3 card follows), not the card again.
    assert any("Diteruskan oleh" in text for text in h.sent(JAFUNG))


async def test_a_card_that_timed_out_is_closed_when_a_stand_in_takes_the_step(h) -> None:
    await start(h, "370")
    async with h.rt.sessions.begin() as s:
        person = await add_person(s, h.clock.now(), STAND_IN, "Budi Kabid", [])
        person.started_at = h.clock.now()
    si = await _step_2(h)
    copies = _copies_of_step_2(h)
    async with h.rt.sessions.begin() as s:
        card = {"text": "📋 Langkah 2 (salinan)", "buttons": [[("✅ Setuju", "x")]]}
        enqueue(s, h.clock.now(), SEKRETARIS, "send_message", card, si, tag="card")
    h.request.lost_answers.append("sendMessage")
    await deliver(h.app)  # the copy arrives; Telegram's answer does not
    async with h.rt.sessions.begin() as s:  # a Plh for the Sekretaris from today
        today = date(2026, 11, 23)
        await standins.create(h.rt, s, h.clock.now(), 1, "sekretaris", STAND_IN, today, today)
    h.clock.advance(seconds=3)
    await deliver(h.app)
    await deliver(h.app)
    assert [c for c in copies if c[0] == SEKRETARIS] != []
    assert _live(h, copies, SEKRETARIS) == []  # the Plh's own card is live, in his chat


@pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"),
    reason="PostgreSQL only: on SQLite an action's transaction holds the one write lock "
    "from its first statement, so no step can close while /tugas queues its card",
)
async def test_a_card_queued_while_its_step_closes_is_never_left_live(h) -> None:
    """Two processes side by side: Pak Jafung asks /tugas while Bu Rina, the other Jafung,
    forwards the step. His copy of the card is dropped or closed, never left live."""
    async with h.rt.sessions.begin() as s:
        rina = await add_person(s, h.clock.now(), RINA, "Bu Rina", ["jafung"])
        rina.started_at = h.clock.now()
    await start(h, "370")
    await h.press(SEKRETARIS, "Teruskan")  # step 3, for both Jafung
    copies = _copies_of_step_2(h, "Langkah 3")
    tugas = h.rt.sessions()
    await tugas.begin()
    actor = await find_actor(tugas, JAFUNG, h.clock.now(), [])
    await reports.queue_open_tasks(h.rt, tugas, h.clock.now(), actor)  # not committed yet
    # Her press runs to its end meanwhile, unless the step's closing waits for his /tugas.
    forward = asyncio.create_task(h.press(RINA, "Teruskan"))
    await asyncio.wait({forward}, timeout=3.0)
    await tugas.commit()
    await tugas.close()
    await forward
    await deliver(h.app)
    await deliver(h.app)
    assert _live(h, copies, JAFUNG) == []


async def test_a_card_sent_again_as_its_step_closes_is_closed_too(h, monkeypatch) -> None:
    """A reminder that sends the card again is on its way when someone else finishes the
    step: once it is out, that copy loses its buttons too."""
    from handlers import sends

    await start(h, "370")
    copies = _copies_of_step_2(h)
    await _reminder_with_the_card(h)
    retag = sends.retag

    async def finished_meanwhile(app, outbox_id: int, tag: str) -> None:  # type: ignore[no-untyped-def]
        await h.press(SEKRETARIS, "Teruskan")  # while the card was on its way to him
        await retag(app, outbox_id, tag)

    monkeypatch.setattr(sends, "retag", finished_meanwhile)
    await deliver(h.app)
    await deliver(h.app)
    assert len([c for c in copies if c[0] == JAFUNG]) == 1
    assert _live(h, copies, JAFUNG) == []


async def test_the_twin_search_spares_a_reply_sent_and_not_yet_recorded(h) -> None:
    """Looking for the unrecorded twin of a re-sent card, the bot leaves alone the reply it
    has just sent and holds a moment to record with other work: its buttons are live."""
    from types import SimpleNamespace

    from handlers.closing import close_orphans
    from handlers.recording import unrecorded

    await start(h, "370")
    async with h.rt.sessions() as s:
        newest = await s.scalar(select(func.max(Outbox.message_id)))
    held = newest + 1  # the reply, sent, its record held
    timer = h.app.bot_data.get("record_timer")
    if timer is not None:  # the real held records' flush must not take the stand-in along
        timer.cancel()
        h.app.bot_data["record_timer"] = None
    unrecorded(h.app)[10**9] = (SimpleNamespace(chat_id=SEKRETARIS), held)
    before = len(h.request.calls)
    await close_orphans(h.app, SEKRETARIS, held + 1)  # a card re-sent just after it
    edited = [c.params["message_id"] for c in h.request.calls[before:]]
    assert edited and held not in edited


async def test_the_twin_search_spares_the_status_card(h) -> None:
    """/status answers at once with a 📄 Riwayat button; a card re-sent just after it (its
    twin searched for) leaves that button live."""
    from handlers.closing import close_orphans

    await start(h, "370")
    async with h.rt.sessions() as s:
        newest = await s.scalar(select(func.max(Outbox.message_id)))
    await h.text(SEKRETARIS, "/status 1")
    status = newest + 1  # the one message sent since
    assert "Riwayat" in str(h.request.calls[-1].params.get("reply_markup"))
    before = len(h.request.calls)
    await close_orphans(h.app, SEKRETARIS, status + 1)  # a card re-sent just after it
    edited = [c.params["message_id"] for c in h.request.calls[before:]]
    assert edited and status not in edited
