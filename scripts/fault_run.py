"""Scripted fault run: both SOPs as five people while the bot is SIGKILLed and the Bot API fails.

    .venv/bin/python -m scripts.fault_run --seed 7 --rounds 2

Starts the fake Bot API server (tests/fakebotapi) and the real `python -m bot run` process
on a database in a temporary folder (the e2e `launch`), then runs R rounds; each round runs
LAKIP (370) and then Pelaporan Kinerja (371) from /mulai to the archive, with one revision
at a reviewer step chosen by the seeded RNG. Everything random (revision step, which Tim
Kerja member acts, revision note as text or file, kill points, restart style, faults) is
planned from `random.Random(seed)` before each process runs, so a seed replays the same
script (timing inside the bot still varies).

* Kills happen only between user actions: after the bot's answer arrived and 0.5 s more
  (a kill in the instant between Telegram accepting a message and the outbox row being
  marked sent resends that one message: at-least-once, the documented outbox limit).
  The bot is restarted at once, or after the next user action was sent while it was down.
* Faults (`fail("*", 500|502, times=1..3)`, a 429 with retry_after=1 or a 1 s stall on
  sendMessage) are injected before actions whose answer comes through the outbox, which
  retries. Before the Tim Kerja checklist (its only acknowledgement is the direct edit of
  the pressed message, which nothing retries) the script waits until the faults are used up.

At the end: every process `selesai`, every outbox row sent, each person's task messages
delivered exactly once and in order, "Proses selesai" and the final document exactly once
per person and process, the audit log's step outcomes in the expected order per process.
Prints a report; exit status 1 on any failure (the temp folder with bot.log is then kept).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.conftest import PEOPLE, TOKEN, BotProcess, launch
from tests.e2e.test_sop_flows import collect, mulai, step
from tests.fakebotapi import FakeBotApi, FakeUser
from tests.samples import sample

WAIT = 60.0  # every wait for the bot (the outbox lease after a kill is 3 s, 5xx back off)
KILL_PAUSE = 0.5  # after the answer, before SIGKILL
KADIS, SEK, JAF, ANI, BUDI = 101, 102, 103, 104, 105
TIM = (ANI, BUDI)
HOLDERS = {"kadis": (KADIS,), "sekretaris": (SEK,), "jafung": (JAF,), "tim_kerja": TIM}
OUTCOMES = ("selesai", "diunggah", "disetujui", "revisi")

Msg = dict[str, Any]


# --- the two SOPs as the script expects them (README tables; an independent oracle) -----------


@dataclass(frozen=True)
class SopPlan:
    number: str  # the button mulai() presses
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


# --- one user action and the answer that shows the bot handled it ------------------------------


@dataclass
class Action:
    label: str
    do: Callable[[], Awaitable[None]]
    answer: Callable[[], Awaitable[object]]
    faults_ok: bool = True  # the answer comes through the outbox, so faults only delay it
    offline_ok: bool = True  # one update: may be sent while the bot is down


@dataclass
class Fault:
    kind: str  # fail / rate_limit / stall
    status: int = 0
    times: int = 1

    def __str__(self) -> str:
        if self.kind == "fail":
            return f'fail("*", status={self.status}, times={self.times})'
        if self.kind == "rate_limit":
            return 'rate_limit("sendMessage", retry_after=1)'
        return 'stall("sendMessage", seconds=1)'


@dataclass
class Schedule:
    faults: dict[int, Fault] = field(default_factory=dict)  # before action i
    kills: dict[int, str] = field(default_factory=dict)  # after action i: "now" | "offline"


def plan_schedule(rng: random.Random, actions: list[Action]) -> Schedule:
    n = len(actions)
    sched = Schedule()
    for i in rng.sample(range(n), k=min(n, rng.randint(1, 3))):
        sched.kills[i] = rng.choice(("now", "offline"))
    tolerant = [i for i, a in enumerate(actions) if a.faults_ok]
    for i in rng.sample(tolerant, k=min(len(tolerant), rng.randint(2, 5))):
        kind = rng.choice(("fail", "fail", "rate_limit", "stall"))
        if kind == "fail":
            sched.faults[i] = Fault(kind, rng.choice((500, 502)), rng.randint(1, 3))
        else:
            sched.faults[i] = Fault(kind)
    return sched


class BotDied(RuntimeError):
    pass


def _text(m: Msg) -> str:
    return m.get("text") or m.get("caption") or ""


class FaultRun:
    def __init__(
        self,
        server: FakeBotApi,
        bot: BotProcess,
        tmp: Path,
        verbose: bool,
        faults_during_startup: bool = False,
    ) -> None:
        self.server, self.bot, self.tmp, self.verbose = server, bot, tmp, verbose
        self.t0 = time.monotonic()
        self.kills = 0
        self.offline_actions = 0
        self.faults: Counter[str] = Counter()
        self.unconsumed_faults = 0
        self.actions_done = 0
        self.runs: list[ProcessRun] = []
        self.pending_start = False  # killed; restart after the next action was sent
        self.faults_during_startup = faults_during_startup
        self.restarts = 0
        self.held_faults = 0  # restarts during which pending faults were held back

    def log(self, text: str) -> None:
        if self.verbose:
            print(f"[{time.monotonic() - self.t0:7.2f}s] {text}", flush=True)

    def user(self, uid: int) -> FakeUser:
        return self.server.user(uid)

    # --- finding messages --------------------------------------------------------------------

    def _tasks(self, uid: int, title: str, no: int) -> list[Msg]:
        head, line = f"📋 {title}\n", f"\nLangkah {no}:"
        return [
            m
            for m in self.user(uid).messages
            if (m.get("text") or "").startswith(head) and line in m["text"]
        ]

    async def ready(self, uid: int, title: str, no: int, occurrence: int) -> Msg:
        """The task message of this activation (the newest one once it has arrived)."""

        def arrived(m: Msg) -> bool:
            return m in self._tasks(uid, title, no)[occurrence:][-1:]

        return await self.user(uid).wait_for(arrived, timeout=WAIT)

    @staticmethod
    def _consume_all_but(user: FakeUser, keep: Msg | None) -> None:
        """Make the e2e helpers' `wait_for_text` (oldest state not yet returned) see only
        `keep`: older task messages of other processes carry the same 'Langkah N:'."""
        for m in user.messages:
            state = (m["message_id"], user._versions.get(m["message_id"], 0))
            if keep is not None and m["message_id"] == keep["message_id"]:
                user._returned_states.discard(state)
            else:
                user._returned_states.add(state)

    async def take(self, uid: int, title: str, no: int, occurrence: int) -> Msg:
        target = await self.ready(uid, title, no, occurrence)
        user = self.user(uid)
        self._consume_all_but(user, target)
        msg = await step(user, no)  # the e2e helper, now unambiguous
        if msg["message_id"] != target["message_id"]:
            raise RuntimeError(f"step() returned message {msg['message_id']}, not the task")
        return msg

    async def finished(self, title: str) -> None:
        head = f"🎉 Proses selesai: {title}\n"
        for uid in PEOPLE:
            await self.user(uid).wait_for(lambda m: _text(m).startswith(head), timeout=WAIT)

    # --- building the actions of one process -------------------------------------------------

    def actions(self, run: ProcessRun) -> list[Action]:
        title, visits = run.title, run.visits
        kadis = self.user(KADIS)

        def answer_for(i: int) -> Callable[[], Awaitable[object]]:
            if i + 1 < len(visits):
                nxt = visits[i + 1]
                return lambda: self.ready(nxt.actor, title, nxt.no, nxt.occurrence)
            return lambda: self.finished(title)

        async def start() -> None:
            self._consume_all_but(kadis, None)
            await mulai(kadis, run.sop.number, title)
            db = sqlite3.connect(self.tmp / "bot.db", timeout=30)
            try:
                row = db.execute("select id from processes where title = ?", (title,)).fetchone()
            finally:
                db.close()
            run.process_id = row[0] if row else None

        out = [Action(f"/mulai {run.sop.name}", start, answer_for(-1), offline_ok=False)]
        for i, v in enumerate(visits):
            out += self._visit_actions(run, i, v, answer_for(i))
        return out

    def _visit_actions(
        self, run: ProcessRun, i: int, v: Visit, answer: Callable[[], Awaitable[object]]
    ) -> list[Action]:
        title, user = run.title, self.user(v.actor)
        who = PEOPLE[v.actor][0]
        label = f"{who}: Langkah {v.no}" + (" (lagi)" if v.occurrence else "")

        async def press(button: str) -> None:
            await user.press(await self.take(v.actor, title, v.no, v.occurrence), button)

        if v.kind in ("disposisi", "tugas") or (v.outcome == "disetujui"):
            button = "Selesai" if v.outcome == "selesai" else "Setuju"
            return [Action(f"{label} {button}", lambda: press(button), answer)]

        if v.kind == "kumpul":

            async def checklist() -> None:
                target = await self.ready(v.actor, title, v.no, v.occurrence)
                self._consume_all_but(user, target)
                await collect(user)  # ticks every bidang (direct edits), then Selesai

            return [Action(f"{label} checklist", checklist, answer, False, False)]

        if v.kind == "unggah":
            ext = {5: "docx", 8: "pdf"}.get(v.no, "pdf")
            tag = f"{title} langkah {v.no} versi {v.occurrence + 1}"
            data = sample(f"x.{ext}", tag)
            if v.no in run.sop.drafts:
                run.final = data  # visits are in order: the last draft wins
            photo = run.sop is LAKIP and v.no == 10 and run.receipt_photo

            async def upload() -> None:
                await self.take(v.actor, title, v.no, v.occurrence)
                if photo:
                    await user.send_photo(sample("x.jpg", tag))
                else:
                    await user.send_document(data, f"langkah{v.no}_v{v.occurrence + 1}.{ext}")

            return [Action(f"{label} unggah", upload, answer)]

        # A revision: press Revisi, wait for the prompt, then send the note.
        prompt_head = f"✏️ Revisi Langkah {v.no} ({title})"
        note = f"Catatan revisi {title}: lengkapi analisis capaian (langkah {v.no})."

        async def revise_press() -> None:
            await press("Revisi")

        async def prompt() -> Msg:
            return await user.wait_for(lambda m: _text(m).startswith(prompt_head), timeout=WAIT)

        async def revise_note() -> None:
            if run.note_as_file:
                await user.send_document(
                    sample("koreksi.pdf", f"koreksi {title}"), "koreksi.pdf", caption=note
                )
            else:
                await user.send(note)

        return [
            Action(f"{label} Revisi", revise_press, prompt),
            Action(
                f"{label} catatan revisi ({'file' if run.note_as_file else 'teks'})",
                revise_note,
                answer,
            ),
        ]

    # --- the bot process ----------------------------------------------------------------------

    def _check_alive(self) -> None:
        proc = self.bot.proc
        if proc is not None and proc.poll() is not None:
            last = [ln for ln in self.bot.output().splitlines() if ln.strip()][-1:]
            raise BotDied(
                f"the bot process exited by itself with status {proc.returncode} "
                f"(last log line: {last[0] if last else '-'})"
            )

    async def _until(self, waiting: Awaitable[object]) -> object:
        """Wait for the bot's answer, but stop at once if the bot process died."""
        task = asyncio.ensure_future(waiting)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=0.5)
                if done:
                    return task.result()
                if not self.pending_start:
                    self._check_alive()
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    async def kill_bot(self) -> None:
        await asyncio.to_thread(self.bot.kill)
        self.kills += 1

    async def start_bot(self) -> None:
        """Restart on the same database and wait for its first long poll. Faults still
        pending are held back until then unless --faults-during-startup: PTB's bootstrap
        (getMe) is not retried, so a 5xx there ends the bot process (see the report)."""
        held = [] if self.faults_during_startup else list(self.server._faults)
        if held:
            self.server.clear_faults()
            self.held_faults += 1
        self.bot.start()
        self.pending_start = False
        self.restarts += 1
        try:
            await self._until(self.server.wait_until_polling(timeout=WAIT))
        finally:
            self.server._faults.extend(held)

    def inject(self, fault: Fault) -> None:
        if fault.kind == "fail":
            self.server.fail("*", status=fault.status, times=fault.times)
            self.faults[f"fail {fault.status}"] += 1
        elif fault.kind == "rate_limit":
            self.server.rate_limit("sendMessage", retry_after=1, times=1)
            self.faults["rate_limit 429"] += 1
        else:
            self.server.stall("sendMessage", seconds=1, times=1)
            self.faults["stall 1s"] += 1

    async def drain_faults(self) -> None:
        """Wait until injected faults were used up by the calls they were meant for."""
        deadline = time.monotonic() + WAIT
        while self.server._faults and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        if self.server._faults:
            self.unconsumed_faults += sum(f.remaining for f in self.server._faults)
            self.server.clear_faults()

    async def run_process(self, run: ProcessRun, rng: random.Random) -> None:
        actions = self.actions(run)
        sched = plan_schedule(rng, actions)
        self.log(
            f"== {run.title}: revision at Langkah {run.revision_at}, {len(actions)} actions, "
            f"kills after {sorted(sched.kills)}, faults before {sorted(sched.faults)}"
        )
        for i, action in enumerate(actions):
            if not action.faults_ok:
                await self.drain_faults()
            if i in sched.faults:
                self.log(f"   fault {sched.faults[i]}")
                self.inject(sched.faults[i])
            self.log(f"   {action.label}" + ("  (bot down)" if self.pending_start else ""))
            if self.pending_start:
                self.offline_actions += 1
            await self._until(action.do())
            if self.pending_start:
                await asyncio.sleep(0.3)
                await self.start_bot()
                self.log("   restarted")
            await self._until(action.answer())
            self.actions_done += 1
            if i in sched.kills:
                await asyncio.sleep(KILL_PAUSE)
                await self.kill_bot()
                nxt = actions[i + 1] if i + 1 < len(actions) else None
                offline = sched.kills[i] == "offline" and nxt is not None and nxt.offline_ok
                self.log(
                    f"   SIGKILL ({'restart after the next action' if offline else 'restart'})"
                )
                if offline:
                    self.pending_start = True
                else:
                    await self.start_bot()

    async def settle(self) -> int:
        """Wait until the outbox is empty; returns how many rows are still not sent."""
        deadline = time.monotonic() + WAIT
        while True:
            left = _query(self.tmp, "select count(*) from outbox where status = 'pending'")[0][0]
            if not left or time.monotonic() > deadline:
                return left
            await asyncio.sleep(0.3)


