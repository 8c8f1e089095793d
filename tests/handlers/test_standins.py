"""Plh/Plt (issue 9 item 5) and the admin's notice of an accepted invitation (item 7),
through the real Application with a fake clock (Monday 23 November 2026, 09:00 WITA)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from bot.people import Actor, add_person, find_actor
from bot.services import standins
from bot.services.common import ServiceError
from handlers.outbox import deliver
from storage.models import AuditLog, Process, StandIn
from tests.handlers.harness import Harness
from tests.handlers.test_flow import (
    JAFUNG,
    KADIS,
    SEKRETARIS,
    draft_uploaded,
    register,
    start,
)

ADMIN, PLH = 1, 50


def wita(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour - 8, minute, tzinfo=UTC)


@pytest.fixture
async def h(tmp_path):
    async with Harness(tmp_path) as harness:
        await register(harness)
        async with harness.rt.sessions.begin() as s:
            person = await add_person(s, harness.clock.now(), PLH, "Budi Kabid", [])
            person.started_at = harness.clock.now()
        yield harness


async def tick(h: Harness, at: datetime) -> int:
    """What the periodic tick does for stand-ins, then the outbox."""
    h.clock.set(at)
    async with h.rt.sessions.begin() as s:
        done = await standins.apply(h.rt, s, at)
    await deliver(h.app)
    return done


def closed_cards(h: Harness, uid: int) -> list[str]:
    """Cards in uid's chat edited to a text without buttons."""
    return [
        c.params["text"]
        for c in h.request.calls
        if c.method == "editMessageText"
        and int(c.params["chat_id"]) == uid
        and "reply_markup" not in c.params
    ]


async def forward(h: Harness, uid: int) -> None:
    """The disposisi card's one-tap forward (labelled Teruskan or Selesai)."""
    try:
        await h.press(uid, "Teruskan")
    except AssertionError:
        await h.press(uid, "Selesai")


def cards(h: Harness, uid: int, step: int) -> list[str]:
    return [t for t in h.sent(uid) if f"Langkah {step}:" in t and "⏱ Tenggat" in t]


async def rows(h: Harness) -> list[StandIn]:
    async with h.rt.sessions() as s:
        return list((await s.scalars(select(StandIn).order_by(StandIn.id))).all())


async def test_create_refuses_bad_input_and_changes_nothing(h: Harness) -> None:
    async def create(**kw) -> str:
        args = {
            "role": "sekretaris",
            "standin_telegram_id": PLH,
            "dari": date(2026, 11, 24),
            "sampai": date(2026, 11, 27),
        } | kw
        try:
            async with h.rt.sessions.begin() as s:
                await standins.create(h.rt, s, h.clock.now(), ADMIN, **args)
        except ServiceError as exc:
            return exc.message
        return "OK"

    assert "tidak dikenal" in await create(role="bendahara")
    assert "belum terdaftar" in await create(standin_telegram_id=4242)
    assert "harus sama dengan atau sebelum" in await create(dari=date(2026, 11, 28))
    assert "sudah lewat" in await create(dari=date(2026, 11, 2), sampai=date(2026, 11, 20))
    assert "tidak boleh orang yang digantikan sendiri" in await create(
        standin_telegram_id=SEKRETARIS
    )
    assert "jenis" in (await create(jenis="pjs")).lower()
    # The Tim Kerja has two people: which one is away must be said.
    several = await create(role="tim_kerja")
    assert "beberapa orang" in several and "Ani Tim" in several and "Budi Tim" in several
    assert "tidak memegang peran" in await create(holder_telegram_id=JAFUNG)
    assert await rows(h) == []

    assert await create() == "OK"
    overlap = await create(dari=date(2026, 11, 27), sampai=date(2026, 12, 1))
    assert "sudah digantikan" in overlap and "Budi Kabid" in overlap
    # Someone away cannot stand in for another in the same role at the same time.
    async with h.rt.sessions.begin() as s:
        await add_person(s, h.clock.now(), 51, "Sari Kabid", ["sekretaris"])
    assert "beberapa orang" in await create(standin_telegram_id=JAFUNG)
    away = await create(
        standin_telegram_id=SEKRETARIS, holder_telegram_id=51, dari=date(2026, 11, 25)
    )
    assert "sendiri digantikan" in away
    assert len(await rows(h)) == 1


