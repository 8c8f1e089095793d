"""How long /rekap takes for a year of processes (issue 11).

Builds a temporary SQLite database (or, with DATABASE_URL naming PostgreSQL, a fresh
database there) holding PROCESSES finished processes started on working days of 2026, both
SOPs alternating, every step of each with a working time drawn around its standard (a
quarter over it) and a revision round at the Kadis's review for a third of them; every time
lies in the office calendar. Then times what /rekap does for the whole year and all SOPs:
the two queries and the figures (working time of every activation in the office calendar),
then the XLSX with its raw-events sheet and the PNG chart, REPEATS times each.

Run: `.venv/bin/python -m bench.rekap [--proses 1000]` (from the repository root).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.engine import make_url

from bot.clock import FakeClock
from bot.config import Settings
from bot.runtime import Runtime
from bot.services import rekap
from storage.db import make_engine, make_sessions, upgrade
from storage.models import Person, PersonRole, Process, StepInstance
from tests.dbs import ensure_database

REPEATS = 3
NOW = datetime(2027, 1, 4, 1, 0, tzinfo=UTC)
ROLES = {"kadis": 1, "sekretaris": 2, "jafung": 3, "tim_kerja": 4}


def seed_rows(rt: Runtime, count: int) -> tuple[list[dict], list[dict]]:
    rng = random.Random(11)
    cal = rt.calendar
    days = [
        d for d in (date(2026, 1, 1) + timedelta(n) for n in range(365)) if cal.is_working_day(d)
    ]
    sops = rt.sops.all()
    processes, steps = [], []
    for pid in range(1, count + 1):
        sop = sops[pid % len(sops)]
        day = days[int(len(days) * (pid - 1) / count)]
        at = cal.next_open(datetime(day.year, day.month, day.day, 1, 0, tzinfo=UTC))
        start = at
        plan = [(s, 0) for s in sop.steps]
        review = next(s for s in sop.steps if s.kind.value == "tanda_tangan")
        if pid % 3 == 0:  # sent back once: the draft and the review again
            i = [s.no for s, _ in plan].index(review.no)
            redo = sop.step(review.revisi_ke or review.no)
            plan = [*plan[: i + 1], (redo, 1), (review, 1), *plan[i + 1 :]]
        for n, (step, round_) in enumerate(plan):
            standard = cal.waktu_minutes(step.waktu_parsed)
            worked = standard * rng.lognormvariate(-0.3, 0.6)
            end = cal.add_working(at, worked)
            revised = pid % 3 == 0 and step.no == review.no and round_ == 0 and n > 0
            steps.append(
                dict(
                    process_id=pid,
                    step_no=step.no,
                    role=step.role,
                    round=round_,
                    started_at=at,
                    deadline_at=cal.add_working(at, standard),
                    finished_at=end,
                    outcome="revisi" if revised else "selesai",
                    actor_id=ROLES[step.role],
                    reminders_sent=0,
                )
            )
            at = end
        processes.append(
            dict(
                id=pid,
                sop_number=sop.number,
                title=f"{sop.nama_singkat or 'Proses'} {pid}",
                starter_id=1,
                status="selesai",
                state={},
                version=1,
                created_at=start,
                finished_at=at,
                sifat="biasa",
            )
        )
    return processes, steps


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("DATABASE_URL", f"sqlite+aiosqlite:///{tmp}/bench.db")
        if make_url(url).get_backend_name() == "postgresql":
            url = str(make_url(url).set(database=f"bench_rekap_{os.getpid()}"))
            await ensure_database(url)
        await asyncio.to_thread(upgrade, url)
        settings = Settings(
            telegram_bot_token="1:x",
            database_url=url,
            files_dir=Path(tmp) / "files",
            work_calendar="office",
            _env_file=None,
        )
        engine = make_engine(url)
        rt = Runtime.build(settings, make_sessions(engine), FakeClock(NOW))
        processes, steps = seed_rows(rt, count)
        async with rt.sessions.begin() as s:
            for code, pid in ROLES.items():
                s.add(Person(id=pid, telegram_id=pid, name=f"Pelaksana {code}", created_at=NOW))
                s.add(PersonRole(person_id=pid, role=code))
            await s.flush()
            await s.execute(insert(Process), processes)
            await s.execute(insert(StepInstance), steps)
        print(f"{count} proses, {len(steps)} aktivasi langkah, {make_url(url).get_backend_name()}")
        sops, period = rekap.parse_args(rt, ["2026"], NOW)
        figures, files, totals, cpu = [], [], [], []
        for _ in range(REPEATS):
            c0 = time.process_time()
            t0 = time.perf_counter()
            async with rt.sessions() as s:
                result = await rekap.compute(rt, s, sops, period, NOW)
            t1 = time.perf_counter()
            made = await asyncio.to_thread(rekap.make_files, rt, result, period)
            t2 = time.perf_counter()
            figures.append(t1 - t0)
            files.append(t2 - t1)
            totals.append(t2 - t0)
            cpu.append(time.process_time() - c0)
        await engine.dispose()
        size = Path(made.xlsx_path).stat().st_size
        print(f"queries + figures : median {statistics.median(figures):.2f} s")
        print(
            f"XLSX + PNG        : median {statistics.median(files):.2f} s (XLSX {size // 1024} KiB)"
        )
        print(
            f"/rekap in all     : median {statistics.median(totals):.2f} s, max {max(totals):.2f} s"
        )
        print(f"CPU time of it    : median {statistics.median(cpu):.2f} s (less shaken by load)")
        print(made.summary)


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--proses", type=int, default=1000)
    asyncio.run(main(cli.parse_args().proses))
