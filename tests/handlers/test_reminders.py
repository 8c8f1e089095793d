"""Reminders, escalation and the digest with an injected clock (office calendar, WITA)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.services import digest as digests
from bot.services import reminders
from handlers.outbox import deliver
from storage.models import Process, StepInstance
from tests.handlers.harness import Harness
from tests.handlers.test_flow import (
    JAFUNG,
    KADIS,
    SEKRETARIS,
    TIM_A,
    draft_uploaded,
    register,
    start,
)


def wita(day: int, hour: int, minute: int = 0) -> datetime:
    return (
        datetime(2026, 11, day, hour - 8, minute, tzinfo=UTC)
        if hour >= 8
        else datetime(2026, 11, day - 1, hour + 16, minute, tzinfo=UTC)
    )


@pytest.fixture
async def h(tmp_path):
    async with Harness(tmp_path) as harness:
        await register(harness)
        harness.clock.set(wita(23, 9))  # Monday 09:00 WITA
        yield harness


async def scan_at(h: Harness, at: datetime) -> None:
    h.clock.set(at)
    await reminders.scan(h.rt, at)
    await deliver(h.app)


def reminders_to(h: Harness, uid: int) -> list[str]:
    """New reminder messages (a later reminder the same day edits the first one)."""
    return [t for t in h.sent(uid) if t.startswith("⏰ Langkah")]


async def test_late_step_is_reminded_repeatedly_in_office_hours_and_stops_when_done(h) -> None:
    await start(h, "370")  # step 2 (Sekretaris, 5 Menit) due 09:05
    await scan_at(h, wita(23, 9, 4))
    assert reminders_to(h, SEKRETARIS) == []
    await scan_at(h, wita(23, 9, 6))
    first = reminders_to(h, SEKRETARIS)
    assert len(first) == 1 and "terlambat 1 menit" in first[0] and "Langkah 2" in first[0]
    await scan_at(h, wita(23, 9, 30))
    assert len(reminders_to(h, SEKRETARIS)) == 1  # the interval is 60 minutes
    await scan_at(h, wita(23, 10, 7))
    assert len(reminders_to(h, SEKRETARIS)) == 1  # the same day: the line is edited
    assert any("terlambat 1 jam 2 menit" in t for t in h.edits())
    reminder = next(
        c for c in h.request.calls if c.params.get("text", "").startswith("⏰ Langkah 2")
    )
    assert "Tenggat" not in reminder.params["text"]  # one short line, not the whole card
    assert reminder.params["reply_parameters"]["message_id"] > 1  # it answers the live card
    await scan_at(h, wita(24, 9, 0))
    assert len(reminders_to(h, SEKRETARIS)) == 2  # a new working day: one new message
    await h.press(SEKRETARIS, "Teruskan")
    await scan_at(h, wita(24, 12, 0))
    assert len(reminders_to(h, SEKRETARIS)) == 2  # done: no more


async def test_no_reminder_at_night_or_on_a_weekend(h) -> None:
    h.clock.set(wita(27, 15, 58))  # Friday 15:58
    await start(h, "370")  # 5 working minutes: 2 today, 3 on Monday -> due Mon 07:33
    await scan_at(h, wita(27, 17))
    await scan_at(h, wita(28, 10))  # Saturday
    await scan_at(h, wita(30, 7, 32))
    assert reminders_to(h, SEKRETARIS) == []
    await scan_at(h, wita(30, 7, 34))
    assert len(reminders_to(h, SEKRETARIS)) == 1


async def test_reminder_missed_while_down_is_sent_once(h) -> None:
    await start(h, "370")
    # The bot was down from 09:00 to 14:00: five intervals passed, one reminder goes out.
    await scan_at(h, wita(23, 14))
    await scan_at(h, wita(23, 14, 1))
    assert len(reminders_to(h, SEKRETARIS)) == 1


async def test_superior_is_told_after_twice_the_standard_time(h) -> None:
    await start(h, "370")
    await h.press(SEKRETARIS, "Teruskan")  # step 3 (Jafung, 5 Menit) starts 09:00
    await scan_at(h, wita(23, 9, 9))
    assert not any("Eskalasi" in t for t in h.sent(SEKRETARIS))
    await scan_at(h, wita(23, 9, 11))
    escalations = [t for t in h.sent(SEKRETARIS) if "Eskalasi" in t]
    assert len(escalations) == 1 and "Langkah 3" in escalations[0]
    assert "Pak Jafung" in escalations[0] and "waktu kerja" in escalations[0]
    # It can be acted on: 🔔 Ingatkan nudges the Jafung now and says so.
    before = len(reminders_to(h, JAFUNG))
    await h.press(SEKRETARIS, "Ingatkan")
    # A new message, not an edit of today's line (an edit makes no sound on his phone).
    assert before == 1 and len(reminders_to(h, JAFUNG)) == 2
    assert "Pengingat Langkah 3 sudah dikirim kepada Pak Jafung" in h.answers()[-1]
    await h.press(SEKRETARIS, "Status")
    assert "#1" in h.last(SEKRETARIS) and "Langkah 3" in h.last(SEKRETARIS)
    await scan_at(h, wita(23, 11))
    assert len([t for t in h.sent(SEKRETARIS) if "Eskalasi" in t]) == 1
    # The Kadis is never sent escalations; late items wait for the digest.
    assert not any("Eskalasi" in t for t in h.sent(KADIS))


async def test_kadis_is_reminded_once_only(h) -> None:
    await draft_uploaded(h, "371")
    await h.press(JAFUNG, "Setuju")
    await h.press(SEKRETARIS, "Setuju")
    await h.document(TIM_A, "final.pdf")
    await h.press(SEKRETARIS, "Setuju")  # step 10: Kadis, 5 Menit
    for minute in (6, 30):
        await scan_at(h, wita(23, 9, minute))
    for hour in (11, 13, 15):
        await scan_at(h, wita(23, hour))
    assert len(reminders_to(h, KADIS)) == 1


async def test_morning_digest_once_per_day_late_first_and_overview_for_kadis(h) -> None:
    await start(h, "370")
    await start(h, "371")
    await h.press(SEKRETARIS, "Teruskan")  # the newest (371) step 2 done; 370 step 2 late
    await scan_at(h, wita(24, 7, 29))
    assert not any("Selamat pagi" in t for t in h.sent(SEKRETARIS))
    await scan_at(h, wita(24, 7, 31))
    await scan_at(h, wita(24, 8))
    digests = [t for t in h.sent(SEKRETARIS) if "Selamat pagi" in t]
    assert len(digests) == 1 and "Menunggu Bapak/Ibu (1)" in digests[0]
    assert "terlambat" in digests[0] and "L2" in digests[0]
    kadis = [t for t in h.sent(KADIS) if "Selamat pagi" in t]
    assert len(kadis) == 1 and "Berjalan: 2 proses" in kadis[0]
    assert "Terlambat" in kadis[0] and "Bu Sekretaris" in kadis[0]  # who is late, by name
    # A task that arrives later the same day does not trigger another digest.
    await start(h, "371", "Tahun 2025")
    await scan_at(h, wita(24, 9))
    assert len([t for t in h.sent(SEKRETARIS) if "Selamat" in t]) == 1


async def test_no_digest_outside_its_window(h) -> None:
    await start(h, "370")
    await scan_at(h, wita(24, 10))  # the window is 07:30-09:30: the bot was down until 10
    await scan_at(h, wita(24, 14))
    assert not any("Ringkasan tugas" in t for uid in (KADIS, SEKRETARIS) for t in h.sent(uid))
    await scan_at(h, wita(25, 7, 45))  # the next working day, inside the window
    assert len([t for t in h.sent(SEKRETARIS) if "Ringkasan tugas" in t]) == 1


async def test_two_bot_processes_on_one_database_send_a_reminder_once(h, tmp_path) -> None:
    await start(h, "370")
    async with Harness(tmp_path) as other:  # a second process: same database, own runtime
        at = wita(23, 9, 6)
        other.clock.set(at)
        import asyncio

        await asyncio.gather(reminders.scan(h.rt, at), reminders.scan(other.rt, at))
        await asyncio.gather(deliver(h.app), deliver(other.app))
        sent = [
            c
            for r in (h.request, other.request)
            for c in r.calls
            if c.method == "sendMessage" and c.params.get("text", "").startswith("⏰ Langkah")
        ]
        assert len(sent) == 1
    async with h.rt.sessions() as s:
        si = await s.scalar(select(StepInstance).where(StepInstance.step_no == 2))
        assert si.reminders_sent == 1
        assert si.next_reminder_at - at == timedelta(minutes=60)


async def test_digest_written_in_parts_reaches_everyone_once(h, monkeypatch) -> None:
    monkeypatch.setattr(digests, "CHUNK", 1)  # one person per transaction
    await start(h, "370")
    await h.press(SEKRETARIS, "Teruskan")  # the Jafung has a task too now
    await scan_at(h, wita(24, 7, 45))  # one tick writes every part
    for uid in (KADIS, JAFUNG):
        assert len([t for t in h.sent(uid) if "Ringkasan tugas" in t]) == 1
    await scan_at(h, wita(24, 8))
    for uid in (KADIS, JAFUNG):
        assert len([t for t in h.sent(uid) if "Ringkasan tugas" in t]) == 1


async def test_a_reminder_being_sent_when_its_step_is_done_is_not_sent(h) -> None:
    """The sender had taken the reminder (waiting its pace) when the Sekretaris forwarded:
    the step's closing cannot drop a row in flight, and a reminder of done work must not
    arrive after the outcome."""
    from sqlalchemy import update

    from storage.models import Outbox

    await start(h, "370")
    h.clock.set(wita(23, 9, 6))
    await reminders.scan(h.rt, h.clock.now())
    taken = h.clock.now() + timedelta(seconds=30)
    async with h.rt.sessions.begin() as s:  # the sender has it (claimed), not yet sent
        await s.execute(update(Outbox).where(Outbox.tag == "reminder").values(claimed_until=taken))
    await h.press(SEKRETARIS, "Teruskan")
    async with h.rt.sessions.begin() as s:  # its claim ran out: the sender takes it again
        await s.execute(update(Outbox).where(Outbox.tag == "reminder").values(claimed_until=None))
    await deliver(h.app)
    assert reminders_to(h, SEKRETARIS) == []
    async with h.rt.sessions() as s:
        statuses = (await s.scalars(select(Outbox.status).where(Outbox.tag == "reminder"))).all()
    assert statuses and set(statuses) == {"sent"}  # done with, not retried


async def test_a_step_of_an_sop_no_longer_loaded_does_not_stop_the_others_reminders(
    h, caplog
) -> None:
    """Process #1's SOP file was removed (or renumbered) while its step was late. The
    others are reminded as ever, the next morning's digest goes out, and the log names
    the step left without reminders."""
    await start(h, "370")
    await start(h, "370")
    async with h.rt.sessions.begin() as s:
        (await s.get(Process, 1)).sop_number = "999"
    await scan_at(h, wita(23, 9, 6))
    assert len(reminders_to(h, SEKRETARIS)) == 1  # #2's; #1's is not sent
    assert "no loaded SOP describes them" in caplog.text
    await scan_at(h, wita(24, 7, 31))
    assert any("Menunggu Bapak/Ibu" in t for t in h.sent(SEKRETARIS))
