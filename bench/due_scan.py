"""How long one due-scan (`bot.reminders.scan`) takes as open steps pile up.

Builds a temporary SQLite database with 1k, 10k and 100k open steps, of which exactly 10 are
due (reminder and escalation, role Sekretaris: one holder, and its escalation goes to the
Kadis's digest, so one outbox row per due step). Each size is scanned REPEATS times; the due
rows are made due again between scans, outside the timing. Run: `make bench`.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, text, update

from bot.clock import FakeClock
from bot.config import Settings
from bot.runtime import Runtime
from bot.services import reminders
from bot.workflow.engine import RUNNING, ProcessState
from storage.db import make_engine, make_sessions
from storage.models import Base, Outbox, Person, PersonRole, Process, StepInstance

SIZES = (1_000, 10_000, 100_000)
REPEATS = 5
DUE_IDS = list(range(50, 1_000, 100))  # 10 rows spread over the first thousand
NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 09:00 WITA, before DIGEST_TIME
PEOPLE = {"kadis": 1, "sekretaris": 1, "jafung": 2, "tim_kerja": 3}


def rows(rt: Runtime, first: int, last: int) -> tuple[list[dict], list[dict]]:
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
                created_at=NOW,
            )
        )
        later = NOW + timedelta(days=1, seconds=i)  # far from due, all different
        steps.append(
            dict(
                id=i,
                process_id=i,
                step_no=step.no,
                role=step.role,
                round=0,
                started_at=NOW - timedelta(days=1),
                deadline_at=NOW - timedelta(hours=2) if due else later,
                next_reminder_at=NOW - timedelta(hours=1) if due else later,
                escalate_at=NOW - timedelta(minutes=30) if due else later + timedelta(days=1),
                reminders_sent=0,
            )
        )
    return processes, steps


async def main() -> None:
    tmp = tempfile.TemporaryDirectory()
    settings = Settings(
        telegram_bot_token="1:x",
        database_url=f"sqlite+aiosqlite:///{Path(tmp.name) / 'bench.db'}",
        work_calendar="always",
        digest_time="23:59",
        _env_file=None,
    )
    engine = make_engine(settings.database_url)
    rt = Runtime.build(settings, make_sessions(engine), FakeClock(NOW))
    si = StepInstance.__table__
    async with engine.begin() as conn:
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

    print(f"{'open_steps':>10} | {'due':>3} | {'median_ms':>9} | {'min_ms':>7} | {'queued':>6}")
    have = 0
    for size in SIZES:
        processes, steps = rows(rt, have + 1, size)
        async with engine.begin() as conn:
            await conn.execute(insert(Process.__table__), processes)
            await conn.execute(insert(si), steps)
        have = size
        times, queued = [], []
        for _ in range(REPEATS):
            async with engine.begin() as conn:  # make the 10 rows due again (not timed)
                await conn.execute(
                    update(si)
                    .where(si.c.id.in_(DUE_IDS))
                    .values(
                        next_reminder_at=NOW - timedelta(hours=1),
                        escalate_at=NOW - timedelta(minutes=30),
                    )
                )
                due = await conn.scalar(select(func.count()).where(si.c.next_reminder_at <= NOW))
                before = await conn.scalar(select(func.count()).select_from(Outbox))
            start = time.perf_counter()
            await reminders.scan(rt, NOW)
            times.append((time.perf_counter() - start) * 1000)
            async with engine.connect() as conn:
                queued.append(await conn.scalar(select(func.count()).select_from(Outbox)) - before)
        print(
            f"{size:>10} | {due:>3} | {statistics.median(times):>9.2f} | {min(times):>7.2f} | "
            f"{statistics.median(queued):>6g}"
        )

    for column in (StepInstance.next_reminder_at, StepInstance.escalate_at):
        query = (
            select(StepInstance, Process)
            .join(Process, Process.id == StepInstance.process_id)
            .where(column <= NOW)
            .order_by(column)
            .limit(reminders.BATCH)
        )  # the same query as bot.reminders._reminders / _escalations
        sql = query.compile(engine.sync_engine, compile_kwargs={"literal_binds": True})
        async with engine.connect() as conn:
            plan = (await conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))).all()
        print(f"\nEXPLAIN QUERY PLAN ({column.key} <= now):")
        for row in plan:
            print(f"  {row[-1]}")
    await engine.dispose()
    tmp.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
