"""Reminders, escalation and the morning digest, found by scanning indexed columns.

The database is the source of truth: a periodic job (APScheduler, via PTB's JobQueue) calls
`scan`; each due row is claimed with a compare-and-set update, so a restart sends a missed
reminder once (not once per missed interval) and two bot processes never both send it.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import texts
from bot.people import holders
from bot.runtime import Runtime
from bot.services import common as svc
from bot.services import views
from bot.timefmt import span, when
from storage.models import DigestRun, Person, PersonRole, Process, StepInstance

BATCH = 100


async def scan(rt: Runtime, now: datetime) -> int:
    """One pass: reminders, escalations, digests. Returns how many messages were queued."""
    queued = 0
    async with rt.sessions.begin() as session:
        queued += await _reminders(rt, session, now)
        queued += await _escalations(rt, session, now)
    try:
        async with rt.sessions.begin() as session:
            queued += await digest(rt, session, now)
    except IntegrityError:
        pass  # another bot process wrote today's digest first
    return queued


def _top_role(rt: Runtime, process: Process, role: str) -> bool:
    sop = rt.sops.get(process.sop_number)
    return sop is not None and sop.role(role).superior is None


async def _reminders(rt: Runtime, session: AsyncSession, now: datetime) -> int:
    rows = (
        await session.execute(
            select(StepInstance, Process)
            .join(Process, Process.id == StepInstance.process_id)
            .where(StepInstance.next_reminder_at <= now)
            .order_by(StepInstance.next_reminder_at)
            .limit(BATCH)
        )
    ).all()
    queued = 0
    for si, process in rows:
        old = si.next_reminder_at
        sending = rt.calendar.is_open(now)
        if not sending:
            nxt = rt.calendar.next_open(now)  # never at night or on a holiday
        elif _top_role(rt, process, si.role):
            nxt = None  # the Kadis is reminded once; the rest goes to the digest
        else:
            nxt = rt.calendar.next_open(now + rt.every(rt.settings.reminder_interval_minutes))
        claimed = await session.execute(
            update(StepInstance)
            .where(StepInstance.id == si.id, StepInstance.next_reminder_at == old)
            .values(next_reminder_at=nxt, reminders_sent=si.reminders_sent + int(sending))
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1 or not sending:
            continue
        sop = svc.sop_of(rt, process)
        people = await holders(session, si.role, now)
        await views.notify_task(
            rt, session, now, process, si, sop, people, late_by=span(now - si.deadline_at)
        )
        svc.audit(session, now, None, "pengingat", process.id, si.step_no)
        queued += len(people)
    return queued


async def _escalations(rt: Runtime, session: AsyncSession, now: datetime) -> int:
    rows = (
        await session.execute(
            select(StepInstance, Process)
            .join(Process, Process.id == StepInstance.process_id)
            .where(StepInstance.escalate_at <= now)
            .order_by(StepInstance.escalate_at)
            .limit(BATCH)
        )
    ).all()
    queued = 0
    for si, process in rows:
        if not rt.calendar.is_open(now):
            continue  # wait for office hours; the row stays due
        claimed = await session.execute(
            update(StepInstance)
            .where(StepInstance.id == si.id, StepInstance.escalate_at == si.escalate_at)
            .values(escalate_at=None)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:
            continue
        sop = svc.sop_of(rt, process)
        superior = sop.role(si.role).superior
        if superior is None or sop.role(superior).superior is None:
            continue  # the top of the chain reads late items in the morning digest
        step = sop.step(si.step_no)
        names = ", ".join(p.name for p in await holders(session, si.role, now)) or "-"
        text = texts.escalation_text(
            process.title,
            step,
            sop,
            names,
            span(now - si.deadline_at),
            si.deadline_at,
            rt.settings.timezone,
        )
        for person in await holders(session, superior, now):
            svc.send(session, now, person.telegram_id, text)
            queued += 1
        svc.audit(session, now, None, "eskalasi", process.id, si.step_no, superior)
    return queued


async def digest(rt: Runtime, session: AsyncSession, now: datetime) -> int:
    """The morning digest: once per person per working day, at DIGEST_TIME local."""
    tz = ZoneInfo(rt.settings.timezone)
    local = now.astimezone(tz)
    if local.time() < rt.settings.digest_time or not rt.calendar.is_working_day(local.date()):
        return 0
    day = local.date().isoformat()
    done = set(await session.scalars(select(DigestRun.person_id).where(DigestRun.day == day)))
    open_rows = (
        await session.execute(
            select(StepInstance, Process)
            .join(Process, Process.id == StepInstance.process_id)
            .where(StepInstance.finished_at.is_(None))
            .order_by(StepInstance.deadline_at)
        )
    ).all()
    people = (
        await session.execute(
            select(Person, PersonRole.role)
            .join(PersonRole, PersonRole.person_id == Person.id)
            .where(Person.active.is_(True), Person.started_at.is_not(None))
        )
    ).all()
    roles_of: dict[int, tuple[Person, set[str]]] = {}
    for person, role in people:
        roles_of.setdefault(person.id, (person, set()))[1].add(role)
    top_roles = {r.code for sop in rt.sops.all() for r in sop.roles if r.superior is None}
    queued = 0
    for person_id, (person, roles) in roles_of.items():
        if person_id in done:
            continue
        mine = [(si, p) for si, p in open_rows if si.role in roles]
        is_top = bool(roles & top_roles)  # the Kadis also sees every running process
        if not mine and not (is_top and open_rows):
            continue
        session.add(DigestRun(day=day, person_id=person_id, created_at=now))
        svc.send(session, now, person.telegram_id, _digest_text(rt, now, mine, open_rows, is_top))
        queued += 1
    return queued


def _digest_text(rt: Runtime, now: datetime, mine, everything, overview: bool) -> str:  # type: ignore[no-untyped-def]
    tz = rt.settings.timezone
    lines = [f"☀️ Selamat pagi. Ringkasan tugas, {when(now, tz)}"]
    late = [(si, p) for si, p in mine if si.deadline_at < now]
    ontime = [(si, p) for si, p in mine if si.deadline_at >= now]
    if mine:
        lines.append("")
        lines.append(f"Tugas Anda ({len(mine)}):")
        for si, p in late:
            lines.append(
                f"🔴 {p.title} · Langkah {si.step_no} — terlambat {span(now - si.deadline_at)}"
            )
        for si, p in ontime:
            lines.append(
                f"🟢 {p.title} · Langkah {si.step_no} — tenggat {when(si.deadline_at, tz)}"
            )
        lines.append("Ketik /tugas untuk membuka tugas dengan tombolnya.")
    if overview and everything:
        lines.append("")
        lines.append("Semua proses berjalan:")
        for si, p in everything:
            sop = rt.sops.get(p.sop_number)
            who = texts.role_name(sop, si.role)
            flag = f"🔴 terlambat {span(now - si.deadline_at)}" if si.deadline_at < now else "🟢"
            lines.append(f"• #{p.id} {p.title}: Langkah {si.step_no} di {who} {flag}")
    return "\n".join(lines)
