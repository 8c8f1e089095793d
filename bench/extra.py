"""The digest to many people under Telegram's flood limits, and memory (bench/stack.py)."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

from bench import seed
from bench.proc import BotUnderTest, digest_time
from bench.stack import Watch
from tests.fakebotapi import FakeBotApi


async def digest_run(args: argparse.Namespace, folder: Path, token: str) -> None:
    """The morning digest to `--digest` people with flood limits on, while a probe user
    asks /tugas every 1.2 s: msg/s, 429s, lost or doubled digests, the probe's latency."""
    async with FakeBotApi(token=token, flood_limits=True) as server:
        bot = BotUnderTest(
            "paced",
            server,
            folder,
            token,
            args.database_url,
            DIGEST_TIME=digest_time(-1),
            DIGEST_WINDOW_MINUTES="30",
        )
        await bot.prepare()
        ids = await seed.digest(bot.database_url, args.digest)
        for uid in [*ids, *seed.PROBES]:
            server.user(uid, f"U{uid}").mark_started()
        watch = Watch(server, [*ids, *seed.PROBES])
        await bot.start()
        cpu0 = bot.cpu()
        probe_lat: list[float] = []
        done = asyncio.Event()

        async def probe() -> None:
            k = 0
            while not done.is_set():
                uid = seed.PROBES[k % len(seed.PROBES)]
                start = time.perf_counter()
                await server.user(uid).send("/tugas")
                probe_lat.append(await watch.until(uid, k // len(seed.PROBES) + 1) - start)
                k += 1
                await asyncio.sleep(1.2)

        prober = asyncio.create_task(probe())
        try:
            await asyncio.gather(*(watch.until(uid, 1, timeout=600) for uid in ids))
        finally:
            done.set()
            await prober
        await asyncio.sleep(2.0)  # anything doubled would show now
        firsts = [watch.times[uid][0] for uid in ids]
        span = max(firsts) - min(firsts)
        doubled = sum(1 for uid in ids if len(watch.times[uid]) > 1)
        cpu = bot.cpu() - cpu0
        bot.stop()
    print(
        f"\ndigest to {len(ids)} people, flood limits on: {(len(ids) - 1) / span:.1f} msg/s "
        f"({span:.1f} s), 429 answers {server.flood_429s}, lost 0, doubled {doubled}, "
        f"bot CPU {cpu * 1000 / len(ids):.2f} ms/msg; interactive /tugas meanwhile: "
        f"p50 {statistics.median(probe_lat) * 1000:.0f} ms, max {max(probe_lat) * 1000:.0f} ms "
        f"({len(probe_lat)} replies; first {probe_lat[0] * 1000:.0f} ms, "
        f"max after it {max(probe_lat[1:] or [0]) * 1000:.0f} ms)"
    )


async def memory_run(args: argparse.Namespace, folder: Path, token: str) -> None:
    """RSS of the bare bot and ours idle, and ours with `--open` open processes after the
    digest tick (the moment that reads the most)."""
    figures = []
    async with FakeBotApi(token=token) as server:
        for variant, kind in (("bare", "idle"), ("paced", "idle"), ("paced", "open")):
            env = {"DIGEST_TIME": digest_time(-1), "DIGEST_WINDOW_MINUTES": "30"}
            where = folder / f"{variant}-{kind}"
            bot = BotUnderTest(variant, server, where, token, args.database_url, **env)
            await bot.prepare()
            if kind == "idle" and not bot.bare:
                await seed.small(bot.database_url, 20, 0)
            elif kind == "open":
                await seed.open_processes(bot.database_url, args.open)
            await bot.start()
            await asyncio.sleep(6.0)  # several ticks, the digest among them
            figures.append(f"{variant} {kind}: RSS {bot.rss():.0f} MB (peak {bot.peak():.0f} MB)")
            bot.stop()
    print(f"\nmemory ({args.open} open processes for 'open'): " + "; ".join(figures))
