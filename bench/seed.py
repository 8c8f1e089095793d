"""Databases for bench/stack.py, written with the bot's own code (people.add_person,
starting.start_process) before the bot process starts; bulk rows by plain inserts."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import insert, select, update

from bot import people
from bot.clock import Clock
from bot.config import Settings
from bot.runtime import Runtime
from bot.services import starting
from storage.db import make_engine, make_sessions, upgrade
from storage.models import Outbox, Person, PersonRole, Process, StepInstance

KADIS, SEKRETARIS, JAFUNG, TIM = 101, 102, 103, 104
ADMIN = 900
PROBES = list(range(301, 311))  # tim_kerja with no open task: /tugas answers one message


def kadis_ids(n: int) -> list[int]:
    """The /tugas users: n holders of kadis (a process prepared by the admin waits at their
    step 1, so /tugas answers two messages: the header and one card)."""
    return [KADIS, *range(201, 200 + n)]


def settings(url: str) -> Settings:
    return Settings(
        telegram_bot_token="1:x", database_url=url, work_calendar="always", _env_file=None
    )


async def _runtime(url: str) -> tuple[Runtime, object]:
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    return Runtime.build(settings(url), make_sessions(engine), Clock()), engine


async def _people(session, now: datetime, spec: list[tuple[int, str, str]]) -> None:  # type: ignore[no-untyped-def]
    await session.execute(
        insert(Person.__table__),
        [
            dict(telegram_id=tid, name=name, active=True, started_at=now, created_at=now)
            for tid, name, _ in spec
        ],
    )
    await session.flush()
    ids = dict((await session.execute(select(Person.telegram_id, Person.id))).all())
    rows = [dict(person_id=ids[tid], role=role) for tid, _, role in spec if role]
    if rows:
        await session.execute(insert(PersonRole.__table__), rows)


async def _start(rt: Runtime, session, now: datetime, telegram_id: int, title: str) -> None:  # type: ignore[no-untyped-def]
    actor = await people.find_actor(session, telegram_id, now, [ADMIN])
    assert actor is not None
    sop = rt.sops.all()[0]
    await starting.start_process(rt, session, now, actor, sop, title, "Bench.", None)


async def small(url: str, users: int, handoffs: int) -> None:
    """/tugas users (kadis holders, one task each), one sekretaris with `handoffs` processes
    waiting at step 2, a jafung who receives them, and probe users with nothing open."""
    rt, engine = await _runtime(url)
    now = rt.clock.now()
    spec = [(tid, f"Kadis {tid}", "kadis") for tid in kadis_ids(users)]
    spec += [(SEKRETARIS, "Bu Sekretaris", "sekretaris"), (JAFUNG, "Pak Jafung", "jafung")]
    spec += [(TIM, "Ani Tim Kerja", "tim_kerja"), (ADMIN, "Admin", "")]
    spec += [(tid, f"Probe {tid}", "tim_kerja") for tid in PROBES]
    async with rt.sessions.begin() as session:
        await _people(session, now, spec)
    async with rt.sessions.begin() as session:
        await _start(rt, session, now, ADMIN, "Disiapkan admin")  # step 1 at the kadis
        for i in range(handoffs):
            await _start(rt, session, now, KADIS, f"Serah terima {i + 1}")
    await engine.dispose()


async def digest(url: str, size: int) -> list[int]:
    """`size` sekretaris holders with one open task each (their digest has one line), the
    kadis, probe users; the process's cards count as delivered already."""
    rt, engine = await _runtime(url)
    now = rt.clock.now()
    ids = list(range(10_001, 10_001 + size))
    spec = [(KADIS, "Pak Kadis", "kadis")] + [(tid, f"Sek {tid}", "sekretaris") for tid in ids]
    spec += [(tid, f"Probe {tid}", "tim_kerja") for tid in PROBES]
    async with rt.sessions.begin() as session:
        await _people(session, now, spec)
    async with rt.sessions.begin() as session:
        await _start(rt, session, now, KADIS, "Proses pagi")
        await session.execute(update(Outbox).values(status="sent", sent_at=now))
    await engine.dispose()
    return [KADIS, *ids]


async def open_processes(url: str, size: int) -> None:
    """`size` open processes (one open step each), for the memory figure."""
    from bench.due_scan import PEOPLE, rows

    rt, engine = await _runtime(url)
    now = rt.clock.now()
    spec = []
    for role, count in PEOPLE.items():
        for i in range(count):
            spec.append((KADIS + len(spec), f"{role} {i}", role))
    async with rt.sessions.begin() as session:
        await _people(session, now, spec)
    processes, steps = rows(rt, 1, size, now)
    async with engine.begin() as conn:
        for i in range(0, size, 5_000):
            await conn.execute(insert(Process.__table__), processes[i : i + 5_000])
            await conn.execute(insert(StepInstance.__table__), steps[i : i + 5_000])
    await engine.dispose()
