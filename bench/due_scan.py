"""How long one due-scan tick (`reminders.scan`) takes as open steps pile up.

Builds a temporary database (SQLite, or a fresh database on the PostgreSQL server that
DATABASE_URL names) with 1k, 10k and 100k open steps, of which exactly 10 are due (reminder
and escalation, role Sekretaris: one holder, and its escalation goes to the Kadis's digest,
so one outbox row per due step; the holder has each late step's task card, which the
reminder replies to), at 09:00 WITA with the digest window open (08:30-10:30).
`tick`: a scan once today's digest is written; `idle tick`: the same with nothing due;
`digest tick`: the scan that writes it (the digest rows are removed before each, outside
the timing). Each is repeated REPEATS times; the due rows are made due again between
scans, outside the timing. Steps are stored as the engine writes them (assignees JSON
'null'); Tim Kerja steps whose id ends in 07 are claimed by one of them (the digest reads
named steps whole); PostgreSQL is analyzed after the rows go in, as autovacuum would.
Run: `make bench`, or `python -m bench.due_scan [--sizes 1000,10000] [--database-url URL]`.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.engine import make_url

from bot.clock import FakeClock
from bot.config import Settings
from bot.runtime import Runtime
from bot.services import reminders
from bot.workflow.engine import RUNNING, ProcessState
from storage.db import make_engine, make_sessions
from storage.models import (
    Base,
    DigestRun,
    Outbox,
    Person,
    PersonRole,
    Process,
    StepInstance,
)
from tests.dbs import ensure_database

SIZES = (1_000, 10_000, 100_000)
REPEATS = 5
DUE_IDS = list(range(50, 1_000, 100))  # 10 rows spread over the first thousand
NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 09:00 WITA, digest window open
PEOPLE = {"kadis": 1, "sekretaris": 1, "jafung": 2, "tim_kerja": 3}


def rows(rt: Runtime, first: int, last: int, now: datetime = NOW) -> tuple[list[dict], list[dict]]:
    sop = rt.sops.all()[0]
    due_step = next(s for s in sop.steps if s.role == "sekretaris")
    processes, steps = [], []
    for i in range(first, last + 1):
        due = i in DUE_IDS
        step = due_step if due else sop.steps[i % len(sop.steps)]
        state = ProcessState(sop.number, RUNNING, current=step.no).to_json()
        processes.append(
            dict(
                id=i,
                sop_number=sop.number,
                title=f"Proses {i}",
                starter_id=1,
                status=RUNNING,
                current_step=step.no,
                state=state,
                version=1,
                created_at=now,
            )
        )
        later = now + timedelta(days=1, seconds=i)  # far from due, all different
        steps.append(
            dict(
                id=i,
                process_id=i,
                step_no=step.no,
                role=step.role,
                round=0,
                started_at=now - timedelta(days=1),
                deadline_at=now - timedelta(hours=2) if due else later,
                next_reminder_at=now - timedelta(hours=1) if due else later,
                escalate_at=now - timedelta(minutes=30) if due else later + timedelta(days=1),
                reminders_sent=0,
                assignees=None,  # JSON 'null', as a step the engine starts has it
            )
        )
    return processes, steps


async def main(sizes: tuple[int, ...] = SIZES, server_url: str | None = None) -> None:
    tmp = tempfile.TemporaryDirectory()
    url = f"sqlite+aiosqlite:///{Path(tmp.name) / 'bench.db'}"
    if server_url and make_url(server_url).get_backend_name() == "postgresql":
        url = make_url(server_url).set(database="bench_due_scan").render_as_string(False)
        await ensure_database(url)
    settings = Settings(
        telegram_bot_token="1:x",
        database_url=url,
        work_calendar="always",
        digest_time="08:30",
        _env_file=None,
    )
    engine = make_engine(settings.database_url)
    rt = Runtime.build(settings, make_sessions(engine), FakeClock(NOW))
    si = StepInstance.__table__
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
        pid = 0
        for role, count in PEOPLE.items():
            for _ in range(count):
                pid += 1
                await conn.execute(
                    insert(Person.__table__).values(
                        id=pid,
                        telegram_id=1000 + pid,
                        name=f"{role} {pid}",
                        active=True,
                        started_at=NOW,
                        created_at=NOW,
                    )
                )
                await conn.execute(insert(PersonRole.__table__).values(person_id=pid, role=role))

    print(f"\ndue-scan on {make_url(url).get_backend_name()}, digest window open")
    print(
        f"{'open_steps':>10} | {'due':>3} | {'tick_ms':>8} | {'min_ms':>7} | "
        f"{'idle_tick_ms':>12} | {'digest_tick_ms':>14} | {'queued':>6}"
    )
    have = 0
    for size in sizes:
        processes, steps = rows(rt, have + 1, size)
        async with engine.begin() as conn:
            for i in range(0, len(steps), 5_000):
                await conn.execute(insert(Process.__table__), processes[i : i + 5_000])
                await conn.execute(insert(si), steps[i : i + 5_000])
        if have == 0:  # the late steps' holders have their task card (as in use: the
            # reminder replies to it; without one the card itself is built and sent again)
            sek = await _holder(engine, "sekretaris")
            async with engine.begin() as conn:
                await conn.execute(
                    insert(Outbox.__table__),
                    [
                        dict(
                            chat_id=sek,
                            method="send_message",
                            payload={"text": "card"},
                            status="sent",
                            attempts=1,
                            next_attempt_at=NOW,
                            created_at=NOW,
                            sent_at=NOW,
                            step_instance_id=i,
                            message_id=i,
                            tag="card",
                        )
                        for i in DUE_IDS
                    ],
                )
        async with engine.begin() as conn:  # some Tim Kerja steps claimed (🙋 Saya kerjakan)
            tim = await conn.scalar(
                select(PersonRole.person_id).where(PersonRole.role == "tim_kerja").limit(1)
            )
            await conn.execute(
                update(si)
                .where(si.c.id > have, si.c.role == "tim_kerja", si.c.id % 100 == 7)
                .values(claimed_by=tim)
            )
        have = size
        if engine.dialect.name == "postgresql":  # autovacuum's ANALYZE, not timed: the
            async with engine.begin() as conn:  # planner sees the rows just inserted
                await conn.execute(text("ANALYZE"))
        times, digest_times, queued = [], [], []
        for _ in range(REPEATS):
            for times_of, fresh_digest in ((digest_times, True), (times, False)):
                async with engine.begin() as conn:  # make the 10 rows due again (not timed)
                    await conn.execute(
                        update(si)
                        .where(si.c.id.in_(DUE_IDS))
                        .values(
                            next_reminder_at=NOW - timedelta(hours=1),
                            escalate_at=NOW - timedelta(minutes=30),
                        )
                    )
                    if fresh_digest:
                        await conn.execute(delete(DigestRun.__table__))
                    due = await conn.scalar(
                        select(func.count()).where(si.c.next_reminder_at <= NOW)
                    )
                    before = await conn.scalar(select(func.count()).select_from(Outbox))
                start = time.perf_counter()
                await reminders.scan(rt, NOW)
                times_of.append((time.perf_counter() - start) * 1000)
                if not fresh_digest:
                    async with engine.connect() as conn:
                        count = await conn.scalar(select(func.count()).select_from(Outbox))
                        queued.append(count - before)
        idle = []  # nothing due: the rows above were just handled
        for _ in range(REPEATS):
            start = time.perf_counter()
            await reminders.scan(rt, NOW)
            idle.append((time.perf_counter() - start) * 1000)
        print(
            f"{size:>10} | {due:>3} | {statistics.median(times):>8.2f} | {min(times):>7.2f} | "
            f"{statistics.median(idle):>12.2f} | {statistics.median(digest_times):>14.2f} | "
            f"{statistics.median(queued):>6g}"
        )
    await engine.dispose()
    tmp.cleanup()


async def _holder(engine, role: str) -> int:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        return await conn.scalar(
            select(Person.telegram_id)
            .join(PersonRole, PersonRole.person_id == Person.id)
            .where(PersonRole.role == role)
        )


if __name__ == "__main__":
    import argparse
    import os

    parser = argparse.ArgumentParser(description="One due-scan tick at 1k/10k/100k open steps.")
    parser.add_argument(
        "--sizes", default=",".join(map(str, SIZES)), help="open steps, e.g. 1000,10000"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="a PostgreSQL server (its database bench_due_scan is used); default: SQLite",
    )
    args = parser.parse_args()
    asyncio.run(main(tuple(int(s) for s in args.sizes.split(",")), args.database_url))
