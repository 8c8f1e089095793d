"""The whole stack against a bare python-telegram-bot bot, interleaved, over loopback HTTP.

Each run starts a fresh fake Bot API (tests/fakebotapi) in this process and one bot process
against it: the bare bot (bench/bare_bot.py), ours with SEND_PACING=false (what the process
can do) and ours with pacing on (what Telegram allows; the fake's flood limits on). Runs are
interleaved rep by rep, so a noisy neighbour hurts all three alike; medians over reps.

    .venv/bin/python -m bench.stack                     # everything, ~10 minutes
    .venv/bin/python -m bench.stack --reps 1 --seconds 2 --handoffs 60 --digest 200 \\
        --scan-sizes 1000,10000 --open 2000             # a quick look

DATABASE_URL (a PostgreSQL server) runs our bot and the scans on PostgreSQL instead.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import seed
from bench.proc import BotUnderTest
from tests.fakebotapi import FakeBotApi

TOKEN = "424242:BENCH-token"


@dataclass
class Result:
    load: str
    variant: str
    done: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    cpu: float = 0.0  # seconds of bot CPU during the load

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        lat = sorted(self.latencies)
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")

    @property
    def cpu_ms(self) -> float:
        return self.cpu * 1000 / self.done if self.done else float("nan")


class Watch:
    """Arrival time of every bot message in the chats we look at (one pass per change);
    waiters sleep on a future, so the driver stays off the CPU the bots need."""

    def __init__(self, server: FakeBotApi, ids: list[int]) -> None:
        self.server = server
        self.users = {i: server.user(i) for i in ids}
        self.seen = {i: len(u._bot_ids) for i, u in self.users.items()}
        self.times: dict[int, list[float]] = {i: [] for i in ids}
        self.waiters: dict[int, list[tuple[int, asyncio.Future[float]]]] = {}
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self.server._event().wait()
            now = time.perf_counter()
            for i, user in self.users.items():
                n = len(user._bot_ids)
                if self.seen[i] == n:
                    continue
                self.times[i] += [now] * (n - self.seen[i])
                self.seen[i] = n
                for count, fut in self.waiters.pop(i, []):
                    if len(self.times[i]) >= count:
                        fut.done() or fut.set_result(self.times[i][count - 1])
                    else:
                        self.waiters.setdefault(i, []).append((count, fut))

    async def until(self, uid: int, count: int, timeout: float = 60) -> float:
        """Time the chat had `count` new messages since the watch began."""
        if len(self.times[uid]) >= count:
            return self.times[uid][count - 1]
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiters.setdefault(uid, []).append((count, fut))
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise TimeoutError(f"chat {uid}: {len(self.times[uid])} of {count} messages") from None

    def stop(self) -> None:
        self.task.cancel()


async def load_one(server: FakeBotApi, bot: BotUnderTest, n: int) -> Result:
    """One person at a time on an idle bot, a one-message reply (probes rotate, so neither
    the per-chat nor the per-bot limit is ever reached)."""
    r = Result("one", bot.variant)
    probes = seed.PROBES
    watch = Watch(server, probes)
    text = "/satu" if bot.bare else "/tugas"
    cpu0, t0 = bot.cpu(), time.perf_counter()
    for i in range(n):
        uid = probes[i % len(probes)]
        start = time.perf_counter()
        await server.user(uid).send(text)
        arrived = await watch.until(uid, i // len(probes) + 1)
        r.latencies.append(arrived - start)
        await asyncio.sleep(0.1)
    r.done, r.seconds, r.cpu = n, time.perf_counter() - t0 - 0.1 * n, bot.cpu() - cpu0
    watch.stop()
    return r


async def load_tugas(
    server: FakeBotApi, bot: BotUnderTest, users: list[int], seconds: float, name: str
) -> Result:
    """Closed loop: each user sends /tugas, waits for both messages, and again."""
    r = Result(name, bot.variant)
    watch = Watch(server, users)
    stop_at = time.perf_counter() + seconds
    cpu0, t0 = bot.cpu(), time.perf_counter()

    async def loop(uid: int) -> None:
        k = 0
        while time.perf_counter() < stop_at:
            start = time.perf_counter()
            await server.user(uid).send("/tugas")
            k += 1
            r.latencies.append(await watch.until(uid, 2 * k) - start)
            r.done += 1

    await asyncio.gather(*(loop(u) for u in users))
    r.seconds, r.cpu = time.perf_counter() - t0, bot.cpu() - cpu0
    watch.stop()
    return r


async def load_burst(server: FakeBotApi, bot: BotUnderTest, users: list[int], each: int) -> Result:
    """Everyone sends `each` /tugas at once; latency of every reply from that instant."""
    r = Result("burst", bot.variant)
    watch = Watch(server, users)
    cpu0, t0 = bot.cpu(), time.perf_counter()
    for _ in range(each):
        for uid in users:
            await server.user(uid).send("/tugas")
    ends = await asyncio.gather(*(watch.until(u, 2 * each, timeout=300) for u in users))
    for uid in users:
        r.latencies += [t - t0 for t in watch.times[uid][1 : 2 * each : 2]]
    r.done, r.seconds, r.cpu = each * len(users), max(ends) - t0, bot.cpu() - cpu0
    watch.stop()
    return r


async def load_handoff(
    server: FakeBotApi, bot: BotUnderTest, cards: list[int], loops: int
) -> Result:
    """`loops` presses in flight at once, each ✅ Selesai on its own process's card, until
    every card is pressed; a press is done when its card is edited, the load when the next
    person has every card."""
    r = Result("handoff", bot.variant)
    presser, receiver = server.user(seed.SEKRETARIS), seed.JAFUNG
    watch = Watch(server, [receiver])
    cpu0, t0 = bot.cpu(), time.perf_counter()

    async def loop(mine: list[int]) -> None:
        for message_id in mine:
            start, version = time.perf_counter(), presser._versions.get(message_id, 0)
            await presser.press(message_id, _forward_label(presser.message(message_id)))
            await server._wait(
                lambda m=message_id, v=version: presser._versions.get(m, 0) != v or None,
                60,
                lambda: "the pressed card edited",
            )
            r.latencies.append(time.perf_counter() - start)

    await asyncio.gather(*(loop(cards[i::loops]) for i in range(loops)))
    end = await watch.until(receiver, len(cards), timeout=120)
    r.done, r.seconds, r.cpu = len(cards), end - t0, bot.cpu() - cpu0
    watch.stop()
    return r


def _forward_label(card: dict) -> str:
    """The one-tap forward of a disposisi card (DESIGN: its label has Teruskan or Selesai)."""
    labels = [b["text"] for row in card["reply_markup"]["inline_keyboard"] for b in row]
    return next(x for x in labels if "Teruskan" in x or "Selesai" in x)


async def one_run(args: argparse.Namespace, variant: str, tmp: Path) -> list[Result]:
    paced = variant == "paced"
    async with FakeBotApi(token=TOKEN, flood_limits=paced) as server:
        users = seed.kadis_ids(args.users)
        handoffs = 0 if paced else args.handoffs  # paced: one presser edits at 1/s, see README
        bot = BotUnderTest(variant, server, tmp / variant, TOKEN, args.database_url)
        await bot.prepare()
        if not bot.bare:
            await seed.small(bot.database_url, args.users, handoffs)
        for uid in [*users, *seed.PROBES, seed.SEKRETARIS, seed.JAFUNG, seed.TIM, seed.ADMIN]:
            server.user(uid, f"U{uid}").mark_started()
        await bot.start()
        spy = None
        if args.py_spy and not bot.bare:  # collapsed stacks of our bot, for a flame graph
            out = Path(args.py_spy) / f"{variant}-{time.strftime('%H%M%S')}.txt"
            out.parent.mkdir(parents=True, exist_ok=True)
            cmd = [args.py_spy_bin, "record", "-p", str(bot.proc.pid), "-f", "raw", "-o", str(out)]
            spy = subprocess.Popen([*cmd, "--nonblocking", "-r", "200"], stdout=subprocess.DEVNULL)
        presser = server.user(seed.SEKRETARIS)
        if bot.bare and args.handoffs:
            await presser.send(f"/kartu {args.handoffs}")
        if not paced:  # the step-2 cards (ours: from the outbox at start-up)
            await server._wait(
                lambda: len(presser._bot_ids) >= args.handoffs or None, 120, lambda: "cards"
            )
        cards = list(presser._bot_ids[-args.handoffs :]) if handoffs or bot.bare else []
        if not bot.bare:  # the kadis holders' step-1 cards went out too
            for uid in users:
                await server._wait(lambda u=uid: server.user(u)._bot_ids or None, 120, str)
        await asyncio.sleep(1.0)
        results = [await load_one(server, bot, args.one)]
        results.append(await load_tugas(server, bot, users[:1], args.seconds, "tugas1"))
        results.append(await load_tugas(server, bot, users, args.seconds, "tugas20"))
        results.append(await load_burst(server, bot, users, args.burst if not paced else 5))
        if cards:
            results.append(await load_handoff(server, bot, cards, args.loops))
        bot.rss_idle = bot.rss()
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        for res in results:
            res.flood_429s = server.flood_429s  # type: ignore[attr-defined]
        bot.stop()
        return results


def report(all_results: list[Result]) -> None:
    loads = list(dict.fromkeys(r.load for r in all_results))
    print(
        f"\n{'load':8} | {'variant':6} | {'upd/s':>7} | {'p50 ms':>8} | {'p95 ms':>8} | "
        f"{'CPU ms/upd':>10} | {'×bare upd/s':>11} | {'×bare CPU':>9}"
    )
    for load in loads:
        med: dict[str, tuple[float, float, float, float]] = {}
        for variant in ("bare", "nopace", "paced"):
            rs = [r for r in all_results if r.load == load and r.variant == variant]
            if not rs:
                continue
            med[variant] = (
                statistics.median(r.rate for r in rs),
                statistics.median(r.pct(0.5) for r in rs),
                statistics.median(r.pct(0.95) for r in rs),
                statistics.median(r.cpu_ms for r in rs),
            )
        base = med.get("bare")
        for variant, (rate, p50, p95, cpu) in med.items():
            ratio = f"{rate / base[0]:.2f}" if base and variant != "bare" else ""
            cratio = f"{cpu / base[3]:.2f}" if base and variant != "bare" else ""
            print(
                f"{load:8} | {variant:6} | {rate:7.1f} | {p50:8.1f} | {p95:8.1f} | "
                f"{cpu:10.2f} | {ratio:>11} | {cratio:>9}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of a closed loop")
    parser.add_argument("--one", type=int, default=40, help="one-message replies, one at a time")
    parser.add_argument("--burst", type=int, default=10, help="/tugas per user in the burst")
    parser.add_argument("--handoffs", type=int, default=200)
    parser.add_argument("--loops", type=int, default=20, help="presses in flight")
    parser.add_argument("--digest", type=int, default=1000, help="people in the digest")
    parser.add_argument("--open", type=int, default=10_000, help="open processes (memory)")
    parser.add_argument("--scan-sizes", default="1000,10000,100000")
    parser.add_argument("--only", default="stack,digest,memory,scan")
    parser.add_argument("--variants", default="bare,nopace,paced")
    parser.add_argument("--py-spy", help="folder: profile our bot with py-spy while it runs")
    parser.add_argument("--py-spy-bin", default="py-spy")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args()
    only = set(args.only.split(","))
    print(
        f"bench {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.2f}, python {sys.version.split()[0]}"
    )
    from bench import extra

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if "stack" in only:
            results: list[Result] = []
            for rep in range(args.reps):
                for variant in args.variants.split(","):
                    results += asyncio.run(one_run(args, variant, tmp / f"r{rep}"))
                    print(f"  rep {rep + 1}: {variant} done", flush=True)
            report(results)
            paced = [r for r in results if r.variant == "paced"]
            if paced:
                worst = max(r.flood_429s for r in paced)  # type: ignore[attr-defined]
                print(f"paced runs (flood limits on): 429 answers {worst}")
        if "digest" in only:
            asyncio.run(extra.digest_run(args, tmp / "digest", TOKEN))
        if "memory" in only:
            asyncio.run(extra.memory_run(args, tmp / "memory", TOKEN))
    if "scan" in only:
        from bench import due_scan

        sizes = tuple(int(s) for s in args.scan_sizes.split(","))
        asyncio.run(due_scan.main(sizes, args.database_url))


if __name__ == "__main__":
    main()