async def test_plh_from_today_takes_the_open_card_and_new_tasks(h: Harness) -> None:
    await start(h, "370")
    assert len(cards(h, SEKRETARIS, 2)) == 1
    h.clear()
    await h.text(ADMIN, "/plh sekretaris 50 2026-11-23 2026-11-25")
    assert "Plh. Sekretaris — Budi Kabid menggantikan Bu Sekretaris" in h.last(ADMIN)
    assert "Berlaku mulai sekarang" in h.last(ADMIN)
    await deliver(h.app)
    # The Sekretaris's card is closed and says where it went; she is told why.
    moved = closed_cards(h, SEKRETARIS)
    assert len(moved) == 1 and "Langkah 2" in moved[0]
    assert (
        "Dialihkan kepada Plh. Sekretaris — Budi Kabid sampai Rabu, 25 November 2026" in (moved[0])
    )
    told = h.sent(SEKRETARIS)
    assert len(told) == 1 and "dikerjakan oleh Plh. Sekretaris — Budi Kabid" in told[0]
    # The Plh is told, then gets the card and can act on it.
    got = h.sent(PLH)
    assert "ditunjuk sebagai Plh. Sekretaris menggantikan Bu Sekretaris" in got[0]
    assert len(cards(h, PLH, 2)) == 1
    await forward(h, PLH)
    assert "Langkah 3" in h.last(JAFUNG)

    # A process started during the range: its Sekretaris step goes to the Plh only.
    h.clear()
    await start(h, "371")
    assert len(cards(h, PLH, 2)) == 1 and cards(h, SEKRETARIS, 2) == []
    async with h.rt.sessions() as s:
        actions = (await s.scalars(select(AuditLog.action))).all()
    assert {"plh_dibuat", "plh_mulai"} <= set(actions)


async def test_the_range_ends_by_itself_and_the_holder_gets_the_work_back(h: Harness) -> None:
    await h.text(ADMIN, "/plh sekretaris 50 2026-11-23 2026-11-25")
    await start(h, "370")
    assert len(cards(h, PLH, 2)) == 1 and cards(h, SEKRETARIS, 2) == []
    assert await tick(h, wita(25, 15, 59)) == 0  # the last day still counts
    assert await tick(h, datetime(2026, 11, 25, 23, 0, tzinfo=UTC)) == 0  # and its night
    h.clear()

    assert await tick(h, wita(26, 8)) == 1  # the office is open on the next day
    back = closed_cards(h, PLH)
    assert len(back) == 1 and "Dikembalikan kepada Sekretaris — Bu Sekretaris" in back[0]
    assert any(
        "sebagai Plh. Sekretaris (menggantikan Bu Sekretaris) telah berakhir" in t
        for t in h.sent(PLH)
    )
    assert "Tugas Sekretaris kembali kepada Bapak/Ibu" in h.sent(SEKRETARIS)[0]
    assert len(cards(h, SEKRETARIS, 2)) == 1
    await forward(h, SEKRETARIS)
    assert "Langkah 3" in h.last(JAFUNG)

    # Idempotent: another tick (or another process) changes and sends nothing more.
    h.clear()
    assert await tick(h, wita(26, 8, 1)) == 0
    assert h.request.calls == []
    await start(h, "371")
    assert len(cards(h, SEKRETARIS, 2)) == 1 and cards(h, PLH, 2) == []