def _query(tmp: Path, sql: str, args: tuple = ()) -> list[tuple]:
    db = sqlite3.connect(tmp / "bot.db", timeout=30)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


# --- checks ------------------------------------------------------------------------------------


def _delivered_tasks(server: FakeBotApi, uid: int) -> list[tuple[str, int]]:
    """(title, step) of each task message delivered (as `_task_messages` in the e2e tests:
    each message once, whatever edits followed)."""
    out = []
    for msg in server.delivered(uid):
        text = msg.get("text") or ""
        if text.startswith("📋"):
            lines = text.split("\n")
            step_line = next((ln for ln in lines if ln.startswith("Langkah ")), "Langkah ?:")
            no = step_line.split(":")[0].removeprefix("Langkah ")
            out.append((lines[0].removeprefix("📋 "), int(no) if no.isdigit() else -1))
    return out


def check(run: FaultRun, runs: list[ProcessRun]) -> list[tuple[bool, str, str]]:
    server, tmp = run.server, run.tmp
    results: list[tuple[bool, str, str]] = []

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

    statuses = dict(_query(tmp, "select status, count(*) from outbox group by status"))
    failed = _query(
        tmp, "select id, chat_id, method, last_error from outbox where status != 'sent'"
    )
    add(
        not failed,
        f"outbox all sent ({statuses.get('sent', 0)} rows sent, "
        f"{sum(v for k, v in statuses.items() if k != 'sent')} not)",
        f"{failed[:5]}" if failed else "",
    )

    for uid, (name, _) in PEOPLE.items():
        expected = [(r.title, v.no) for r in runs for v in r.visits if uid in HOLDERS[v.role]]
        got = _delivered_tasks(server, uid)
        detail = ""
        if got != expected:
            dupes = [k for k, c in Counter(got).items() if c > Counter(expected)[k]]
            missing = [k for k, c in Counter(expected).items() if c > Counter(got)[k]]
            detail = f"duplicated {dupes}, missing {missing}; got {[n for _, n in got]}"
            detail += f", expected {[n for _, n in expected]}"
        add(got == expected, f"{name}: {len(expected)} task messages, each once, in order", detail)

    for uid, (name, _) in PEOPLE.items():
        delivered = server.delivered(uid)
        counts = {
            r.title: sum(_text(m).startswith(f"🎉 Proses selesai: {r.title}\n") for m in delivered)
            for r in runs
        }
        finals = [
            server.file_bytes(m["document"]["file_id"])
            for m in delivered
            if "document" in m and (m.get("caption") or "").startswith("📄 Dokumen final")
        ]
        once = set(counts.values()) <= {1} and all(counts.values())
        right_finals = finals == [r.final for r in runs]
        detail = "" if once else f"'Proses selesai' per process {list(counts.values())}; "
        detail += "" if right_finals else f"final documents {finals}"
        add(
            once and right_finals,
            f"{name}: 'Proses selesai' and the final document once per process",
            detail,
        )

    marks = ",".join(f"'{o}'" for o in OUTCOMES)
    for r in runs:
        got = _query(
            tmp,
            f"select step_no, action from audit_log where process_id = ? and action in ({marks}) "
            "order by id",
            (r.process_id,),
        )
        expected = [(1, "selesai")] + [(v.no, v.outcome) for v in r.visits]
        add(
            [tuple(g) for g in got] == expected,
            f"audit #{r.process_id} {r.sop.name}: outcomes of steps "
            + " ".join(f"{n}{'R' if o == 'revisi' else ''}" for n, o in expected),
            "" if [tuple(g) for g in got] == expected else f"got {got}",
        )

    add(
        not server.internal_errors,
        "fake Bot API had no internal errors",
        "; ".join(server.internal_errors),
    )
    add(TOKEN not in run.bot.output(), "bot token never logged")
    return results


