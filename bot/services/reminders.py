"""Reminders, escalation and the daily digest, found by scanning indexed columns.

The database is the source of truth: a periodic job (APScheduler, via PTB's JobQueue) calls
`scan`; each due row is claimed with a compare-and-set update, so a restart sends a missed
reminder once (not once per missed interval) and two bot processes never both send it.

Quiet by design: a reminder is one short line replying to the live card, and later ones the
same day edit that line (the outbox's `remind`); an escalation tells the superior who is late
and what is missing, with buttons to nudge now or see the status; the digest goes out once
per working day inside its window, never because a task arrived.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import texts
from bot.people import holders, recipients
from bot.runtime import Runtime
from bot.services import common as svc
from bot.services import views
from bot.sop.model import Kind
from bot.timefmt import span
from bot.workflow.engine import RUNNING, ProcessState
from storage.models import DigestRun, Outbox, Person, PersonRole, Process, StepInstance

BATCH = 100


async def scan(rt: Runtime, now: datetime) -> int:
    """One pass: reminders, escalations, digests. Returns how many messages were queued."""
    queued = 0
    async with rt.sessions.begin() as session:
        queued += await _reminders(rt, session, now)
        queued += await _escalations(rt, session, now)
    more = True
    while more:  # a hundred people per transaction: nobody's reply waits for all of them
        try:
            async with rt.sessions.begin() as session:
                count, more = await digest(rt, session, now)
            queued += count
        except IntegrityError:
            break  # another bot process is writing today's digest
    return queued


def _top_role(rt: Runtime, process: Process, role: str) -> bool:
    sop = rt.sops.get(process.sop_number)
    return sop is not None and sop.role(role).superior is None


def late_by(rt: Runtime, si: StepInstance, now: datetime) -> str:
    """Lateness in working time (nights, weekends and holidays do not count)."""
    minutes = rt.calendar.working_minutes_between(si.deadline_at, now) * rt.settings.time_scale
    return span(timedelta(minutes=minutes))


def _missing(process: Process, rt: Runtime, si: StepInstance) -> list[str]:
    sop = rt.sops.get(process.sop_number)
    if sop is None or sop.phase(si.step_no, si.role).kind is not Kind.KUMPUL:
        return []
    return ProcessState.from_json(process.state).missing_bidang


async def remind(
    rt: Runtime,
    session: AsyncSession,
    now: datetime,
    process: Process,
    si: StepInstance,
    people: list[Person],
    live: set[int] | None = None,
) -> None:
    """Queue the short reminder line for each person (see `handlers/sends.remind`). The card
    to send again instead is built only for someone without a live card of this step (the
    usual reminder replies to the card they have: one indexed read, not the whole card).
    `live`: those chats, when the caller read them for several steps at once."""
    sop = svc.sop_of(rt, process)
    step = sop.phase(si.step_no, si.role)
    line = texts.reminder_line(step, late_by(rt, si, now), _missing(process, rt, si))
    tz = ZoneInfo(rt.settings.timezone)
    day_start = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    payload: dict = {"text": line, "since": day_start.astimezone(now.tzinfo).isoformat()}
    with_card: dict | None = None
    if live is None:
        live = (await _live_cards(session, [si.id])).get(si.id, set())
    for person in people:
        if person.telegram_id in live:
            row = svc.enqueue(session, now, person.telegram_id, "remind", payload, si.id)
        else:
            if with_card is None:
                with_card = {**payload, "card": await _card(rt, session, now, process, si, sop)}
            row = svc.enqueue(session, now, person.telegram_id, "remind", with_card, si.id)
        row.tag = "reminder"


async def _live_cards(session: AsyncSession, step_ids: list[int]) -> dict[int, set[int]]:
    """Per step, the chats with a card of it that is out (or queued before the reminder, so
    out by the time it is sent) and not closed: what the outbox's `remind` replies to."""
    live: dict[int, set[int]] = {}
    rows = await session.execute(
        select(Outbox.step_instance_id, Outbox.chat_id).where(
            Outbox.step_instance_id.in_(step_ids),
            Outbox.tag == "card",
            Outbox.closed_at.is_(None),
            Outbox.status.in_(("sent", "pending")),
        )
    )
    for step_id, chat in rows:
        live.setdefault(step_id, set()).add(chat)
    return live


