"""Reminders and escalation, found by scanning indexed columns (the digest: `digest`).

The database is the source of truth: a periodic job (APScheduler, via PTB's JobQueue) calls
`scan`; each due row is claimed with a compare-and-set update, so a restart sends a missed
reminder once (not once per missed interval) and two bot processes never both send it.

Quiet by design: a reminder is one short line replying to the live card, and later ones the
same day edit that line (the outbox's `remind`); an escalation tells the superior who is late
and what is missing, with buttons to nudge now or see the status; the digest goes out once
per working day inside its window, never because a task arrived.
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, case, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import texts
from bot.people import holders, recipients
from bot.runtime import Runtime
from bot.services import common as svc
from bot.services import outgoing, views
from bot.services.digest import digest, late_by, window_open
from bot.sop.model import Kind
from bot.workflow.engine import ProcessState
from storage.models import Outbox, Person, Process, StepInstance

log = logging.getLogger(__name__)

BATCH = 100
# Every tick asks both, usually to find nothing: built once, with the time bound.
_DUE = {
    column.key: select(StepInstance, Process)
    .join(Process, Process.id == StepInstance.process_id)
    .where(column <= bindparam("now", type_=column.type))
    .order_by(column)
    .limit(BATCH)
    for column in (StepInstance.next_reminder_at, StepInstance.escalate_at)
}


async def scan(rt: Runtime, now: datetime) -> int:
    """One pass: reminders, escalations, digests. Returns how many messages were queued."""
    queued = 0
    async with rt.sessions.begin() as session:
        queued += await _reminders(rt, session, now)
        queued += await _escalations(rt, session, now)
    more = window_open(rt, now)  # outside it, no transaction at all
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
    asked: bool = False,
) -> None:
    """Queue the short reminder line for each person (see `handlers/sends.remind`). The card
    to send again instead is built only for someone without a live card of this step (the
    usual reminder replies to the card they have: one indexed read, not the whole card).
    `live`: those chats, when the caller read them for several steps at once. `asked`: a
    superior's 🔔 Ingatkan, always a new message (an edit of today's line makes no sound)."""
    sop = svc.sop_of(rt, process)
    step = sop.phase(si.step_no, si.role)
    line = texts.reminder_line(step, late_by(rt, si, now), _missing(process, rt, si))
    tz = ZoneInfo(rt.settings.timezone)
    day_start = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    payload: dict = {"text": line, "since": day_start.astimezone(now.tzinfo).isoformat()}
    if asked:
        payload["asked"] = True
    with_card: dict | None = None
    if live is None:
        live = (await _live_cards(session, [si.id])).get(si.id, set())
    for person in people:
        if person.telegram_id in live:
            row = outgoing.enqueue(session, now, person.telegram_id, "remind", payload, si.id)
        else:
            if with_card is None:
                with_card = {**payload, "card": await _card(rt, session, now, process, si, sop)}
            row = outgoing.enqueue(session, now, person.telegram_id, "remind", with_card, si.id)
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


async def _due(rt: Runtime, session: AsyncSession, column, now: datetime):  # type: ignore[no-untyped-def]
    """Steps whose `column` (an indexed due time, NULL once done) has come, oldest first.
    A step the loaded SOPs no longer describe (its file removed or renumbered, its role
    renamed) is not reminded nor escalated: its due time is cleared, so it neither fails
    every tick, taking everyone else's reminders and digest with it, nor holds up the steps
    due after it. Logged once."""
    rows = (await session.execute(_DUE[column.key], {"now": now})).all()
    gone = [si.id for si, process in rows if not _described(rt, process, si)]
    if gone:
        log.warning("steps %s: no loaded SOP describes them; no reminders for them", gone)
        await session.execute(
            update(StepInstance)
            .where(StepInstance.id.in_(gone))
            .values({column: None})
            .execution_options(synchronize_session=False)
        )
    return [(si, process) for si, process in rows if si.id not in gone]


def _described(rt: Runtime, process: Process, si: StepInstance) -> bool:
    sop = rt.sops.get(process.sop_number)
    if sop is None:
        return False
    try:
        sop.phase(si.step_no, si.role), sop.role(si.role)
    except (StopIteration, IndexError):  # a step or a role it lacks
        return False
    return True


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
    rows = await _due(rt, session, StepInstance.next_reminder_at, now)
    if not rows:
        return 0
    sending = rt.calendar.is_open(now)
    at = StepInstance.next_reminder_at

    def each(values):  # type: ignore[no-untyped-def]
        """CASE id WHEN … THEN …: a value per row, bound as the column's type."""
        return case({i: literal(v, at.type) for i, v in values}, value=StepInstance.id)

    # One compare-and-set for all (was one UPDATE per row): a row another process claimed
    # meanwhile no longer has the time we read, and is not ours.
    taken = set(
        await session.scalars(
            update(StepInstance)
            .where(
                StepInstance.id.in_([si.id for si, _ in rows]),
                at == each((si.id, si.next_reminder_at) for si, _ in rows),
            )
            .values(
                next_reminder_at=each((si.id, next_reminder(rt, p, si, now)) for si, p in rows),
                reminders_sent=StepInstance.reminders_sent + int(sending),
            )
            .returning(StepInstance.id)
            .execution_options(synchronize_session=False)
        )
    )
    claimed = [(si, process) for si, process in rows if si.id in taken and sending]
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
    rows = await _due(rt, session, StepInstance.escalate_at, now)
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
            outgoing.send(session, now, person.telegram_id, text, buttons, si.id, tag="escalation")
            queued += 1
        svc.audit(session, now, None, "eskalasi", process.id, si.step_no, superior)
    return queued
