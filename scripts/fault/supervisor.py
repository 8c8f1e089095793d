"""The bot processes while the people act: SIGKILLed at random instants and started again."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from typing import TYPE_CHECKING

from scripts.fault.common import KILL_AFTER, _json, _kind_of
from tests.e2e.conftest import BotProcess
from tests.fakebotapi import FakeBotApi

if TYPE_CHECKING:
    from scripts.fault.run import FaultRun


class Supervisor:
    """Owns the bot process while the people act: SIGKILLs it at random instants and starts
    it again; restarts it (and records it) if it exits by itself.

    Each update a person sends arms a kill with probability `rate` (unless a kill is under
    way): 2 in 3 a random 0.2–3 s later, whatever the bot is doing then (handling, sending,
    backing off, idle), 1 in 3 right after the fake hands an update out (0–0.1 s later). One
    restart in ten is killed again during start-up. With several processes each kill picks
    one of them (the others keep going)."""

    def __init__(self, run: FaultRun, rng: random.Random) -> None:
        self.run, self.rng = run, rng
        self.rate = 1.0
        self.active = False
        self.down = False  # killed by us, not restarted yet
        self.kills = 0
        self.restarts = 0
        self.paused = 0
        self.styles: Counter[str] = Counter()
        self.landings: Counter[str] = Counter()
        self.between_fetch_and_commit = 0
        self.in_flight: Counter[tuple[int, str]] = Counter()  # (chat, kind) claimed at a kill
        self.self_exits: list[str] = []
        self.errors: list[str] = []
        self._armed: asyncio.Queue[str] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.victim: BotProcess | None = None  # the process the current kill is for

    @property
    def bot(self) -> BotProcess:
        return self.victim or self.run.bot

    def _name(self, bot: BotProcess) -> str:
        return "" if len(self.run.bots) == 1 else f" [proses {self.run.bots.index(bot) + 1}]"

    @property
    def server(self) -> FakeBotApi:
        return self.run.server

    def start(self) -> None:
        self.active = True
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        self.active = False
        if self._task is not None:
            await self._task

    def sent(self, label: str) -> None:
        """A person just sent an update."""
        if self.active and self._armed.empty() and self.rng.random() < self.rate:
            self._armed.put_nowait(label)

    async def _next(self) -> str | None:
        while self.active:
            if not self._check_self_exit():
                continue
            try:
                return await asyncio.wait_for(self._armed.get(), 0.1)
            except TimeoutError:
                continue
        return None

    async def _loop(self) -> None:
        try:
            while self.active:
                armed = await self._next()
                if armed is None:
                    break
                if len(self.run.bots) > 1:  # (one process: the RNG sequence as before)
                    self.victim = self.rng.choice(self.run.bots)
                if self.rng.random() < 1 / 3:
                    style = "right after a fetch"
                    alive = await self._until_fetched(self.rng.uniform(2.0, 10.0))
                    alive = alive and await self._alive_for(self.rng.uniform(0.0, 0.1))
                else:
                    style = "random"
                    alive = await self._alive_for(self.rng.uniform(*KILL_AFTER))
                if not alive or not self.active:
                    continue
                await self._kill(style, armed)
                await self._restart()
                while self.active and self.rng.random() < 0.1:
                    if await self._alive_for(self.rng.uniform(0.3, 2.5)) and self.active:
                        await self._kill("during start-up", armed)
                        await self._restart()
                while not self._armed.empty():  # what was sent meanwhile arms nothing
                    self._armed.get_nowait()
        except Exception as exc:  # a bug in this script: say so, leave the bot running
            self.errors.append(f"supervisor: {type(exc).__name__}: {exc}")
            if self.down:
                self._start()

    async def _restart(self) -> None:
        if self.rng.random() < 0.5:
            self.paused += 1
            await asyncio.sleep(self.rng.uniform(0.2, 2.0))
        self._start()

    def _start(self, bot: BotProcess | None = None) -> None:
        bot = bot or self.bot
        bot.start()
        self.restarts += 1
        self.down = False
        self.run.event(f"bot started{self._name(bot)}")

    def _check_self_exit(self) -> bool:
        """True if every bot is alive; one that exited by itself is recorded and restarted."""
        alive = True
        for bot in self.run.bots:
            proc = bot.proc
            if proc is None or proc.poll() is None:
                continue
            lines = [ln for ln in bot.output().splitlines() if ln.strip()][-3:]
            self.self_exits.append(
                f"exit status {proc.returncode}{self._name(bot)}; last lines: {' | '.join(lines)}"
            )
            self.run.event(f"BOT EXITED BY ITSELF ({proc.returncode}){self._name(bot)}; restarting")
            self._start(bot)
            alive = False
        return alive

    async def _alive_for(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.active:
            if not self._check_self_exit():
                return False
            await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        return self._check_self_exit()

    def handed_out(self) -> set[int]:
        """Updates the fake has given to a getUpdates caller at least once."""
        waiting = {q.update_id for q in self.server._queue if not q.returned}
        return set(self.server._history) - waiting

    async def _until_fetched(self, timeout: float) -> bool:
        before = self.handed_out()
        deadline = time.monotonic() + timeout
        while self.active and time.monotonic() < deadline:
            if not self._check_self_exit():
                return False
            if self.handed_out() - before:
                return True
            await asyncio.sleep(0.005)
        return True

    async def _kill(self, style: str, armed: str) -> None:
        self.down = True
        await asyncio.to_thread(self.bot.kill)
        self.kills += 1
        self.styles[style] += 1
        landing = self._landing()
        self.landings.update(landing)
        self.run.event(
            f"SIGKILL #{self.kills}{self._name(self.bot)} ({style}, after '{armed}'): "
            + ", ".join(landing)
        )

    def _landing(self) -> list[str]:
        """Where the kill hit, seen from the fake and the database (quiet with one process;
        with several, the others' work in progress is counted too)."""
        stored = {r[0] for r in self.run.q("select update_id from inbox")}
        unhandled = self.run.q("select count(*) from inbox where handled_at is null")[0][0]
        claimed = self.run.q(
            "select chat_id, method, payload from outbox "
            "where status = 'pending' and claimed_until is not null",
        )
        marks = []
        if self.handed_out() - stored:
            marks.append("fetched, not stored")
        if unhandled:
            marks.append("stored, not handled")
        if len(marks):
            self.between_fetch_and_commit += 1
        if claimed:
            marks.append("outbox row claimed (send in flight)")
            for chat, method, payload in claimed:
                data = _json(payload)
                text = data.get("text") or data.get("caption") or ""
                kind = _kind_of(method, text, bool(data.get("buttons")))
                if kind is not None:
                    self.in_flight[(int(chat), kind)] += 1
        return marks or ["idle"]