async def _card(rt: Runtime, session: AsyncSession, now: datetime, process, si, sop) -> dict:  # type: ignore[no-untyped-def]
    view, _ = await views.task_view(rt, session, process, si, sop)
    view.late_by = late_by(rt, si, now)
    return {
        "text": texts.task_text(view),
        "buttons": views.buttons_for(
            await views.step_tokens(session, si.id), view.checklist, view.bidang
        ),
    }


async def _due(session: AsyncSession, column, now: datetime):  # type: ignore[no-untyped-def]
    """Steps whose `column` (an indexed due time, NULL once done) has come, oldest first."""
    return (
        await session.execute(
            select(StepInstance, Process)
            .join(Process, Process.id == StepInstance.process_id)
            .where(column <= now)
            .order_by(column)
            .limit(BATCH)
        )
    ).all()


def next_reminder(
    rt: Runtime, process: Process, si: StepInstance, now: datetime
) -> datetime | None:
    """The cadence, in one place: when a late step is reminded next (None: never again)."""
    if not rt.calendar.is_open(now):
        return rt.calendar.next_open(now)  # never at night or on a holiday: then, not now
    if _top_role(rt, process, si.role):
        return None  # the Kadis is reminded once; the rest goes to the digest
    every = rt.settings.reminder_interval_minutes
    if process.sifat == "sangat_segera":
        every /= 2  # «Sangat Segera» doubles the cadence (issue 9)
    return rt.calendar.next_open(now + rt.every(every))


