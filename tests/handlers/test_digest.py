"""Whose open steps the morning digest lists: what /tugas shows that person (a claim, a
disposisi to named people and a Plh/Plt narrow it), through the real Application with a
fake clock (Monday 23 November 2026, 09:00 WITA; the digest on Tuesday at 08:00)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from bot.people import add_person, find_actor
from bot.services import common as svc
from bot.services import digest as digests
from bot.services import reminders
from handlers.outbox import deliver
from storage.models import Person, StepInstance
from tests.handlers.harness import Harness
from tests.handlers.test_flow import JAFUNG, KADIS, SEKRETARIS, TIM_A, TIM_B, register, start

ADMIN, RINA, PLH, GONE = 1, 31, 50, 60
PEOPLE = (KADIS, SEKRETARIS, JAFUNG, RINA, TIM_A, TIM_B, PLH)
TUESDAY_8 = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)


@pytest.fixture
async def h(tmp_path):
    async with Harness(tmp_path) as harness:
        await register(harness)
        now = harness.clock.now()
        async with harness.rt.sessions.begin() as s:
            rina = await add_person(s, now, RINA, "Bu Rina", ["jafung"])  # a second Jafung
            plh = await add_person(s, now, PLH, "Budi Kabid", [])  # no role of his own
            gone = await add_person(s, now, GONE, "Pak Pensiun", ["kadis"])
            for person in (rina, plh, gone):
                person.started_at = now
            gone.active = False
        yield harness


async def digest_of(h: Harness, uid: int) -> list[str]:
    h.clock.set(TUESDAY_8)
    await reminders.scan(h.rt, TUESDAY_8)
    await deliver(h.app)
    return [t for t in h.sent(uid) if "Ringkasan tugas" in t]


async def test_a_step_claimed_by_a_colleague_is_not_in_the_others_digest(h) -> None:
    await start(h, "370")
    await h.press(SEKRETARIS, "Teruskan")
    await h.press(JAFUNG, "Teruskan")  # step 4 goes to the whole Tim Kerja
    await h.press(TIM_B, "Saya kerjakan")
    budi = await digest_of(h, TIM_B)
    assert len(budi) == 1 and "Menunggu Bapak/Ibu (1)" in budi[0] and "L4" in budi[0]
    assert [t for t in h.sent(TIM_A) if "Ringkasan tugas" in t] == []  # nothing is hers


async def test_a_disposisi_to_named_people_is_in_their_digest_only(h) -> None:
    await start(h, "370")
    await h.press(SEKRETARIS, "Pilih penerima")
    await h.press(SEKRETARIS, "Pak Jafung")  # untick him: to Bu Rina only
    await h.press(SEKRETARIS, "Kirim disposisi")
    rina = await digest_of(h, RINA)
    assert len(rina) == 1 and "Menunggu Bapak/Ibu (1)" in rina[0] and "L3" in rina[0]
    assert [t for t in h.sent(JAFUNG) if "Ringkasan tugas" in t] == []
    kadis = [t for t in h.sent(KADIS) if "Ringkasan tugas" in t]
    assert "Langkah 3 di Bu Rina" in kadis[0]  # who has it, not every Jafung


async def test_a_plh_gets_the_held_roles_steps_and_the_holder_does_not(h) -> None:
    await start(h, "370")  # step 2: the Sekretaris's, late by Tuesday
    await h.text(ADMIN, "/plh sekretaris 50 2026-11-23 2026-11-25")
    plh = await digest_of(h, PLH)
    assert len(plh) == 1 and "Menunggu Bapak/Ibu (1)" in plh[0] and "L2" in plh[0]
    assert [t for t in h.sent(SEKRETARIS) if "Ringkasan tugas" in t] == []
    kadis = [t for t in h.sent(KADIS) if "Ringkasan tugas" in t]
    assert "Langkah 2 di Budi Kabid" in kadis[0]  # the Kadis sees who has it now


async def test_a_count_stops_at_its_cap(h, monkeypatch) -> None:
    monkeypatch.setattr(digests, "CAP", 2)
    for title in ("Tahun 2026", "Tahun 2025"):
        await start(h, "370", title)
        await start(h, "371", title)
    sekretaris = await digest_of(h, SEKRETARIS)
    assert "Menunggu Bapak/Ibu (2+)" in sekretaris[0]
    kadis = [t for t in h.sent(KADIS) if "Ringkasan tugas" in t]
    assert "Berjalan: 2+ proses · 2+ langkah terlambat" in kadis[0]


async def test_each_persons_digest_lists_what_tugas_shows_them(h, monkeypatch) -> None:
    """Every way a step can be someone's, at once; the digest's list (all of it) and count
    equal /tugas's for every person."""
    monkeypatch.setattr(digests, "SHOWN", 100)
    for _ in range(3):
        await start(h, "370")
    await h.text(ADMIN, "/plh sekretaris 50 2026-11-23 2026-11-25")
    now = TUESDAY_8
    async with h.rt.sessions.begin() as s:
        ids = dict((await s.execute(select(Person.telegram_id, Person.id))).all())
        sek = await s.scalar(select(StepInstance).where(StepInstance.process_id == 1))
        await s.execute(  # the Sekretaris claimed one before she left: the Plh has it
            update(StepInstance).where(StepInstance.id == sek.id).values(claimed_by=ids[SEKRETARIS])
        )
        done = dict(started_at=now, deadline_at=now)
        for role, claimed, assignees in [
            ("tim_kerja", None, None),  # JSON 'null': everyone of the role
            ("tim_kerja", ids[TIM_B], None),
            ("tim_kerja", None, []),
            ("jafung", None, [ids[RINA]]),
            ("jafung", None, [ids[JAFUNG], ids[RINA]]),
            ("kadis", None, [ids[GONE]]),  # nobody active: nobody's
            ("kadis", None, [ids[KADIS]]),
        ]:
            si = StepInstance(process_id=2, step_no=4, role=role, **done)
            si.claimed_by, si.assignees = claimed, assignees
            s.add(si)
        s.add(StepInstance(process_id=3, step_no=4, role="tim_kerja", finished_at=now, **done))
    async with h.rt.sessions.begin() as s:
        readers, _ = await digests.readers_of(s, now)
        roles = {r for w in readers for r in w.plain_roles}
        counts, lists = await digests._read(s, now, roles, False)
        named = await digests._named(s)
        mine = {w.person.telegram_id: digests._mine(w, counts, lists, named) for w in readers}
        for uid in PEOPLE:
            actor = await find_actor(s, uid, now, [])
            tugas = sorted(si.id for si, _ in await svc.open_steps(s, actor, now))
            rows, count, _ = mine.get(uid, ([], 0, False))
            assert sorted(r.id for r in rows) == tugas, uid
            assert count == len(tugas), uid
    assert len(mine[TIM_A][0]) == 2 and len(mine[TIM_B][0]) == 3
    assert len(mine[RINA][0]) == 2 and len(mine[JAFUNG][0]) == 1
    assert len(mine[PLH][0]) == 3 and mine.get(SEKRETARIS, ([], 0, False))[1] == 0