async def test_a_future_range_starts_on_its_first_day_once(h: Harness, tmp_path) -> None:
    await start(h, "370")
    await h.text(ADMIN, "/plh sekretaris 50 2026-11-25 2026-11-26 plt")
    assert "Mulai berlaku Rabu, 25 November 2026" in h.last(ADMIN)
    assert h.sent(PLH) == []
    assert await tick(h, wita(24, 15)) == 0
    assert h.sent(PLH) == []

    # Not at midnight (nobody is woken by it): when the office opens on the first day.
    assert await tick(h, datetime(2026, 11, 24, 16, 5, tzinfo=UTC)) == 0  # 25 Nov 00:05
    assert h.sent(PLH) == []
    at = datetime(2026, 11, 24, 23, 31, tzinfo=UTC)  # 25 November 07:31 WITA
    h.clock.set(at)
    async with Harness(tmp_path) as other:  # a second bot process on the same database
        other.clock.set(at)

        async def apply(rt) -> int:  # type: ignore[no-untyped-def]
            async with rt.sessions.begin() as s:
                return await standins.apply(rt, s, at)

        done = await asyncio.gather(apply(h.rt), apply(other.rt))
        assert sorted(done) == [0, 1]
        await asyncio.gather(deliver(h.app), deliver(other.app))
        to_plh = [
            c
            for r in (h.request, other.request)
            for c in r.calls
            if c.method == "sendMessage" and int(c.params["chat_id"]) == PLH
        ]
    assert len([c for c in to_plh if "⏱ Tenggat" in c.params["text"]]) == 1
    assert any("Plt. Sekretaris" in c.params["text"] for c in to_plh)


async def test_admin_sees_stand_ins_in_plh_and_orang(h: Harness) -> None:
    await h.text(ADMIN, "/plh")
    assert "Belum ada Plh/Plt" in h.last(ADMIN) and "/plh PERAN" in h.last(ADMIN)
    await h.text(ADMIN, "/plh sekretaris 50 2026-11-23 2026-11-25")
    await h.text(ADMIN, "/plh jafung 50 2026-12-01 2026-12-02 plt")
    await h.text(ADMIN, "/plh")
    listed = h.last(ADMIN)
    assert "Plh. Sekretaris — Budi Kabid menggantikan Bu Sekretaris" in listed
    assert "(berlaku)" in listed
    assert "Plt. Jafung Perencana — Budi Kabid menggantikan Pak Jafung" in listed
    assert "(terjadwal)" in listed
    await h.text(ADMIN, "/orang")
    assert "Plh. Sekretaris — Budi Kabid menggantikan Bu Sekretaris sampai" in h.last(ADMIN)
    await h.text(ADMIN, "/plh sekretaris 50 kemarin 2026-11-25")
    assert "tidak dapat dibaca" in h.last(ADMIN)
    await h.text(ADMIN, "/plh sekretaris")
    assert "Cara menunjuk" in h.last(ADMIN)
    await h.text(KADIS, "/plh")
    assert "hanya untuk admin" in h.last(KADIS)
    assert len(await rows(h)) == 2


async def test_acting_label_names_the_stand_in_and_his_role(h: Harness) -> None:
    await h.text(ADMIN, "/plh sekretaris 50 2026-11-23 2026-11-25")
    async with h.rt.sessions() as s:
        plh = await find_actor(s, PLH, h.clock.now(), [])
        sek = await find_actor(s, SEKRETARIS, h.clock.now(), [])
    assert plh is not None and sek is not None
    sop = h.rt.sops.get("370")
    assert standins.acting_label(sop, plh, "sekretaris") == "Plh. Sekretaris — Budi Kabid"
    assert standins.acting_label(sop, sek, "sekretaris") == "Bu Sekretaris"
    assert isinstance(plh, Actor) and "sekretaris" in plh.roles


async def test_admins_are_told_when_an_invitation_is_accepted(tmp_path) -> None:
    async with Harness(tmp_path, admin_ids=[1, 2]) as h:
        await h.text(2, "/start")  # the second admin has opened the bot
        await h.text(1, "/undang jafung")
        code = re.search(r"start=([A-Za-z0-9_-]+)", h.last(1)).group(1)
        h.clear()
        await h.text(77, f"/start {code}")
        assert "Selamat datang" in h.last(77)
        for admin in (1, 2):
            notices = [t for t in h.sent(admin) if "Undangan diterima" in t]
            assert len(notices) == 1, admin
            assert "User77 (id 77) kini terdaftar sebagai Jafung Perencana" in notices[0]
            assert "Senin, 23 Nov 2026 09.00 WITA" in notices[0]
        assert not any("Undangan diterima" in t for t in h.sent(77))
        # The same link again is refused and tells nobody anything.
        h.clear()
        await h.text(78, f"/start {code}")
        assert "sudah dipakai" in h.last(78)
        assert h.sent(1) == [] and h.sent(2) == []


