"""The command line: start the fake Bot API and the bot process(es), run the people, check."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

import scripts.fault
from scripts.fault.checks import _delivered_tasks, check
from scripts.fault.common import LEASES, LOST_ANSWER, MAX_EXTRA_ROUNDS, STALL, WAIT, Db
from scripts.fault.plan import KINERJA, LAKIP, ProcessRun, plan_process
from scripts.fault.run import FaultRun
from scripts.fault.supervisor import Supervisor
from tests.e2e.conftest import PEOPLE, TOKEN, BotProcess, launch
from tests.fakebotapi import FakeBotApi


class _TimedCalls(list):
    """The fake's call list, with the wall-clock time of each call (for the timeline)."""

    def __init__(self, items: list) -> None:
        super().__init__(items)
        self.at = [0.0] * len(items)

    def append(self, item: Any) -> None:
        self.at.append(time.time())
        super().append(item)


def write_timeline(run: FaultRun, path: Path, since: int) -> None:
    """People's updates, kills, restarts and Bot API calls (with their faults) by wall-clock
    time, the clock bot.log uses: to read beside it."""
    server = run.server
    faults = {id(p): (k, s) for _, k, s, p in server.random_fault_log}
    lines = list(run.events)
    calls = server.calls
    stamps = getattr(calls, "at", [0.0] * len(calls))
    for i in range(since, len(calls)):
        name, params = calls[i]
        if name == "getUpdates":
            continue
        kind, seconds = faults.get(id(params), ("", 0.0))
        fault = f" FAULT {kind}" + (f" {seconds:.1f}s" if seconds else "") if kind else ""
        text = str(params.get("text") or params.get("caption") or "")[:60].replace("\n", " | ")
        lines.append(
            (
                stamps[i],
                f"call {name} chat={params.get('chat_id', '')} "
                f"msg={params.get('message_id', '')}{fault} {text!r}",
            )
        )
    with path.open("w") as fh:
        for at, text in sorted(lines, key=lambda x: x[0]):
            stamp = datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
            fh.write(f"{stamp} {text}\n")


_BOTS: list[BotProcess] = []  # killed on the way out, whatever happened


class Worker(BotProcess):
    """A second (third...) process: handles stored updates and sends, never polls."""

    def start(self, *args: str) -> None:
        super().start("--peran", "pekerja", *args)


def database_for(tmp: Path, seed: int, server_url: str | None) -> str:
    """A PostgreSQL server URL gets a new database of its own (never the one it names);
    anything else: SQLite in the temp folder."""
    if server_url and make_url(server_url).get_backend_name() == "postgresql":
        name = f"fault_{seed}_{secrets.token_hex(4)}"
        return make_url(server_url).set(database=name).render_as_string(hide_password=False)
    return f"sqlite+aiosqlite:///{tmp / 'bot.db'}"


async def _drop(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return
    admin = create_async_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'drop database if exists "{parsed.database}" with (force)'))
    finally:
        await admin.dispose()


