"""The people: each process's updates sent one by one, each waited for until it took effect;
the live cards checked after every step closes."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from scripts.fault.actions import Actions
from scripts.fault.common import (
    LATE_WAITS,
    POLL,
    WAIT,
    Db,
    Lost,
    Msg,
    T,
    _finished,
    _text,
    _tokens,
)
from scripts.fault.plan import ProcessRun, Visit
from scripts.fault.supervisor import Supervisor
from tests.e2e.conftest import PEOPLE, BotProcess
from tests.fakebotapi import FakeBotApi, FakeUser


class FaultRun(Actions):
    def __init__(
        self, server: FakeBotApi, bot: BotProcess, tmp: Path, db: Db, verbose: bool
    ) -> None:
        self.server, self.tmp, self.db, self.verbose = server, tmp, db, verbose
        self.bots = [bot]  # the first polls; any others are workers (--processes)
        self.t0 = time.monotonic()
        self.sup: Supervisor | None = None
        self.runs: list[ProcessRun] = []
        self.actions_done = 0
        self.offline_actions = 0
        self.resent_files = 0
        self.lost: list[str] = []
        self.healed = 0  # live-card anomalies that went away within WAIT
        self.card_failures: dict[tuple[int, int], str] = {}  # (chat, step instance) -> what
        self._before: dict[int, set[tuple[int, int]]] = {}
        self.events: list[tuple[float, str]] = []

    def log(self, text: str) -> None:
        if self.verbose:
            print(f"[{time.monotonic() - self.t0:7.2f}s] {text}", flush=True)

    def event(self, text: str) -> None:
        """Into the timeline kept beside bot.log (and printed with --verbose)."""
        self.events.append((time.time(), text))
        self.log(f"   {text}")

    @property
    def bot(self) -> BotProcess:
        return self.bots[0]

    def output(self) -> str:
        """Every process's log."""
        return "\n".join(bot.output() for bot in self.bots)

    def user(self, uid: int) -> FakeUser:
        return self.server.user(uid)

    def q(self, sql: str, args: tuple = ()) -> list[tuple]:
        return self.db.query(sql, args)

    # --- seeing what the bot did -------------------------------------------------------------

    def _states(self, uid: int) -> set[tuple[int, int]]:
        user = self.user(uid)
        return {(m["message_id"], user._versions.get(m["message_id"], 0)) for m in user.messages}

    def fresh(self, uid: int, pred: Callable[[Msg], bool]) -> Msg | None:
        """The newest message (or edit) in the chat since the last update from `uid`."""
        user, before = self.user(uid), self._before.get(uid, set())
        for m in reversed(user.messages):
            state = (m["message_id"], user._versions.get(m["message_id"], 0))
            if state not in before and pred(m):
                return m
        return None

    def card(self, run: ProcessRun, v: Visit) -> Msg | None:
        """The task card of this activation in its actor's chat, once recorded as sent."""
        if run.process_id is None:
            return None
        rows = self.q(
            "select id from step_instances where process_id = ? and step_no = ? and role = ? "
            "order by id",
            (run.process_id, v.no, v.role),
        )
        if len(rows) != v.occurrence + 1:
            return None
        ids = {
            r[0]
            for r in self.q(
                "select message_id from outbox where step_instance_id = ? and chat_id = ? "
                "and method = 'send_message' and status = 'sent' and message_id is not null",
                (rows[-1][0], v.actor),
            )
        }
        cards = [m for m in self.user(v.actor).messages if m["message_id"] in ids]
        return cards[-1] if cards else None

    def finished(self, run: ProcessRun) -> bool | None:
        for uid in PEOPLE:
            if not any(_finished(m, run.title) for m in self.user(uid).messages):
                return None
        return True

    async def until(self, what: str, check: Callable[[], T | None]) -> T:
        deadline = time.monotonic() + WAIT
        while True:
            got = check()
            if got is not None:
                return got
            if time.monotonic() > deadline:
                raise Lost(what)
            await asyncio.sleep(POLL)

    async def until_after_upload(
        self,
        what: str,
        who: int,
        send: Callable[[], Awaitable[object]],
        done: Callable[[], T | None],
    ) -> T:
        """Wait for `done`; if the bot says the file could not be downloaded, send it again."""
        while True:

            def check() -> tuple[str, Any] | None:
                got = done()
                if got is not None:
                    return ("done", got)
                if self.fresh(who, lambda m: "gagal diunduh" in _text(m)):
                    return ("again", None)
                return None

            state, got = await self.until(what, check)
            if state == "done":
                return got
            self.resent_files += 1
            self.event(f"'gagal diunduh': {PEOPLE[who][0]} sends the file again")
            self._before[who] = self._states(who)
            await send()
            if self.sup is not None:
                self.sup.sent(f"{what} (again)")

    # --- live cards ---------------------------------------------------------------------------

    def card_problems(self) -> dict[tuple[int, int], str]:
        """Task cards with buttons that belong to a closed step instance, or more than one
        per chat for an open one."""
        live: list[tuple[int, int, list[str]]] = []
        for uid in PEOPLE:
            for m in self.user(uid).messages:
                if _text(m).startswith("📋") and _tokens(m):
                    live.append((uid, m["message_id"], _tokens(m)))
        if not live:
            return {}
        tokens = sorted({t for _, _, ts in live for t in ts})
        marks = ",".join("?" * len(tokens))
        owner = dict(
            self.q(
                f"select token, step_instance_id from action_tokens where token in ({marks})",
                tuple(tokens),
            )
        )
        steps = {
            r[0]: r[1:]
            for r in self.q(
                "select s.id, p.title, s.step_no, s.finished_at from step_instances s "
                "join processes p on p.id = s.process_id"
            )
        }
        problems: dict[tuple[int, int], str] = {}
        open_cards: dict[tuple[int, int], list[int]] = defaultdict(list)
        for uid, mid, ts in live:
            name = PEOPLE[uid][0]
            for si in sorted({owner.get(t) or 0 for t in ts}):
                if si not in steps:
                    problems[(uid, -mid)] = f"{name}: message {mid} has buttons of no step"
                    continue
                title, no, finished = steps[si]
                if finished is not None:
                    problems[(uid, si)] = (
                        f"{name}: {title} Langkah {no} (instance {si}) is closed, "
                        f"but message {mid} still has buttons"
                    )
                else:
                    open_cards[(uid, si)].append(mid)
        for (uid, si), mids in open_cards.items():
            if len(mids) > 1:
                title, no, _ = steps[si]
                problems[(uid, si)] = (
                    f"{PEOPLE[uid][0]}: {title} Langkah {no} (instance {si}) has "
                    f"{len(mids)} live cards {mids}"
                )
        return problems

    async def check_cards(self, after: str) -> None:
        """Wait (up to WAIT) until the live cards are right; a problem already counted is
        not waited for again."""

        def new_problems() -> dict[tuple[int, int], str]:
            return {k: v for k, v in self.card_problems().items() if k not in self.card_failures}

        if not new_problems():
            return
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            if not new_problems():
                self.healed += 1
                return
        for key, what in new_problems().items():
            self.card_failures[key] = f"after {after}: {what}"
            self.event(f"LIVE CARD: {what}")

    async def run_process(self, run: ProcessRun) -> None:
        actions = self.actions(run)
        self.log(f"== {run.title}: revision at Langkah {run.revision_at}, {len(actions)} updates")
        for action in actions:
            down = self.sup is not None and self.sup.down
            self.offline_actions += down
            self.event(f"{PEOPLE[action.who][0]} sends: {action.label}" + (" (bot down)" * down))
            self._before[action.who] = self._states(action.who)
            await action.do()
            if self.sup is not None:
                self.sup.sent(action.label)
            try:
                await action.answer()
            except Lost as exc:
                # Lost by the definition (no answer within WAIT); wait LATE_WAITS more rounds
                # to tell "late" from "never", and go on if it came.
                self.lost.append(f"{exc} (sent as '{action.label}')")
                self.event(f"LOST: {exc}")
                late = time.monotonic()
                for _ in range(LATE_WAITS):
                    try:
                        await action.answer()
                        break
                    except Lost:
                        continue
                else:
                    self.lost[-1] += f"; still nothing {LATE_WAITS * WAIT + WAIT:.0f} s after"
                    raise
                came = time.monotonic() - late + WAIT
                self.lost[-1] += f"; its answer came {came:.0f} s after it was sent"
                self.event(f"LATE: {exc} answered after {came:.0f} s")
            self.actions_done += 1
            if action.closes:
                await self.check_cards(f"{run.title}: {action.label}")

    async def settle(self) -> str:
        """Wait until the outbox and the inbox are empty; returns what is left, if anything."""
        deadline = time.monotonic() + WAIT
        while True:
            out = self.q("select count(*) from outbox where status = 'pending'")[0][0]
            inbox = self.q("select count(*) from inbox where handled_at is null")[0][0]
            if not out and not inbox:
                return ""
            if time.monotonic() > deadline:
                return f"{out} outbox rows pending, {inbox} inbox rows unhandled after {WAIT:.0f} s"
            await asyncio.sleep(0.3)