# --- main ---------------------------------------------------------------------------------------


def _generous_waits() -> None:
    """The e2e helpers wait 10–20 s; after a SIGKILL the lease and backoff need more."""
    wait_for_text, wait_for = FakeUser.wait_for_text, FakeUser.wait_for

    async def text(self: FakeUser, substring: str, timeout: float = WAIT) -> Msg:
        return await wait_for_text(self, substring, max(timeout, WAIT))

    async def predicate(self: FakeUser, pred: Callable[[Msg], bool], timeout: float = WAIT) -> Msg:
        return await wait_for(self, pred, max(timeout, WAIT))

    FakeUser.wait_for_text = text  # type: ignore[method-assign]
    FakeUser.wait_for = predicate  # type: ignore[method-assign]


async def main_async(
    seed: int, rounds: int, verbose: bool, keep: bool, faults_during_startup: bool
) -> int:
    _generous_waits()
    rng = random.Random(seed)
    tmp = Path(tempfile.mkdtemp(prefix=f"fault_run_{seed}_"))
    started = time.monotonic()
    error = ""
    results: list[tuple[bool, str, str]] = []
    async with FakeBotApi(token=TOKEN, username="sop_samarinda_bot") as server:
        bot = BotProcess(server, tmp)  # replaced by launch()'s, which registers the five
        run = FaultRun(server, bot, tmp, verbose, faults_during_startup)
        try:
            run.bot = bot = await launch(server, tmp)
            for r in range(1, rounds + 1):
                for sop in (LAKIP, KINERJA):
                    title = f"{sop.name} Tahun 2026 [s{seed}-r{r}]"
                    process = plan_process(rng, sop, title)
                    run.runs.append(process)
                    await run.run_process(process, rng)
            if run.pending_start:
                await run.start_bot()
            left = await run.settle()
            if left:
                error = f"{left} outbox rows still pending after {WAIT:.0f} s"
            await asyncio.sleep(1)  # let close_task edits and answers land
        except Exception as exc:  # a wait that timed out, the bot died, ...
            error = f"{type(exc).__name__}: {exc}"
        finally:
            await asyncio.to_thread(bot.stop)
        results = check(run, run.runs)

    ok = not error and all(r[0] for r in results)
    elapsed = time.monotonic() - started
    delivered = {uid: len(server.delivered(uid)) for uid in PEOPLE}
    tasks = sum(len(_delivered_tasks(server, uid)) for uid in PEOPLE)
    print(f"fault run: seed={seed} rounds={rounds} ({elapsed:.0f} s, temp {tmp})")
    status = dict(_query(tmp, "select id, status from processes")) if run.runs else {}
    for p in run.runs:
        print(
            f"  process #{p.process_id} {p.title}: revision at Langkah {p.revision_at} "
            f"(note as {'file' if p.note_as_file else 'text'}), "
            f"status {status.get(p.process_id, 'not started')}"
        )
    print(f"  user actions: {run.actions_done} ({run.offline_actions} sent while the bot was down)")
    held = (
        "faults were let through during restarts"
        if faults_during_startup
        else f"pending faults held back during {run.held_faults} of them"
    )
    print(f"  SIGKILLs: {run.kills}, restarts: {run.restarts} ({held})")
    faults = ", ".join(f"{k} ×{v}" for k, v in sorted(run.faults.items())) or "none"
    print(f"  faults injected: {sum(run.faults.values())} ({faults})", end="")
    print(f"; unused and cleared: {run.unconsumed_faults}" if run.unconsumed_faults else "")
    print(
        f"  messages delivered: {sum(delivered.values())} "
        f"({', '.join(f'{PEOPLE[u][0]} {n}' for u, n in delivered.items())}); "
        f"task messages {tasks}; Bot API calls {len(server.calls)}"
    )
    if error:
        print(f"  RUN ABORTED: {error}")
    passed = sum(1 for r in results if r[0])
    print(f"  checks: {passed} passed, {len(results) - passed} failed")
    for good, name, detail in results:
        print(f"    {'PASS' if good else 'FAIL'} {name}" + (f" — {detail}" if detail else ""))
    print(f"RESULT: {'PASS' if ok else 'FAIL'}")
    if ok and not keep:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"bot log: {tmp / 'bot.log'}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1, help="each round runs both SOPs")
    parser.add_argument("--verbose", "-v", action="store_true", help="print the timeline")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    parser.add_argument(
        "--faults-during-startup",
        action="store_true",
        help="do not hold pending faults back while the bot restarts (shows the getMe crash)",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return asyncio.run(
        main_async(args.seed, args.rounds, args.verbose, args.keep, args.faults_during_startup)
    )


if __name__ == "__main__":
    sys.exit(main())