async def main_async(
    seed: int,
    rounds: int,
    min_kills: int,
    fault_rate: float,
    verbose: bool,
    keep: bool,
    processes: int = 1,
    server_url: str | None = None,
) -> int:
    rng = random.Random(seed)
    tmp = Path(tempfile.mkdtemp(prefix=f"fault_run_{seed}_"))
    url = database_for(tmp, seed, server_url)
    db = Db(url)
    started = time.monotonic()
    error = ""
    extra_rounds = 0
    calls_before = 0
    async with FakeBotApi(token=TOKEN, username="sop_samarinda_bot") as server:
        # With several processes a claim must outlast the slowest send (the client's 5 s
        # time-out), or another process takes the row over while the first is still sending.
        leases = LEASES if processes == 1 else {**LEASES, "OUTBOX_LEASE_SECONDS": "6"}
        bot = BotProcess(server, tmp, **leases)  # replaced by launch()'s
        run = FaultRun(server, bot, tmp, db, verbose)
        sup = run.sup = Supervisor(run, random.Random(seed * 7919 + 1))

        def plan_round(r: int) -> list[ProcessRun]:
            return [
                plan_process(rng, sop, f"{sop.name} Tahun 2026 [s{seed}-r{r}]")
                for sop in (LAKIP, KINERJA)
            ]

        plans = [p for r in range(1, rounds + 1) for p in plan_round(r)]
        try:
            run.bots[0] = await launch(server, tmp, **leases, DATABASE_URL=url)
            for n in range(2, processes + 1):
                worker = Worker(server, tmp, **leases, DATABASE_URL=url)
                worker.log = tmp / f"bot{n}.log"
                worker.start()
                run.bots.append(worker)
            _BOTS.extend(run.bots)
            server.calls = _TimedCalls(server.calls)
            calls_before = len(server.calls)
            server.fail_randomly(
                fault_rate, seed=seed, stall_seconds=STALL, lost_answer_seconds=LOST_ANSWER
            )
            sizes = [len(run.actions(p)) for p in plans]
            sup.start()
            i = 0
            while i < len(plans) or (sup.kills < min_kills and extra_rounds < MAX_EXTRA_ROUNDS):
                if i == len(plans):
                    extra_rounds += 1
                    plans += plan_round(rounds + extra_rounds)
                    sizes += [len(run.actions(p)) for p in plans[i:]]
                # Spread the kills: enough to reach --kills, and some in every process.
                needed = max(0, min_kills - sup.kills)
                sup.rate = min(1.0, max(0.3, 1.5 * needed / sum(sizes[i:])))
                run.runs.append(plans[i])
                await run.run_process(plans[i])
                i += 1
        except Exception as exc:  # a lost update, a script bug, ...
            error = f"{type(exc).__name__}: {exc}"
        finally:
            await sup.stop()
        try:
            left = await run.settle()
            if left and not error:
                error = left
            await run.check_cards("the end")
            await asyncio.sleep(1)  # let the last edits land
        finally:
            for each in run.bots:
                await asyncio.to_thread(each.stop)
        results, fig = check(run, run.runs)
        if sup.kills < min_kills:
            results.append((False, f"at least {min_kills} SIGKILLs", f"only {sup.kills}"))
        write_timeline(run, tmp / "timeline.log", calls_before)

    ok = not error and all(r[0] for r in results)
    elapsed = time.monotonic() - started
    delivered = {uid: len(server.delivered(uid)) for uid in PEOPLE}
    tasks = sum(len(_delivered_tasks(server, uid, [p.title for p in plans])) for uid in PEOPLE)
    calls = [m for m, _ in server.calls[calls_before:] if m != "getUpdates"]
    faults = sum(server.random_faults.values())
    print(
        f"fault run: seed={seed} rounds={rounds} processes={processes}"
        f" database={make_url(url).get_backend_name()}"
        + (f" (+{extra_rounds} to reach {min_kills} kills)" if extra_rounds else "")
        + f" fault-rate={fault_rate:.2f} ({elapsed:.0f} s, temp {tmp})"
    )
    status = dict(run.q("select id, status from processes")) if run.runs else {}
    for p in run.runs:
        print(
            f"  process #{p.process_id} {p.title}: revision at Langkah {p.revision_at} "
            f"(note as {'file' if p.note_as_file else 'text'}), "
            f"status {status.get(p.process_id, 'not started')}"
        )
    print(
        f"  updates sent by people: {run.actions_done} answered "
        f"({run.offline_actions} sent while the bot was down; "
        f"{run.resent_files} file(s) sent again after 'gagal diunduh')"
    )
    styles = ", ".join(f"{k} {v}" for k, v in sorted(sup.styles.items()))
    print(
        f"  kills: {styles}; restarts {sup.restarts} ({sup.paused} after a pause); "
        f"bot exited by itself {len(sup.self_exits)}×"
    )
    landings = ", ".join(f"{k} {v}" for k, v in sorted(sup.landings.items()))
    print(f"  kill instants: {landings}")
    print(f"  kills between fetch and commit: {sup.between_fetch_and_commit}")
    kinds = ", ".join(f"{k} ×{v}" for k, v in sorted(server.random_faults.items()))
    share = faults / len(calls) if calls else 0.0
    print(f"  faults: {faults} of {len(calls)} Bot API calls ({share:.0%}): {kinds or 'none'}")
    print(
        f"  messages delivered: {sum(delivered.values())} "
        f"({', '.join(f'{PEOPLE[u][0]} {n}' for u, n in delivered.items())}); "
        f"task cards {tasks}"
    )
    reps = ", ".join(f"{k} {v} ({fig.explained[k]} explained)" for k, v in fig.repeats.items())
    print(f"  at-least-once repeats: {reps or 'none'}")
    print(f"  live-card anomalies that healed within {WAIT:.0f} s: {run.healed}")
    if error:
        print(f"  RUN ABORTED: {error}")
    passed = sum(1 for r in results if r[0])
    print(f"  checks: {passed} passed, {len(results) - passed} failed")
    for good, name, detail in results:
        print(f"    {'PASS' if good else 'FAIL'} {name}" + (f" — {detail}" if detail else ""))
    late = sum("answer came" in x for x in run.lost)
    print(f"lost updates: {fig.lost}" + (f" ({late} of them answered late)" if late else ""))
    print(f"duplicate transitions: {fig.duplicates}")
    print(f"steps with two live cards: {fig.live_cards}")
    print(f"SIGKILLs: {sup.kills}")
    print(f"injected faults: {faults}")
    print(f"duration: {elapsed:.0f} s")
    print(f"RESULT: {'PASS' if ok else 'FAIL'}")
    db.close()
    if ok and not keep:
        shutil.rmtree(tmp, ignore_errors=True)
        await _drop(url)
    else:
        logs = ", ".join(str(b.log) for b in run.bots)
        print(f"bot log: {logs}; timeline (updates, kills, calls): {tmp / 'timeline.log'}")
        if url.startswith("postgresql"):
            print(f"database kept: {make_url(url).database}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    doc = scripts.fault.__doc__ or ""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1, help="each round runs both SOPs")
    parser.add_argument(
        "--kills", type=int, default=20, help="minimum SIGKILLs (extra rounds until reached)"
    )
    parser.add_argument(
        "--fault-rate", type=float, default=0.3, help="share of Bot API calls that fail"
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="print the timeline")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    parser.add_argument(
        "--processes", type=int, default=1, help="bot processes: one poller + N-1 workers"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="a PostgreSQL server (a new database is made on it); default SQLite in the temp dir",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if not 0.0 <= args.fault_rate <= 1.0:
        parser.error("--fault-rate must be between 0 and 1")
    if args.processes < 1:
        parser.error("--processes must be at least 1")
    try:
        return asyncio.run(
            main_async(
                args.seed,
                args.rounds,
                args.kills,
                args.fault_rate,
                args.verbose,
                args.keep,
                args.processes,
                args.database_url,
            )
        )
    finally:
        for bot in _BOTS:
            bot.kill()


if __name__ == "__main__":
    sys.exit(main())