async def test_admin_ends_a_stand_in_early_or_drops_one_not_started(h: Harness) -> None:
    await h.text(ADMIN, "/plh sekretaris 50 2026-11-23 2026-11-27")
    await start(h, "370")
    assert len(cards(h, PLH, 2)) == 1
    h.clear()
    await h.text(ADMIN, "/plh akhiri 1")
    assert "diakhiri sekarang" in h.last(ADMIN)
    assert "Dikembalikan kepada Sekretaris" in closed_cards(h, PLH)[0]
    assert len(cards(h, SEKRETARIS, 2)) == 1
    await h.text(ADMIN, "/plh akhiri 1")
    assert "sudah berakhir" in h.last(ADMIN)
    # A number no row can have (PostgreSQL's 32-bit ids refused it: the update was stuck).
    await h.text(ADMIN, "/plh akhiri 99999999999")
    assert "Cara menunjuk Plh/Plt" in h.last(ADMIN)

    await h.text(ADMIN, "/plh jafung 50 2026-12-01 2026-12-02")
    h.clear()
    await h.text(ADMIN, "/plh akhiri #2")
    assert "dibatalkan sebelum mulai berlaku" in h.last(ADMIN)
    assert h.sent(PLH) == [] and h.sent(JAFUNG) == []
    assert await tick(h, datetime(2026, 12, 1, 1, tzinfo=UTC)) == 0
    assert h.sent(PLH) == []
    await h.text(ADMIN, "/plh")
    assert "Belum ada Plh/Plt" in h.last(ADMIN)


async def test_records_can_say_who_acted_as_plh_and_when(h: Harness) -> None:
    before = h.clock.now()
    h.clock.advance(minutes=5)
    await h.text(ADMIN, "/plh sekretaris 50 2026-11-23 2026-11-27")
    during = h.clock.advance(minutes=5)
    h.clock.advance(minutes=5)
    await h.text(ADMIN, "/plh akhiri 1")
    after = h.clock.advance(minutes=5)
    sop = h.rt.sops.get("370")
    async with h.rt.sessions() as s:
        periods = await standins.carried_out(s)
        plh = await find_actor(s, PLH, after, [])
    assert plh is not None

    def label(at: datetime, role: str = "sekretaris") -> str:
        return standins.label_at(periods, sop, plh.id, "Budi Kabid", role, at)

    assert label(during) == "Plh. Sekretaris — Budi Kabid"
    assert label(before) == label(after) == label(during, "jafung") == "Budi Kabid"


async def test_on_the_first_day_of_a_plh_the_morning_digest_goes_to_the_plh(
    h: Harness,
) -> None:
    """The first tick of the day starts the Plh before it writes the morning digest: the
    Plh's digest lists the Sekretaris's open work, and she, away, gets none."""
    from bot.app import tick as real_tick
    from handlers.common import BotContext

    await start(h, "370")
    await h.text(ADMIN, "/plh sekretaris 50 2026-11-24 2026-11-24")
    h.clear()
    h.clock.set(datetime(2026, 11, 23, 23, 31, tzinfo=UTC))  # Tuesday 07:31 WITA
    await real_tick(BotContext(h.app))
    await deliver(h.app)
    assert any("Menunggu Bapak/Ibu (1)" in t for t in h.sent(PLH))
    assert not any("Menunggu Bapak/Ibu" in t for t in h.sent(SEKRETARIS))


async def test_a_holder_away_cannot_send_the_signed_scan_meanwhile(h: Harness) -> None:
    """The Jafung sends the Kadis's signed scan of the LAKIP (pindai_oleh), but a Plh
    stands in for him today: refused, with who handles it, and nothing changes."""
    await draft_uploaded(h, "370")
    await h.press(JAFUNG, "Setuju")
    await h.press(SEKRETARIS, "Setuju")  # step 8: the Kadis signs; the Jafung may scan
    await h.text(ADMIN, "/plh jafung 50 2026-11-23 2026-11-23")
    await h.document(JAFUNG, "lakip_ttd.pdf", caption="000.8.3.3/125/100.14")
    assert "ditangani oleh Budi Kabid" in h.last(JAFUNG)
    async with h.rt.sessions() as s:
        assert (await s.scalar(select(Process))).current_step == 8