async def _reminders(rt: Runtime, session: AsyncSession, now: datetime) -> int:
    rows = await _due(session, StepInstance.next_reminder_at, now)
    sending = rt.calendar.is_open(now)
    claimed = []
    for si, process in rows:
        old = si.next_reminder_at
        nxt = next_reminder(rt, process, si, now)
        result = await session.execute(
            update(StepInstance)
            .where(StepInstance.id == si.id, StepInstance.next_reminder_at == old)
            .values(next_reminder_at=nxt, reminders_sent=si.reminders_sent + int(sending))
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1 and sending:
            claimed.append((si, process))
    if not claimed:
        return 0
    # Then the messages, with no query between them but the holders (read once per role
    # and transaction): the outbox and audit rows go to the database in one flush.
    live = await _live_cards(session, [si.id for si, _ in claimed])
    queued = 0
    for si, process in claimed:
        people = await recipients(session, si, now)
        await remind(rt, session, now, process, si, people, live.get(si.id, set()))
        svc.audit(session, now, None, "pengingat", process.id, si.step_no)
        queued += len(people)
    return queued


async def _escalations(rt: Runtime, session: AsyncSession, now: datetime) -> int:
    rows = await _due(session, StepInstance.escalate_at, now)
    if not rows or not rt.calendar.is_open(now):
        return 0  # wait for office hours; the rows stay due
    # Claimed all at once: a row another process took meanwhile is no longer due (NULL).
    taken = set(
        await session.scalars(
            update(StepInstance)
            .where(
                StepInstance.id.in_([si.id for si, _ in rows]),
                StepInstance.escalate_at.is_not(None),
                StepInstance.escalate_at <= now,
            )
            .values(escalate_at=None)
            .returning(StepInstance.id)
            .execution_options(synchronize_session=False)
        )
    )
    queued = 0
    for si, process in rows:
        if si.id not in taken:
            continue
        sop = svc.sop_of(rt, process)
        superior = sop.role(si.role).superior
        if superior is None or sop.role(superior).superior is None:
            continue  # the top of the chain reads late items in the daily digest
        step = sop.phase(si.step_no, si.role)
        names = ", ".join(p.name for p in await recipients(session, si, now)) or "-"
        text = texts.escalation_text(
            process.title,
            process.id,
            step,
            sop,
            names,
            late_by(rt, si, now),
            _missing(process, rt, si),
        )
        for person in await holders(session, superior, now):
            nudge = await svc.add_token(
                session, now, "ingatkan", arg=str(si.id), person_id=person.id
            )
            status = await svc.add_token(
                session, now, "status", arg=str(process.id), person_id=person.id
            )
            move = await svc.add_token(session, now, "alihkan", arg=str(si.id), person_id=person.id)
            buttons = [[("🔔 Ingatkan", nudge), ("📋 Status", status)], [("👤 Alihkan", move)]]
            svc.send(session, now, person.telegram_id, text, buttons, si.id, tag="escalation")
            queued += 1
        svc.audit(session, now, None, "eskalasi", process.id, si.step_no, superior)
    return queued


async def digest(rt: Runtime, session: AsyncSession, now: datetime) -> tuple[int, bool]:
    """Once per working day and person, inside the window after DIGEST_TIME (someone who
    presses Start later in the window gets theirs then). Writes up to `CHUNK` people's;
    returns how many messages it queued and whether people are left.

    Reads a few rows per role (the first `SHOWN` open steps by deadline, and counts over an
    index), never every open step: the tick that writes it costs O(people), not O(steps)."""
    tz = ZoneInfo(rt.settings.timezone)
    local = now.astimezone(tz)
    opens = local.replace(
        hour=rt.settings.digest_time.hour,
        minute=rt.settings.digest_time.minute,
        second=0,
        microsecond=0,
    )
    closes = opens + timedelta(minutes=rt.settings.digest_window_minutes)
    if not opens <= local < closes or not rt.calendar.is_working_day(local.date()):
        return 0, False
    day = local.date().isoformat()
    written = select(DigestRun.person_id).where(DigestRun.day == day)
    people = (
        await session.execute(
            select(Person, PersonRole.role)
            .join(PersonRole, PersonRole.person_id == Person.id)
            .where(
                Person.active.is_(True),
                Person.started_at.is_not(None),
                Person.id.not_in(written),  # today's written already (by us or another)
            )
            .order_by(Person.id)
        )
    ).all()
    roles_of: dict[int, tuple[Person, set[str]]] = {}
    for person, role in people:
        roles_of.setdefault(person.id, (person, set()))[1].add(role)
    more = len(roles_of) > CHUNK
    roles_of = dict(list(roles_of.items())[:CHUNK])
    if not roles_of:
        return 0, False
    top_roles = {r.code for sop in rt.sops.all() for r in sop.roles if r.superior is None}
    waiting = {
        role: await _open_of_role(session, role)
        for role in {r for _, roles in roles_of.values() for r in roles}
    }
    overview = await _overview(session, now)
    shown = {si.role for rows, _ in waiting.values() for si, _ in rows}
    shown |= {si.role for rows in overview[:2] for si, _ in rows}
    names = await _holder_names(session, now, shown)
    queued = 0
    for person_id, (person, roles) in roles_of.items():
        # Everyone is marked, so a task that arrives later today triggers nothing.
        session.add(DigestRun(day=day, person_id=person_id, created_at=now))
        mine = sorted(
            (row for r in roles for row in waiting[r][0]), key=lambda row: row[0].deadline_at
        )[:SHOWN]
        count = sum(waiting[r][1] for r in roles)
        is_top = bool(roles & top_roles)  # the Kadis also sees who is late everywhere
        if not count and not (is_top and overview[2]):
            continue
        text = _digest_text(
            rt, now, person, roles, (mine, count), overview if is_top else None, names
        )
        buttons = None
        if count:
            token = await svc.add_token(session, now, "tugas", person_id=person_id)
            buttons = [[("📋 Buka tugas saya", token)]]
        svc.send(session, now, person.telegram_id, text, buttons, tag="digest")
        queued += 1
    return queued, more


SHOWN = 8  # lines per list in the digest
CHUNK = 100  # people per transaction
_OPEN = StepInstance.finished_at.is_(None)


def _steps_with_process():  # type: ignore[no-untyped-def]
    return select(StepInstance, Process).join(Process, Process.id == StepInstance.process_id)


async def _open_of_role(session: AsyncSession, role: str):  # type: ignore[no-untyped-def]
    """The first open steps of a role by deadline, and how many it has open."""
    first = (
        await session.execute(
            _steps_with_process()
            .where(_OPEN, StepInstance.role == role)
            .order_by(StepInstance.deadline_at)
            .limit(SHOWN)
        )
    ).all()
    count = await session.scalar(
        select(func.count()).select_from(StepInstance).where(_OPEN, StepInstance.role == role)
    )
    return first, count or 0


async def _overview(session: AsyncSession, now: datetime):  # type: ignore[no-untyped-def]
    """For the top of the chain: the first late steps and how many, the first running
    processes and how many (counts over indexes; lists of a few rows)."""
    late_q = _steps_with_process().where(_OPEN, StepInstance.deadline_at < now)
    late = (await session.execute(late_q.order_by(StepInstance.deadline_at).limit(SHOWN))).all()
    late_count = await session.scalar(
        select(func.count()).select_from(StepInstance).where(_OPEN, StepInstance.deadline_at < now)
    )
    first = (
        await session.execute(
            _steps_with_process().where(_OPEN).order_by(StepInstance.deadline_at).limit(4 * 5)
        )
    ).all()
    running: dict[int, tuple] = {}
    for si, p in first:
        running.setdefault(p.id, (si, p))
    running_count = await session.scalar(
        select(func.count()).select_from(Process).where(Process.status == RUNNING)
    )
    return late, list(running.values())[:5], running_count or 0, late_count or 0


async def _holder_names(session: AsyncSession, now: datetime, roles: set[str]) -> dict[str, str]:
    return {
        role: ", ".join(p.name for p in await holders(session, role, now)) or "-" for role in roles
    }


def _digest_text(rt, now, person, roles, mine, overview, names) -> str:  # type: ignore[no-untyped-def]
    """One screen: what waits for this person, who is late (the Kadis), how much runs."""
    tz = rt.settings.timezone
    lines = [texts.digest_greeting(now, tz, texts.salutation(person, roles))]
    rows, count = mine
    if count:
        lines += ["", f"Menunggu Bapak/Ibu ({count}):"]
        for si, p in rows:
            sop = rt.sops.get(p.sop_number)
            label = sop.phase(si.step_no, si.role).short if sop else f"Langkah {si.step_no}"
            when_ = (
                f"⏰ terlambat {late_by(rt, si, now)}"
                if si.deadline_at < now
                else f"tenggat {texts.short_when(si.deadline_at, tz)}"
            )
            lines.append(f"• #{p.id} {texts.fit(p.title, 40)} · L{si.step_no} {label} — {when_}")
    if overview is None:
        return "\n".join(lines)
    late, running, running_count, late_count = overview
    if late:
        lines += ["", f"Terlambat ({late_count}):"]
        for si, p in late:
            who = names.get(si.role, "-")
            lines.append(
                f"• #{p.id} {texts.fit(p.title, 40)} · Langkah {si.step_no} di {who} — "
                f"{late_by(rt, si, now)}"
            )
    if running_count:
        lines += ["", f"Berjalan: {running_count} proses · {late_count} langkah terlambat"]
        for si, p in running:
            lines.append(
                f"• #{p.id} {texts.fit(p.title, 40)} · Langkah {si.step_no} di "
                f"{names.get(si.role, '-')}"
            )
    return "\n".join(lines)
