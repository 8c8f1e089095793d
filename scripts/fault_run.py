"""Scripted fault run: both SOPs as five people while the bot is SIGKILLed at random instants
and about 30% of Bot API calls fail.

    .venv/bin/python -m scripts.fault_run --seed 11 --rounds 1 [--kills 20] [--fault-rate 0.3]

Starts the fake Bot API server (tests/fakebotapi) and the real `python -m bot run` process
(short leases: OUTBOX_LEASE_SECONDS=2, INBOX_LEASE_SECONDS=2) on a database in a temporary
folder, then runs R rounds; each round runs LAKIP (370) and then Pelaporan Kinerja (371) from
/mulai to the archive, with one revision at a reviewer step chosen by the seeded RNG. The plan
(revision step, which Tim Kerja member acts, note as text or file, receipt as photo) comes
from `random.Random(seed)`; the kills and the faults have RNGs of their own from the same
seed (timing inside the bot still varies, so a seed does not replay exactly).

* Kills: a supervisor task SIGKILLs the bot at random instants while the processes run.
  An update a person sends arms a kill (with a probability set so that at least --kills
  kills happen, and never below 0.3): 2 in 3 a random 0.2–3 s later, whatever the bot is
  doing then (handling, sending, backing off, idle), 1 in 3 right after the fake hands an
  update out (0–0.1 s later: between fetch and store, or between store and the action's
  commit). One restart in ten is killed again during start-up. Half the restarts are at
  once, half after a 0.2–2 s pause (what people send meanwhile waits for the bot). Extra
  rounds run while fewer than --kills kills happened. Each kill is classified from the fake
  and the database after it: an update fetched and not stored, stored and not handled, an
  outbox row claimed (a send in flight), or idle. A bot that exits by itself is restarted
  and counted as a failure.
* Faults: `FakeBotApi.fail_randomly(rate)`: that fraction of all calls except getUpdates
  answers 500, 502, 429 (retry_after=1), stalls 0.3–9 s (past the client's 5 s it times out
  and nothing happened), or takes effect and then stalls 5.5–7 s (Telegram did it, the answer
  was lost). Faults stay on until the end, start-up and the final settling included.
* People: every update is sent once. Its answer is what shows it took effect: the next task
  card recorded as sent in the outbox (step instances and outbox rows of the bot's database
  say which message is the card of which activation), the checklist tick in the card, the
  next prompt, "Proses selesai" for everyone. An answer that does not come within WAIT is a
  lost update; the run then waits 2×WAIT more to tell "late" (and goes on) from "never"
  (and ends). If the bot says a file could not be downloaded (getFile failed four times),
  the person sends it again (counted; nothing was lost: they were told).
* Live cards: after each step closes (its answer arrived) and at the end, every task card
  ("📋 ...") that still has buttons must belong to an open step instance, at most one per
  chat; a violation that does not heal within WAIT counts as a step with two live cards
  (one that heals is counted as healed: the twin of an uncertain send is closed after the
  re-send, so a short overlap is the design).

At the end: every process `selesai`; the outbox empty (every row sent, or cancelled as
`batal` because its step closed before it went out, never a card its actor needed); every
update the fake issued stored and handled; each person's task cards in order, a repeated
card allowed only when closed and explained (a lost answer or a kill while a send was in
flight for that chat); "Proses selesai" and the right final document for each person and
process, repeats only when explained the same way; the audit log's step outcomes exactly as
expected per process (an extra one is a duplicate transition), no extra step instances; no
"unexpected error" answer; no handler error in bot.log; the token never logged. Prints a
report with
`lost updates`, `duplicate transitions`, `steps with two live cards`, `SIGKILLs` and
`injected faults`; exit status 1 on any failure (the temp folder is then kept, with bot.log
and timeline.log: people's updates, kills, restarts and every Bot API call with its fault, by
the wall clock bot.log uses).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from pathlib import Path
from typing import Any, TypeVar

from tests.e2e.conftest import PEOPLE, TOKEN, BotProcess, launch
from tests.e2e.test_sop_flows import BIDANG
from tests.fakebotapi import FakeBotApi, FakeUser
from tests.samples import sample

WAIT = 120.0  # for every answer: lease (2 s) + restart + exponential backoff of a flaky send
POLL = 0.2
LEASES = {"OUTBOX_LEASE_SECONDS": "2", "INBOX_LEASE_SECONDS": "2"}
CLIENT_TIMEOUT = 5.0  # python-telegram-bot's default read timeout, as the bot uses it
STALL = (0.3, 9.0)  # shorter than the client waits: slow; longer: timed out, no effect
LOST_ANSWER = (5.5, 7.0)  # done, then the answer comes after the client gave up
KILL_AFTER = (0.2, 3.0)
MAX_EXTRA_ROUNDS = 5
LATE_WAITS = 2  # after a lost update, WAIT this many times more to tell late from never
KADIS, SEK, JAF, ANI, BUDI = 101, 102, 103, 104, 105
TIM = (ANI, BUDI)
HOLDERS = {"kadis": (KADIS,), "sekretaris": (SEK,), "jafung": (JAF,), "tim_kerja": TIM}
OUTCOMES = ("selesai", "diunggah", "disetujui", "revisi")
CARD, SELESAI, FINAL = "task card", "'Proses selesai'", "final document"

Msg = dict[str, Any]
T = TypeVar("T")


# --- the two SOPs as the script expects them (README tables; an independent oracle) -----------


@dataclass(frozen=True)
class SopPlan:
    number: str  # the button /mulai presses
    name: str
    steps: dict[int, tuple[str, str]]  # no -> (role, kind); step 1 is done by /mulai
    revisi: dict[int, int]  # reviewer step -> the step that is redone
    drafts: tuple[int, ...]  # uploads stored as "draft": the last one is the final document


LAKIP = SopPlan(
    "370",
    "LAKIP",
    {
        2: ("sekretaris", "disposisi"),
        3: ("jafung", "disposisi"),
        4: ("tim_kerja", "kumpul"),
        5: ("tim_kerja", "unggah"),
        6: ("jafung", "periksa"),
        7: ("sekretaris", "periksa"),
        8: ("kadis", "tanda_tangan"),
        9: ("jafung", "unggah"),
        10: ("tim_kerja", "unggah"),
        11: ("tim_kerja", "tugas"),
    },
    {6: 5, 7: 5, 8: 5},
    (5,),
)
KINERJA = SopPlan(
    "371",
    "Pelaporan Kinerja",
    {
        2: ("sekretaris", "disposisi"),
        3: ("jafung", "disposisi"),
        4: ("tim_kerja", "kumpul"),
        5: ("tim_kerja", "unggah"),
        6: ("jafung", "periksa"),
        7: ("sekretaris", "periksa"),
        8: ("tim_kerja", "unggah"),
        9: ("sekretaris", "periksa"),
        10: ("kadis", "tanda_tangan"),
        11: ("tim_kerja", "tugas"),
    },
    {6: 5, 7: 5, 9: 8, 10: 8},
    (5, 8),
)


@dataclass
class Visit:
    """One activation of a step, and what its actor does with it."""

    no: int
    occurrence: int  # 0, or 1 when the step comes round again after the revision
    role: str
    kind: str
    actor: int
    outcome: str


@dataclass
class ProcessRun:
    sop: SopPlan
    title: str
    revision_at: int
    note_as_file: bool
    receipt_photo: bool  # LAKIP Langkah 10 accepts a photo of the receipt
    visits: list[Visit]
    final: bytes = b""  # the last draft uploaded: what everyone gets at the end
    process_id: int | None = None


def plan_process(rng: random.Random, sop: SopPlan, title: str) -> ProcessRun:
    at = rng.choice(sorted(sop.revisi))
    back = sop.revisi[at]
    order = [*range(2, at + 1), back, *range(at, len(sop.steps) + 2)]
    seen: Counter[int] = Counter()
    visits = []
    for no in order:
        role, kind = sop.steps[no]
        if kind in ("periksa", "tanda_tangan"):
            outcome = "revisi" if no == at and not seen[no] else "disetujui"
        else:
            outcome = "diunggah" if kind == "unggah" else "selesai"
        actor = rng.choice(TIM) if role == "tim_kerja" else HOLDERS[role][0]
        visits.append(Visit(no, seen[no], role, kind, actor, outcome))
        seen[no] += 1
    tim = [v for v in visits if v.role == "tim_kerja"]
    if len({v.actor for v in tim}) < 2:  # both must act, so both are told at the end
        other = rng.choice(tim)
        other.actor = BUDI if other.actor == ANI else ANI
    return ProcessRun(sop, title, at, rng.random() < 0.5, rng.random() < 0.5, visits)


# --- one update a person sends, and the answer that shows it took effect -----------------------


@dataclass
class Action:
    label: str
    who: int  # whose chat the answer may appear in (snapshot before sending)
    do: Callable[[], Awaitable[object]]
    answer: Callable[[], Awaitable[object]]
    closes: bool = False  # after the answer a step is closed: check the live cards


class Lost(Exception):
    """An update whose effect never showed within WAIT."""


def _text(m: Msg) -> str:
    return m.get("text") or m.get("caption") or ""


def _finished(m: Msg, title: str) -> bool:
    """The "🎉 Proses selesai: <title>" message."""
    text = _text(m)
    return "proses selesai" in text.lower() and title in text and not text.startswith("📋")


def _final_document(m: Msg) -> bool:
    return "document" in m and "dokumen final" in (m.get("caption") or "").lower()


def _labels(m: Msg) -> list[str]:
    rows = (m.get("reply_markup") or {}).get("inline_keyboard") or []
    return [b.get("text", "") for r in rows for b in r]


def _tokens(m: Msg) -> list[str]:
    rows = (m.get("reply_markup") or {}).get("inline_keyboard") or []
    return [b["callback_data"].removeprefix("t:") for r in rows for b in r if "callback_data" in b]


def _query(tmp: Path, sql: str, args: tuple = ()) -> list[tuple]:
    db = sqlite3.connect(tmp / "bot.db", timeout=30)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def _kind_of(method: str, text: str, buttons: bool) -> str | None:
    """Which kind of repeatable message a send is (for explaining repeats), if any."""
    if method.lower() == "senddocument" or method == "send_document":
        return FINAL if "dokumen final" in text.lower() else None
    if "proses selesai" in text.lower() and not text.startswith("📋"):
        return SELESAI
    if text.startswith("📋") and buttons:
        return CARD
    return None


# --- the bot process: random kills and restarts ------------------------------------------------


class Supervisor:
    """Owns the bot process while the people act: SIGKILLs it at random instants and starts
    it again; restarts it (and records it) if it exits by itself.

    Each update a person sends arms a kill with probability `rate` (unless a kill is under
    way): 2 in 3 a random 0.2–3 s later, whatever the bot is doing then (handling, sending,
    backing off, idle), 1 in 3 right after the fake hands an update out (0–0.1 s later). One
    restart in ten is killed again during start-up."""

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

    @property
    def bot(self) -> BotProcess:
        return self.run.bot

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

    def _start(self) -> None:
        self.bot.start()
        self.restarts += 1
        self.down = False
        self.run.event("bot started")

    def _check_self_exit(self) -> bool:
        """True if the bot is alive; if it exited by itself, record that and restart it."""
        proc = self.bot.proc
        if proc is None or proc.poll() is None:
            return True
        lines = [ln for ln in self.bot.output().splitlines() if ln.strip()][-3:]
        self.self_exits.append(f"exit status {proc.returncode}; last lines: {' | '.join(lines)}")
        self.run.event(f"BOT EXITED BY ITSELF ({proc.returncode}); restarting")
        self._start()
        return False

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
        self.run.event(f"SIGKILL #{self.kills} ({style}, after '{armed}'): {', '.join(landing)}")

    def _landing(self) -> list[str]:
        """Where the kill hit, seen from the fake and the (now quiet) database."""
        tmp = self.run.tmp
        stored = {r[0] for r in _query(tmp, "select update_id from inbox")}
        unhandled = _query(tmp, "select count(*) from inbox where handled_at is null")[0][0]
        claimed = _query(
            tmp,
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


def _json(value: object) -> dict[str, Any]:
    if isinstance(value, (bytes, str)):
        try:
            data = json.loads(value)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}
    return {}


# --- the people ------------------------------------------------------------------------------


class FaultRun:
    def __init__(self, server: FakeBotApi, bot: BotProcess, tmp: Path, verbose: bool) -> None:
        self.server, self.bot, self.tmp, self.verbose = server, bot, tmp, verbose
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

    def user(self, uid: int) -> FakeUser:
        return self.server.user(uid)

    def q(self, sql: str, args: tuple = ()) -> list[tuple]:
        return _query(self.tmp, sql, args)

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
            "select id from step_instances where process_id = ? and step_no = ? order by id",
            (run.process_id, v.no),
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

    # --- the actions of one process -----------------------------------------------------------

    def actions(self, run: ProcessRun) -> list[Action]:
        out = self._mulai(run)
        for i, v in enumerate(run.visits):
            nxt = run.visits[i + 1] if i + 1 < len(run.visits) else None
            if nxt is None:
                done: Callable[[], object | None] = lambda: self.finished(run)  # noqa: E731
            else:
                done = lambda n=nxt: self.card(run, n)  # noqa: E731
            out += self._visit(run, v, done)
        return out

    def _mulai(self, run: ProcessRun) -> list[Action]:
        kadis = self.user(KADIS)
        title = run.title
        seen: dict[str, Msg] = {}

        def prompt(stem: str, key: str) -> Callable[[], Awaitable[Msg]]:
            """The next question of /mulai: a new message (or edit) mentioning `stem` (in
            its text or its buttons; the wording may change, the subject does not)."""

            def asks(m: Msg) -> bool:
                return stem in " ".join([_text(m), *_labels(m)]).lower()

            async def answer() -> Msg:
                msg = await self.until(
                    f"{title}: the question about {stem!r}", lambda: self.fresh(KADIS, asks)
                )
                seen[key] = msg
                return msg

            return answer

        async def press_sop() -> None:
            await kadis.press(seen["menu"], run.sop.number)

        surat = sample("surat_edaran_sekda.pdf", f"%PDF-1.4 surat edaran {title}")

        async def send_surat() -> None:
            await kadis.send_document(surat, "surat_edaran_sekda.pdf")

        def started() -> Msg | None:
            if run.process_id is None:
                rows = self.q("select id from processes where title = ?", (title,))
                if not rows:
                    return None
                run.process_id = rows[0][0]
            return self.card(run, run.visits[0])

        async def surat_answer() -> Msg:
            return await self.until_after_upload(
                f"{title}: Surat Edaran", KADIS, send_surat, started
            )

        return [
            Action("/mulai", KADIS, lambda: kadis.send("/mulai"), prompt("sop", "menu")),
            Action(f"SOP {run.sop.number}", KADIS, press_sop, prompt("judul", "")),
            Action("judul", KADIS, lambda: kadis.send(title), prompt("arahan", "")),
            Action(
                "arahan",
                KADIS,
                lambda: kadis.send("Mohon segera disusun sesuai Surat Edaran Sekda."),
                prompt("surat edaran", ""),
            ),
            Action("Surat Edaran (file)", KADIS, send_surat, surat_answer, closes=True),
        ]

    def _visit(self, run: ProcessRun, v: Visit, done: Callable[[], object | None]) -> list[Action]:
        title, user = run.title, self.user(v.actor)
        label = f"{PEOPLE[v.actor][0]}: Langkah {v.no}" + (" (lagi)" if v.occurrence else "")
        what = f"{title}: {label}"

        def current_card() -> Msg:
            msg = self.card(run, v)
            if msg is None:
                raise RuntimeError(f"{what}: the card vanished")
            return msg

        async def press(button: str) -> None:
            await user.press(current_card(), button)

        async def answer() -> object:
            return await self.until(what, done)

        if v.kind in ("disposisi", "tugas") or v.outcome == "disetujui":
            button = "Selesai" if v.outcome == "selesai" else "Setuju"
            return [Action(f"{label} {button}", v.actor, lambda: press(button), answer, True)]

        if v.kind == "kumpul":
            out = []
            for bidang in BIDANG:

                async def tick_answer(b: str = bidang) -> object:
                    card_id = current_card()["message_id"]

                    def ticked() -> bool | None:
                        m = user.message(card_id)
                        return True if f"✅ {b}" in _labels(m) or f"✅ {b}" in _text(m) else None

                    return await self.until(f"{what}: ✅ {b}", ticked)

                out.append(
                    Action(
                        f"{label} ✅ {bidang}",
                        v.actor,
                        lambda b=bidang: press(b),
                        tick_answer,
                    )
                )
            out.append(Action(f"{label} Selesai", v.actor, lambda: press("Selesai"), answer, True))
            return out

        if v.kind == "unggah":
            ext = {5: "docx", 8: "pdf"}.get(v.no, "pdf")
            tag = f"{title} langkah {v.no} versi {v.occurrence + 1}"
            data = sample(f"x.{ext}", tag)
            if v.no in run.sop.drafts:
                run.final = data  # visits are in order: the last draft wins
            photo = run.sop is LAKIP and v.no == 10 and run.receipt_photo

            async def upload() -> None:
                if photo:
                    await user.send_photo(sample("x.jpg", tag))
                else:
                    await user.send_document(data, f"langkah{v.no}_v{v.occurrence + 1}.{ext}")

            async def upload_answer() -> object:
                return await self.until_after_upload(what, v.actor, upload, done)

            kind = "foto" if photo else ext
            return [Action(f"{label} unggah ({kind})", v.actor, upload, upload_answer, True)]

        # A revision: press Revisi, wait for the prompt (a new message asking for the
        # revision note), then send the note.
        def revision_prompt(m: Msg) -> bool:
            text = _text(m)
            return not text.startswith("📋") and "revisi" in text.lower()

        note = f"Catatan revisi {title}: lengkapi analisis capaian (langkah {v.no})."

        async def prompt() -> object:
            return await self.until(f"{what}: prompt", lambda: self.fresh(v.actor, revision_prompt))

        async def revise_note() -> None:
            if run.note_as_file:
                await user.send_document(
                    sample("koreksi.pdf", f"koreksi {title}"), "koreksi.pdf", caption=note
                )
            else:
                await user.send(note)

        async def note_answer() -> object:
            if run.note_as_file:
                return await self.until_after_upload(what, v.actor, revise_note, done)
            return await self.until(what, done)

        how = "file" if run.note_as_file else "teks"
        return [
            Action(f"{label} Revisi", v.actor, lambda: press("Revisi"), prompt),
            Action(f"{label} catatan revisi ({how})", v.actor, revise_note, note_answer, True),
        ]

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


# --- checks ------------------------------------------------------------------------------------


def _card_of(text: str, titles: list[str]) -> tuple[str, int] | None:
    """(title, step) of a task card ("📋 ... title ...\nLangkah N: ..."), else None."""
    if not text.startswith("📋"):
        return None
    lines = text.split("\n")
    title = max((t for t in titles if t in lines[0]), key=len, default=lines[0])
    step_line = next((ln for ln in lines if ln.startswith("Langkah ")), "Langkah ?:")
    no = step_line.split(":")[0].removeprefix("Langkah ")
    return title, int(no) if no.isdigit() else -1


def _delivered_tasks(server: FakeBotApi, uid: int, titles: list[str]) -> list[tuple[str, int]]:
    """(title, step) of each task card delivered (each message once, whatever edits followed)."""
    cards = (_card_of(msg.get("text") or "", titles) for msg in server.delivered(uid))
    return [c for c in cards if c is not None]


def _lost_answers(server: FakeBotApi) -> Counter[tuple[int, str]]:
    """(chat, kind) of sends that may have taken effect without the bot knowing."""
    out: Counter[tuple[int, str]] = Counter()
    for method, kind, seconds, params in server.random_fault_log:
        if kind == "lost_answer" or (kind == "stall" and seconds >= CLIENT_TIMEOUT - 0.5):
            text = str(params.get("text") or params.get("caption") or "")
            found = _kind_of(method, text, bool(params.get("reply_markup")))
            if found is not None and str(params.get("chat_id", "")).lstrip("-").isdigit():
                out[(int(params["chat_id"]), found)] += 1
    return out


@dataclass
class Figures:
    lost: int = 0
    duplicates: int = 0
    live_cards: int = 0
    repeats: Counter[str] = field(default_factory=Counter)
    explained: Counter[str] = field(default_factory=Counter)


def check(run: FaultRun, runs: list[ProcessRun]) -> tuple[list[tuple[bool, str, str]], Figures]:
    server, tmp = run.server, run.tmp
    results: list[tuple[bool, str, str]] = []
    fig = Figures()

    def add(ok: bool, name: str, detail: str = "") -> None:
        results.append((ok, name, detail))

    rows = _query(tmp, "select id, title, status from processes order by id")
    bad = [r for r in rows if r[2] != "selesai"]
    titles = [r[1] for r in rows]
    add(
        not bad and titles == [r.title for r in runs],
        f"processes finished ({len(rows) - len(bad)}/{len(runs)} selesai)",
        f"not finished: {bad}; titles {titles}" if bad or titles != [r.title for r in runs] else "",
    )

    # 'batal': a copy of a card (reminder, escalation) whose step closed before it went out.
    statuses = dict(_query(tmp, "select status, count(*) from outbox group by status"))
    failed = _query(
        tmp,
        "select id, chat_id, method, status, last_error from outbox "
        "where status not in ('sent', 'batal')",
    )
    add(
        not failed,
        f"outbox all sent ({statuses.get('sent', 0)} rows sent, "
        f"{statuses.get('batal', 0)} cancelled as their step closed first, {len(failed)} not)",
        f"{failed[:5]}" if failed else "",
    )
    cancelled = Counter(
        (chat, title, no, occurrence)
        for chat, title, no, occurrence in _query(
            tmp,
            "select o.chat_id, p.title, s.step_no, (select count(*) from step_instances e "
            "where e.process_id = s.process_id and e.step_no = s.step_no and e.id < s.id) "
            "from outbox o join step_instances s on s.id = o.step_instance_id "
            "join processes p on p.id = s.process_id "
            "where o.status = 'batal' and o.method = 'send_message'",
        )
    )
    actors = {(v.actor, r.title, v.no, v.occurrence) for r in runs for v in r.visits}
    needed = sorted(k for k in cancelled if k in actors)
    add(
        not needed,
        f"no card its actor needed was cancelled ({sum(cancelled.values())} cards cancelled)",
        f"{needed}" if needed else "",
    )

    # Lost updates: every update the fake issued stored and handled, every answer seen.
    inbox = dict(_query(tmp, "select update_id, handled_at from inbox"))
    never_stored = sorted(set(server._history) - set(inbox))
    unhandled = sorted(u for u, h in inbox.items() if h is None)
    fig.lost = len(run.lost) + len(never_stored) + len(unhandled)
    add(
        not never_stored and not unhandled,
        f"inbox: all {len(server._history)} updates the fake issued stored and handled",
        f"never stored {never_stored[:10]}, stored but unhandled {unhandled[:10]}"
        if never_stored or unhandled
        else "",
    )
    add(not run.lost, "every update took effect (its answer came within WAIT)", "; ".join(run.lost))

    # Task cards in order; a repeat only as a closed twin, explained by an uncertain send.
    lost_answers = _lost_answers(server)
    in_flight = run.sup.in_flight if run.sup else Counter()
    unexplained: list[str] = []

    def repeats(uid: int, kind: str, n: int) -> None:
        if n <= 0:
            return
        fig.repeats[kind] += n
        why = lost_answers[(uid, kind)] + in_flight[(uid, kind)]
        fig.explained[kind] += min(n, why)
        if n > why:
            unexplained.append(
                f"{PEOPLE[uid][0]}: {n} repeated {kind}(s), {why} lost answer(s)/kill(s) mid-send"
            )

    for uid, (name, _) in PEOPLE.items():
        expected = [
            (r.title, v.no)
            for r in runs
            for v in r.visits
            if uid in HOLDERS[v.role] and not cancelled[(uid, r.title, v.no, v.occurrence)]
        ]
        got = _delivered_tasks(server, uid, [r.title for r in runs])
        got_runs = [(k, len(list(g))) for k, g in groupby(got)]
        exp_runs = [(k, len(list(g))) for k, g in groupby(expected)]
        ok = [k for k, _ in got_runs] == [k for k, _ in exp_runs] and all(
            g >= e for (_, g), (_, e) in zip(got_runs, exp_runs, strict=True)
        )
        extra = len(got) - len(expected) if ok else 0
        repeats(uid, CARD, extra)
        detail = ""
        if not ok:
            detail = f"got {[n for _, n in got]}, expected {[n for _, n in expected]}"
        add(
            ok,
            f"{name}: {len(expected)} task cards in order"
            + (f" (+{extra} closed repeat{'s' * (extra > 1)})" if extra else ""),
            detail,
        )

    for uid, (name, _) in PEOPLE.items():
        delivered = server.delivered(uid)
        counts = [sum(_finished(m, r.title) for m in delivered) for r in runs]
        finals = [
            server.file_bytes(m["document"]["file_id"]) for m in delivered if _final_document(m)
        ]
        distinct = [f for i, f in enumerate(finals) if f not in finals[:i]]
        right = distinct == [r.final for r in runs]
        repeats(uid, SELESAI, sum(counts) - len(runs))
        repeats(uid, FINAL, len(finals) - len(distinct))
        detail = "" if all(counts) else f"'Proses selesai' per process {counts}; "
        detail += "" if right else f"final documents {[f[:40] for f in finals]}"
        add(
            all(counts) and right,
            f"{name}: 'Proses selesai' and the right final document for each process"
            + (
                f" (copies: selesai {counts}, documents {len(finals)})"
                if len(finals) > len(runs) or max(counts, default=1) > 1
                else ""
            ),
            detail,
        )
    add(
        not unexplained,
        "every repeated message explained by a lost answer or a kill mid-send",
        "; ".join(unexplained),
    )

    # Duplicate transitions: audit outcomes and step instances exactly as planned.
    marks = ",".join(f"'{o}'" for o in OUTCOMES)
    for r in runs:
        got = [
            tuple(g)
            for g in _query(
                tmp,
                f"select step_no, action from audit_log where process_id = ? "
                f"and action in ({marks}) order by id",
                (r.process_id,),
            )
        ]
        expected = [(1, "selesai")] + [(v.no, v.outcome) for v in r.visits]
        extra = sum((Counter(got) - Counter(expected)).values())
        instances = Counter(
            dict(
                _query(
                    tmp,
                    "select step_no, count(*) from step_instances where process_id = ? "
                    "and step_no > 1 group by step_no",
                    (r.process_id,),
                )
            )
        )
        extra_instances = sum((instances - Counter(v.no for v in r.visits)).values())
        fig.duplicates += extra + extra_instances
        add(
            got == expected and not extra_instances,
            f"audit #{r.process_id} {r.sop.name}: outcomes of steps "
            + " ".join(f"{n}{'R' if o == 'revisi' else ''}" for n, o in expected),
            ""
            if got == expected and not extra_instances
            else f"got {got}; {extra} extra outcome(s), {extra_instances} extra step instance(s)",
        )

    fig.live_cards = len(run.card_failures)
    add(
        not run.card_failures,
        "no step with two live cards, no live card for a closed step",
        "; ".join(run.card_failures.values()),
    )
    live_end = [
        (PEOPLE[uid][0], m["message_id"])
        for uid in PEOPLE
        for m in server.delivered(uid)
        if _text(m).startswith("📋") and _tokens(m)
    ]
    add(not live_end, "at the end no task card has buttons", f"{live_end}" if live_end else "")

    oops = [
        (PEOPLE[uid][0], m["message_id"])
        for uid in PEOPLE
        for m in server.delivered(uid)
        if _text(m).startswith("Maaf, terjadi gangguan")
    ]
    add(not oops, "no 'unexpected error' answer", f"{oops}" if oops else "")
    log_text = run.bot.output()
    handler_errors = log_text.count("error while handling an update")
    add(not handler_errors, "no handler error in bot.log", f"{handler_errors} in bot.log")
    if run.sup is not None:
        add(
            not run.sup.self_exits,
            "the bot never exited by itself",
            "; ".join(run.sup.self_exits[:3]),
        )
        add(not run.sup.errors, "supervisor ran cleanly", "; ".join(run.sup.errors[:3]))
    add(
        not server.internal_errors,
        "fake Bot API had no internal errors",
        "; ".join(server.internal_errors),
    )
    add(TOKEN not in log_text, "bot token never logged")
    return results, fig


# --- main ---------------------------------------------------------------------------------------


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


async def main_async(
    seed: int, rounds: int, min_kills: int, fault_rate: float, verbose: bool, keep: bool
) -> int:
    rng = random.Random(seed)
    tmp = Path(tempfile.mkdtemp(prefix=f"fault_run_{seed}_"))
    started = time.monotonic()
    error = ""
    extra_rounds = 0
    calls_before = 0
    async with FakeBotApi(token=TOKEN, username="sop_samarinda_bot") as server:
        bot = BotProcess(server, tmp, **LEASES)  # replaced by launch()'s
        run = FaultRun(server, bot, tmp, verbose)
        sup = run.sup = Supervisor(run, random.Random(seed * 7919 + 1))

        def plan_round(r: int) -> list[ProcessRun]:
            return [
                plan_process(rng, sop, f"{sop.name} Tahun 2026 [s{seed}-r{r}]")
                for sop in (LAKIP, KINERJA)
            ]

        plans = [p for r in range(1, rounds + 1) for p in plan_round(r)]
        try:
            run.bot = bot = await launch(server, tmp, **LEASES)
            _BOTS.append(bot)
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
            await asyncio.to_thread(bot.stop)
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
        f"fault run: seed={seed} rounds={rounds}"
        + (f" (+{extra_rounds} to reach {min_kills} kills)" if extra_rounds else "")
        + f" fault-rate={fault_rate:.2f} ({elapsed:.0f} s, temp {tmp})"
    )
    status = dict(_query(tmp, "select id, status from processes")) if run.runs else {}
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
    if ok and not keep:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(
            f"bot log: {tmp / 'bot.log'}; timeline (updates, kills, calls): {tmp / 'timeline.log'}"
        )
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if not 0.0 <= args.fault_rate <= 1.0:
        parser.error("--fault-rate must be between 0 and 1")
    try:
        return asyncio.run(
            main_async(args.seed, args.rounds, args.kills, args.fault_rate, args.verbose, args.keep)
        )
    finally:
        for bot in _BOTS:
            bot.kill()


if __name__ == "__main__":
    sys.exit(main())
